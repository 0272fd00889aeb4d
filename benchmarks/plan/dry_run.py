"""``compare --dry-run``: the plan as text, so a user checks a multi-day GPU job first.

For each protocol and method (and grid variant, ``--grid``: one row per (method, variant),
with the variant's settings): the memory it gets, the images per epoch (new data + replayed
exemplars, + the level-2 balanced set for AANets), per phase and in total. It prints the very
plan that execution would run (planner.plan_compare); nothing is written.
"""

from __future__ import annotations


import pandas as pd

from ..methods import get_method
from ..streams import data_status, stream_channels, stream_side
from .estimate import AANETS_COST, OLD_MODEL_COST, Rate, measure_rate, seconds
from ..store.records import value_text
from .config import RunConfig
from .grid import grid_text
from .planner import ComparePlan, budget_per_class, method_images


def render_plan(plan: ComparePlan) -> str:
    """The plan as text."""
    request = plan.request
    methods = request.methods
    lines = ["Dry run: nothing is trained or written."]
    grand_total, runs, total_s = 0, 0, 0.0
    rate = _rate(plan)
    for index, protocol_plan in enumerate(plan.protocols):
        n, protocol = protocol_plan.phases, protocol_plan.protocol
        cfg, layout, counts = protocol.cfg, protocol.layout, protocol.counts
        if index == 0:
            lines += _header(plan, layout.num_classes, protocol.backbone, cfg)
        sizes_text = [len(p) for p in layout.phase_classes]
        seen = [sum(sizes_text[: i + 1]) for i in range(len(sizes_text))]
        lines += ["", f"N={n} -> {protocol_plan.out_dir}: {len(sizes_text)} phases (base "
                  f"{sizes_text[0]}, then {n} x {sizes_text[-1]} classes), {cfg.epochs} epochs "
                  "per phase"]
        if index == 0:
            lines.append(f"  {data_status(protocol.stream)}")
        if any(get_method(m).memory == "per_class" for m in methods):
            lines.append("  exemplars per class after each phase: "
                         + ", ".join(str(budget_per_class(cfg, s)) for s in seen))
        rows = []
        grid_keys = [key for key, _ in request.grid]
        for _, method, run_cfg, variant, count in protocol_plan.runs():
            images = method_images(method, run_cfg, counts, layout.phase_classes)
            given = dict(variant)
            rows.append({
                "method": method,
                # a grid key that does not reach the method: '–' (one cell for all its values)
                **{key: value_text(given[key]) if key in given else "–" for key in grid_keys},
                "memory": _memory_text(method, run_cfg, layout.num_classes),
                "images/epoch phase 0": f"{images['level1'][0]:,}",
                f"images/epoch phase {n}": f"{images['level1'][-1]:,}",
                "level-2 images/epoch": f"{images['level2'][-1]:,}" if any(images["level2"]) else "–",
                "images per run": f"{images['total']:,}",
                "est. time / run": _duration(run_s := seconds(
                    run_cfg.epochs * sum(images["level1"]), run_cfg.epochs * sum(images["level2"]),
                    method, rate)),
                "runs": count,
            })
            total_s += run_s * count
            grand_total += images["total"] * count
            runs += count
        lines += ["", pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)]
    lines += ["", f"Total: {runs} runs, {grand_total:,} training images (level 1 + level 2, all "
              "epochs, phases and seeds).",
              f"Estimated training time here: about {_duration(total_s)}, one run after another "
              f"(an estimate: {rate.backbone} trained at {rate.images_per_s:,.0f} images/s, "
              f"batch {rate.batch}, on this {rate.device} just now; AANets counted at "
              f"{AANETS_COST}x and distillation at {OLD_MODEL_COST}x one network per image; "
              "evaluation and data loading not counted)."]
    return "\n".join(lines)


def _rate(plan: ComparePlan) -> Rate:
    """The training rate of the plan's first protocol's backbone, measured here."""
    first = plan.protocols[0].protocol
    device = plan.request.device
    if device == "auto":
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
    channels = stream_channels(first.stream.name) or 3
    side = first.stream.image_size or stream_side(first.stream.name) or (
        32 if first.backbone == "resnet32" else 224)
    return measure_rate(first.backbone, channels, side, min(int(first.cfg.batch_size), 128), device)


def _duration(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _header(plan: ComparePlan, num_classes: int, backbone: str, cfg: RunConfig) -> list[str]:
    request = plan.request
    label = "REDUCED setting" if cfg.reduced else "paper setting"
    memory = (f"{cfg.memory_total} exemplars in all (ceil({cfg.memory_total} / classes seen) "
              "per class)" if cfg.memory_total is not None
              else f"{cfg.memory_per_class} exemplars per class seen")
    changed = _differences(plan.preset, cfg)
    seeds = request.seeds
    lines = [
        f"{request.benchmark}: {num_classes} classes, {backbone}; preset {cfg.preset} ({label}); "
        f"{len(request.methods)} methods x {len(request.phases)} protocol(s) x {len(seeds)} "
        f"seed(s) (seeds {', '.join(str(s) for s in seeds)})",
        f"memory of the exemplar methods: {memory}",
        "settings that differ from the preset file: " + (", ".join(changed) if changed else "none"),
    ]
    if request.grid:
        size = 1
        for _, values in request.grid:
            size *= len(values)
        lines.append(f"grid: {' x '.join(grid_text(request.grid))} ({size} variant(s)); a method "
                     "that a grid key does not act on ('–') trains once for all its values")
    return lines


def _memory_text(method: str, cfg: RunConfig, num_classes: int) -> str:
    info = get_method(method)
    if method == "cumulative":
        return "all data seen"
    if info.memory == "per_class":
        return (f"{cfg.memory_total} in all" if cfg.memory_total is not None
                else f"{cfg.memory_per_class}/class")
    if info.memory == "fixed":
        return f"buffer {cfg.memory_budget_at(num_classes)}"
    return "none"


def _differences(preset_cfg: RunConfig, cfg: RunConfig) -> list[str]:
    """Settings of ``cfg`` that differ from the preset file's top level (backbone section,
    --set, --epochs)."""
    base, final = preset_cfg.to_dict(), cfg.to_dict()
    skip = {"overrides", "description", "preset", "reduced", "preset_path"}
    return [f"{k}={final[k]}" for k in final if k not in skip and final[k] != base[k]]



__all__ = ["render_plan"]
