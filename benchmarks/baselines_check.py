"""Do the baselines rank as a reviewer expects? Run every baseline through the harness and print
one markdown table per benchmark, with the order each method is expected to keep and a mark
where a row breaks it.

    OMP_NUM_THREADS=1 python -m benchmarks.baselines_check            # FMNIST B5+5 and digits, cpu
    python -m benchmarks.baselines_check --benchmarks split-digits --seeds 1993 --preset smoke

Expected order, on the mean average incremental accuracy over the seeds:

- everything <= ``cumulative`` (joint training on all data seen so far: the upper bound);
- ``lwf`` and ``ewc`` >= ``naive`` (plain fine-tuning: the lower bound);
- the replay-based methods (``avl-icarl``, ``der``, ``derpp``, ``bic``) >= ``replay`` (the same
  memory budget replayed with plain cross-entropy).

A mark is a finding to explain, not necessarily a bug. Where the method's authors train it under
another protocol (``benchmarks/methods/authors_protocols.py``: DER and DER++ on tasks of 2
classes with plain SGD at lr 0.03, batch 10, one epoch over many images, un-augmented, on a
two-layer MLP, as Mammoth's seq-mnist; the harness's B5 + 5 gives one class a phase), the check
runs controls for the broken row's method and the method it is compared with: the same data,
preset and seeds in the authors' classes per task, then with each further step of their
protocol (the settings adding up). Each control pairs the rows seed by seed with the method the
row fell below (``compare --versus``): a control row under that mean is "within seed noise"
when the paired 95% interval holds 0, else it "breaks there too". The row says why, with every
control's numbers, and a note under the table gives the reference's facts (docs/baselines.md:
"Protocols that make a method degenerate"). ``--no-controls`` skips them.

It drives the harness the way a user does: one ``cli.py compare ... --out DIR --quiet`` per
benchmark and per control in a subprocess (one CPU thread unless ``--threads`` says otherwise),
then reads the ``table.csv`` that compare writes; finished runs are reused, so it can be
stopped and re-run.
``--no-run`` only reads the tables already there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from benchmarks.report.expected_order import (Control, Row, check, control_groups,
                                              control_phases, expectations, markdown, read_table)

REPO = Path(__file__).resolve().parents[1]
BASELINES = ("naive", "cumulative", "replay", "lwf", "ewc", "avl-icarl", "der", "derpp", "bic")
DEFAULT_BENCHMARKS = ("split-fmnist", "split-digits")


def stream_shape(benchmark: str, *, phases: int, data_root: str | None) -> tuple[int, int]:
    """(classes of the stream, fewest new classes in an incremental phase) of the checked
    protocol (default base phase), from the stream's layout: no image is loaded."""
    from benchmarks.streams.registry import StreamSpec, describe_stream

    layout = describe_stream(StreamSpec(benchmark, phases=phases, data_root=data_root))
    return layout.num_classes, min(len(classes) for classes in layout.phase_classes[1:])


def compare_command(benchmark: str, *, phases: int, preset: str, seeds: str,
                    methods: Sequence[str], out: Path, data_root: str | None,
                    base_classes: int | None = None, sets: Sequence[str] = (),
                    versus: str | None = None, python: str = sys.executable) -> list[str]:
    cmd = [python, str(REPO / "cli.py"), "compare", "--benchmark", benchmark, "--phases",
           str(phases)]
    if base_classes is not None:
        cmd += ["--base-classes", str(base_classes)]
    cmd += ["--preset", preset, "--seeds", seeds, "--methods", ",".join(methods)]
    for item in sets:
        cmd += ["--set", item]
    if versus is not None:
        cmd += ["--versus", versus]
    cmd += ["--device", "cpu", "--out", str(out), "--quiet"]
    if data_root and benchmark != "split-digits":
        cmd += ["--data-root", data_root]
    return cmd


def default_data_root() -> str | None:
    env = os.environ.get("AANETS_DATA_ROOT")
    if env:
        return env
    shared = REPO.parent / "shared" / "data"
    return str(shared) if shared.is_dir() else None


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.baselines_check",
        description="Run every baseline through `cli.py compare` and check the expected order.")
    parser.add_argument("--benchmarks", default=",".join(DEFAULT_BENCHMARKS),
                        help="comma-separated benchmarks [%(default)s]")
    parser.add_argument("--seeds", default="1993,1994,1995", help="[%(default)s]")
    parser.add_argument("--preset", default="cpu", help="[%(default)s]")
    parser.add_argument("--phases", type=int, default=5, help="[%(default)s]")
    parser.add_argument("--methods", default=",".join(BASELINES), help="[all baselines]")
    parser.add_argument("--out", default=str(REPO / "runs" / "baselines-check"),
                        help="parent folder; one compare folder per benchmark [%(default)s]")
    parser.add_argument("--data-root", default=None,
                        help="offline data [$AANETS_DATA_ROOT, else ../shared/data]")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP_NUM_THREADS of the runs [%(default)s]")
    parser.add_argument("--no-controls", action="store_true",
                        help="do not re-run a broken row's method under its authors' protocol")
    parser.add_argument("--no-run", action="store_true",
                        help="only read the tables already in --out")
    return parser.parse_args(argv)


