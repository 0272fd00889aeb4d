"""Accuracy vs number of classes seen, one curve per method (per method and grid variant for a
``compare --grid``; mean over seeds, shaded std), like the figures of the AANets paper, and the
AANets a_k per level after every phase (``aggregation.png``). Matplotlib with the Agg backend
(no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend first)
import numpy as np  # noqa: E402

from ..store.io import atomic_write_with  # noqa: E402
from ..store.records import value_text  # noqa: E402
from .tables import grid_keys, variant_sort_key  # noqa: E402


def by_run(records: Sequence[dict[str, Any]], method_order: Sequence[str] = ()
           ) -> dict[str, list[dict[str, Any]]]:
    """Curve label -> its records: one per method, or per (method, grid variant), labelled
    'method (key=value, ...)' with the keys' last parts where they tell the keys apart;
    methods in ``method_order`` first, a method's variants by their values."""
    variants = [dict(r.get("variant") or {}) for r in records]
    keys = grid_keys(variants)
    leaves = [k.rpartition(".")[2] for k in keys]
    short = dict(zip(keys, leaves if len(set(leaves)) == len(leaves) else keys))
    groups: dict[str, list[dict[str, Any]]] = {}
    order: dict[str, tuple] = {}
    rank = {m: i for i, m in enumerate(method_order)}
    for r, variant in zip(records, variants):
        label = r["method"] + (" (" + ", ".join(f"{short[k]}={value_text(variant[k])}"
                                                for k in keys if k in variant) + ")"
                               if variant else "")
        groups.setdefault(label, []).append(r)
        order[label] = (rank.get(r["method"], len(rank)), r["method"],
                        variant_sort_key(variant, keys))
    return {label: groups[label] for label in sorted(groups, key=order.__getitem__)}


def accuracy_curves(records: Sequence[dict[str, Any]],
                    method_order: Sequence[str] = ()) -> dict[str, tuple[list[int], np.ndarray, np.ndarray]]:
    """method (or 'method (grid values)') -> (classes seen per phase, mean acc %, std acc %)
    over its seeds."""
    out = {}
    for label, runs in by_run(records, method_order).items():
        acc = 100.0 * np.array([r["accuracy"] for r in runs], dtype=float)
        std = acc.std(axis=0, ddof=1) if len(runs) > 1 else np.zeros(acc.shape[1])
        out[label] = (list(runs[0]["classes_seen"]), acc.mean(axis=0), std)
    return out


# 18 colours that stay apart in print and for colour-blind readers (Okabe-Ito, then Tol's
# muted and bright sets), each paired with its own marker: up to 18 curves share neither.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
          "#882255", "#117733", "#999933", "#AA4499", "#888888", "#332288", "#44AA99",
          "#661100", "#6699CC", "#DDCC77", "#EE3377")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p", "d", "H", "8", "1",
           "2", "+")
# line style per family: our methods' baselines (LUCIR, iCaRL, PODNet) dashed, Avalanche's
# baselines dotted, the bounds (fine-tuning, retraining on everything) dash-dot
_FAMILY_STYLE = {"ours": "--", "bound": "-.", "avalanche": ":"}
_OURS = ("lucir", "icarl", "podnet")
_BOUNDS = ("naive", "cumulative")


def emphasised(method: str) -> bool:
    """AANets methods are the subject of the plot: drawn bold, solid, in front."""
    return "aanets" in method


def family(label: str) -> str:
    method = label.split(" (")[0]
    if emphasised(method):
        return "aanets"
    if method in _OURS:
        return "ours"
    return "bound" if method in _BOUNDS else "avalanche"


