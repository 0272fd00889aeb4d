"""Run records -> pandas -> one markdown table per benchmark/phases (tabulate) and a CSV.

Numbers are percentages, mean ± sample standard deviation (ddof=1) over seeds; a single seed
shows the mean alone; number columns are right-aligned. Above each table: the preset (labelled
paper or REDUCED), the exact command(s) that produced the runs with the device, CPU threads,
versions and commit they ran with, and the complete settings; below it, how each baseline's
configuration differs from its reference configuration.

One row holds only records of the same run settings (``split_by_settings``): a record made
with other settings (another epoch count, class order, preset, --set...) left or copied into
the folder is listed apart under its table, naming what differs, and never averaged in. The
variants of a ``compare --grid`` are rows of their own, one per (method, variant), with each
grid setting in a column; ``versus`` adds the paired difference to one row (paired.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from ..errors import UserError
from ..store.outdir import settings_difference
from ..store.records import (GRID_DERIVED, pick_run, record_run_name, run_name,
                             settings_from_record, value_text, with_added_settings)
from .paired import paired_difference

METRICS: tuple[tuple[str, str], ...] = (
    ("avg_incremental_accuracy", "avg inc. acc (%)"),
    ("last_accuracy", "last acc (%)"),
    ("forgetting", "forgetting (%)"),
    ("nme_avg_incremental_accuracy", "NME avg inc. acc (%)"),
)


def records_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per run with the headline numbers (in %); ``run``: the run's name (method, or
    method@grid variant), ``variant``: its grid settings as JSON ('' outside a grid)."""
    rows = []
    for r in records:
        row = {"benchmark": r["benchmark"], "phases": r["phases"], "method": r["method"],
               "seed": r["seed"], "preset": r["preset"], "reduced": r["reduced"],
               "time_s": float(r["wall_time_s"]), "run": record_run_name(r),
               "variant": json.dumps(r["variant"], sort_keys=True) if r.get("variant") else ""}
        for key, _ in METRICS:
            value = r.get(key)
            row[key] = None if value is None else 100.0 * float(value)
        rows.append(row)
    columns = ["benchmark", "phases", "method", "seed", "preset", "reduced", "time_s", "run",
               "variant", *[k for k, _ in METRICS]]
    return pd.DataFrame(rows, columns=columns)


def variant_sort_key(variant: Mapping[str, Any], keys: Sequence[str]) -> tuple:
    """Rows of one method: without a variant first, then by the grid values (numbers as
    numbers)."""
    out = []
    for key in keys:
        value = variant.get(key)
        if key not in variant:
            out.append((0, 0.0, ""))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append((1, float(value), ""))
        else:
            out.append((2, 0.0, value_text(value)))
    return tuple(out)


def grid_keys(variants: Iterable[Mapping[str, Any]]) -> list[str]:
    """The grid settings of some rows, in the order they first appear (sorted within a row)."""
    return list(dict.fromkeys(k for v in variants for k in sorted(v)))


