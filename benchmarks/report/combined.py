"""The combined table of a multi-protocol folder (``compare --phases 5,10,25``).

``<out>/combined.md`` / ``combined.csv`` put the protocols side by side in the paper's layout
(methods as rows, N = 5 / 10 / 25 as columns), read from the run records of ``<out>/p<N>/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

COMBINED_MD = "combined.md"
COMBINED_CSV = "combined.csv"


def is_protocols_dir(out: str | Path) -> bool:
    """True for a multi-protocol parent folder (p<N>/ subfolders holding runs/)."""
    return any(p.is_dir() and p.name[1:].isdigit() and (p / "runs").is_dir()
               for p in Path(out).glob("p*"))


def protocol_records(out: str | Path, warn: Callable[[str], None] | None = None) -> dict[int, list[dict]]:
    """N -> the usable run records of ``<out>/p<N>/`` (unusable files are reported, skipped)."""
    from ..store.records import usable_records

    found: dict[int, list[dict]] = {}
    for folder in sorted(Path(out).glob("p*"), key=lambda p: (len(p.name), p.name)):
        if not (folder.is_dir() and folder.name[1:].isdigit() and (folder / "runs").is_dir()):
            continue
        found[int(folder.name[1:])], unusable = usable_records(folder)
        for path, reason in unusable if warn is not None else ():
            warn(f"warning: skipping unusable run file {path} ({reason})")
    return found


def write_combined(out: str | Path, *, method_order: Sequence[str] = (),
                   warn: Callable[[str], None] | None = None) -> str:
    """combined.md + combined.csv of a multi-protocol folder; returns the markdown."""
    from ..store.io import atomic_write_text
    from .paper.table import combined_frame, render_combined

    out = Path(out)
    by_phase = protocol_records(out, warn)
    records = [r for recs in by_phase.values() for r in recs]
    if not records:
        markdown = "No finished runs yet.\n"
        atomic_write_text(out / COMBINED_MD, markdown)
        atomic_write_text(out / COMBINED_CSV, "")
        return markdown
    benchmarks = sorted({r["benchmark"] for r in records})
    presets = sorted({r["preset"] for r in records})
    markdown = render_combined(by_phase, benchmark=", ".join(benchmarks), preset=", ".join(presets),
                               reduced=any(r["reduced"] for r in records), method_order=method_order)
    atomic_write_text(out / COMBINED_MD, markdown)
    atomic_write_text(out / COMBINED_CSV, combined_frame(by_phase, method_order).to_csv(index=False))
    return markdown


__all__ = ["COMBINED_CSV", "COMBINED_MD", "is_protocols_dir", "protocol_records", "write_combined"]
