"""``report --against paper`` and ``report --per-phase``: extra tables beside table.md.

Works on one compare folder or on a multi-protocol folder (``compare --phases 5,10,25``),
whose p<N>/ folders are read together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from ...errors import UserError
from ...store.io import atomic_write_text
from ..combined import is_protocols_dir, protocol_records, write_combined
from ..folder import like_records
from ...store.records import usable_records
from . import load_published
from .table import per_phase_frame, render_against, render_per_phase

AGAINST_MD = "against_paper.md"
PER_PHASE_MD, PER_PHASE_CSV = "per_phase.md", "per_phase.csv"


def folder_records(out: str | Path, warn: Callable[[str], None]) -> list[dict]:
    """Every usable record of a compare folder or of all p<N>/ folders of a protocols folder,
    made with its folder's settings (the others are listed apart in table.md, never compared)."""
    out = Path(out)
    if is_protocols_dir(out):
        return [r for recs in protocol_records(out, warn).values() for r in recs]
    if not (out / "runs").is_dir():
        raise UserError(f"{out} holds no runs (expected {out / 'runs'}/<method>/seed<k>.json "
                        "or p<N>/runs/ of compare --phases 5,10,25)")
    records, unusable = usable_records(out)
    for path, reason in unusable:
        warn(f"warning: skipping unusable run file {path} ({reason})")
    return like_records(out, records)[0]


def paper_reports(out: str | Path, *, against: str | None = None, per_phase: bool = False,
                  method_order: Sequence[str] = (), warn: Callable[[str], None] = print,
                  published_csv: str | Path | None = None) -> tuple[str, list[Path]]:
    """Write the requested extra tables into ``out``; return their markdown and paths."""
    out = Path(out)
    if against is None and not per_phase and not is_protocols_dir(out):
        return "", []
    if not method_order:  # the registry's order, as table.md has it
        from ...methods import list_methods
        method_order = [m.name for m in list_methods()]
    records = folder_records(out, warn)
    parts, written = [], []
    if is_protocols_dir(out):
        parts.append(write_combined(out, method_order=method_order, warn=warn))
        written += [out / "combined.md", out / "combined.csv"]
    if against is not None:
        if against != "paper":
            raise UserError(f"--against {against!r}: only 'paper' is known")
        published = load_published(published_csv) if published_csv else load_published()
        markdown = render_against(records, published, method_order)
        atomic_write_text(out / AGAINST_MD, markdown)
        parts.append(markdown)
        written.append(out / AGAINST_MD)
    if per_phase:
        markdown = render_per_phase(records, method_order)
        atomic_write_text(out / PER_PHASE_MD, markdown)
        frame = per_phase_frame(records, method_order)
        atomic_write_text(out / PER_PHASE_CSV, frame.to_csv(index=False) if not frame.empty else "")
        parts.append(markdown)
        written += [out / PER_PHASE_MD, out / PER_PHASE_CSV]
    return "\n".join(parts), written


__all__ = ["AGAINST_MD", "PER_PHASE_CSV", "PER_PHASE_MD", "folder_records", "paper_reports"]