def summarize(frame: pd.DataFrame, method_order: Sequence[str] = (),
              versus: str | None = None) -> pd.DataFrame:
    """Mean and std over seeds per (benchmark, phases, method, grid variant); methods in
    ``method_order`` first (in that order), the others alphabetically, the variants of a method
    by their values. A grid adds the run's name (``run``) and one column per grid setting
    (its value, None where the setting does not reach the row). ``versus``: a run name (or a
    method with one run) that every row of its benchmark/phases is compared with, seed by seed
    (the ``versus_*`` columns; paired.py)."""
    out = []
    for (bench, phases, method, variant), group in frame.groupby(
            ["benchmark", "phases", "method", "variant"], sort=False):
        row: dict[str, Any] = {"benchmark": bench, "phases": int(phases), "method": method,
                               "run": group["run"].iloc[0], "variant": variant,
                               "seeds": int(len(group)),
                               "preset": ",".join(sorted(set(group["preset"]))),
                               "reduced": bool(group["reduced"].any())}
        for key, _ in METRICS:
            values = group[key].dropna().astype(float)
            complete = len(values) == len(group)
            row[f"{key}_mean"] = float(values.mean()) if complete and len(values) else None
            row[f"{key}_std"] = (float(values.std(ddof=1)) if complete and len(values) > 1
                                 else None)
        row["time_s_mean"] = float(group["time_s"].mean())
        out.append(row)
    summary = pd.DataFrame(out)
    if summary.empty:
        return summary
    variants = [json.loads(v) if v else {} for v in summary["variant"]]
    keys = grid_keys(variants)
    rank = {m: i for i, m in enumerate(method_order)}
    summary["_rank"] = [rank.get(m, len(rank)) for m in summary["method"]]
    summary["_variant"] = [variant_sort_key(v, keys) for v in variants]
    summary = summary.sort_values(["benchmark", "phases", "_rank", "method", "_variant"],
                                  kind="stable")
    summary = summary.drop(columns=["_rank", "_variant"]).reset_index(drop=True)
    if keys:  # one column per grid setting, after the method and its run name
        variants = [json.loads(v) if v else {} for v in summary["variant"]]
        at = list(summary.columns).index("run") + 1
        for offset, key in enumerate(keys):
            summary.insert(at + offset, key, [value_text(v[key]) if key in v else None
                                              for v in variants])
        summary = summary.drop(columns="variant")
    else:  # no grid: the columns a table always had
        summary = summary.drop(columns=["run", "variant"])
    if versus is not None:
        summary = _add_versus(summary, frame, versus)
    return summary


def _add_versus(summary: pd.DataFrame, frame: pd.DataFrame, versus: str) -> pd.DataFrame:
    """The paired difference of avg inc. acc of every row to the row ``versus`` picks, per
    benchmark/phases, over the seeds both have (UserError when it picks no row at all)."""
    run_of = frame["run"]
    names = list(dict.fromkeys(run_of))
    reference = pick_run(versus, names, where="these records")
    stats: list[Any] = []
    for _, row in summary.iterrows():
        section = frame[(frame["benchmark"] == row["benchmark"]) & (frame["phases"] == row["phases"])]
        name = row["run"] if "run" in row else row["method"]
        ref = section[section["run"] == reference]
        if ref.empty:
            stats.append(None)
            continue
        mine = section[section["run"] == name]
        seeds = lambda part: {int(s): float(v) for s, v in  # noqa: E731
                              zip(part["seed"], part["avg_incremental_accuracy"]) if pd.notna(v)}
        stats.append("reference" if name == reference else
                     paired_difference(seeds(mine), seeds(ref)))
    summary = summary.copy()
    summary["versus"] = reference
    summary["versus_shared_seeds"] = pd.array(
        [None if s is None or s == "reference" else s.n for s in stats], dtype="Int64")
    for column, attr in (("versus_mean_diff", "mean"), ("versus_ci_low", "low"),
                         ("versus_ci_high", "high")):
        summary[column] = [getattr(s, attr) if s not in (None, "reference") else None for s in stats]
    summary["versus_ci_excludes_0"] = [s.excludes_zero if s not in (None, "reference") else None
                                       for s in stats]
    summary["versus_text"] = ["(reference)" if s == "reference" else
                              f"no {reference} here" if s is None else s.text() for s in stats]
    return summary


def _cell(mean: float | None, std: float | None) -> str:
    if mean is None or pd.isna(mean):
        return "–"
    if std is None or pd.isna(std):
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {std:.2f}"


def summary_grid_keys(summary: pd.DataFrame) -> list[str]:
    """The grid settings that have a column in a summary (dotted keys)."""
    if "run" not in summary.columns:
        return []
    columns = list(summary.columns)
    return columns[columns.index("run") + 1: columns.index("seeds")]


