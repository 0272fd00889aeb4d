"""Presets (YAML files in benchmarks/presets/) -> one frozen RunConfig.

A value enters once, here: the preset file, then the backbone section of that preset (e.g. the
ImageNet-Subset settings for resnet18), then the user's command-line overrides. Everything below
(methods, runner) reads the resulting frozen object and nothing else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from .errors import UserError

PRESET_DIR = Path(__file__).resolve().parent / "presets"


@dataclass(frozen=True)
class RunConfig:
    """Every setting a run depends on (besides benchmark, phases, method, seed and device)."""

    preset: str
    reduced: bool
    description: str
    # optimisation (per phase)
    epochs: int
    lr: float
    lr_milestones: tuple[int, ...]
    lr_gamma: float
    momentum: float
    weight_decay: float
    batch_size: int
    eval_batch_size: int
    # exemplar memory: exactly one of the two is set
    memory_per_class: int | None
    memory_total: int | None
    # data reduction (None = full dataset / native size)
    train_per_class: int | None
    test_per_class: int | None
    image_size: int | None
    # AANets / LUCIR / iCaRL hyperparameters
    lambda_base: float
    margin: float
    ranking_k: int
    ranking_weight: float
    kd_temperature: float
    kd_beta: float
    fusion_lr: float
    # per-method hyperparameters of the Avalanche baselines: method -> {name: value}
    method_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # which overrides were applied on top of the preset file (for the record)
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def method_param(self, method: str, name: str, default: Any) -> Any:
        """A baseline's hyperparameter: the preset's value, else the registry default."""
        return self.method_params.get(method, {}).get(name, default)

    def memory_budget_at(self, classes_seen: int) -> int:
        """Total exemplars the memory may hold once ``classes_seen`` classes are known."""
        if self.memory_total is not None:
            return int(self.memory_total)
        return int(self.memory_per_class) * classes_seen

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for run records and config comparison)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = json.loads(json.dumps({k: dict(v) if isinstance(v, Mapping) else v
                                               for k, v in value.items()}, sort_keys=True))
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def digest(self) -> str:
        """Stable hash of the config (for "same config?" checks)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_SECTIONS = {
    "train": ("epochs", "lr", "lr_milestones", "lr_gamma", "momentum", "weight_decay",
              "batch_size", "eval_batch_size"),
    "memory": ("per_class", "total"),
    "data": ("train_per_class", "test_per_class", "image_size"),
    "aanets": ("lambda_base", "margin", "ranking_k", "ranking_weight", "kd_temperature",
               "kd_beta", "fusion_lr"),
}
OVERRIDABLE = ("epochs", "lr", "batch_size", "eval_batch_size", "memory_per_class",
               "memory_total", "train_per_class", "test_per_class")


def list_presets() -> list[tuple[str, str]]:
    """(name, one-line description) of every preset file, sorted by name."""
    out = []
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        data = _read_yaml(path)
        label = "reduced" if data.get("reduced", True) else "paper setting"
        out.append((path.stem, f"[{label}] {data.get('description', '')}"))
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read preset file {path}: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise UserError(f"preset file {path} is not a mapping")
    return data


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge (extra wins), used for the backbone sections."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def scale_milestones(milestones: tuple[int, ...], old_epochs: int, new_epochs: int) -> tuple[int, ...]:
    """Keep the lr decays at the same fraction of training when the epoch count changes."""
    if old_epochs == new_epochs:
        return tuple(milestones)
    scaled = {round(m * new_epochs / old_epochs) for m in milestones}
    return tuple(sorted(m for m in scaled if 0 < m < new_epochs))


def load_config(preset: str, *, backbone: str | None = None,
                overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Build the frozen config: preset file -> backbone section -> overrides (None = not given).

    Overriding ``epochs`` rescales the lr milestones proportionally (unless ``lr_milestones``
    is overridden too).
    """
    names = [name for name, _ in list_presets()]
    if preset not in names:
        raise UserError(f"unknown preset {preset!r}; choose one of: {', '.join(names)}")
    data = _read_yaml(PRESET_DIR / f"{preset}.yaml")
    if backbone and backbone in (data.get("backbones") or {}):
        data = _merge(data, data["backbones"][backbone])

    flat: dict[str, Any] = {}
    for section, keys in _SECTIONS.items():
        values = data.get(section) or {}
        unknown = set(values) - set(keys)
        if unknown:
            raise UserError(f"preset {preset!r}: unknown keys in '{section}': {sorted(unknown)}")
        for key in keys:
            name = f"memory_{key}" if section == "memory" else key
            flat[name] = values.get(key)
    missing = [k for k, v in flat.items() if v is None and k not in
               ("memory_per_class", "memory_total", "train_per_class", "test_per_class", "image_size")]
    if missing:
        raise UserError(f"preset {preset!r} misses settings: {', '.join(missing)}")

    applied = {k: v for k, v in (overrides or {}).items() if v is not None}
    bad = set(applied) - set(OVERRIDABLE) - {"lr_milestones"}
    if bad:
        raise UserError(f"cannot override {sorted(bad)}")
    if "epochs" in applied and "lr_milestones" not in applied:
        flat["lr_milestones"] = scale_milestones(tuple(flat["lr_milestones"] or ()),
                                                 int(flat["epochs"]), int(applied["epochs"]))
    if "memory_total" in applied:
        flat["memory_per_class"] = None
    elif "memory_per_class" in applied:
        flat["memory_total"] = None
    flat.update(applied)

    if (flat["memory_per_class"] is None) == (flat["memory_total"] is None):
        raise UserError(f"preset {preset!r}: set exactly one of memory.per_class and memory.total")
    for key in ("epochs", "batch_size", "eval_batch_size"):
        if int(flat[key]) < 1:
            raise UserError(f"{key} must be at least 1 (got {flat[key]})")

    method_params = {str(m): MappingProxyType(dict(p or {}))
                     for m, p in (data.get("methods") or {}).items()}
    return RunConfig(
        preset=preset,
        reduced=bool(data.get("reduced", True)),
        description=str(data.get("description", "")),
        epochs=int(flat["epochs"]),
        lr=float(flat["lr"]),
        lr_milestones=tuple(int(m) for m in (flat["lr_milestones"] or ())),
        lr_gamma=float(flat["lr_gamma"]),
        momentum=float(flat["momentum"]),
        weight_decay=float(flat["weight_decay"]),
        batch_size=int(flat["batch_size"]),
        eval_batch_size=int(flat["eval_batch_size"]),
        memory_per_class=None if flat["memory_per_class"] is None else int(flat["memory_per_class"]),
        memory_total=None if flat["memory_total"] is None else int(flat["memory_total"]),
        train_per_class=None if flat["train_per_class"] is None else int(flat["train_per_class"]),
        test_per_class=None if flat["test_per_class"] is None else int(flat["test_per_class"]),
        image_size=None if flat["image_size"] is None else int(flat["image_size"]),
        lambda_base=float(flat["lambda_base"]),
        margin=float(flat["margin"]),
        ranking_k=int(flat["ranking_k"]),
        ranking_weight=float(flat["ranking_weight"]),
        kd_temperature=float(flat["kd_temperature"]),
        kd_beta=float(flat["kd_beta"]),
        fusion_lr=float(flat["fusion_lr"]),
        method_params=MappingProxyType(method_params),
        overrides=MappingProxyType(dict(sorted(applied.items()))),
    )
