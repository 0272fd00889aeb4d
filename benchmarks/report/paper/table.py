"""Tables in the paper's layout, built from run records (no training).

- ``combined``: methods as rows, N = 5 / 10 / 25 as columns, average incremental accuracy,
  mean ± std over seeds (the layout of the paper's Table 1);
- ``against``: our value beside the paper's verified value and the difference, only when the
  run's protocol is the paper's and the preset is not REDUCED; otherwise the paper's numbers
  are listed apart, with the reason they are not comparable;
- ``per_phase``: the accuracy after every phase, per method (the table the authors publish
  beside the paper), and the AANets a_k per level after every phase.

A ``compare --grid`` variant is a row of its own, named ``method@key=value`` (its run name);
the paper's number of a row is its method's.
"""

from __future__ import annotations

import statistics
from typing import Any, Mapping, Sequence

import pandas as pd

from ...store.records import record_run_name
from . import PublishedResult, paper_dataset, published_for

Record = Mapping[str, Any]


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample std (None for a single value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def cell(values: Sequence[float]) -> str:
    """'mean ± std' in %, '–' when there is nothing."""
    if not values:
        return "–"
    mean, std = mean_std(values)
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def _method(name: str) -> str:
    """The method of a run name (method or method@grid variant)."""
    return name.partition("@")[0]


def _ordered(methods: Sequence[str], order: Sequence[str]) -> list[str]:
    """Run names: methods in ``order`` first, then alphabetically; a method's variants after it."""
    rank = {m: i for i, m in enumerate(order)}
    return sorted(dict.fromkeys(methods),
                  key=lambda m: (rank.get(_method(m), len(rank)), _method(m), m))


def _avg_by_method(records: Sequence[Record]) -> dict[str, list[float]]:
    """Run name -> its average incremental accuracies (%)."""
    out: dict[str, list[float]] = {}
    for r in records:
        out.setdefault(record_run_name(r), []).append(100.0 * float(r["avg_incremental_accuracy"]))
    return out


def _markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, disable_numparse=True)


# ----------------------------------------------------------------------------- combined


def combined_frame(records_by_phases: Mapping[int, Sequence[Record]],
                   method_order: Sequence[str] = ()) -> pd.DataFrame:
    """One row per method, one 'N=k' column per protocol (avg inc. acc %, mean ± std)."""
    by_phase = {n: _avg_by_method(recs) for n, recs in sorted(records_by_phases.items())}
    methods = _ordered([m for per in by_phase.values() for m in per], method_order)
    data: dict[str, list[str]] = {"method": methods}
    for n, per in by_phase.items():
        data[f"N={n}"] = [cell(per.get(m, [])) for m in methods]
    return pd.DataFrame(data)


def render_combined(records_by_phases: Mapping[int, Sequence[Record]], *, benchmark: str,
                    preset: str, reduced: bool, method_order: Sequence[str] = ()) -> str:
    label = ("REDUCED setting, not the paper's: not comparable to the paper" if reduced
             else "paper setting")
    return "\n".join([
        f"## {benchmark}: average incremental accuracy (%), N = "
        + " / ".join(str(n) for n in sorted(records_by_phases)) + f" — preset `{preset}` ({label})",
        "",
        "Mean ± std over seeds; each column is one protocol folder (p<N>/), phase 0 included.",
        "",
        _markdown(combined_frame(records_by_phases, method_order)),
        "",
    ])


# ----------------------------------------------------------------------------- against paper


def render_against(records: Sequence[Record], published: Sequence[PublishedResult],
                   method_order: Sequence[str] = ()) -> str:
    """Per (benchmark, phases): ours, the paper's value and ours − paper where comparable."""
    groups: dict[tuple[str, int], list[Record]] = {}
    for r in records:
        groups.setdefault((r["benchmark"], int(r["phases"])), []).append(r)
    parts = []
    for (bench, phases), recs in groups.items():
        dataset, reason = paper_dataset(recs[0])
        reduced = any(r["reduced"] for r in recs)
        paper = published_for(published, dataset, phases) if dataset else {}
        ours = _avg_by_method(recs)
        methods = _ordered(list(ours), method_order)
        title = f"## {bench}, N = {phases}: ours vs the paper (average incremental accuracy, %)"
        if dataset is None:
            parts += [title, "", f"No comparison: {reason}.", ""]
            continue
        if reduced:
            presets = ", ".join(sorted({r["preset"] for r in recs}))
            listing = [{"method": m, "paper label": p.paper_label, "paper": f"{p.value:.2f}",
                        "source": p.source} for m, p in paper.items()]
            parts += [title, "",
                      f"Preset `{presets}` is a REDUCED setting: our numbers are NOT comparable "
                      f"to the paper's, so no difference is shown. The paper's {dataset} "
                      f"N = {phases} numbers, for reference only:", ""]
            parts += [_markdown(pd.DataFrame(listing)) if listing
                      else "(no verified paper number for this protocol)", ""]
            continue
        rows = []
        for m in methods:
            mean, _ = mean_std(ours[m])
            p = paper.get(_method(m))
            rows.append({"method": m, "ours": cell(ours[m]),
                         "paper": "–" if p is None else f"{p.value:.2f}",
                         "ours − paper": "–" if p is None else f"{mean - p.value:+.2f}",
                         "paper label": "" if p is None else p.paper_label})
        sources = sorted({p.source for m, p in paper.items() if m in {_method(n) for n in ours}})
        parts += [title, "", f"Protocol: {reason}; '–' = no verified paper number.", "",
                  _markdown(pd.DataFrame(rows)), ""]
        parts += [f"Source: {s}" for s in sources] + ([""] if sources else [])
    return "\n".join(parts) if parts else "No finished runs yet.\n"


