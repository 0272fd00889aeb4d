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

A mark is a finding to explain, not necessarily a bug: docs/baselines.md says which protocols
make a method degenerate (e.g. DER's logit regression with few iterations per phase).

It drives the harness the way a user does: one ``cli.py compare ... --out DIR --quiet`` per
benchmark in a subprocess (one CPU thread unless ``--threads`` says otherwise), then reads the
``table.csv`` that compare writes; finished runs are reused, so it can be stopped and re-run.
``--no-run`` only reads the tables already there.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINES = ("naive", "cumulative", "replay", "lwf", "ewc", "avl-icarl", "der", "derpp", "bic")
REPLAY_BASED = ("avl-icarl", "der", "derpp", "bic")
DEFAULT_BENCHMARKS = ("split-fmnist", "split-digits")
METRIC = "avg_incremental_accuracy"


def expectations(method: str) -> list[tuple[str, str]]:
    """(relation, other method) pairs ``method``'s mean must satisfy."""
    rules: list[tuple[str, str]] = []
    if method in ("lwf", "ewc"):
        rules.append((">=", "naive"))
    if method in REPLAY_BASED:
        rules.append((">=", "replay"))
    if method != "cumulative":
        rules.append(("<=", "cumulative"))
    return rules


def describe(rules: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{op} {other}" for op, other in rules) or "upper bound"


@dataclass(frozen=True)
class Row:
    method: str
    seeds: int
    mean: float | None      # average incremental accuracy, %, mean over seeds
    std: float | None
    last_mean: float | None  # last accuracy, %
    last_std: float | None


def _number(text: str | None) -> float | None:
    if text is None or text.strip() == "":
        return None
    value = float(text)
    return None if math.isnan(value) else value


def read_table(path: Path) -> dict[str, Row]:
    """The rows of a compare ``table.csv`` (one per method), keyed by method."""
    rows: dict[str, Row] = {}
    with open(path, newline="") as handle:
        for record in csv.DictReader(handle):
            rows[record["method"]] = Row(
                method=record["method"], seeds=int(float(record.get("seeds") or 0)),
                mean=_number(record.get(f"{METRIC}_mean")), std=_number(record.get(f"{METRIC}_std")),
                last_mean=_number(record.get("last_accuracy_mean")),
                last_std=_number(record.get("last_accuracy_std")))
    return rows


def check(rows: Mapping[str, Row], methods: Sequence[str]) -> dict[str, list[str]]:
    """For each method, the expectations its row breaks (empty: it keeps them all). A missing
    row, or a comparison with a missing row, is reported as such, never silently passed."""
    out: dict[str, list[str]] = {}
    for method in methods:
        row = rows.get(method)
        broken: list[str] = []
        if row is None or row.mean is None:
            out[method] = ["no result (failed or diverged: see the folder's table.md)"]
            continue
        for op, other in expectations(method):
            ref = rows.get(other)
            if ref is None or ref.mean is None:
                broken.append(f"cannot compare: no {other} result")
                continue
            ok = row.mean >= ref.mean if op == ">=" else row.mean <= ref.mean
            if not ok:
                word = "below" if op == ">=" else "above"
                broken.append(f"{word} {other} ({row.mean:.2f} vs {ref.mean:.2f})")
        out[method] = broken
    return out


def _cell(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def markdown(benchmark: str, rows: Mapping[str, Row], methods: Sequence[str]) -> str:
    """One benchmark's table: numbers, the expected order and a mark where a row breaks it."""
    findings = check(rows, methods)
    lines = [f"### {benchmark}", "",
             "| method | seeds | avg inc. acc (%) | last acc (%) | expected | check |",
             "|:--|--:|--:|--:|:--|:--|"]
    for method in methods:
        row = rows.get(method)
        broken = findings[method]
        mark = "ok" if not broken else "✗ " + "; ".join(broken)
        lines.append(f"| {method} | {row.seeds if row else 0} | "
                     f"{_cell(row.mean, row.std) if row else '–'} | "
                     f"{_cell(row.last_mean, row.last_std) if row else '–'} | "
                     f"{describe(expectations(method))} | {mark} |")
    return "\n".join(lines)


def compare_command(benchmark: str, *, phases: int, preset: str, seeds: str,
                    methods: Sequence[str], out: Path, data_root: str | None,
                    python: str = sys.executable) -> list[str]:
    cmd = [python, str(REPO / "cli.py"), "compare", "--benchmark", benchmark, "--phases",
           str(phases), "--preset", preset, "--seeds", seeds, "--methods", ",".join(methods),
           "--device", "cpu", "--out", str(out), "--quiet"]
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
    parser.add_argument("--no-run", action="store_true",
                        help="only read the tables already in --out")
    return parser.parse_args(argv)


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    benchmarks = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    data_root = args.data_root or default_data_root()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    sections, status = [], 0
    for benchmark in benchmarks:
        folder = Path(args.out) / f"{benchmark}-p{args.phases}-{args.preset}"
        cmd = compare_command(benchmark, phases=args.phases, preset=args.preset,
                              seeds=args.seeds, methods=methods, out=folder, data_root=data_root)
        shown = " ".join(cmd[1:]).replace(str(REPO) + os.sep, "")
        if not args.no_run:
            print(f"running: OMP_NUM_THREADS={args.threads} python {shown}", file=sys.stderr,
                  flush=True)
            done = subprocess.run(cmd, cwd=REPO, env=env, check=False)
            if done.returncode not in (0, 1):  # 1: some runs failed or diverged; table written
                print(f"compare stopped with exit code {done.returncode}", file=sys.stderr)
                status = 1
        table = folder / "table.csv"
        if not table.is_file():
            sections.append(f"### {benchmark}\n\nno table at {table}")
            status = 1
            continue
        rows = read_table(table)
        sections.append(markdown(benchmark, rows, methods)
                        + f"\n\n`OMP_NUM_THREADS={args.threads} python {shown}`")
    print(f"## Baselines check: preset {args.preset}, {args.phases} phases, seeds {args.seeds}\n")
    print("\n\n".join(sections))
    return status


if __name__ == "__main__":
    sys.exit(main())
