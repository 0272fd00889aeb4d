"""The combined table of a multi-protocol folder (``compare --phases 5,10,25``).

``<out>/combined.md`` / ``combined.csv`` put the protocols side by side in the paper's layout
(methods as rows, N = 5 / 10 / 25 as columns), read from the run records of ``<out>/p<N>/``;
records made with other settings than their p<N>/ folder's (tables.split_by_settings) are left
out and named under the table, as each p<N>/table.md does.
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


def protocol_records(out: str | Path, warn: Callable[[str], None] | None = None, *,
                     apart: list[tuple[str, str]] | None = None) -> dict[int, list[dict]]:
    """N -> the usable run records of ``<out>/p<N>/`` made with that folder's settings
    (unusable files are reported, skipped; records of other settings are left out, and named
    in ``apart`` when it is given: ('p<N>/runs/<method>/seed<k>.json', what differs))."""
    from ..store.records import usable_records
    from .folder import like_records

    found: dict[int, list[dict]] = {}
    for folder in sorted(Path(out).glob("p*"), key=lambda p: (len(p.name), p.name)):
        if not (folder.is_dir() and folder.name[1:].isdigit() and (folder / "runs").is_dir()):
            continue
        records, unusable = usable_records(folder)
        found[int(folder.name[1:])], other = like_records(folder, records)
        for path, reason in unusable if warn is not None else ():
            warn(f"warning: skipping unusable run file {path} ({reason})")
        if apart is not None:
            apart += [(f"{folder.name}/{a.file}", a.difference) for a in other]
    return found


def write_combined(out: str | Path, *, method_order: Sequence[str] = (),
                   warn: Callable[[str], None] | None = None) -> str:
    """combined.md + combined.csv of a multi-protocol folder; returns the markdown."""
    from ..store.io import atomic_write_text
    from .paper.table import combined_frame, render_combined

    out = Path(out)
    apart: list[tuple[str, str]] = []
    by_phase = protocol_records(out, warn, apart=apart)
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
    if apart:
        markdown += "\n".join(["", "Records with other settings (not averaged in; the numbers "
                               "above leave them out):", "",
                               *[f"- `{file}`: {difference}" for file, difference in apart], ""])
    atomic_write_text(out / COMBINED_MD, markdown)
    atomic_write_text(out / COMBINED_CSV, combined_frame(by_phase, method_order).to_csv(index=False))
    return markdown


__all__ = ["COMBINED_CSV", "COMBINED_MD", "is_protocols_dir", "protocol_records", "write_combined"]