def markdown_table(summary: pd.DataFrame) -> str:
    """The method table of one benchmark/phases group (tabulate's GitHub markdown): one row
    per method, or per (method, grid variant) with the grid settings in their own columns."""
    show = [(k, label) for k, label in METRICS
            if k != "nme_avg_incremental_accuracy" or summary[f"{k}_mean"].notna().any()]
    keys = [k for k in summary_grid_keys(summary) if summary[k].notna().any()]
    versus = {}
    if "versus_text" in summary.columns:
        versus = {f"Δ avg inc. acc vs {summary['versus'].iloc[0]} (95% CI)": list(summary["versus_text"])}
    table = pd.DataFrame({
        "method": summary["method"],
        **{key: ["–" if v is None or pd.isna(v) else v for v in summary[key]] for key in keys},
        "seeds": summary["seeds"],
        **{label: [_cell(m, s) for m, s in zip(summary[f"{k}_mean"], summary[f"{k}_std"])]
           for k, label in show},
        **versus,
        "time / run (s)": [f"{t:.1f}" for t in summary["time_s_mean"]],
    })
    colalign = ("left",) * (1 + len(keys)) + ("right",) * (len(table.columns) - 1 - len(keys))
    return table.to_markdown(index=False, disable_numparse=True, colalign=colalign)


def _distinct(values: Iterable[Any]) -> list[str]:
    return sorted({str(v) for v in values if v not in (None, "", "unknown")})


def _precision(record: dict[str, Any]) -> str:
    """"bf16 autocast" or "fp32" (records made before the precision was recorded: from
    whether autocast was applied)."""
    execution = record.get("execution") or {}
    precision = execution.get("precision") or ("bf16" if execution.get("amp_applied") else "fp32")
    return "bf16 autocast" if precision == "bf16" else "fp32"


def produced_on(records: Sequence[dict[str, Any]]) -> str:
    """Where the runs ran, from the records: device used, CPU threads, versions, commit."""
    devices = _distinct(r.get("device") for r in records) or ["device not recorded"]
    threads = _distinct(r.get("cpu_threads") for r in records)
    thread_text = (f"{'/'.join(threads)} CPU thread{'' if threads == ['1'] else 's'}" if threads
                   else "CPU threads not recorded")
    unrecorded = sum(1 for r in records if r.get("cpu_threads") in (None, "", "unknown"))
    if threads and unrecorded:  # older records beside newer ones: say the count is partial
        thread_text += f"; not recorded for {unrecorded} of {len(records)} runs"
    torch_v = _distinct((r.get("versions") or {}).get("torch") for r in records)
    avalanche_v = _distinct((r.get("versions") or {}).get("avalanche") for r in records)
    commits = [c[:7] for c in _distinct(r.get("git_commit") for r in records)]
    precisions = _distinct(_precision(r) for r in records)
    parts = [f"Ran on {'/'.join(devices)} ({thread_text}, {'/'.join(precisions)})"]
    if torch_v:
        parts.append(f"torch {'/'.join(torch_v)}")
    if avalanche_v:
        parts.append(f"Avalanche {'/'.join(avalanche_v)}")
    parts.append(f"code at commit {', '.join(commits)}" if commits else "commit not recorded")
    return ", ".join(parts) + "."


def settings_line(cfg: Mapping[str, Any]) -> str:
    """Every setting a reader needs to compare tables (from the record's config; keys an older
    record lacks are left out)."""
    lr = f"lr {cfg['lr']}"
    if cfg.get("lr_milestones"):
        milestones = ", ".join(str(m) for m in cfg["lr_milestones"])
        lr += f" (x{cfg.get('lr_gamma', 0.1)} at epoch{'s' if len(cfg['lr_milestones']) > 1 else ''} {milestones})"
    parts = [f"{cfg['epochs']} epochs/phase", lr]
    if cfg.get("momentum") is not None:
        parts.append(f"momentum {cfg['momentum']}")
    if cfg.get("weight_decay") is not None:
        parts.append(f"weight decay {cfg['weight_decay']}")
    parts.append(f"batch {cfg['batch_size']}")
    parts.append(f"{cfg['memory_per_class']} exemplars/class" if cfg.get("memory_total") is None
                 else f"{cfg['memory_total']} exemplars in all")
    if "train_per_class" in cfg:
        train, test = cfg.get("train_per_class"), cfg.get("test_per_class")
        parts.append(f"images per class: {'all' if train is None else f'at most {train}'} train / "
                     f"{'all' if test is None else f'at most {test}'} test")
    if cfg.get("image_size") is not None:
        parts.append(f"images resized to {cfg['image_size']} px")
    return "Settings: " + ", ".join(parts) + "."


