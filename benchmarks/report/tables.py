"""Run records -> pandas -> one markdown table per benchmark/phases (tabulate) and a CSV.

Numbers are percentages, mean ± sample standard deviation (ddof=1) over seeds; a single seed
shows the mean alone; number columns are right-aligned. Above each table: the preset (labelled
paper or REDUCED), the exact command(s) that produced the runs with the device, CPU threads,
versions and commit they ran with, and the complete settings; below it, how each baseline's
configuration differs from its reference configuration.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

METRICS: tuple[tuple[str, str], ...] = (
    ("avg_incremental_accuracy", "avg inc. acc (%)"),
    ("last_accuracy", "last acc (%)"),
    ("forgetting", "forgetting (%)"),
    ("nme_avg_incremental_accuracy", "NME avg inc. acc (%)"),
)


def records_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per run with the headline numbers (in %)."""
    rows = []
    for r in records:
        row = {"benchmark": r["benchmark"], "phases": r["phases"], "method": r["method"],
               "seed": r["seed"], "preset": r["preset"], "reduced": r["reduced"],
               "time_s": float(r["wall_time_s"])}
        for key, _ in METRICS:
            value = r.get(key)
            row[key] = None if value is None else 100.0 * float(value)
        rows.append(row)
    columns = ["benchmark", "phases", "method", "seed", "preset", "reduced", "time_s",
               *[k for k, _ in METRICS]]
    return pd.DataFrame(rows, columns=columns)


def summarize(frame: pd.DataFrame, method_order: Sequence[str] = ()) -> pd.DataFrame:
    """Mean and std over seeds per (benchmark, phases, method); methods in ``method_order``
    first (in that order), the others alphabetically."""
    out = []
    for (bench, phases, method), group in frame.groupby(["benchmark", "phases", "method"], sort=False):
        row: dict[str, Any] = {"benchmark": bench, "phases": int(phases), "method": method,
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
    rank = {m: i for i, m in enumerate(method_order)}
    summary["_rank"] = [rank.get(m, len(rank)) for m in summary["method"]]
    summary = summary.sort_values(["benchmark", "phases", "_rank", "method"], kind="stable")
    return summary.drop(columns="_rank").reset_index(drop=True)


def _cell(mean: float | None, std: float | None) -> str:
    if mean is None or pd.isna(mean):
        return "–"
    if std is None or pd.isna(std):
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {std:.2f}"


def markdown_table(summary: pd.DataFrame) -> str:
    """The method table of one benchmark/phases group (tabulate's GitHub markdown)."""
    show = [(k, label) for k, label in METRICS
            if k != "nme_avg_incremental_accuracy" or summary[f"{k}_mean"].notna().any()]
    table = pd.DataFrame({
        "method": summary["method"],
        "seeds": summary["seeds"],
        **{label: [_cell(m, s) for m, s in zip(summary[f"{k}_mean"], summary[f"{k}_std"])]
           for k, label in show},
        "time / run (s)": [f"{t:.1f}" for t in summary["time_s_mean"]],
    })
    colalign = ("left",) + ("right",) * (len(table.columns) - 1)  # numbers right-aligned
    return table.to_markdown(index=False, disable_numparse=True, colalign=colalign)


def _distinct(values: Iterable[Any]) -> list[str]:
    return sorted({str(v) for v in values if v not in (None, "", "unknown")})


def produced_on(records: Sequence[dict[str, Any]]) -> str:
    """Where the runs ran, from the records: device used, CPU threads, versions, commit."""
    devices = _distinct(r.get("device") for r in records) or ["device not recorded"]
    threads = _distinct(r.get("cpu_threads") for r in records)
    thread_text = (f"{'/'.join(threads)} CPU thread{'' if threads == ['1'] else 's'}" if threads
                   else "CPU threads not recorded")
    torch_v = _distinct((r.get("versions") or {}).get("torch") for r in records)
    avalanche_v = _distinct((r.get("versions") or {}).get("avalanche") for r in records)
    commits = [c[:7] for c in _distinct(r.get("git_commit") for r in records)]
    parts = [f"Ran on {'/'.join(devices)} ({thread_text})"]
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
                    diverged: Sequence[Mapping[str, Any]] = ()) -> str:
    """The whole table.md: one section per benchmark/phases. ``notes``: method -> how its
    configuration differs from the reference one (printed under the table). ``diverged``: the
    folder's divergence notes (records.find_divergences), listed at the end."""
    if not records:
        return "No finished runs yet.\n" + diverged_runs(diverged)
    summary = summarize(records_frame(records), method_order)
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
            "",
            markdown_table(group),
            "",
            *reference_notes(list(group["method"]), notes or {}),
        ]))
    return "\n".join(parts) + diverged_runs(diverged)


def diverged_runs(diverged: Sequence[Mapping[str, Any]]) -> str:
    """The runs that diverged: they have no numbers, so the means above leave them out."""
    if not diverged:
        return ""
    lines = ["", "Runs that diverged (their loss stopped being finite; no numbers, so they are "
             "not in the means above):", ""]
    lines += [f"- {note['message'].split('; ')[0]}" for note in diverged]
    return "\n".join(lines) + "\n"


def _settings_line(records: Sequence[dict[str, Any]]) -> list[str]:
    """What --set / --epochs changed from the preset, as recorded in the runs."""
    changed = {k: v for r in records for k, v in (r["config"].get("overrides") or {}).items()}
    if not changed:
        return []
    return ["", "Set on top of the preset: " + ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))]


def render_csv(records: Sequence[dict[str, Any]], method_order: Sequence[str] = ()) -> str:
    """Summary rows (means, stds, seeds, time) of every benchmark/phases group."""
    summary = summarize(records_frame(records), method_order)
    return summary.to_csv(index=False, float_format="%.4f")
