"""The GPU check: what a few minutes on a GPU must show, in one command and one markdown file.

    python -m benchmarks.gpu_check --out gpu-check --data-root DATA/cifar10-jpeg

runs, each as its own process with a time limit, and writes ``<out>/gpu-check.md``:
1. the speed report (benchmarks/speed.py) on the device, fp32 and bf16 autocast side by side
   (``--amp`` for the main rows, section (f) for the other precision);
2. a 2-epoch-per-phase compare of aanets-lucir and lucir with the paper preset's other settings
   on the folder tree given (e.g. the CIFAR-10 JPEG copy), in bf16 (``--amp on``);
3. the same compare of lucir alone with ``--compile`` (torch.compile) on the device;
plus the device, driver and library versions, and every command it ran. A step that fails or
runs out of time is written down with its last lines; the others still run.

``--device cpu --tiny`` runs the same steps at toy sizes on the CPU (scikit-learn's digits, no
data needed; compile is skipped, its first compilation alone takes minutes on a CPU): the
check of the check, run by the test suite.
"""

from __future__ import annotations

import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import torch

from .store.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]  # the checkout: cli.py and benchmarks/ live here


@dataclass(frozen=True)
class Step:
    title: str
    args: tuple[str, ...]
    timeout_s: int


def steps(device: str, data_root: str | None, out: Path, tiny: bool) -> list[Step]:
    """The commands of the check, sized for ``tiny`` (CPU toy) or a real GPU (about 8 min)."""
    py = sys.executable
    if tiny:
        speed = ("--images-per-class", "4", "--classes", "4", "--epochs", "1", "--repeats", "1",
                 "--batch", "8", "--augment-images", "64", "--jpeg-images", "4")
        stream = ("--benchmark", "split-digits", "--phases", "1", "--preset", "smoke")
    else:
        speed = ("--repeats", "1", "--epochs", "2")
        if data_root is None:
            raise click.UsageError("--data-root: the folder tree to compare on (e.g. the CIFAR-10 "
                                   "JPEG copy); only --tiny runs without one")
        stream = ("--benchmark", "split-folder", "--data-root", data_root, "--phases", "5",
                  "--preset", "paper", "--epochs", "2", "--seeds", "1993")
    compare = (py, str(ROOT / "cli.py"), "compare", *stream, "--device", device, "--quiet")
    found = [
        Step("Speed report, bf16 autocast (rows) against fp32 (section f)",
             (py, "-m", "benchmarks.speed", "--device", device, "--amp", *speed), 240),
        Step("Compare aanets-lucir and lucir, 2 epochs per phase, bf16",
             (*compare, "--methods", "aanets-lucir,lucir", "--amp", "on",
              "--out", str(out / "compare-bf16")), 240),
    ]
    if not tiny:
        found.append(Step("Compare lucir with --compile (torch.compile), fp32",
                          (*compare, "--methods", "lucir", "--compile",
                           "--out", str(out / "compare-compile")), 150))
    return found


def environment(device: str) -> list[str]:
    lines = [f"- Python {platform.python_version()}, torch {torch.__version__}, "
             f"CUDA runtime {torch.version.cuda or 'none'}, cuDNN "
             f"{torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else 'none'}"]
    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        lines.append(f"- GPU: {props.name}, {props.total_memory / 2**30:.1f} GiB, compute "
                     f"capability {props.major}.{props.minor}, bf16 "
                     f"{'native' if torch.cuda.is_bf16_supported() else 'not native'}")
    else:
        lines.append(f"- CPU: {platform.processor() or platform.machine()}, "
                     f"{torch.get_num_threads()} torch threads, kernels "
                     f"{torch.backends.cpu.get_cpu_capability()}")
    return lines


def run_step(step: Step) -> tuple[str, float, str]:
    """(status, seconds, output) of one step; never raises."""
    started = time.perf_counter()
    try:
        done = subprocess.run(step.args, capture_output=True, text=True, timeout=step.timeout_s,
                              check=False, cwd=ROOT)
        status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
        output = done.stdout + ("\n" + done.stderr if done.returncode else "")
    except subprocess.TimeoutExpired as exc:
        status = f"stopped after its {step.timeout_s} s limit"
        output = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) \
            else (exc.stdout or "")
    return status, time.perf_counter() - started, output


@click.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for gpu-check.md and the compare folders.")
@click.option("--device", type=click.Choice(["cuda", "cpu"]), default="cuda", show_default=True)
@click.option("--data-root", default=None, help="The folder tree the compare trains on.")
@click.option("--tiny", is_flag=True, help="Toy sizes (a check of this script, e.g. on a CPU).")
def main(out: Path, device: str, data_root: str | None, tiny: bool) -> None:
    """Run the GPU check and write <out>/gpu-check.md."""
    if device == "cuda" and not torch.cuda.is_available():
        raise click.UsageError("no CUDA device here; --device cpu --tiny checks the script itself")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# GPU check ({'tiny, ' if tiny else ''}{device})", "",
             f"Made by `python -m benchmarks.gpu_check --out {out} --device {device}"
             + (f" --data-root {data_root}" if data_root else "") + (" --tiny" if tiny else "")
             + f"` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             *environment(device), ""]
    failed = 0
    for step in steps(device, data_root, out, tiny):
        click.echo(f"== {step.title}", err=True)
        status, seconds, output = run_step(step)
        failed += status != "ok"
        tail = "\n".join(output.strip().splitlines()[-60:])
        lines += [f"## {step.title}", "", f"`{shlex.join(step.args)}`", "",
                  f"{status}, {seconds:.0f} s", "", "```", tail, "```", ""]
        atomic_write_text(out / "gpu-check.md", "\n".join(lines))  # kept if a later step hangs
    click.echo(f"wrote {out / 'gpu-check.md'} ({failed} step(s) failed)")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