def reference_notes(methods: Sequence[str], notes: Mapping[str, str]) -> list[str]:
    """Lines under a table: how each listed baseline differs from its reference configuration."""
    lines = [f"- `{m}`: {notes[m]}" for m in methods if notes.get(m)]
    if not lines:
        return []
    return ["Baseline configurations compared with Avalanche's reproducibility configurations "
            "(ContinualAI/continual-learning-baselines, CLB):", "", *lines, ""]


def heading(benchmark: str, phases: int, presets: Sequence[str], reduced: bool) -> str:
    label = ("REDUCED setting, not the paper's: numbers are not comparable to the paper"
             if reduced else "paper setting")
    return (f"## {benchmark}, {phases} incremental phases — preset `{', '.join(presets)}` "
            f"({label})")


def render_markdown(records: Sequence[dict[str, Any]], method_order: Sequence[str] = (),
                    notes: Mapping[str, str] | None = None,
                    diverged: Sequence[Mapping[str, Any]] = (), *,
                    command: str | None = None, versus: str | None = None) -> str:
    """The whole table.md: one section per benchmark/phases. ``notes``: method -> how its
    configuration differs from the reference one (printed under the table). ``diverged``: the
    folder's divergence notes (records.find_divergences), listed at the end. ``command``: the
    folder's latest command (command.txt), which picks the settings of the rows when records
    of other settings lie beside them (``split_by_settings``); those are listed apart.
    ``versus``: the run (or method) every row is compared with, seed by seed (paired.py)."""
    if not records:
        if versus is not None:
            raise UserError(f"--versus {versus}: no finished runs to compare with")
        return "No finished runs yet.\n" + diverged_runs(diverged)
    records, apart = split_by_settings(records, command)
    summary = summarize(records_frame(records), method_order, versus)
    parts = []
    for (bench, phases), group in summary.groupby(["benchmark", "phases"], sort=False):
        recs = [r for r in records if r["benchmark"] == bench and r["phases"] == phases]
        presets = sorted({r["preset"] for r in recs})
        reduced = any(r["reduced"] for r in recs)
        commands = list(dict.fromkeys(r.get("command") or "(command not recorded)" for r in recs))
        cfg = recs[0]["config"]
        parts.append("\n".join([
            heading(bench, int(phases), presets, reduced),
            "",
            "Produced by:",
            "",
            "```",
            *commands,
            "```",
            "",
            produced_on(recs),
            "",
            settings_line(cfg) + " Accuracy on all classes seen so far, in %, mean ± std over "
            "seeds; avg inc. acc = mean over all phases incl. phase 0; forgetting = average "
            "forgetting over the experiences.",
            *_settings_line(recs),
            *_grid_line(recs),
            "",
            markdown_table(group),
            "",
            *legend(group, recs),
            *_grid_notes(group),
            *reference_notes(list(dict.fromkeys(group["method"])), notes or {}),
            *other_settings([a for a in apart if (a.record["benchmark"], a.record["phases"])
                             == (bench, phases)]),
        ]))
    return "\n".join(parts) + diverged_runs(diverged)


def _grid_line(records: Sequence[dict[str, Any]]) -> list[str]:
    """The grid the rows vary (compare --grid), from the records' variants."""
    values: dict[str, list[Any]] = {}
    for r in records:
        for key, value in sorted((r.get("variant") or {}).items()):
            if value not in values.setdefault(key, []):
                values[key].append(value)
    if not values:
        return []
    text = "; ".join(f"{k} = {', '.join(value_text(v) for v in sorted(vs, key=_order))}"
                     for k, vs in values.items())
    return ["", f"Grid (one row per method and value; the other settings as above): {text}."]


def _order(value: Any) -> tuple:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return (0, float(value), "") if number else (1, 0.0, value_text(value))


def legend(group: pd.DataFrame, records: Sequence[dict[str, Any]]) -> list[str]:
    """How to read the columns, under every table."""
    parts = ["± = sample standard deviation over the seeds (ddof 1; none for one seed)"]
    column = "nme_avg_incremental_accuracy_mean"
    if column in group.columns and group[column].notna().any():
        parts.append("NME = the nearest-mean-of-exemplars classifier (class means of the "
                     "exemplars' features; '–': the method keeps no such means)")
    if any(r.get("base_phase_from") for r in records):
        parts.append("time / run includes phase 0 also where a run adopted the phase 0 another "
                     "method of its group trained (its time is counted in both)")
    else:
        parts.append("time / run: training and evaluation of all phases")
    return ["Legend: " + "; ".join(parts) + ".", ""]