class _Compare:
    """Runs (or, with --no-run, only reads) one ``cli.py compare`` folder."""

    def __init__(self, args: argparse.Namespace, data_root: str | None) -> None:
        self.args = args
        self.data_root = data_root
        self.env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
                        MKL_NUM_THREADS=str(args.threads))
        self.failed = False

    def __call__(self, benchmark: str, methods: Sequence[str], folder: Path, *, phases: int,
                 base_classes: int | None = None, sets: Sequence[str] = (),
                 versus: str | None = None) -> tuple[dict[str, Row] | None, str]:
        cmd = compare_command(benchmark, phases=phases, preset=self.args.preset,
                              seeds=self.args.seeds, methods=methods, out=folder,
                              data_root=self.data_root, base_classes=base_classes, sets=sets,
                              versus=versus)
        shown = f"OMP_NUM_THREADS={self.args.threads} python " + " ".join(cmd[1:]).replace(
            str(REPO) + os.sep, "")
        if not self.args.no_run:
            print(f"running: {shown}", file=sys.stderr, flush=True)
            done = subprocess.run(cmd, cwd=REPO, env=self.env, check=False)
            if done.returncode not in (0, 1):  # 1: some runs failed or diverged; table written
                print(f"compare stopped with exit code {done.returncode}", file=sys.stderr)
                self.failed = True
        table = folder / "table.csv"
        if not table.is_file():
            self.failed = True
            return None, shown
        return read_table(table), shown


def run_controls(run: _Compare, benchmark: str, rows: Mapping[str, Row],
                 methods: Sequence[str], shape: tuple[int, int]) -> list[Control]:
    """The controls of each broken row that has an authors' protocol: its classes per task with
    the preset's settings, then each step toward the authors' protocol in turn, the settings
    adding up (methods with the same protocol, as DER and DER++, share the controls)."""
    num_classes, per_phase = shape
    controls = []
    for (classes_per_task, steps), names in control_groups(rows, methods, per_phase).items():
        phases = control_phases(num_classes, classes_per_task)
        if phases is None:
            print(f"{benchmark}: {num_classes} classes do not split into tasks of "
                  f"{classes_per_task}; no control for {', '.join(names)}", file=sys.stderr)
            continue
        for taken in (steps[:k] for k in range(len(steps) + 1)):  # the steps add up
            sets = tuple(item for step in taken for item in step.sets)
            suffix = "-" + taken[-1].slug if taken else ""
            folder = (Path(run.args.out)
                      / f"{benchmark}-b{classes_per_task}p{phases}-{run.args.preset}{suffix}")
            control_rows, shown = run(benchmark, names, folder, phases=phases,
                                      base_classes=classes_per_task, sets=sets,
                                      versus=names[0])
            if control_rows is not None:
                controls.append(Control(classes_per_task, phases,
                                        tuple(step.label for step in taken), sets, tuple(names),
                                        shown, control_rows))
    return controls


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    benchmarks = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    data_root = args.data_root or default_data_root()
    run = _Compare(args, data_root)
    sections = []
    for benchmark in benchmarks:
        folder = Path(args.out) / f"{benchmark}-p{args.phases}-{args.preset}"
        rows, shown = run(benchmark, methods, folder, phases=args.phases)
        if rows is None:
            sections.append(f"### {benchmark}\n\nno table at {folder / 'table.csv'}")
            continue
        shape = stream_shape(benchmark, phases=args.phases, data_root=data_root)
        controls = [] if args.no_controls else run_controls(run, benchmark, rows, methods, shape)
        sections.append(markdown(benchmark, rows, methods, controls, shape[1], shown))
    print(f"## Baselines check: preset {args.preset}, {args.phases} phases, seeds {args.seeds}\n")
    print("\n\n".join(sections))
    return 1 if run.failed else 0


__all__ = ["BASELINES", "check", "expectations", "main", "markdown", "read_table"]

if __name__ == "__main__":
    sys.exit(main())
