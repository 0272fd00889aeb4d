"""The speed report: input pipeline and training throughput, side by side on one machine.

    python -m benchmarks.speed                      # CPU (or CUDA when present)
    python -m benchmarks.speed --device cuda --amp  # a GPU, bf16 autocast

(a) augmented images/s (best of 3 rounds) of the old per-sample path (torchvision v2 RandomCrop(32, padding=4) +
    RandomHorizontalFlip + ToDtype + Normalize per image, then collated, as the DataLoader did)
    and of the batched path (aanets_avalanche.augment: one gather per batch + the model's input
    normalisation), model excluded, on one CPU thread (or the GPU); and, for large-image folders
    (ImageNet-Subset), the decode and decode + RandomResizedCrop(224) rate of one loader worker
    (one CPU thread, a photograph as a 500x375 JPEG, split-folder's own decoder), from which
    the workers a GPU needs follow (``--input-only``: (a) alone);
(b) level-1 and whole-epoch (level 1 + level 2) images/s of an incremental phase for
    single-branch LUCIR, AANets with the plain two-branch forward and AANets with the fused one,
    all on the batched path, in the harness's default memory layout for the device (NHWC =
    channels-last on the CPU, NCHW on CUDA), plus LUCIR and plain AANets in the other layout;
    each in its own process;
(c) their ratios, beside the ratios of the work done: the floating-point operations of the
    convolutions and matrix products (forward and backward, old model included) that
    torch.utils.flop_counter counts in one more epoch, untimed, which do not depend on the
    machine;
(d) the peak memory of each process;
(e) the counted FLOPs per image weighed by the level-1 and level-2 images of the paper's own
    protocols (CIFAR-100 B50, N = 5 / 10 / 25, paper preset), as `compare --dry-run` counts
    them: the AANets / LUCIR arithmetic of the runs users make, which the timed setting here
    (smaller, synthetic) only samples.

A benchmark that prints figures, not a test. Synthetic CIFAR-shaped uint8 images (the numbers
do not depend on pixel values); phase 0 = half the classes, the other half in ``--phase``
equal phases (1 by default), of which the last is timed, with 20 exemplars per old class. In
phase 1 the old model of AANets is still the single-branch phase-0 network; from phase 2 on it
has two branches too (``--phase 2`` times that case).
"""

from __future__ import annotations

import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Any

import click
import torch

CIFAR100_MEAN = (0.5071, 0.4866, 0.4409)
CIFAR100_STD = (0.2009, 0.1984, 0.2023)
VARIANTS = {  # label -> (branch_mode, fused_branches)
    "LUCIR (single branch)": ("single", False),
    "AANets, plain two-branch": ("aanets", False),
    "AANets, fused two-branch": ("aanets", True),
}
OTHER_LAYOUT = ("LUCIR (single branch)", "AANets, plain two-branch")  # also timed in the other one


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------- (a) augmentation


def augmentation_throughput(device: torch.device, images: int, batch: int) -> tuple[float, float]:
    """(per-sample img/s, batched img/s), model excluded."""
    from torchvision.transforms import v2

    from aanets_avalanche.augment import BatchAugmentation, InputNormalization

    data = torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8)
    per_sample = v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip(),
                             v2.ToDtype(torch.float32, scale=True),
                             v2.Normalize(list(CIFAR100_MEAN), list(CIFAR100_STD))])
    augment = BatchAugmentation(padding=4, flip=True)
    normalize = InputNormalization(CIFAR100_MEAN, CIFAR100_STD).to(device)

    def old_path(count: int) -> None:
        for first in range(0, count, batch):
            torch.stack([per_sample(img) for img in data[first:first + batch]]).to(device)

    def new_path(count: int) -> None:
        for first in range(0, count, batch):
            normalize(augment(data[first:first + batch].to(device, non_blocking=True)))

    return (best_rate(old_path, min(images, 2048), device, warm_up=batch),
            best_rate(new_path, images, device, warm_up=batch))


