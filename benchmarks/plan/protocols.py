"""Protocols of one command (``compare --phases 5,10,25``): parsing lists, naming folders.

Each phase count is an ordinary compare in its own folder ``<out>/p<N>/``; report/combined.py
puts their tables side by side afterwards.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

from ..errors import UserError

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


def protocol_dirs(out: Path, phases: Sequence[int]) -> dict[int, Path]:
    return {n: Path(out) / f"p{n}" for n in phases}


__all__ = ["parse_int_list", "parse_phases", "protocol_dirs", "settings_tag"]