# ----------------------------------------------------------------------------- per phase


ACCURACY = "accuracy (%)"


def _weights_cell(recs: Sequence[Record], phase: int, level: int) -> str | None:
    """a_k of one level after one phase, mean ± std over the runs ('–' where a run has none)."""
    values = []
    for r in recs:
        per_phase = r.get("aggregation_weights") or []
        weights = per_phase[phase] if phase < len(per_phase) else None
        if weights is None or level >= len(weights):
            return "–"
        values.append(float(weights[level]))
    return f"{statistics.fmean(values):.4f}" + (f" ± {statistics.stdev(values):.4f}"
                                                 if len(values) > 1 else "")


def per_phase_frame(records: Sequence[Record], method_order: Sequence[str] = ()) -> pd.DataFrame:
    """benchmark, phases, method (its run name), seeds, quantity, then one column per phase
    named by the classes seen: the accuracy (%, quantity 'accuracy (%)'), and for runs that
    have them the a_k of every level (quantity 'a_k level <k>', 4 decimals)."""
    rows = []
    groups: dict[tuple[str, int, str], list[Record]] = {}
    for r in records:
        groups.setdefault((r["benchmark"], int(r["phases"]), record_run_name(r)), []).append(r)
    order = {m: i for i, m in enumerate(_ordered([k[2] for k in groups], method_order))}
    for (bench, phases, method), recs in sorted(groups.items(),
                                                key=lambda kv: (kv[0][0], kv[0][1], order[kv[0][2]])):
        row: dict[str, Any] = {"benchmark": bench, "phases": phases, "method": method,
                               "seeds": len(recs), "quantity": ACCURACY}
        for i, seen in enumerate(recs[0]["classes_seen"]):
            row[f"{seen} classes"] = cell([100.0 * float(r["accuracy"][i]) for r in recs])
        rows.append(row)
        levels = max((len(w) for r in recs for w in (r.get("aggregation_weights") or [])
                      if w is not None), default=0)
        for level in range(levels):
            rows.append({**{k: row[k] for k in ("benchmark", "phases", "method", "seeds")},
                         "quantity": f"a_k level {level + 1}",
                         **{f"{seen} classes": _weights_cell(recs, i, level)
                            for i, seen in enumerate(recs[0]["classes_seen"])}})
    frame = pd.DataFrame(rows)
    phase_columns = sorted((c for c in frame.columns if c.endswith(" classes")),
                           key=lambda c: int(c.split()[0]))
    return frame[[c for c in frame.columns if c not in phase_columns] + phase_columns]


def render_per_phase(records: Sequence[Record], method_order: Sequence[str] = ()) -> str:
    """One markdown table per (benchmark, phases): accuracy (%) after each phase."""
    frame = per_phase_frame(records, method_order)
    if frame.empty:
        return "No finished runs yet.\n"
    parts = []
    for (bench, phases), group in frame.groupby(["benchmark", "phases"], sort=False):
        accuracy = group[group["quantity"] == ACCURACY]
        shown = accuracy.drop(columns=["benchmark", "phases", "quantity"]).dropna(axis=1, how="all")
        parts += [f"## {bench}, N = {phases}: accuracy (%) on all classes seen after each phase",
                  "", "Mean ± std over seeds; columns are named by the number of classes seen.",
                  "", _markdown(shown), ""]
        weights = group[group["quantity"] != ACCURACY]
        if not weights.empty:
            shown = weights.rename(columns={"quantity": "level"}).drop(
                columns=["benchmark", "phases"]).dropna(axis=1, how="all")
            shown["level"] = [q.removeprefix("a_k level ") for q in shown["level"]]
            parts += [f"## {bench}, N = {phases}: AANets aggregation weights a_k after each phase",
                      "", "a_k: the weight of the stable branch at level k (the plastic branch's "
                      "is 1 - a_k), mean ± std over seeds; '–': no a_k yet (phase 0 trains a "
                      "single network).", "", _markdown(shown), ""]
    return "\n".join(parts)


__all__ = ["cell", "combined_frame", "mean_std", "per_phase_frame", "render_against",
           "render_combined", "render_per_phase"]