def best_rate(run, count: int, device: torch.device, warm_up: int) -> float:
    """Items/s of ``run(count)``, best of 3 rounds after ``run(warm_up)`` (CUDA context,
    kernels, allocator, file cache): on a shared machine the least disturbed round is the
    closest to what the code costs."""
    run(warm_up)
    best = float("inf")
    for _ in range(3):
        _sync(device)
        start = time.perf_counter()
        run(count)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return count / best


def jpeg_throughput(images: int, size: int = 224) -> tuple[float, float]:
    """(decode img/s, decode + RandomResizedCrop img/s) of a 500x375 JPEG (ImageNet's most
    common size) through split-folder's own decoder and train crop, on the calling thread: the
    work one loader worker does per training image of a large-image folder."""
    import tempfile

    from PIL import Image
    from sklearn.datasets import load_sample_image
    from torchvision.transforms import v2

    from benchmarks.streams.folder import decode_rgb

    cpu = torch.device("cpu")
    crop = v2.RandomResizedCrop(size, antialias=True)
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/image.jpg"
        # a real photograph (scikit-learn's bundled 640x427 sample), as ImageNet stores them
        photo = load_sample_image("china.jpg")
        Image.fromarray(photo).resize((500, 375), Image.BICUBIC).save(path, quality=90)
        decode = best_rate(lambda n: [decode_rgb(path) for _ in range(n)], images, cpu, warm_up=5)
        both = best_rate(lambda n: [crop(decode_rgb(path)) for _ in range(n)], images, cpu,
                         warm_up=5)
    return decode, both


# ----------------------------------------------------------------------------- (b) training


def _epoch_timer():
    from avalanche.core import SupervisedPlugin

    class EpochTimer(SupervisedPlugin):
        """Wall time of the level-1 loop (first to last iteration) and of the whole epoch (the
        level-2 pass runs in an earlier plugin's after_training_epoch)."""

        def __init__(self) -> None:
            super().__init__()
            self.level1: list[float] = []
            self.epoch: list[float] = []
            self.images: list[int] = []
            self.peak_rss_mib: list[float] = []  # the process's peak so far, after each epoch
            self.cuda_peak_mib: list[float | None] = []

        def _now(self, strategy) -> float:
            _sync(strategy.device)
            return time.perf_counter()

        def before_training_epoch(self, strategy, **kwargs) -> None:
            self._start = self._last = self._now(strategy)

        def after_training_iteration(self, strategy, **kwargs) -> None:
            self._last = self._now(strategy)

        def after_training_epoch(self, strategy, **kwargs) -> None:
            self.level1.append(self._last - self._start)
            self.epoch.append(self._now(strategy) - self._start)
            self.images.append(len(strategy.adapted_dataset))
            self.peak_rss_mib.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            self.cuda_peak_mib.append(torch.cuda.max_memory_allocated() / 2**20
                                      if strategy.device.type == "cuda" else None)

    return EpochTimer()


def _flop_counter(counted: int):
    from avalanche.core import SupervisedPlugin
    from torch.utils.flop_counter import FlopCounterMode

    from aanets_avalanche.plugins import AggregationUpdatePlugin

    class EpochFlops(SupervisedPlugin):
        """FLOPs of epoch ``counted`` (from 0) of the experience: of level 1 (its iterations)
        and of the whole epoch (the level-2 pass runs in an earlier plugin's
        after_training_epoch)."""

        def __init__(self, counted: int) -> None:
            super().__init__()
            self.counted = counted
            self.mode: FlopCounterMode | None = None
            self.level1 = self.epoch = None
            self.level2_images = 0  # images of the level-2 balanced set in that epoch

        def before_training_epoch(self, strategy, **kwargs) -> None:
            if strategy.clock.train_exp_epochs == self.counted:
                self.mode = FlopCounterMode(display=False)
                self.mode.__enter__()

        def after_training_iteration(self, strategy, **kwargs) -> None:
            if self.mode is not None:
                self.level1 = self.mode.get_total_flops()

        def after_training_epoch(self, strategy, **kwargs) -> None:
            if self.mode is not None:
                self.epoch = self.mode.get_total_flops()
                level2 = [p for p in strategy.plugins if isinstance(p, AggregationUpdatePlugin)]
                if level2 and level2[0].balanced_set is not None:
                    self.level2_images = len(level2[0].balanced_set)
                self.mode.__exit__(None, None, None)
                self.mode = None

    return EpochFlops(counted)


