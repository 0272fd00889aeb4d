"""One base phase for the methods that train the same network in it.

LUCIR, AANets-LUCIR and the dual-branch ablation (likewise the iCaRL flavour, and PODNet with
POD + AANets) train the same single network with the same loss in phase 0: the two branches
appear in phase 1. With the same
settings and seed their phase-0 states are identical, so the first of them to finish phase 0
saves that state here and the others adopt it (the strategies' ``adopt_base_state``) instead of
training it again; their numbers are the same as without sharing (tests/test_base_phase.py).
The reference code reuses its phase-0 model the same way. On a paper-scale run phase 0 is the
largest phase (CIFAR-100 B50: half the classes at 160 epochs).

The saved state is an ordinary safe checkpoint (checkpoint.py) under
``<out>/checkpoints/_base/<group>/seed<k>.pt``, keyed by the run settings with the method name
replaced by its group and without the settings that act from phase 1 on (LATER_PHASE_SETTINGS),
and by the CPU thread count and kernels. So the variants of a ``--grid`` over such a setting
share one phase 0; a grid variant whose settings do reach phase 0 keeps its own under
``_base/<group>@<those settings>/``. A record made from an adopted base phase names the run
that trained it (``base_phase_from``) and keeps that phase's time,
so time per run stays comparable. A comparison that ends with every run done deletes the files
it wrote (a base phase of its own settings, verified by its key) and nothing else: a damaged
one is set aside like any damaged checkpoint, and files it does not know are left alone.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..methods import get_method
from ..store.checkpoint import (CheckpointError, checkpoint_path, load_checkpoint,
                                read_checkpoint_meta, save_checkpoint)
from ..store.outdir import set_aside
from ..store.records import run_name, variant_tag
from .cpu import cpu_kernels

BASE_DIR = "_base"

# Settings that cannot change the state after phase 0, so they are left out of the base key:
# they configure only the level-2 plugin (AggregationUpdatePlugin), which does nothing while
# the network is a single branch (phase 0: no a_k, no optimizer, no balanced set, no random
# draw), and which adopt_base_state replaces by the adopting strategy's own, built with its
# own values. Every other setting stays in the key: the distillation and memory plugins, the
# lr and the quirks of the state are adopted as they were saved, so a LUCIR margin or a kd
# weight (unused in phase 0 too) must match to share.
LATER_PHASE_SETTINGS = ("aanets.fusion_lr", "aanets.fusion_milestones",
                        "aanets.balanced_per_class", "methods.podnet.aanets_fusion_lr")


def base_group(method: str) -> str | None:
    return get_method(method).base_phase


def base_settings(run_settings: dict[str, Any]) -> dict[str, Any]:
    """A run's settings (RunSpec.settings()) with the method named by its group, without its
    grid variant and the settings that act from phase 1 on (LATER_PHASE_SETTINGS)."""
    config = copy.deepcopy(run_settings.get("config") or {})
    for key in LATER_PHASE_SETTINGS:
        if key.startswith("methods."):
            _, method, param = key.split(".")
            (config.get("method_params") or {}).get(method, {}).pop(param, None)
        else:
            config.pop(key, None)
    settings = {k: v for k, v in run_settings.items() if k != "variant"}
    return {**settings, "config": config,
            "method": f"base phase of {base_group(run_settings['method'])}"}


def base_key(run_settings: dict[str, Any]) -> str:
    text = json.dumps(base_settings(run_settings), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def base_path(out_dir: Path, method: str, seed: int,
              variant: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None) -> Path:
    """<out>/checkpoints/_base/<group>[@<grid settings that reach phase 0>]/seed<k>.pt"""
    phase0 = {k: v for k, v in dict(variant or {}).items() if k not in LATER_PHASE_SETTINGS}
    group = str(base_group(method)) + (f"@{variant_tag(phase0)}" if phase0 else "")
    return Path(out_dir) / "checkpoints" / BASE_DIR / group / f"seed{seed}.pt"


def save_base_phase(out_dir: Path, run_settings: dict[str, Any], strategy: Any,
                    done: dict[str, Any], *, shared: list[Any], transient: list[Any],
                    cpu_threads: int) -> None:
    """Keep the state right after phase 0 for the rest of the group (first writer wins)."""
    method, seed = run_settings["method"], run_settings["seed"]
    path = base_path(out_dir, method, seed, run_settings.get("variant"))
    if base_group(method) is None or path.exists():
        return
    meta = {"base_key": base_key(run_settings), "settings": base_settings(run_settings),
            "method": run_name(method, run_settings.get("variant")), "seed": seed,
            "cpu_threads": cpu_threads, "cpu_kernels": cpu_kernels()}
    save_checkpoint(path, strategy, meta, {"done": done}, shared=shared, transient=transient)


def adopt_base_phase(out_dir: Path, run_settings: dict[str, Any], strategy: Any, *,
                     shared: list[Any], transient: list[Any], cpu_threads: int,
                     notify: Callable[[str], None]) -> dict[str, Any] | None:
    """Load the group's saved phase 0 into ``strategy`` and return the run's results so far,
    or None (nothing saved, other settings or CPU: phase 0 is trained). An unusable file is set
    aside (kept, renamed) so that this run's own phase 0 can take its place."""
    method = run_settings["method"]
    path = base_path(out_dir, method, run_settings["seed"], run_settings.get("variant"))
    adopt = getattr(strategy, "adopt_base_state", None)
    if base_group(method) is None or not callable(adopt) or not path.is_file():
        return None
    try:
        meta = read_checkpoint_meta(path)
        if (meta.get("base_key") != base_key(run_settings) or meta.get("cpu_threads") != cpu_threads
                or meta.get("cpu_kernels", cpu_kernels()) != cpu_kernels()):
            return None
        meta, extra = load_checkpoint(path, strategy, shared=shared, transient=transient,
                                      adopt=adopt)
    except (CheckpointError, ValueError) as exc:
        kept = set_aside(path)
        notify(f"warning: base phase {path} is unusable ({exc}); kept as {kept.name}, "
               f"{method} trains its own")
        return None
    done = extra["done"]
    done["base_phase_from"] = meta["method"]
    return done


