"""Accuracy vs number of classes seen, one curve per method (mean over seeds, shaded std),
like the figures of the AANets paper. Matplotlib with the Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend first)
import numpy as np  # noqa: E402

from ..store.io import atomic_write_with  # noqa: E402


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


# 12 colours that stay apart in print and for colour-blind readers (Okabe-Ito, then Tol's
# muted set), each paired with its own marker: no two curves share either.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
          "#882255", "#117733", "#999933", "#AA4499", "#888888")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def emphasised(method: str) -> bool:
    """AANets methods are the subject of the plot: drawn bold, solid, in front."""
    return "aanets" in method


def curve_styles(methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Matplotlib style of each method's curve: a colour and a marker of its own (cycling only
    past 12 methods), AANets methods bold and solid, the others thin and dashed."""
    styles = {}
    for i, method in enumerate(methods):
        bold = emphasised(method)
        styles[method] = dict(color=COLORS[i % len(COLORS)], marker=MARKERS[i % len(MARKERS)],
                              linewidth=2.6 if bold else 1.2, markersize=6.5 if bold else 4.5,
                              linestyle="-" if bold else "--", zorder=3 if bold else 2)
    return styles


def draw_accuracy(records: Sequence[dict[str, Any]], *, title: str,
                  method_order: Sequence[str] = ()) -> plt.Figure:
    """The figure for one benchmark/phases group, legend outside the axes on the right."""
    curves = accuracy_curves(records, method_order)
    styles = curve_styles(list(curves))
    fig, ax = plt.subplots(figsize=(8.5, 4.5), dpi=120)
    for method, (x, mean, std) in curves.items():
        line, = ax.plot(x, mean, label=method, **styles[method])
        if np.any(std > 0):
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(),
                            alpha=0.15 if emphasised(method) else 0.06,
                            zorder=1)
    ax.set_xlabel("Number of classes")
    ax.set_ylabel("Accuracy on seen classes (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    if curves:
        ax.set_xticks(next(iter(curves.values()))[0])
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                  frameon=False)
    fig.tight_layout()
    return fig


def plot_accuracy(records: Sequence[dict[str, Any]], path: Path, *, title: str,
                  method_order: Sequence[str] = ()) -> Path:
    """Write the PNG for one benchmark/phases group and return its path."""
    fig = draw_accuracy(records, title=title, method_order=method_order)
    try:
        return atomic_write_with(path, lambda fh: fig.savefig(fh, format="png", bbox_inches="tight"))
    finally:
        plt.close(fig)
