"""The order a reviewer expects of the baselines, checked on a compare table, and the markdown
that says where a row breaks it and, with a control run under the authors' protocol, why.

Expected, on the mean average incremental accuracy over the seeds: everything <= ``cumulative``
(joint training on all data seen so far); ``lwf`` and ``ewc`` >= ``naive`` (plain fine-tuning);
the replay-based methods >= ``replay`` (the same memory replayed with plain cross-entropy).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..methods.authors_protocols import AUTHORS_PROTOCOLS, ControlStep

REPLAY_BASED = ("avl-icarl", "der", "derpp", "bic")
ControlPlan = tuple[int, tuple[ControlStep, ...]]  # classes per task, steps toward the authors'
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
    # compare --versus: the paired difference to that method's row, seed by seed (points), and
    # its 95% interval over the seeds (report/paired.py); None without --versus or 2 seeds
    versus: str | None = None
    versus_mean: float | None = None
    versus_low: float | None = None
    versus_high: float | None = None

    def within_noise_of(self, other: str) -> bool:
        """Whether the paired 95% interval of this row's difference to ``other`` holds 0."""
        return (self.versus == other and self.versus_low is not None
                and self.versus_high is not None and self.versus_low <= 0 <= self.versus_high)


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
                last_std=_number(record.get("last_accuracy_std")),
                versus=record.get("versus") or None,
                versus_mean=_number(record.get("versus_mean_diff")),
                versus_low=_number(record.get("versus_ci_low")),
                versus_high=_number(record.get("versus_ci_high")))
    return rows


def _holds(mine: float, op: str, ref: float) -> bool:
    return mine >= ref if op == ">=" else mine <= ref


def rule_results(method: str, rows: Mapping[str, Row],
                 others: Sequence[str] | None = None) -> list[tuple[str, str, bool | None]]:
    """(relation, other method, holds) for each rule of ``method`` (only those against
    ``others`` when given); holds is None when either row has no result."""
    mine = rows.get(method)
    results = []
    for op, other in expectations(method):
        if others is not None and other not in others:
            continue
        ref = rows.get(other)
        known = mine is not None and mine.mean is not None and ref is not None and ref.mean is not None
        results.append((op, other, _holds(mine.mean, op, ref.mean) if known else None))
    return results


def broken_rules(method: str, rows: Mapping[str, Row]) -> list[tuple[str, str]]:
    """(other method, finding) for each rule ``method``'s row breaks; other is "" when the row
    itself is missing. A missing row, or a comparison with a missing row, is reported as such,
    never silently passed."""
    row = rows.get(method)
    if row is None or row.mean is None:
        return [("", "no result (failed or diverged: see the folder's table.md)")]
    broken = []
    for op, other, holds in rule_results(method, rows):
        if holds is None:
            broken.append(("", f"cannot compare: no {other} result"))
        elif not holds:
            word = "below" if op == ">=" else "above"
            broken.append((other, f"{word} {other} ({row.mean:.2f} vs {rows[other].mean:.2f})"))
    return broken


def check(rows: Mapping[str, Row], methods: Sequence[str]) -> dict[str, list[str]]:
    """For each method, the expectations its row breaks (empty: it keeps them all)."""
    return {method: [finding for _other, finding in broken_rules(method, rows)]
            for method in methods}


# --------------------------------------------------------------------------- controls


@dataclass(frozen=True)
class Control:
    """Methods re-run beside the checked protocol (same data, preset and seeds) in their authors'
    classes per task, then with each further step toward the authors' protocol (``steps``: the
    labels of the steps taken, ``sets``: their --set items, adding up). Its rows hold the paired
    difference to ``methods[0]`` (compare --versus), the method the broken rows fell below."""

    classes_per_task: int  # also the base phase's classes: the base phase is one of the tasks
    phases: int
    steps: tuple[str, ...]
    sets: tuple[str, ...]
    methods: tuple[str, ...]
    command: str
    rows: Mapping[str, Row]

    @property
    def label(self) -> str:
        what = f"tasks of {self.classes_per_task} classes (B{self.classes_per_task} + {self.phases})"
        if not self.steps:
            return what + ", the preset's optimizer"
        return what + ", " + ", ".join(self.steps) + " (" + ", ".join(self.sets) + ")"

    @property
    def short(self) -> str:
        """How a row names it: the step it adds to the control before it."""
        return f"+ {self.steps[-1]}" if self.steps else f"tasks of {self.classes_per_task}"


def control_groups(rows: Mapping[str, Row], methods: Sequence[str],
                   new_classes_per_phase: int) -> dict[ControlPlan, list[str]]:
    """The methods to re-run under their authors' protocol, by (classes per task, steps): each
    method whose row breaks a rule against another method's row while its authors train another
    number of classes a task, with those other methods (listed first, as the table lists them).
    Methods whose authors share a protocol (DER, DER++) share the controls."""
    groups: dict[ControlPlan, list[str]] = {}
    for method in methods:
        protocol = AUTHORS_PROTOCOLS.get(method)
        if protocol is None or protocol.classes_per_task == new_classes_per_phase:
            continue
        others = [other for other, _finding in broken_rules(method, rows) if other]
        if not others:
            continue
        group = groups.setdefault((protocol.classes_per_task, protocol.steps), [])
        for name in (*others, method):
            if name not in group:
                group.append(name)
    return groups