def _grid_notes(group: pd.DataFrame) -> list[str]:
    """Lines under a table: how to read its grid columns and the paired differences."""
    lines = []
    if summary_grid_keys(group):
        lines.append("Grid columns: the value of each --grid setting in the row's runs; '–': the "
                     "setting does not act on that method (it is trained once for all values), "
                     "or the runs were made without the grid.")
    if "versus_text" in group.columns:
        lines.append(f"Δ: the paired difference of average incremental accuracy to "
                     f"`{group['versus'].iloc[0]}`, seed by seed over the seeds both rows have: "
                     "mean [95% confidence interval, Student t over seeds]; * = the interval "
                     "excludes 0.")
    return [*lines, ""] if lines else []


def other_settings(apart: Sequence[Apart]) -> list[str]:
    """Lines under a table: the records made with other settings than its rows, each with
    what differs; they are not in the means."""
    if not apart:
        return []
    return ["Records with other settings (not averaged in; the numbers above leave them out):",
            "", *[f"- `{a.file}` ({record_run_name(a.record)}, seed {a.record['seed']}): "
                  f"{a.difference}" for a in apart], ""]


def diverged_runs(diverged: Sequence[Mapping[str, Any]]) -> str:
    """The runs that diverged: they have no numbers, so the means above leave them out."""
    if not diverged:
        return ""
    lines = ["", "Runs that diverged (their loss stopped being finite; no numbers, so they are "
             "not in the means above):", ""]
    lines += [f"- {note['message'].split('; ')[0]}" for note in diverged]
    return "\n".join(lines) + "\n"


def _settings_line(records: Sequence[dict[str, Any]]) -> list[str]:
    """What --set / --epochs changed from the preset, as recorded in the runs (the grid's
    settings apart: _grid_line)."""
    varied = {k for r in records for k in (r.get("variant") or {})}
    changed = {k: v for r in records for k, v in (r["config"].get("overrides") or {}).items()
               if k not in varied}
    if not changed:
        return []
    return ["", "Set on top of the preset: " + ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))]


def render_csv(records: Sequence[dict[str, Any]], method_order: Sequence[str] = (), *,
               command: str | None = None, versus: str | None = None) -> str:
    """Summary rows (means, stds, seeds, time; the grid columns and the paired differences
    where there are) of every benchmark/phases group, of the records of the table's settings
    only (``split_by_settings``)."""
    records, _ = split_by_settings(records, command)
    summary = summarize(records_frame(records), method_order, versus)
    summary = summary.drop(columns=[c for c in ("versus_text",) if c in summary.columns])
    return summary.to_csv(index=False, float_format="%.4f")


# ----------------------------------------------------------------------------- like records
#
# The rule: per benchmark/phases, records are grouped by their run settings without the seed
# (the settings dict whose hash is the run key; the seed is what a row averages over). When
# they all agree nothing changes. Otherwise one group is the reference: the group holding a
# record made by the folder's latest command (command.txt, the command written into every
# record it made), else the group that most records (of any method) agree with on the settings
# they share, then the largest, then the one holding the newest record ("created"). Each
# method (each method and grid variant: a row of its own) then keeps the group that agrees with
# the reference on the settings both share (its own, when it is the reference's method), then
# the one of the latest command, the largest, the newest; a method none of whose groups agrees
# has no row (the heading would not state its settings). Every other record is listed apart
# with what differs from its method's row (or from the table's shared settings). The settings
# a grid varies (those of either side's variant, and what they change: GRID_DERIVED) are left
# out of "agrees": they are what tells the grid's rows apart.


@dataclass(frozen=True)
class Apart:
    """A record left out of its table: made with other settings than the row of its method."""

    record: dict[str, Any]
    file: str        # where it lies in the folder: runs/<method>[@<variant>]/seed<k>.json
    difference: str  # 'train.epochs 2 (this record) vs 1 (the table)', ...


