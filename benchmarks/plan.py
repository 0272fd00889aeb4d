"""``compare --dry-run``: what a comparison would train, computed without data or training.

For each protocol and method: the memory it gets, the images per epoch (new data + replayed
exemplars, + the level-2 balanced set for AANets), per phase and in total, so a user checks a
multi-day GPU job before launching it. Nothing is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .config import RunConfig, load_config, stream_settings
from .errors import UserError
from .methods import get_method
from .methods.aanets import AANETS_VARIANTS


def budget_per_class(cfg: RunConfig, classes_seen: int) -> int:
    """Exemplars per class once ``classes_seen`` classes are known (the herding memory's rule:
    the reference's ceil(nb_protos * 100 / nb_cl / (iteration + 1)) for a fixed total)."""
    if cfg.memory_total is not None:
        return math.ceil(cfg.memory_total / max(classes_seen, 1))
    return int(cfg.memory_per_class)


def _uses_level2(method: str, cfg: RunConfig) -> bool:
    variant = AANETS_VARIANTS.get(method)
    return variant is not None and variant[2] == "aanets" and cfg.fusion_lr > 0


def method_images(method: str, cfg: RunConfig, counts: Sequence[int],
                  phase_classes: Sequence[Sequence[int]]) -> dict[str, Any]:
    """Images per epoch of every phase (level 1 and level 2) for one method.

    ``counts[label]``: training images of the class with that label (position in the order).
    """
    info = get_method(method)
    level1, level2 = [], []
    seen: list[int] = []
    for i, classes in enumerate(phase_classes):
        new = sum(counts[c] for c in classes)
        old = sum(counts[c] for c in seen)
        if not seen or info.memory == "none":
            memory = old if method == "cumulative" else 0
        elif info.memory == "per_class":
            per_class = budget_per_class(cfg, len(seen))
            memory = sum(min(per_class, counts[c]) for c in seen)
        else:  # one fixed-size buffer, filled up to its size
            memory = min(cfg.memory_budget_at(len(counts)), old)
        balanced = 0
        if i > 0 and _uses_level2(method, cfg):
            draws = cfg.balanced_per_class or budget_per_class(cfg, len(seen) + len(classes))
            balanced = memory + len(classes) * draws
        level1.append(new + memory)
        level2.append(balanced)
        seen += list(classes)
    total = cfg.epochs * (sum(level1) + sum(level2))
    return {"level1": level1, "level2": level2, "total": total}


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


@dataclass(frozen=True)
class ProtocolLayout:
    """A protocol as ``compare`` would set it up, known without loading any image."""

    cfg: RunConfig  # the preset's settings for the stream's backbone, with --set / --epochs
    layout: Any  # streams.StreamLayout: class order and the classes of each phase
    counts: list[int]  # training images of each class, by position in the class order
    backbone: str


def protocol_layout(*, benchmark: str, phases: int, preset: str, sets: Sequence[str] = (),
                    epochs: int | None = None, base_classes: int | None = None,
                    class_order_seed: int = 1993, data_root: str | None = None) -> ProtocolLayout:
    """The settings, phases and per-class image counts of one protocol (UserError where the
    stream cannot tell its sizes without loading)."""
    from .streams import StreamSpec, describe_stream, stream_sizes

    probe = load_config(preset, overrides={"epochs": epochs}, sets=sets)
    spec = StreamSpec(**stream_settings(probe, name=benchmark, phases=phases,
                                        base_classes=base_classes,
                                        class_order_seed=class_order_seed, data_root=data_root))
    layout = describe_stream(spec)
    sizes = stream_sizes(spec)
    if sizes is None:
        raise UserError(f"{benchmark} cannot tell its sizes without loading: no dry run")
    cfg = load_config(preset, backbone=sizes.backbone, overrides={"epochs": epochs}, sets=sets)
    cap = cfg.train_per_class
    counts = [min(sizes.train_per_class[c], cap) if cap else sizes.train_per_class[c]
              for c in layout.class_order]
    return ProtocolLayout(cfg, layout, counts, sizes.backbone)


def build_plan(*, benchmark: str, phases: Sequence[int], methods: Sequence[str],
               seeds: Sequence[int], preset: str, sets: Sequence[str], epochs: int | None,
               out_dirs: dict[int, Path], base_classes: int | None, class_order_seed: int,
               data_root: str | None) -> str:
    """The plan as text (UserError on a bad name, phase count or setting, as compare would)."""
    plain = load_config(preset)
    lines = ["Dry run: nothing is trained or written."]
    grand_total, runs = 0, 0
    for n in phases:
        protocol = protocol_layout(benchmark=benchmark, phases=n, preset=preset, sets=sets,
                                   epochs=epochs, base_classes=base_classes,
                                   class_order_seed=class_order_seed, data_root=data_root)
        cfg, layout, counts = protocol.cfg, protocol.layout, protocol.counts
        if n == phases[0]:
            lines += _header(benchmark, layout.num_classes, protocol.backbone, cfg, plain, methods,
                             seeds, phases)
        sizes_text = [len(p) for p in layout.phase_classes]
        seen = [sum(sizes_text[: i + 1]) for i in range(len(sizes_text))]
        lines += ["", f"N={n} -> {out_dirs[n]}: {len(sizes_text)} phases (base {sizes_text[0]}, "
                  f"then {n} x {sizes_text[-1]} classes), {cfg.epochs} epochs per phase"]
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


def _header(benchmark: str, num_classes: int, backbone: str, cfg: RunConfig, plain: RunConfig,
            methods: Sequence[str], seeds: Sequence[int], phases: Sequence[int]) -> list[str]:
    label = "REDUCED setting" if cfg.reduced else "paper setting"
    memory = (f"{cfg.memory_total} exemplars in all (ceil({cfg.memory_total} / classes seen) "
              "per class)" if cfg.memory_total is not None
              else f"{cfg.memory_per_class} exemplars per class seen")
    changed = _differences(plain, cfg)
    return [
        f"{benchmark}: {num_classes} classes, {backbone}; preset {cfg.preset} ({label}); "
        f"{len(methods)} methods x {len(phases)} protocol(s) x {len(seeds)} seed(s) "
        f"(seeds {', '.join(str(s) for s in seeds)})",
        f"memory of the exemplar methods: {memory}",
        "settings that differ from the preset file: " + (", ".join(changed) if changed else "none"),
    ]


__all__ = ["ProtocolLayout", "budget_per_class", "build_plan", "method_images", "protocol_layout"]