def _cifar_shaped(per_class: int, classes: int, seed: int):
    from benchmarks.streams import TensorImages

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat_interleave(per_class)
    return TensorImages(torch.randint(0, 256, (len(y), 3, 32, 32), dtype=torch.uint8, generator=g),
                        y.tolist())


def measure(branch_mode: str, fused: bool, shape: dict[str, int], *, device: str, amp: bool,
            channels_last: bool, count_flops: bool) -> dict[str, float | None]:
    """Train the phases before ``phase`` (1 epoch each, untimed); in ``phase``, time ``epochs``
    epochs, then, with ``count_flops``, count the FLOPs of one more (untimed: counting is
    slow). ``shape``: images_per_class, classes, epochs, batch, phase."""
    images_per_class, classes, epochs = shape["images_per_class"], shape["classes"], shape["epochs"]
    batch, phase = shape["batch"], shape["phase"]
    from avalanche.benchmarks import nc_benchmark

    from aanets_avalanche import AANetsStrategy, CosineIncrementalNet, resnet32
    from aanets_avalanche.augment import BatchAugmentation, InputNormalization

    torch.manual_seed(0)
    bench = nc_benchmark(
        _cifar_shaped(images_per_class, classes, 0), _cifar_shaped(2, classes, 1),
        n_experiences=phase + 1, task_labels=False, fixed_class_order=list(range(classes)),
        per_exp_classes={0: classes // 2}, class_ids_from_zero_from_first_exp=True,
    )
    timer, flops = _epoch_timer(), _flop_counter(counted=epochs)
    strategy = AANetsStrategy(
        model=CosineIncrementalNet(resnet32(3, input_norm=InputNormalization(CIFAR100_MEAN, CIFAR100_STD))),
        flavour="lucir", branch_mode=branch_mode, fused_branches=fused, train_epochs=1,
        train_mb_size=batch, memory_per_class=20, device=device, evaluator=None, use_amp=amp,
        fusion_lr=1e-8, batch_augmentation=BatchAugmentation(padding=4, flip=True),
        channels_last=channels_last,
    )
    for experience in bench.train_stream[:phase]:
        strategy.train(experience)
    strategy.train_epochs = epochs + 1 if count_flops else epochs
    strategy.plugins += [flops, timer] if count_flops else [timer]
    if strategy.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    strategy.train(bench.train_stream[phase])
    images = sum(timer.images[:epochs])  # an epoch that counted FLOPs (slowly) is not timed
    epoch_images = timer.images[-1]
    return {
        "level1": images / sum(timer.level1[:epochs]), "epoch": images / sum(timer.epoch[:epochs]),
        "flops_level1": flops.level1 / epoch_images if count_flops else None,
        "flops_epoch": flops.epoch / epoch_images if count_flops else None,
        "flops_level2": ((flops.epoch - flops.level1) / flops.level2_images
                         if count_flops and flops.level2_images else None),  # per balanced image
        "level2_share": flops.level2_images / epoch_images if count_flops else None,
        "peak_rss_mib": timer.peak_rss_mib[epochs - 1], "cuda_peak_mib": timer.cuda_peak_mib[epochs - 1],
    }


def _measure_in_child(label: str, options: dict, amp: bool, channels_last: bool,
                      count_flops: bool) -> dict[str, float | None]:
    """One variant in a fresh process, so its peak memory is its own."""
    args = [sys.executable, "-m", "benchmarks.speed", "--child", label, "--amp" if amp else "--no-amp",
            "--channels-last" if channels_last else "--no-channels-last",
            "--count-flops" if count_flops else "--no-count-flops"]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise click.ClickException(f"{label} failed:\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])


# ----------------------------------------------------------------------------- (e) paper protocol

PAPER_PROTOCOLS = (5, 10, 25)  # CIFAR-100 B50 + N phases, the paper's main table


def paper_protocol_ratios(phase: int, lucir_level1: float, aanets_level1: float,
                          aanets_level2: float) -> list[tuple[int, str, float, float]]:
    """AANets-LUCIR / LUCIR FLOPs per epoch over the paper's own protocols, from the FLOPs per
    image counted in a phase of the same structure (phase 1: a single-branch old model; later
    phases: a two-branch one), weighed by the level-1 and level-2 images that ``compare
    --dry-run`` counts for the paper preset. Rows: (N, phases covered, ratio, level-2 images
    per level-1 image of AANets)."""
    from benchmarks.plan.planner import method_images, protocol_layout

    rows = []
    for n in PAPER_PROTOCOLS:
        protocol = protocol_layout(benchmark="split-cifar100", phases=n, preset="paper")
        aanets, lucir = (method_images(method, protocol.cfg, protocol.counts,
                                       protocol.layout.phase_classes)
                         for method in ("aanets-lucir", "lucir"))
        covered = [1] if phase == 1 else list(range(2, n + 1))
        level1 = sum(aanets["level1"][i] for i in covered)
        level2 = sum(aanets["level2"][i] for i in covered)
        lucir_images = sum(lucir["level1"][i] for i in covered)
        ratio = (aanets_level1 * level1 + aanets_level2 * level2) / (lucir_level1 * lucir_images)
        rows.append((n, "phase 1" if phase == 1 else f"phases 2-{n}", ratio, level2 / level1))
    return rows


def paper_protocol_setting() -> str:
    """The paper preset's memory and level-2 draws, as (e) weighs them."""
    from benchmarks.plan.planner import protocol_layout

    cfg = protocol_layout(benchmark="split-cifar100", phases=PAPER_PROTOCOLS[0], preset="paper").cfg
    memory = (f"{cfg.memory_total} exemplars in all" if cfg.memory_total is not None
              else f"{cfg.memory_per_class} exemplars per class")
    draws = (f"{cfg.balanced_per_class} level-2 draws per new class" if cfg.balanced_per_class
             else "level-2 draws per new class = the memory's budget")
    return f"{memory}, {draws}"


# ----------------------------------------------------------------------------- report


@click.command()
@click.option("--images-per-class", default=50, show_default=True)
@click.option("--classes", default=20, show_default=True,
              help="half in phase 0, the other half split evenly over --phase phases")
@click.option("--phase", default=1, show_default=True, type=click.IntRange(1),
              help="the phase timed (phase 2 on: AANets' old model has two branches too)")
@click.option("--epochs", default=2, show_default=True, help="timed epochs of the phase")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1),
              help="runs of each variant, taken in turn (A B C A B C ...); (b) and (c) give the "
                   "median rate of each, a shared machine's drift touching all alike")