def unseeded_settings(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's run settings without the seed, as JSON sees them."""
    settings = json.loads(json.dumps(with_added_settings(settings_from_record(dict(record))),
                                     default=str))
    settings.pop("seed", None)
    return settings


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _varied(settings: dict[str, Any], reference: dict[str, Any]) -> set[str]:
    """The flattened setting keys a grid varies between two runs' settings."""
    keys = set(settings.get("variant") or {}) | set(reference.get("variant") or {})
    return {f"config.{k}" for key in keys for k in (key, *GRID_DERIVED.get(key, ()))}


def _shared(settings: dict[str, Any], reference: dict[str, Any]
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both flattened to the settings both hold, the method and its own parameters aside
    (another method's run settings hold only what reaches it), and the grid's settings aside."""
    mine, theirs = _flat(settings), _flat(reference)
    varied = _varied(settings, reference)
    shared = sorted(k for k in mine.keys() & theirs.keys()
                    if k != "method" and not k.startswith("config.method_params")
                    and not k.startswith("variant.") and k not in varied)
    return {k: mine[k] for k in shared}, {k: theirs[k] for k in shared}


def _agrees(settings: dict[str, Any], reference: dict[str, Any]) -> bool:
    mine, theirs = _shared(settings, reference)
    return mine == theirs


def _created(record: Mapping[str, Any]) -> float:
    try:
        return datetime.strptime(str(record.get("created")), "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return float("-inf")  # not recorded: the oldest


def split_by_settings(records: Sequence[dict[str, Any]], command: str | None = None
                      ) -> tuple[list[dict[str, Any]], list[Apart]]:
    """(the records of the tables' settings, in their order; the records of other settings,
    each with what differs). ``command``: the folder's latest command (see the rule above)."""
    command = command.strip() if command else None
    kept: set[int] = set()
    apart: list[Apart] = []
    sections: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in records:
        sections.setdefault((r["benchmark"], r["phases"]), []).append(r)
    for recs in sections.values():
        groups: dict[str, list[dict[str, Any]]] = {}
        settings: dict[str, dict[str, Any]] = {}
        for r in recs:
            s = unseeded_settings(r)
            key = json.dumps(s, sort_keys=True)
            groups.setdefault(key, []).append(r)
            settings[key] = s
        if len(groups) == 1:
            kept.update(id(r) for r in recs)
            continue

        def latest(key: str) -> bool:
            return command is not None and any((r.get("command") or "").strip() == command
                                               for r in groups[key])

        def size_and_age(key: str) -> tuple[bool, int, float]:
            return latest(key), len(groups[key]), max(_created(r) for r in groups[key])

        def support(key: str) -> tuple[bool, int, int, float]:
            """Of the latest command; the records (any method) that agree with it; its own."""
            agreeing = sum(len(g) for k, g in groups.items() if _agrees(settings[k], settings[key]))
            made_last, size, newest = size_and_age(key)
            return made_last, agreeing, size, newest

        reference = max(groups, key=support)  # first of equals: the first record's group
        def row_of(key: str) -> str:  # a method, or a method and its grid variant
            return run_name(settings[key]["method"], settings[key].get("variant"))

        chosen: dict[str, str] = {}
        for key in groups:
            method = row_of(key)
            rank = lambda k: (k == reference, _agrees(settings[k], settings[reference]),  # noqa: E731
                              *size_and_age(k))
            if method not in chosen or rank(key) > rank(chosen[method]):
                chosen[method] = key
        for key, group in groups.items():
            row = chosen[row_of(key)]
            in_table = _agrees(settings[row], settings[reference])
            if key == row and in_table:
                kept.update(id(r) for r in group)
                continue
            # against its method's row; against the table's shared settings when its method
            # has no row (no group of it agrees with the table)
            difference = (settings_difference(settings[key], settings[row]) if in_table
                          else settings_difference(*_shared(settings[key], settings[reference])))
            difference = difference.replace(" (saved)", " (this record)").replace(" (now)",
                                                                                  " (the table)")
            apart += [Apart(r, f"runs/{record_run_name(r)}/seed{r['seed']}.json", difference)
                      for r in group]
    apart.sort(key=lambda a: (a.record["benchmark"], a.record["phases"], a.file))
    return [r for r in records if id(r) in kept], apart