def curve_styles(methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Matplotlib style of each curve: a colour and a marker of its own (cycling only past 18
    curves), AANets methods bold and solid, the others thinner in their family's line style."""
    styles = {}
    for i, method in enumerate(methods):
        bold = emphasised(method)
        styles[method] = dict(color=COLORS[i % len(COLORS)], marker=MARKERS[i % len(MARKERS)],
                              linewidth=2.6 if bold else 1.3, markersize=6.5 if bold else 5.0,
                              linestyle="-" if bold else _FAMILY_STYLE[family(method)],
                              zorder=3 if bold else 2)
    return styles


def identical_to(curves: dict[str, tuple[list[int], np.ndarray, np.ndarray]]) -> dict[str, str]:
    """Curve -> the earlier curve it coincides with (same mean at every phase, to 1e-6), so the
    legend can say so and the later one is drawn so that both stay visible."""
    same: dict[str, str] = {}
    labels = list(curves)
    for i, label in enumerate(labels):
        for earlier in labels[:i]:
            if (len(curves[earlier][1]) == len(curves[label][1])
                    and np.allclose(curves[earlier][1], curves[label][1], atol=1e-6)):
                same[label] = same.get(earlier, earlier)
                break
    return same


def draw_accuracy(records: Sequence[dict[str, Any]], *, title: str,
                  method_order: Sequence[str] = ()) -> plt.Figure:
    """The figure for one benchmark/phases group, legend outside the axes on the right."""
    curves = accuracy_curves(records, method_order)
    styles = curve_styles(list(curves))
    same = identical_to(curves)
    fig, ax = plt.subplots(figsize=(8.5, 4.5), dpi=120)
    for method, (x, mean, std) in curves.items():
        style = dict(styles[method])
        label = method
        if method in same:  # drawn over an identical curve: hollow and larger, both visible
            label = f"{method} (identical to {same[method]})"
            style.update(markerfacecolor="none", markersize=style["markersize"] + 3.5,
                         markeredgewidth=1.4)
        line, = ax.plot(x, mean, label=label, **style)
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


def save_png(fig: plt.Figure, path: Path) -> Path:
    """Write ``fig`` atomically as a PNG and free it."""
    try:
        return atomic_write_with(path, lambda fh: fig.savefig(fh, format="png", bbox_inches="tight"))
    finally:
        plt.close(fig)


def plot_accuracy(records: Sequence[dict[str, Any]], path: Path, *, title: str,
                  method_order: Sequence[str] = ()) -> Path:
    """Write the PNG for one benchmark/phases group and return its path."""
    return save_png(draw_accuracy(records, title=title, method_order=method_order), path)


# ----------------------------------------------------------------------------- a_k


def aggregation_curves(records: Sequence[dict[str, Any]], method_order: Sequence[str] = ()
                       ) -> dict[str, tuple[list[int], np.ndarray, np.ndarray]]:
    """Label (as by_run) -> (classes seen after each phase that has a_k, mean a_k, std a_k):
    arrays of phases x levels over the seeds; only the runs whose records hold a_k (AANets
    from phase 1 on; phase 0 trains one branch and has none)."""
    out = {}
    for label, runs in by_run([r for r in records if r.get("aggregation_weights")],
                              method_order).items():
        weights = [r["aggregation_weights"] for r in runs]
        phases = [i for i, w in enumerate(weights[0]) if w is not None
                  and all(len(ws) > i and ws[i] is not None and len(ws[i]) == len(w)
                          for ws in weights)]
        if not phases:
            continue
        values = np.array([[ws[i] for i in phases] for ws in weights], dtype=float)
        std = values.std(axis=0, ddof=1) if len(runs) > 1 else np.zeros(values.shape[1:])
        out[label] = ([runs[0]["classes_seen"][i] for i in phases], values.mean(axis=0), std)
    return out


def draw_aggregation(records: Sequence[dict[str, Any]], *, title: str,
                     method_order: Sequence[str] = ()) -> plt.Figure:
    """One panel per method (and grid variant), one line per level: a_k (the stable branch's
    weight; the plastic one's is 1 - a_k) after each phase, mean over seeds, shaded std."""
    curves = aggregation_curves(records, method_order)
    count = max(len(curves), 1)
    cols = min(3, count)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), dpi=120,
                             sharey=True, squeeze=False)
    for ax, (label, (x, mean, std)) in zip(axes.flat, curves.items()):
        for level in range(mean.shape[1]):
            line, = ax.plot(x, mean[:, level], color=COLORS[level % len(COLORS)],
                            marker=MARKERS[level % len(MARKERS)], linewidth=1.6, markersize=4.5,
                            label=f"level {level + 1}")
            if np.any(std[:, level] > 0):
                ax.fill_between(x, mean[:, level] - std[:, level], mean[:, level] + std[:, level],
                                color=line.get_color(), alpha=0.15)
        ax.set_title(label, fontsize=9)
        ax.set_xticks(x)
        ax.set_xlabel("Number of classes")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    for ax in axes.flat[len(curves):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("a_k (stable branch weight)")
    fig.suptitle(f"AANets aggregation weights: {title}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_aggregation(records: Sequence[dict[str, Any]], path: Path, *, title: str,
                     method_order: Sequence[str] = ()) -> Path:
    """Write the a_k PNG for one benchmark/phases group and return its path."""
    return save_png(draw_aggregation(records, title=title, method_order=method_order), path)
