"""Tables and plots from the run records of an output folder (no training).

Used by ``compare`` after training and by ``report`` alone; run files that cannot be used are
reported and left out, never deleted here. Records made with other settings than the folder's
(tables.split_by_settings, guided by the folder's latest command.txt) are listed apart under
their table and left out of the rows, the CSV and the plots. ``aggregation.png`` shows the a_k
of the runs that have them (AANets). Plots the report wrote earlier and no longer makes
(``accuracy.png`` / ``accuracy-<benchmark>-p<N>.png``, the same for ``aggregation``, its own
names only) are removed; no other file is.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import UserError
from ..store.io import atomic_write_text
from ..methods import list_methods
from ..store.records import find_divergences, pick_run, record_run_name, usable_records


@dataclass
class ReportResult:
    out_dir: Path
    records: int
    table_md: Path | None
    table_csv: Path | None
    plots: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # unusable run files, one line each
    markdown: str = ""
    other_settings: list[str] = field(default_factory=list)  # records listed apart, one line each
    removed_plots: list[Path] = field(default_factory=list)  # our plots no longer made


def latest_command(out_dir: str | Path) -> str | None:
    """The canonical command of the folder's last compare (its command.txt), None if absent."""
    try:
        lines = (Path(out_dir) / "command.txt").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    lines = [line.strip() for line in lines if line.strip()]
    return lines[-1] if lines else None


def like_records(out_dir: str | Path, records: list[dict[str, Any]]
                 ) -> tuple[list[dict[str, Any]], list[Any]]:
    """(the records of the folder's settings, the tables.Apart of the others)."""
    from .tables import split_by_settings

    return split_by_settings(records, latest_command(out_dir))


def rebuild_report(out_dir: str | Path, *, method_order: Sequence[str] | None = None,
                   warn: Callable[[str], None] | None = None,
                   versus: str | None = None) -> ReportResult:
    """Tables and plots from the run files in ``out_dir`` (no training). Unusable run files
    are reported through ``warn`` and left out. ``versus``: a method (or method@variant) that
    every row is compared with, seed by seed (one UserError line when the folder has none)."""
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    out_dir = Path(out_dir)
    if not (out_dir / "runs").is_dir():
        raise UserError(f"{out_dir} holds no runs (expected {out_dir / 'runs'}/<method>/seed<k>.json)")
    records, unusable = usable_records(out_dir)
    problems = [f"{path}: {reason}" for path, reason in unusable]
    for path, reason in unusable:
        warn(f"warning: skipping unusable run file {path} ({reason}); re-run compare to redo it")
    order = list(method_order) if method_order else [m.name for m in list_methods()]
    try:
        result = _write_report(out_dir, records, problems, order, versus)
    except OSError as exc:  # disk full, read-only folder: one line, nothing half-written
        from ..store.outdir import is_write_failure, user_error_for_os_error
        if not is_write_failure(exc):
            raise
        raise user_error_for_os_error(exc, out_dir) from None
    for line in result.other_settings:
        warn(f"warning: {line}; listed apart in {result.table_md.name}, not averaged in")
    return result


# the plot names this report writes: accuracy.png (one benchmark/phases group) or
# accuracy-<benchmark>-p<N>.png (several), and aggregation[...].png likewise
_PLOT_NAME = re.compile(r"^(?:accuracy|aggregation)(?:-(?P<bench>.+)-p\d+)?\.png$")


def _our_plot(path: Path, benchmarks: set[str]) -> bool:
    match = _PLOT_NAME.match(path.name)
    return bool(match) and path.is_file() and (match["bench"] is None or match["bench"] in benchmarks)


def remove_stale_plots(out_dir: Path, written: Sequence[Path], benchmarks: set[str]) -> list[Path]:
    """Remove the plots of our naming scheme in ``out_dir`` that this report did not write
    (left by an earlier report of other groups); ``benchmarks``: the benchmark names a plot
    of ours can carry. Returns what went."""
    from ..streams import list_streams

    names = benchmarks | {name for name, _ in list_streams()}
    keep = {Path(p).name for p in written}
    removed = []
    for path in sorted([*out_dir.glob("accuracy*.png"), *out_dir.glob("aggregation*.png")]):
        if path.name not in keep and _our_plot(path, names):
            path.unlink(missing_ok=True)  # a concurrent report may have removed it already
            removed.append(path)
    return removed


def _write_report(out_dir: Path, records: list[dict[str, Any]], problems: list[str],
                  order: list[str], versus: str | None = None) -> ReportResult:
    from . import plots, tables

    notes = {m.name: m.reference for m in list_methods() if m.reference}
    command = latest_command(out_dir)
    if versus is not None:  # one line, before anything is written, when it names no row
        like, _ = tables.split_by_settings(records, command)
        pick_run(versus, list(dict.fromkeys(record_run_name(r) for r in like)),
                 where=str(out_dir))
    markdown = tables.render_markdown(records, order, notes, find_divergences(out_dir),
                                      command=command, versus=versus)
    table_md, table_csv = out_dir / "table.md", out_dir / "table.csv"
    atomic_write_text(table_md, markdown)
    atomic_write_text(table_csv, tables.render_csv(records, order, command=command, versus=versus)
                      if records else "")
    like, apart = tables.split_by_settings(records, command)
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in like:
        groups.setdefault((r["benchmark"], r["phases"]), []).append(r)
    plot_paths = []
    for (bench, phases), recs in groups.items():
        name = "accuracy.png" if len(groups) == 1 else f"accuracy-{bench}-p{phases}.png"
        presets = ", ".join(sorted({r["preset"] for r in recs}))
        label = "REDUCED" if any(r["reduced"] for r in recs) else "paper setting"
        title = f"{bench}, {phases} phases, preset {presets} ({label})"
        plot_paths.append(plots.plot_accuracy(recs, out_dir / name, title=title, method_order=order))
        if any(r.get("aggregation_weights") for r in recs):  # AANets runs: their a_k per phase
            name = name.replace("accuracy", "aggregation", 1)
            plot_paths.append(plots.plot_aggregation(recs, out_dir / name, title=title,
                                                     method_order=order))
    removed = remove_stale_plots(out_dir, plot_paths, {r["benchmark"] for r in records})
    other = [f"{out_dir / a.file} was made with other settings: {a.difference}" for a in apart]
    return ReportResult(out_dir, len(records), table_md, table_csv, plot_paths, problems, markdown,
                        other, removed)
