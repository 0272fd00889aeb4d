"""Accuracy vs number of classes seen, one curve per method (mean over seeds, shaded std),
like the figures of the AANets paper. Matplotlib with the Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend first)
import numpy as np  # noqa: E402

from .io import atomic_write_with  # noqa: E402


def accuracy_curves(records: Sequence[dict[str, Any]],
                    method_order: Sequence[str] = ()) -> dict[str, tuple[list[int], np.ndarray, np.ndarray]]:
    """method -> (classes seen per phase, mean acc %, std acc %) over its seeds."""
    by_method: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_method.setdefault(r["method"], []).append(r)
    rank = {m: i for i, m in enumerate(method_order)}
    out = {}
    for method in sorted(by_method, key=lambda m: (rank.get(m, len(rank)), m)):
        runs = by_method[method]
        acc = 100.0 * np.array([r["accuracy"] for r in runs], dtype=float)
        std = acc.std(axis=0, ddof=1) if len(runs) > 1 else np.zeros(acc.shape[1])
        out[method] = (list(runs[0]["classes_seen"]), acc.mean(axis=0), std)
    return out


def plot_accuracy(records: Sequence[dict[str, Any]], path: Path, *, title: str,
                  method_order: Sequence[str] = ()) -> Path:
    """Write the PNG for one benchmark/phases group and return its path."""
    curves = accuracy_curves(records, method_order)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    markers = "os^vD<>phX*"
    colors = plt.get_cmap("tab10" if len(curves) <= 10 else "tab20").colors
    for i, (method, (x, mean, std)) in enumerate(curves.items()):
        line, = ax.plot(x, mean, marker=markers[i % len(markers)], markersize=4, label=method,
                        color=colors[i % len(colors)])
        if np.any(std > 0):
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ax.set_xlabel("Number of classes")
    ax.set_ylabel("Accuracy on seen classes (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    if curves:
        first = next(iter(curves.values()))[0]
        ax.set_xticks(first)
        ax.legend(fontsize=8, ncol=2 if len(curves) > 6 else 1, loc="best")
    fig.tight_layout()
    try:
        return atomic_write_with(path, lambda fh: fig.savefig(fh, format="png"))
    finally:
        plt.close(fig)
