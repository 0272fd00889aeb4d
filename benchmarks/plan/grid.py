"""Grids of settings: ``compare --grid key=v1,v2 [--grid key2=...]``.

A grid is the product of its keys' values; each combination is a *variant*, whose items are
added to ``--set`` for the cells it makes. Keys and values are the dotted keys and values of
``--set``, typed and checked by the same code (config.load_config). Only the items of a variant
that reach a method (RunConfig.key_settings: what its run key hashes) make its cells: a method
that no grid key reaches is trained once, and two variants that differ only in settings a
method does not read give it one cell. Planning (planner.plan_compare) makes the cells; this
module parses the grid and types its values.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import UserError
from .config import PresetSource, load_config, parse_set

Grid = tuple[tuple[str, tuple[str, ...]], ...]


def split_values(text: str) -> list[str]:
    """'1e-4,1e-3' -> ['1e-4', '1e-3']; commas inside [...] belong to a list value:
    '[10,20],[5]' -> ['[10,20]', '[5]']."""
    values, depth, current = [], 0, ""
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    values.append(current.strip())
    return values


def parse_grid(items: Sequence[str] | Sequence[tuple[str, Sequence[str]]] | None) -> Grid:
    """'--grid' items ('key=v1,v2' text, or (key, values) pairs) -> ((key, (v1, v2)), ...),
    checked for form: each key once, with one or more values, none empty or repeated. Keys and
    values are checked against the preset when the plan is made (typed_grid)."""
    grid: list[tuple[str, tuple[str, ...]]] = []
    for item in items or ():
        if isinstance(item, str):
            key, text = parse_set(item)
            key = key.strip()
            if key.startswith("--"):
                raise UserError(f"--grid {item!r}: write key=v1,v2,..., e.g. "
                                "--grid aanets.fusion_lr=1e-4,1e-3")
            values = split_values(text)
        else:
            key, values = item[0], [str(v).strip() for v in item[1]]
        if not key or any(not v for v in values):
            raise UserError(f"--grid {key}={','.join(values)}: write key=v1,v2,... with no empty "
                            "value, e.g. --grid aanets.fusion_lr=1e-4,1e-3")
        if key in dict(grid):
            raise UserError(f"--grid {key}: the key is given twice; list all its values once")
        if len(set(values)) != len(values):
            raise UserError(f"--grid {key}: a value is repeated ({','.join(values)})")
        grid.append((key, tuple(values)))
    return tuple(grid)


@dataclass(frozen=True)
class GridValue:
    """One value of a grid key: the text given (for --set) and the typed value it stands for."""

    key: str
    text: str
    value: Any

    @property
    def set_item(self) -> str:
        return f"{self.key}={self.text}"


def typed_grid(grid: Grid, source: PresetSource, *, sets: Sequence[str] = (),
               epochs: int | None = None) -> tuple[tuple[GridValue, ...], ...]:
    """Every key's values typed as --set types them (one UserError line naming --grid for an
    unknown key or a bad value); a key also given by --set (or train.epochs with --epochs), or
    two values of a key that mean the same (1e-4 and 0.0001), are refused."""
    given = {parse_set(item)[0] for item in sets}
    typed = []
    for key, texts in grid:
        if key in given:
            raise UserError(f"--grid {key}: the key is also given by --set; give it in one place")
        if key == "train.epochs" and epochs is not None:
            raise UserError("--grid train.epochs: the epochs are also given by --epochs; give "
                            "them in one place")
        values = []
        for text in texts:
            try:
                cfg = load_config(source, overrides={"epochs": epochs},
                                  sets=[*sets, f"{key}={text}"])
            except UserError as exc:
                message = str(exc)
                message = (message.replace("--set: ", "--grid: ", 1) if message.startswith("--set")
                           else f"--grid {key}: {message}")
                raise UserError(message) from None
            value = cfg.overrides[key]
            values.append(GridValue(key, text, tuple(value) if isinstance(value, list) else value))
        seen: dict[str, str] = {}
        for v in values:
            same = seen.setdefault(repr(v.value), v.text)
            if same != v.text:
                raise UserError(f"--grid {key}: the values {same} and {v.text} are the same "
                                "setting; give each once")
        typed.append(tuple(values))
    return tuple(typed)


def variants(typed: Sequence[Sequence[GridValue]]) -> list[tuple[GridValue, ...]]:
    """The product of the keys' values, in the order given ([()] without a grid)."""
    return [tuple(combo) for combo in itertools.product(*typed)]


def grid_text(grid: Grid) -> list[str]:
    """The grid as --grid arguments: ['aanets.fusion_lr=1e-4,1e-3', ...]."""
    return [f"{key}={','.join(values)}" for key, values in grid]


__all__ = ["Grid", "GridValue", "grid_text", "parse_grid", "split_values", "typed_grid",
           "variants"]