def base_phase_holds(runs: Sequence[Any], out_dir: Path) -> dict[int, int]:
    """{follower: leader} over indices of ``runs`` (RunSpecs) for an executor that runs them at
    the same time: of the runs of one group with the same settings and seed, the first that
    trains phase 0 leads and the others should start once it has kept that phase. A run resuming
    from its own checkpoint neither leads nor waits (it trains no phase 0), nor does a group
    whose base phase is already on disk."""
    leaders: dict[str, int] = {}
    holds: dict[int, int] = {}
    for index, run in enumerate(runs):
        if base_group(run.method) is None or checkpoint_path(out_dir, run.name, run.seed).exists() \
                or base_path(out_dir, run.method, run.seed, run.variant).exists():
            continue
        key = base_key(run.settings())
        if key in leaders:
            holds[index] = leaders[key]
        else:
            leaders[key] = index
    return holds


def remove_base_phases(out_dir: Path, runs: Sequence[Any]) -> list[Path]:
    """Delete the base phases this compare's ``runs`` (RunSpecs) kept, once every run is done:
    only a file at one of their paths that reads as a base phase of their settings (its key);
    then the folders left empty. Anything else (a damaged file set aside, a user's file) stays.
    Returns what was deleted."""
    out_dir = Path(out_dir)
    removed = []
    wanted = {base_path(out_dir, r.method, r.seed, r.variant): base_key(r.settings())
              for r in runs if base_group(r.method) is not None}
    for path, key in wanted.items():
        if not path.is_file():
            continue
        try:
            meta = read_checkpoint_meta(path)
        except (CheckpointError, OSError):
            continue  # not one we can vouch for: left alone
        if meta.get("base_key") == key:
            path.unlink()
            removed.append(path)
    base = out_dir / "checkpoints" / BASE_DIR
    for folder in [*sorted({p.parent for p in wanted}), base, out_dir / "checkpoints"]:
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass
    return removed


__all__ = ["LATER_PHASE_SETTINGS", "adopt_base_phase", "base_group", "base_key", "base_path",
           "base_phase_holds", "remove_base_phases", "save_base_phase"]