@click.option("--batch", default=128, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--amp/--no-amp", default=False,
              help="bf16 autocast for the main rows (CPU or CUDA)")
@click.option("--precisions/--no-precisions", default=True, show_default=True,
              help="(f): LUCIR and AANets also in the other precision (bf16 vs fp32 side by side)")
@click.option("--channels-last/--no-channels-last", "channels_last", default=None,
              help="layout of the main rows [default: the harness's: NHWC on the CPU, NCHW on CUDA]")
@click.option("--threads", type=int, default=0, help="torch CPU threads for (b) (0: torch's default)")
@click.option("--augment-images", default=8192, show_default=True, help="images timed in (a)")
@click.option("--jpeg-images", default=200, show_default=True,
              help="JPEG decodes timed in (a), per round")
@click.option("--input-only", is_flag=True,
              help="print (a) only: the input path's rates, e.g. to size --num-workers")
@click.option("--child", default=None, hidden=True)
@click.option("--count-flops/--no-count-flops", default=True, hidden=True)
def main(**options: Any) -> None:
    """Print the speed report (options: see the click decorators above)."""
    o = SimpleNamespace(**options)
    images_per_class, classes, phase, epochs, batch = (o.images_per_class, o.classes, o.phase,
                                                       o.epochs, o.batch)
    device, amp, channels_last, threads, repeats = o.device, o.amp, o.channels_last, o.threads, o.repeats
    if (classes - classes // 2) % phase:
        raise click.BadParameter(f"the {classes - classes // 2} classes after phase 0 do not "
                                 f"split evenly over {phase} phases", param_hint="--phase")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if channels_last is None:
        channels_last = device == "cpu"
    if threads:
        torch.set_num_threads(threads)
    shape = dict(images_per_class=images_per_class, classes=classes, epochs=epochs, batch=batch,
                 phase=phase)
    if o.child is not None:
        branch_mode, fused = VARIANTS[o.child]
        print(json.dumps(measure(branch_mode, fused, shape, device=device, amp=amp,
                                 channels_last=channels_last, count_flops=o.count_flops)))
        return

    print(f"device={device} amp={amp} torch={torch.__version__} "
          f"cpu={platform.processor() or platform.machine()} threads={torch.get_num_threads()}")
    default_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # (a) is one core's work
    slow, fast = augmentation_throughput(torch.device(device), o.augment_images, batch)
    decode, decode_crop = jpeg_throughput(o.jpeg_images)
    torch.set_num_threads(default_threads)
    print("\n(a) augmented images/s, CIFAR-shaped uint8, crop 32 pad 4 + flip + normalise, model "
          f"excluded, 1 CPU thread{' + the GPU' if device == 'cuda' else ''}:")
    print(f"    per-sample torchvision path: {slow:10.0f} img/s")
    print(f"    batched path:                {fast:10.0f} img/s   ({fast / slow:.1f}x)")
    print("    large-image folders (ImageNet-Subset), one loader worker's work on 1 CPU thread, a "
          "photograph as a 500x375 JPEG:")
    print(f"    decode (PIL, as split-folder):   {decode:6.0f} img/s")
    print(f"    decode + RandomResizedCrop(224): {decode_crop:6.0f} img/s   -> a GPU that trains "
          f"at R img/s needs about R / {decode_crop:.0f} workers (--num-workers)")
    if o.input_only:
        return

    layout, other = ("NHWC", "NCHW") if channels_last else ("NCHW", "NHWC")
    new = (classes - classes // 2) // phase
    print(f"\n(b) training, phase {phase} of {classes} classes x {images_per_class} images "
          f"({new} new classes + 20 exemplars for each of {classes - new} old), batch {batch}, "
          f"{epochs} timed epochs (on the first run then one untimed, its FLOPs counted), batched "
          f"input path, each variant in its own process, median of {repeats} run(s) taken in turn "
          "(min-max):")
    options = dict(device=device, threads=threads, **shape)
    precision, other_precision = ("bf16", "fp32") if amp else ("fp32", "bf16")
    runs = [(label, channels_last, amp, f"{label}, {layout}") for label in VARIANTS]
    runs += [(label, not channels_last, amp, f"{label}, {other}") for label in OTHER_LAYOUT]
    if o.precisions:  # (f): the same two methods in the other precision, same layout
        runs += [(label, channels_last, not amp, f"{label}, {layout}, {other_precision}")
                 for label in OTHER_LAYOUT]
    measured: dict[str, list[dict]] = {shown: [] for *_, shown in runs}
    for repeat in range(repeats):
        for label, nhwc, run_amp, shown in runs:
            measured[shown].append(_measure_in_child(label, options, run_amp, nhwc, repeat == 0))
    rows = {}
    for label, nhwc, _, shown in runs:
        first = measured[shown][0]
        rows[shown] = r = {**first, **{rate: statistics.median(m[rate] for m in measured[shown])
                                       for rate in ("level1", "epoch")}}
        spread = {rate: f"({min(m[rate] for m in measured[shown]):.0f}-"
                        f"{max(m[rate] for m in measured[shown]):.0f})"
                  for rate in ("level1", "epoch")} if repeats > 1 else {"level1": "", "epoch": ""}
        cuda = f", CUDA peak {r['cuda_peak_mib']:.0f} MiB" if r["cuda_peak_mib"] is not None else ""
        work = "  as plain     " if VARIANTS[label][1] else f"{r['flops_epoch'] / 1e9:5.2f} GFLOP/img"
        print(f"    {shown:38s} level 1 {r['level1']:6.1f} img/s {spread['level1']:9s}  whole epoch "
              f"{r['epoch']:6.1f} img/s {spread['epoch']:9s}  {work}   (d) peak RSS "
              f"{r['peak_rss_mib']:.0f} MiB{cuda}")
    single = rows[f"LUCIR (single branch), {layout}"]
    print("\n(c) cost relative to single-branch LUCIR in the same layout (time per image; lower "
          "is better), and the work done (FLOPs of convolutions and matrix products per image):")
    for label in list(VARIANTS)[1:]:
        r = rows[f"{label}, {layout}"]
        # the fused form does the plain form's arithmetic; torch's counter counts the backward
        # of a grouped convolution as 3 forward passes instead of 2, so it is not counted
        work = rows[f"AANets, plain two-branch, {layout}"]
        print(f"    {label + ', ' + layout:32s} level 1 {single['level1'] / r['level1']:.2f}x   "
              f"whole epoch {single['epoch'] / r['epoch']:.2f}x   FLOPs: level 1 "
              f"{work['flops_level1'] / single['flops_level1']:.2f}x, whole epoch "
              f"{work['flops_epoch'] / single['flops_epoch']:.2f}x")
    other_single = rows[f"LUCIR (single branch), {other}"]
    other_plain = rows[f"AANets, plain two-branch, {other}"]
    print(f"    {'AANets, plain two-branch, ' + other:32s} level 1 "
          f"{other_single['level1'] / other_plain['level1']:.2f}x   "
          f"whole epoch {other_single['epoch'] / other_plain['epoch']:.2f}x")
    plain, fused = rows[f"AANets, plain two-branch, {layout}"], rows[f"AANets, fused two-branch, {layout}"]
    if plain["flops_level2"] is not None:
        print(f"    level 2 here: {plain['level2_share']:.2f} balanced images per level-1 image, "
              f"{plain['flops_level2'] / 1e9:.3f} GFLOP each (a level-1 image: LUCIR "
              f"{single['flops_level1'] / 1e9:.3f}, AANets {plain['flops_level1'] / 1e9:.3f})")
    print(f"    fused vs plain two-branch speed-up: level 1 {fused['level1'] / plain['level1']:.2f}x, "
          f"whole epoch {fused['epoch'] / plain['epoch']:.2f}x")
    print(f"    {layout} vs {other} speed-up, whole epoch: LUCIR "
          f"{single['epoch'] / other_single['epoch']:.2f}x, AANets plain "
          f"{plain['epoch'] / other_plain['epoch']:.2f}x")
    if o.precisions:
        print(f"\n(f) precision, {layout}: {precision} (the rows above) against {other_precision}, "
              "images/s (median) and the bf16 / fp32 speed ratio:")
        for label in OTHER_LAYOUT:
            here, there = rows[f"{label}, {layout}"], rows[f"{label}, {layout}, {other_precision}"]
            bf16, fp32 = (here, there) if amp else (there, here)
            print(f"    {label:26s} level 1 fp32 {fp32['level1']:6.1f}  bf16 {bf16['level1']:6.1f}  "
                  f"({bf16['level1'] / fp32['level1']:.2f}x)   whole epoch fp32 {fp32['epoch']:6.1f}  "
                  f"bf16 {bf16['epoch']:6.1f}  ({bf16['epoch'] / fp32['epoch']:.2f}x)")
    if plain["flops_level2"] is not None:
        print("\n(e) the FLOPs per image above, weighed by the images of the paper's own protocol "
              f"(split-cifar100 B50, paper preset: {paper_protocol_setting()}, images per phase as "
              "`compare --dry-run` counts them); AANets-LUCIR / LUCIR FLOPs per epoch:")
        for n, covered, ratio, share in paper_protocol_ratios(
                phase, single["flops_level1"], plain["flops_level1"], plain["flops_level2"]):
            print(f"    N={n:<3d} {covered:12s} {ratio:.2f}x   (level 2: {share:.2f} balanced "
                  "images per level-1 image)")


if __name__ == "__main__":
    main()
