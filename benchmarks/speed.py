"""Training throughput of single-branch LUCIR vs AANets (LUCIR flavour) on the same data.

Prints images/s of the level-1 training loop in an incremental phase (where AANets pays for
two branches and the old model), the wall time of a whole epoch including the level-2 pass,
their ratio, and peak memory. A benchmark, not a test:

    python -m benchmarks.speed                      # CIFAR-shaped tensors, CPU or CUDA
    python -m benchmarks.speed --device cuda --amp  # on a GPU, with mixed precision
"""

from __future__ import annotations

import platform
import resource
import time

import click
import torch
from avalanche.benchmarks import nc_benchmark
from avalanche.core import SupervisedPlugin
from torch.utils.data import TensorDataset

from aanets_avalanche import AANetsStrategy, CosineIncrementalNet, build_backbone


class EpochTimer(SupervisedPlugin):
    """Wall time of the level-1 loop (first to last iteration) and of the whole epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.level1: list[float] = []
        self.epoch: list[float] = []
        self.images: list[int] = []

    def _sync(self, strategy) -> float:
        if strategy.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    def before_training_epoch(self, strategy, **kwargs) -> None:
        self._start = self._last = self._sync(strategy)

    def after_training_iteration(self, strategy, **kwargs) -> None:
        self._last = self._sync(strategy)

    def after_training_epoch(self, strategy, **kwargs) -> None:
        self.level1.append(self._last - self._start)
        self.epoch.append(self._sync(strategy) - self._start)
        self.images.append(len(strategy.adapted_dataset))


def _cifar_shaped(per_class: int, classes: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat_interleave(per_class)
    ds = TensorDataset(torch.randn(len(y), 3, 32, 32, generator=g), y)
    ds.targets = y.tolist()
    return ds


def measure(branch_mode: str, *, images_per_class: int, classes: int, epochs: int, batch: int,
            device: str, amp: bool) -> EpochTimer:
    """Train phase 0 (1 epoch, untimed) then time ``epochs`` epochs of phase 1."""
    torch.manual_seed(0)
    bench = nc_benchmark(
        _cifar_shaped(images_per_class, classes, 0), _cifar_shaped(2, classes, 1), n_experiences=2,
        task_labels=False, fixed_class_order=list(range(classes)),
        per_exp_classes={0: classes // 2}, class_ids_from_zero_from_first_exp=True,
    )
    timer = EpochTimer()
    strategy = AANetsStrategy(
        model=CosineIncrementalNet(build_backbone("resnet32", 3)), flavour="lucir",
        branch_mode=branch_mode, train_epochs=1, train_mb_size=batch, memory_per_class=20,
        device=device, evaluator=None, use_amp=amp, fusion_lr=1e-8,
    )
    strategy.train(bench.train_stream[0])
    strategy.train_epochs = epochs
    strategy.plugins.append(timer)
    strategy.train(bench.train_stream[1])
    return timer


@click.command()
@click.option("--images-per-class", default=50, show_default=True)
@click.option("--classes", default=20, show_default=True, help="half in phase 0, half in phase 1")
@click.option("--epochs", default=2, show_default=True, help="timed epochs of phase 1")
@click.option("--batch", default=128, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--amp/--no-amp", default=False, help="mixed precision (CUDA only)")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
def main(images_per_class: int, classes: int, epochs: int, batch: int, device: str, amp: bool,
         threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device={device} amp={amp} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"cpu={platform.processor() or platform.machine()}")
    print(f"data: CIFAR-shaped tensors, {classes} classes x {images_per_class} images, phase 1 = "
          f"{classes - classes // 2} new classes + 20 exemplars/class, batch {batch}, {epochs} timed epochs")
    rows = {}
    for label, mode in (("LUCIR (single branch)", "single"), ("LUCIR + AANets", "aanets")):
        timer = measure(mode, images_per_class=images_per_class, classes=classes, epochs=epochs,
                        batch=batch, device=device, amp=amp)
        images = sum(timer.images)
        rows[mode] = (images / sum(timer.level1), images / sum(timer.epoch))
        print(f"{label:24s} level-1: {rows[mode][0]:7.1f} img/s   whole epoch incl. level 2: "
              f"{rows[mode][1]:7.1f} img/s")
    print(f"AANets / single throughput ratio: level-1 {rows['aanets'][0] / rows['single'][0]:.2f}, "
          f"epoch {rows['aanets'][1] / rows['single'][1]:.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")
    if device == "cuda":
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