def control_phases(num_classes: int, classes_per_task: int) -> int | None:
    """Incremental phases after a base phase of ``classes_per_task`` that split ``num_classes``
    into equal tasks of ``classes_per_task``; None when they do not divide."""
    if classes_per_task < 1 or num_classes % classes_per_task or num_classes <= classes_per_task:
        return None
    return num_classes // classes_per_task - 1


# --------------------------------------------------------------------------- markdown


def _cell(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def _numbers(method: str, row: Row | None) -> str:
    """A table row's first cells: method, seeds, avg inc. acc, last acc."""
    if row is None:
        return f"| {method} | 0 | – | – |"
    return (f"| {method} | {row.seeds} | {_cell(row.mean, row.std)} | "
            f"{_cell(row.last_mean, row.last_std)} |")


def _control_verdict(method: str, control: Control) -> str:
    """What a control shows for ``method``: its rules against the control's other rows."""
    verdicts = []
    for _op, other, holds in rule_results(method, control.rows, control.methods):
        if holds is None:
            missing = other if method in control.rows and control.rows[method].mean is not None \
                else method
            verdicts.append(f"no {missing} result")
        else:
            mine = control.rows[method]
            verdicts.append(f"{mine.mean:.2f} vs {other} {control.rows[other].mean:.2f}, "
                            + ("holds" if holds else _below_verdict(mine, other)))
    return "; ".join(verdicts)


def _below_verdict(row: Row, other: str) -> str:
    """A control row under ``other``'s mean: seed noise when the paired 95% interval of their
    difference holds 0 (the seeds cannot tell them apart), else a break."""
    if row.within_noise_of(other):
        return (f"within seed noise (paired difference {row.versus_mean:+.2f}, 95% CI "
                f"[{row.versus_low:+.2f}, {row.versus_high:+.2f}] holds 0)")
    if row.versus == other and row.versus_low is not None:
        return (f"breaks there too (paired difference {row.versus_mean:+.2f}, 95% CI "
                f"[{row.versus_low:+.2f}, {row.versus_high:+.2f}])")
    return "breaks there too"


def _why(method: str, controls: Sequence[Control], new_classes_per_phase: int | None,
         note: int) -> str:
    protocol = AUTHORS_PROTOCOLS[method]
    here = (f"{new_classes_per_phase} class{'es' if new_classes_per_phase != 1 else ''} a phase "
            "and the preset's optimizer here" if new_classes_per_phase else "another protocol here")
    parts = [f"{here}; its authors: tasks of {protocol.classes_per_task} classes, "
             f"{', '.join(protocol.settings)} [{note}]"]
    parts += [f"{control.short}: {_control_verdict(method, control)}" for control in controls]
    return "; ".join(parts)


def markdown(benchmark: str, rows: Mapping[str, Row], methods: Sequence[str],
             controls: Sequence[Control] = (), new_classes_per_phase: int | None = None,
             command: str = "") -> str:
    """One benchmark's table: numbers, the expected order, a mark where a row breaks it and, for
    a row the controls re-ran, why: the controls' numbers in the row, the reference's facts in a
    numbered note under the table."""
    findings = check(rows, methods)
    lines = [f"### {benchmark}", "",
             "| method | seeds | avg inc. acc (%) | last acc (%) | expected | check |",
             "|:--|--:|--:|--:|:--|:--|"]
    notes: list[str] = []
    sources: list[str] = []
    for method in methods:
        broken = findings[method]
        mark = "ok" if not broken else "✗ " + "; ".join(broken)
        mine = [c for c in controls if method in c.methods] if method in AUTHORS_PROTOCOLS else []
        if broken and mine:
            protocol = AUTHORS_PROTOCOLS[method]
            source = (f"Protocol: as in [{sources.index(protocol.source) + 1}]"
                      if protocol.source in sources else protocol.source)
            sources.append(protocol.source)
            notes.append(f"{len(notes) + 1}. `{method}`: {protocol.mechanism}. {source}.")
            mark += ": " + _why(method, mine, new_classes_per_phase, len(notes))
        lines.append(f"{_numbers(method, rows.get(method))} {describe(expectations(method))} | "
                     f"{mark} |")
    if command:
        lines += ["", f"`{command}`"]
    for control in controls:
        lines += ["", f"Control: {control.label}; same data, preset otherwise, seeds:", "",
                  "| method | seeds | avg inc. acc (%) | last acc (%) |", "|:--|--:|--:|--:|"]
        lines += [_numbers(method, control.rows.get(method)) for method in control.methods]
        lines += ["", f"`{control.command}`"]
    if notes:
        lines += ["", "Why (from the reference implementation; the controls measure it):", "",
                  *notes]
    return "\n".join(lines)


__all__ = ["Control", "ControlPlan", "METRIC", "REPLAY_BASED", "Row", "broken_rules", "check",
           "control_groups", "control_phases", "describe", "expectations", "markdown",
           "read_table", "rule_results"]
