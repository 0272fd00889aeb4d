"""Several protocols in one command: ``compare --phases 5,10,25``.

Each phase count is an ordinary compare in its own folder ``<out>/p<N>/`` (resumable, with its
own table); afterwards ``<out>/combined.md`` / ``combined.csv`` put them side by side in the
paper's layout (methods as rows, N = 5 / 10 / 25 as columns). Everything is validated for every
protocol before the first one trains.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import UserError

COMBINED_MD = "combined.md"
COMBINED_CSV = "combined.csv"


def parse_int_list(text: str | int | Sequence[int], *, low: int, high: int | None,
                   bad: str, repeated: str) -> tuple[int, ...]:
    """'5, 10,25' -> (5, 10, 25): distinct integers in low..high, else UserError(bad/repeated)."""
    items: list[Any] = ([text] if isinstance(text, int) else
                        [p.strip() for p in text.split(",")] if isinstance(text, str) else list(text))
    values = []
    for item in items:
        if isinstance(item, str):
            if not item.isascii() or not item.isdigit():
                raise UserError(bad)
            item = int(item)
        if (isinstance(item, bool) or not isinstance(item, int) or item < low
                or (high is not None and item > high)):
            raise UserError(bad)
        values.append(item)
    if not values:
        raise UserError(bad)
    if len(set(values)) != len(values):
        raise UserError(repeated)
    return tuple(values)


def parse_phases(text: str | int | Sequence[int]) -> tuple[int, ...]:
    """'5,10,25' -> (5, 10, 25); one-line UserError on anything else."""
    return parse_int_list(text, low=1, high=None,
                          bad=f"bad --phases {text!r}: give one or more comma-separated positive "
                              "integers, e.g. 5 or 5,10,25",
                          repeated=f"bad --phases {text!r}: a phase count is repeated")


def settings_tag(sets: Sequence[str]) -> str:
    """A short, stable folder suffix for a list of --set items ('' when there are none)."""
    if not sets:
        return ""
    return "-set" + hashlib.sha256("\n".join(sorted(sets)).encode()).hexdigest()[:6]


def protocols_out_dir(benchmark: str, phases: Sequence[int], preset: str, epochs: int | None,
                      sets: Sequence[str] = ()) -> Path:
    """Default parent folder of a multi-protocol compare."""
    name = (f"{benchmark}-p{'-'.join(str(p) for p in phases)}-{Path(preset).stem}"
            + (f"-e{epochs}" if epochs is not None else "") + settings_tag(sets))
    return Path("runs") / name


def protocol_dirs(out: Path, phases: Sequence[int]) -> dict[int, Path]:
    return {n: Path(out) / f"p{n}" for n in phases}


def run_protocols(*, benchmark: str, phases: Sequence[int], out: str | Path | None,
                  run_compare: Callable[..., Any], validate: Callable[[int], None],
                  method_order: Sequence[str], preset: str, epochs: int | None,
                  sets: Sequence[str], echo: Callable[[str], None] = print,
                  quiet: bool = False, **compare_kw: Any) -> tuple[Path, list[Any]]:
    """Validate every protocol, run each into ``<out>/p<N>``, then write the combined table."""
    for n in phases:
        validate(n)  # a bad phase count fails before anything trains
    parent = Path(out) if out is not None else protocols_out_dir(benchmark, phases, preset,
                                                                  epochs, sets)
    results = []
    for n, folder in protocol_dirs(parent, phases).items():
        if not quiet:
            echo(f"=== protocol N={n}: {folder}")
        results.append(run_compare(benchmark=benchmark, phases=n, out=folder, preset=preset,
                                   epochs=epochs, sets=sets, echo=echo, quiet=quiet, **compare_kw))
    markdown = write_combined(parent, method_order=method_order)
    if not quiet:
        echo(markdown)
        echo(f"wrote {parent / COMBINED_MD}, {parent / COMBINED_CSV}")
    return parent, results


def is_protocols_dir(out: str | Path) -> bool:
    """True for a multi-protocol parent folder (p<N>/ subfolders holding runs/)."""
    return any(p.is_dir() and p.name[1:].isdigit() and (p / "runs").is_dir()
               for p in Path(out).glob("p*"))


def protocol_records(out: str | Path, warn: Callable[[str], None] | None = None) -> dict[int, list[dict]]:
    """N -> the usable run records of ``<out>/p<N>/`` (unusable files are reported, skipped)."""
    from .records import usable_records

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
    from .io import atomic_write_text
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


__all__ = ["COMBINED_CSV", "COMBINED_MD", "is_protocols_dir", "parse_int_list", "parse_phases", "protocol_dirs",
           "protocol_records", "protocols_out_dir", "run_protocols", "settings_tag",
           "write_combined"]
