"""Tables and plots from the run records of an output folder (no training).

Used by ``compare`` after training and by ``report`` alone; run files that cannot be used are
reported and left out, never deleted here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import UserError
from ..store.io import atomic_write_text
from ..methods import list_methods
from ..store.records import find_divergences, usable_records


@dataclass
class ReportResult:
    out_dir: Path
    records: int
    table_md: Path | None
    table_csv: Path | None
    plots: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # unusable run files, one line each
    markdown: str = ""


def rebuild_report(out_dir: str | Path, *, method_order: Sequence[str] | None = None,
                   warn: Callable[[str], None] | None = None) -> ReportResult:
    """Tables and plots from the run files in ``out_dir`` (no training). Unusable run files
    are reported through ``warn`` and left out."""
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
        return _write_report(out_dir, records, problems, order)
    except OSError as exc:  # disk full, read-only folder: one line, nothing half-written
        from ..store.outdir import is_write_failure, user_error_for_os_error
        if not is_write_failure(exc):
            raise
        raise user_error_for_os_error(exc, out_dir) from None


def _write_report(out_dir: Path, records: list[dict[str, Any]], problems: list[str],
                  order: list[str]) -> ReportResult:
    from . import plots, tables

    notes = {m.name: m.reference for m in list_methods() if m.reference}
    markdown = tables.render_markdown(records, order, notes, find_divergences(out_dir))
    table_md, table_csv = out_dir / "table.md", out_dir / "table.csv"
    atomic_write_text(table_md, markdown)
    atomic_write_text(table_csv, tables.render_csv(records, order) if records else "")
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["benchmark"], r["phases"]), []).append(r)
    plot_paths = []
    for (bench, phases), recs in groups.items():
        name = "accuracy.png" if len(groups) == 1 else f"accuracy-{bench}-p{phases}.png"
        presets = ", ".join(sorted({r["preset"] for r in recs}))
        label = "REDUCED" if any(r["reduced"] for r in recs) else "paper setting"
        title = f"{bench}, {phases} phases, preset {presets} ({label})"
        plot_paths.append(plots.plot_accuracy(recs, out_dir / name, title=title, method_order=order))
    return ReportResult(out_dir, len(records), table_md, table_csv, plot_paths, problems, markdown)
