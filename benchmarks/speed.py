"""The speed report: input pipeline and training throughput, side by side on one machine.

    python -m benchmarks.speed                      # CPU (or CUDA when present)
    python -m benchmarks.speed --device cuda --amp  # a GPU, bf16 autocast

(a) augmented images/s (best of 3 rounds) of the old per-sample path (torchvision v2 RandomCrop(32, padding=4) +
    RandomHorizontalFlip + ToDtype + Normalize per image, then collated, as the DataLoader did)
    and of the batched path (aanets_avalanche.augment: one gather per batch + the model's input
    normalisation), model excluded, on one CPU thread (or the GPU);
(b) level-1 and whole-epoch (level 1 + level 2) images/s of an incremental phase for
    single-branch LUCIR, AANets with the plain two-branch forward and AANets with the fused one,
    all on the batched path, in the harness's default memory layout for the device (NHWC =
    channels-last on the CPU, NCHW on CUDA), plus LUCIR and plain AANets in the other layout;
    each in its own process;
(c) their ratios; (d) the peak memory of each process.

A benchmark that prints figures, not a test. Synthetic CIFAR-shaped uint8 images (the numbers
do not depend on pixel values); phase 1 = half the classes, new, + 20 exemplars per old class.
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time

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

    def best_rate(run, count: int) -> float:
        """Best of 3 rounds: on a shared machine the least disturbed round is the closest to
        what the code costs."""
        run(batch)  # warm-up (CUDA context, kernels, allocator)
        best = float("inf")
        for _ in range(3):
            _sync(device)
            start = time.perf_counter()
            run(count)
            _sync(device)
            best = min(best, time.perf_counter() - start)
        return count / best

    return best_rate(old_path, min(images, 2048)), best_rate(new_path, images)


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

    return EpochTimer()


def _cifar_shaped(per_class: int, classes: int, seed: int):
    from benchmarks.streams import TensorImages

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat_interleave(per_class)
    return TensorImages(torch.randint(0, 256, (len(y), 3, 32, 32), dtype=torch.uint8, generator=g),
                        y.tolist())


def measure(branch_mode: str, fused: bool, *, images_per_class: int, classes: int, epochs: int,
            batch: int, device: str, amp: bool, channels_last: bool) -> dict[str, float]:
    """Train phase 0 (1 epoch, untimed), then time ``epochs`` epochs of phase 1."""
    from avalanche.benchmarks import nc_benchmark

    from aanets_avalanche import AANetsStrategy, CosineIncrementalNet, resnet32
    from aanets_avalanche.augment import BatchAugmentation, InputNormalization

    torch.manual_seed(0)
    bench = nc_benchmark(
        _cifar_shaped(images_per_class, classes, 0), _cifar_shaped(2, classes, 1), n_experiences=2,
        task_labels=False, fixed_class_order=list(range(classes)),
        per_exp_classes={0: classes // 2}, class_ids_from_zero_from_first_exp=True,
    )
    timer = _epoch_timer()
    strategy = AANetsStrategy(
        model=CosineIncrementalNet(resnet32(3, input_norm=InputNormalization(CIFAR100_MEAN, CIFAR100_STD))),
        flavour="lucir", branch_mode=branch_mode, fused_branches=fused, train_epochs=1,
        train_mb_size=batch, memory_per_class=20, device=device, evaluator=None, use_amp=amp,
        fusion_lr=1e-8, batch_augmentation=BatchAugmentation(padding=4, flip=True),
        channels_last=channels_last,
    )
    strategy.train(bench.train_stream[0])
    strategy.train_epochs = epochs
    strategy.plugins.append(timer)
    if strategy.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    strategy.train(bench.train_stream[1])
    images = sum(timer.images)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {
        "level1": images / sum(timer.level1), "epoch": images / sum(timer.epoch),
        "peak_rss_mib": peak_rss,
        "cuda_peak_mib": (torch.cuda.max_memory_allocated() / 2**20
                          if strategy.device.type == "cuda" else None),
    }


def _measure_in_child(label: str, options: dict, amp: bool, channels_last: bool) -> dict[str, float]:
    """One variant in a fresh process, so its peak memory is its own."""
    args = [sys.executable, "-m", "benchmarks.speed", "--child", label, "--amp" if amp else "--no-amp",
            "--channels-last" if channels_last else "--no-channels-last"]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise click.ClickException(f"{label} failed:\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])


# ----------------------------------------------------------------------------- report


@click.command()
@click.option("--images-per-class", default=50, show_default=True)
@click.option("--classes", default=20, show_default=True, help="half in phase 0, half in phase 1")
@click.option("--epochs", default=2, show_default=True, help="timed epochs of phase 1")
@click.option("--batch", default=128, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--amp/--no-amp", default=False, help="bf16 autocast (CUDA only)")
@click.option("--channels-last/--no-channels-last", "channels_last", default=None,
              help="layout of the main rows [default: the harness's: NHWC on the CPU, NCHW on CUDA]")
@click.option("--threads", type=int, default=0, help="torch CPU threads for (b) (0: torch's default)")
@click.option("--augment-images", default=8192, show_default=True, help="images timed in (a)")
@click.option("--child", default=None, hidden=True)
def main(images_per_class: int, classes: int, epochs: int, batch: int, device: str, amp: bool,
         channels_last: bool | None, threads: int, augment_images: int, child: str | None) -> None:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if channels_last is None:
        channels_last = device == "cpu"
    if threads:
        torch.set_num_threads(threads)
    shape = dict(images_per_class=images_per_class, classes=classes, epochs=epochs, batch=batch)
    if child is not None:
        branch_mode, fused = VARIANTS[child]
        print(json.dumps(measure(branch_mode, fused, device=device, amp=amp,
                                 channels_last=channels_last, **shape)))
        return

    print(f"device={device} amp={amp} torch={torch.__version__} "
          f"cpu={platform.processor() or platform.machine()} threads={torch.get_num_threads()}")
    default_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    slow, fast = augmentation_throughput(torch.device(device), augment_images, batch)
    torch.set_num_threads(default_threads)
    print("\n(a) augmented images/s, CIFAR-shaped uint8, crop 32 pad 4 + flip + normalise, model "
          f"excluded, 1 CPU thread{' + the GPU' if device == 'cuda' else ''}:")
    print(f"    per-sample torchvision path: {slow:10.0f} img/s")
    print(f"    batched path:                {fast:10.0f} img/s   ({fast / slow:.1f}x)")

    layout, other = ("NHWC", "NCHW") if channels_last else ("NCHW", "NHWC")
    print(f"\n(b) training, phase 1 of {classes} classes x {images_per_class} images "
          f"({classes - classes // 2} new classes + 20 exemplars/class), batch {batch}, "
          f"{epochs} timed epochs, batched input path, each variant in its own process:")
    options = dict(device=device, threads=threads, **shape)
    rows = {}
    runs = [(label, channels_last, f"{label}, {layout}") for label in VARIANTS]
    runs += [(label, not channels_last, f"{label}, {other}") for label in OTHER_LAYOUT]
    for label, nhwc, shown in runs:
        rows[shown] = r = _measure_in_child(label, options, amp, nhwc)
        cuda = f", CUDA peak {r['cuda_peak_mib']:.0f} MiB" if r["cuda_peak_mib"] is not None else ""
        print(f"    {shown:32s} level 1 {r['level1']:8.1f} img/s   whole epoch {r['epoch']:8.1f} img/s"
              f"   (d) peak RSS {r['peak_rss_mib']:.0f} MiB{cuda}")
    single = rows[f"LUCIR (single branch), {layout}"]
    print("\n(c) cost relative to single-branch LUCIR in the same layout (time per image; lower "
          "is better):")
    for label in list(VARIANTS)[1:]:
        r = rows[f"{label}, {layout}"]
        print(f"    {label + ', ' + layout:32s} level 1 {single['level1'] / r['level1']:.2f}x   "
              f"whole epoch {single['epoch'] / r['epoch']:.2f}x")
    other_single = rows[f"LUCIR (single branch), {other}"]
    other_plain = rows[f"AANets, plain two-branch, {other}"]
    print(f"    {'AANets, plain two-branch, ' + other:32s} level 1 "
          f"{other_single['level1'] / other_plain['level1']:.2f}x   "
          f"whole epoch {other_single['epoch'] / other_plain['epoch']:.2f}x")
    plain, fused = rows[f"AANets, plain two-branch, {layout}"], rows[f"AANets, fused two-branch, {layout}"]
    print(f"    fused vs plain two-branch speed-up: level 1 {fused['level1'] / plain['level1']:.2f}x, "
          f"whole epoch {fused['epoch'] / plain['epoch']:.2f}x")
    print(f"    {layout} vs {other} speed-up, whole epoch: LUCIR "
          f"{single['epoch'] / other_single['epoch']:.2f}x, AANets plain "
          f"{plain['epoch'] / other_plain['epoch']:.2f}x")


if __name__ == "__main__":
    main()
