"""Disk a cell's checkpoint takes, per method: what the output folder (shared storage on a
cluster) must hold while a grid runs. A measurement, not a test:

    python -m benchmarks.footprint --benchmark split-folder --data-root ../shared/data/cifar10-jpeg \\
        --preset cpu --epochs 1

Trains every method once in a temporary folder (removed afterwards) and prints, per method, the
largest checkpoint written after any phase (the cell keeps only its latest). A checkpoint
holds the model(s), optimizer state, plugin state and exemplar indices, not the images, so its
size depends on the backbone and the method, not on epochs or images per class.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from .store.checkpoint import checkpoint_path


@click.command()
@click.option("--benchmark", default="split-folder", show_default=True)
@click.option("--data-root", default=None)
@click.option("--phases", type=int, default=5, show_default=True)
@click.option("--preset", default="cpu", show_default=True)
@click.option("--epochs", type=int, default=1, show_default=True)
@click.option("--methods", default=None, help="Comma-separated [default: the default methods].")
def main(benchmark: str, data_root: str | None, phases: int, preset: str, epochs: int,
         methods: str | None) -> None:
    from .compare import Hooks, run_compare
    from .plan.request import CompareRequest

    largest: dict[str, tuple[int, int]] = {}  # method -> (bytes, phase)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)

        def measure(spec, phase: int) -> None:
            path = checkpoint_path(out, spec.method, spec.seed)
            if path.exists() and path.stat().st_size > largest.get(spec.method, (0, 0))[0]:
                largest[spec.method] = (path.stat().st_size, phase)

        result = run_compare(CompareRequest(benchmark=benchmark, phases=phases, methods=methods,
                                            preset=preset, epochs=epochs, data_root=data_root,
                                            out=out, device="cpu", quiet=True),
                             Hooks(after_phase=measure))
        click.echo(f"{benchmark}, {phases} phases, preset {preset}, {epochs} epoch(s)/phase")
        click.echo("| method | largest checkpoint (MiB) | after phase |")
        click.echo("|---|---|---|")
        for method, _ in result.trained:
            size, phase = largest.get(method, (0, -1))
            click.echo(f"| {method} | {size / 2**20:.2f} | {phase} |")


if __name__ == "__main__":
    main()
