"""The paper's published numbers as data, and which runs they can be compared with.

``published.csv`` holds one row per (dataset, phases, method) that we could verify in a stored
public text; its ``source`` column says where. Rows we could not verify are left out on purpose
(docs/reproduce-paper.md lists them), so a missing paper value means "not verified", never 0.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ...errors import UserError

PUBLISHED_CSV = Path(__file__).resolve().parent / "published.csv"
PAPER_CLASS_ORDER_SEED = 1993
PAPER_BASE_CLASSES = 50
PAPER_PHASES = (5, 10, 25)
_COLUMNS = ("dataset", "protocol", "phases", "method", "paper_label", "metric", "value",
            "per_phase", "source")


@dataclass(frozen=True)
class PublishedResult:
    """One verified number of the paper (percent)."""

    dataset: str            # "CIFAR-100" or "ImageNet-Subset"
    phases: int             # N incremental phases after the B50 base phase
    method: str             # our method name (e.g. aanets-lucir)
    paper_label: str        # the row's name in the paper
    value: float            # average incremental accuracy, %
    per_phase: tuple[float, ...]  # accuracy after each phase, % (empty if not published)
    source: str


def load_published(path: str | Path = PUBLISHED_CSV) -> list[PublishedResult]:
    """Rows of ``published.csv`` (UserError naming the line on a malformed row)."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != _COLUMNS:
                raise UserError(f"{path}: expected the columns {', '.join(_COLUMNS)}")
            rows = []
            for line, row in enumerate(reader, start=2):
                try:
                    per_phase = tuple(float(v) for v in row["per_phase"].split(";") if v.strip())
                    rows.append(PublishedResult(row["dataset"], int(row["phases"]), row["method"],
                                                row["paper_label"], float(row["value"]),
                                                per_phase, row["source"]))
                except (TypeError, ValueError):
                    raise UserError(f"{path}, line {line}: malformed row") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    return rows


def paper_dataset(record: Mapping[str, Any]) -> tuple[str | None, str]:
    """(dataset of the paper this run's protocol matches, or None; a one-line reason).

    The paper's protocol: the full dataset, B50 base phase, N in (5, 10, 25), the seed-1993
    class order. A 100-class split-folder tree with a ResNet-18 is taken to be ImageNet-Subset.
    """
    stream = record.get("stream") or {}
    config = record.get("config") or {}
    phases = int(record["phases"])
    if record["benchmark"] == "split-cifar100":
        dataset, reason = "CIFAR-100", "CIFAR-100 B50"
    elif (record["benchmark"] == "split-folder" and stream.get("num_classes") == 100
            and stream.get("backbone") == "resnet18"):
        dataset = "ImageNet-Subset"
        reason = "a 100-class folder tree with ResNet-18, taken as ImageNet-Subset"
    else:
        return None, f"the paper reports CIFAR-100 and ImageNet-Subset, not {record['benchmark']}"
    if phases not in PAPER_PHASES:
        return None, f"the paper reports N = 5, 10, 25, not N = {phases}"
    if stream.get("base_classes") not in (None, PAPER_BASE_CLASSES):
        return None, f"base phase of {stream.get('base_classes')} classes (the paper's is 50)"
    if (stream.get("class_order_seed", PAPER_CLASS_ORDER_SEED) != PAPER_CLASS_ORDER_SEED
            or config.get("class_order")):
        return None, "another class order than the paper's (seed 1993)"
    if config.get("train_per_class") is not None or config.get("test_per_class") is not None:
        return None, "a per-class subsample of the data"
    return dataset, reason


def published_for(rows: Sequence[PublishedResult], dataset: str, phases: int) -> dict[str, PublishedResult]:
    """method -> verified paper result for one dataset and phase count."""
    return {r.method: r for r in rows if r.dataset == dataset and r.phases == phases}


__all__ = ["PUBLISHED_CSV", "PublishedResult", "load_published", "paper_dataset", "published_for"]
