"""``compare --dry-run``: the plan as text, so a user checks a multi-day GPU job first.

For each protocol and method: the memory it gets, the images per epoch (new data + replayed
exemplars, + the level-2 balanced set for AANets), per phase and in total. It prints the very
plan that execution would run (planner.plan_compare); nothing is written.
"""

from __future__ import annotations


import pandas as pd

from ..methods import get_method
from .config import RunConfig
from .planner import ComparePlan, budget_per_class, method_images


def render_plan(plan: ComparePlan) -> str:
    """The plan as text."""
    request = plan.request
    methods, seeds = request.methods, request.seeds
    lines = ["Dry run: nothing is trained or written."]
    grand_total, runs = 0, 0
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
        if any(get_method(m).memory == "per_class" for m in methods):
            lines.append("  exemplars per class after each phase: "
                         + ", ".join(str(budget_per_class(cfg, s)) for s in seen))
        rows = []
        for method in methods:
            images = method_images(method, cfg, counts, layout.phase_classes)
            rows.append({
                "method": method, "memory": _memory_text(method, cfg, layout.num_classes),
                "images/epoch phase 0": f"{images['level1'][0]:,}",
                f"images/epoch phase {n}": f"{images['level1'][-1]:,}",
                "level-2 images/epoch": f"{images['level2'][-1]:,}" if any(images["level2"]) else "–",
                "images per run": f"{images['total']:,}",
                "runs": len(seeds),
            })
            grand_total += images["total"] * len(seeds)
            runs += len(seeds)
        lines += ["", pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)]
    lines += ["", f"Total: {runs} runs, {grand_total:,} training images (level 1 + level 2, all "
              "epochs, phases and seeds)."]
    return "\n".join(lines)


def _header(plan: ComparePlan, num_classes: int, backbone: str, cfg: RunConfig) -> list[str]:
    request = plan.request
    label = "REDUCED setting" if cfg.reduced else "paper setting"
    memory = (f"{cfg.memory_total} exemplars in all (ceil({cfg.memory_total} / classes seen) "
              "per class)" if cfg.memory_total is not None
              else f"{cfg.memory_per_class} exemplars per class seen")
    changed = _differences(plan.preset, cfg)
    seeds = request.seeds
    return [
        f"{request.benchmark}: {num_classes} classes, {backbone}; preset {cfg.preset} ({label}); "
        f"{len(request.methods)} methods x {len(request.phases)} protocol(s) x {len(seeds)} "
        f"seed(s) (seeds {', '.join(str(s) for s in seeds)})",
        f"memory of the exemplar methods: {memory}",
        "settings that differ from the preset file: " + (", ".join(changed) if changed else "none"),
    ]


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
