"""Presets (YAML files) -> one frozen RunConfig, with typed ``--set key=value`` overrides.

A value enters once, here: the preset file (one of benchmarks/plan/presets/ by name, or a path to a
.yaml file of the user's own), then the backbone section of that preset (e.g. the
ImageNet-Subset settings for resnet18), then the user's overrides. Every setting has a dotted
key (``train.epochs``, ``memory.total``, ``aanets.fusion_lr``, ``methods.lwf.alpha``, ...), a
type and a range (numbers finite, integers within +-MAX_INT); a bad value is a one-line
UserError that says what is valid, an unknown key one that names the closest valid keys.
Everything below (methods, runner) reads the resulting frozen object and nothing else.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import yaml

from ..errors import UserError
from ..store.records import ADDED_SETTINGS

PRESET_DIR = Path(__file__).resolve().parent / "presets"
SCHEDULES = ("multistep", "cosine")
# model.backbone: "auto" = by the image size (ResNet-32 up to 64 px, else ResNet-18); "mlp" is
# the reference network of MNIST-like baselines (Mammoth's seq-mnist), "mlp-bn" the same with
# BatchNorm (a control); the MLPs are for the baselines only
MLP_BACKBONES = ("mlp", "mlp-bn")
BACKBONE_CHOICES = ("auto", "resnet32", "resnet18", *MLP_BACKBONES)
KEYS_DOC = "docs/reproduce-paper.md"  # where every --set key is listed
# Every integer setting (counts, sizes, epochs, class ids, methods.<m>.<p> integers) lies in
# -MAX_INT..MAX_INT: torch and NumPy hold them as C integers and fail with a traceback beyond
# 2**63 (a batch size of 2**64 reaches DataLoader), and no dataset here holds 2**31 images, so
# the int32 limit refuses no real value and keeps every later int32 index (CUDA grids) safe.
MAX_INT = 2**31 - 1


@dataclass(frozen=True)
class Setting:
    """One dotted preset key: its RunConfig field, type and the methods it reaches."""

    key: str
    field: str
    kind: str                 # int, float, bool, str, ints, floats
    nullable: bool = False
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    default: Any = None       # used when a preset file omits the key (None = required unless nullable)
    reaches: str = "all"      # "all", "memory" (methods with an exemplar memory) or a family name

    def describe(self) -> str:
        kinds = {"int": "an integer", "float": "a number", "bool": "true or false",
                 "str": "one of " + ", ".join(self.choices), "ints": "a list of integers",
                 "floats": "a list of numbers"}
        text = kinds[self.kind]
        if self.minimum is not None:
            text += f" >= {self.minimum:g}"
        return text + (" or null" if self.nullable else "")

    def describe_limits(self) -> str:
        """What describe() says, with the range an integer must lie in or 'finite' numbers."""
        if self.kind in ("float", "floats"):
            return self.describe().replace("number", "finite number")
        if self.kind not in ("int", "ints"):
            return self.describe()
        low = f"{self.minimum:g}" if self.minimum is not None else f"{-MAX_INT}"
        kinds = {"int": "an integer", "ints": "a list of integers"}
        return (f"{kinds[self.kind]} in {low}..{MAX_INT}"
                + (" or null" if self.nullable else ""))


_REQUIRED = object()
SETTINGS: tuple[Setting, ...] = (
    Setting("train.epochs", "epochs", "int", minimum=1, default=_REQUIRED),
    Setting("train.lr", "lr", "float", minimum=0, default=_REQUIRED),
    Setting("train.lr_schedule", "lr_schedule", "str", choices=SCHEDULES, default="multistep"),
    Setting("train.lr_milestones", "lr_milestones", "ints", default=_REQUIRED),
    Setting("train.lr_gamma", "lr_gamma", "float", minimum=0, default=_REQUIRED),
    Setting("train.momentum", "momentum", "float", minimum=0, default=_REQUIRED),
    Setting("train.weight_decay", "weight_decay", "float", minimum=0, default=_REQUIRED),
    Setting("train.batch_size", "batch_size", "int", minimum=1, default=_REQUIRED),
    Setting("train.eval_batch_size", "eval_batch_size", "int", minimum=1, default=_REQUIRED),
    Setting("memory.per_class", "memory_per_class", "int", nullable=True, minimum=1, reaches="memory"),
    Setting("memory.total", "memory_total", "int", nullable=True, minimum=1, reaches="memory"),
    Setting("data.train_per_class", "train_per_class", "int", nullable=True, minimum=1),
    Setting("data.test_per_class", "test_per_class", "int", nullable=True, minimum=1),
    Setting("data.image_size", "image_size", "int", nullable=True, minimum=1),
    Setting("data.mean", "mean", "floats", nullable=True),
    Setting("data.std", "std", "floats", nullable=True),
    Setting("data.class_order", "class_order", "ints", nullable=True),
    Setting("data.color_jitter", "color_jitter", "float", minimum=0, default=0.0),
    Setting("data.augment", "augment", "bool", default=ADDED_SETTINGS["data.augment"]),
    Setting("model.backbone", "model_backbone", "str", choices=BACKBONE_CHOICES,
            default=ADDED_SETTINGS["model.backbone"]),
    Setting("aanets.lambda_base", "lambda_base", "float", minimum=0, default=_REQUIRED, reaches="aanets"),
    Setting("aanets.margin", "margin", "float", default=_REQUIRED, reaches="aanets"),
    Setting("aanets.ranking_k", "ranking_k", "int", minimum=1, default=_REQUIRED, reaches="aanets"),
    Setting("aanets.ranking_weight", "ranking_weight", "float", minimum=0, default=_REQUIRED,
            reaches="aanets"),
    Setting("aanets.kd_temperature", "kd_temperature", "float", minimum=0, default=_REQUIRED,
            reaches="aanets"),
    Setting("aanets.kd_beta", "kd_beta", "float", minimum=0, default=_REQUIRED, reaches="aanets"),
    Setting("aanets.fusion_lr", "fusion_lr", "float", minimum=0, default=_REQUIRED, reaches="aanets"),
    Setting("aanets.fusion_milestones", "fusion_milestones", "ints", nullable=True, reaches="aanets"),
    Setting("aanets.balanced_per_class", "balanced_per_class", "int", nullable=True, minimum=1,
            reaches="aanets"),
    Setting("aanets.stable_lr", "stable_lr", "float", nullable=True, minimum=0, reaches="aanets"),
    Setting("aanets.plastic_lr", "plastic_lr", "float", nullable=True, minimum=0, reaches="aanets"),
    Setting("reference_quirks", "reference_quirks", "bool", default=False, reaches="aanets"),
)
BY_KEY = {s.key: s for s in SETTINGS}
# the old --epochs-style override names (field names) still work in load_config(overrides=)
BY_FIELD = {s.field: s for s in SETTINGS}


def _reaches(setting: Setting, *, family: str, uses_memory: bool) -> bool:
    """Whether a setting reaches a method of ``family`` (with or without an exemplar memory)."""
    return {"all": True, "memory": uses_memory}.get(setting.reaches, setting.reaches == family)


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
    # which overrides were applied on top of the preset file (dotted key -> value, for the record)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    lr_schedule: str = "multistep"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    class_order: tuple[int, ...] | None = None
    color_jitter: float = 0.0
    augment: bool = True  # False: training images as they are (no crop, flip or jitter)
    model_backbone: str = "auto"  # "auto": the stream's choice by image size
    fusion_milestones: tuple[int, ...] | None = None
    balanced_per_class: int | None = None
    stable_lr: float | None = None
    plastic_lr: float | None = None
    reference_quirks: bool = False
    preset_path: str | None = None   # the user's own preset file, when one was given

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

    def key_settings(self, *, method: str, family: str, uses_memory: bool) -> dict[str, Any]:
        """The settings that reach ``method`` (what its run key hashes): another method's
        hyperparameters, AANets settings for a baseline, or the memory of a memory-free method
        never invalidate its finished runs."""
        full = self.to_dict()
        out = {"preset": self.preset, "reduced": self.reduced}
        for s in SETTINGS:
            if not _reaches(s, family=family, uses_memory=uses_memory):
                continue
            if s.key in ADDED_SETTINGS and full[s.field] == ADDED_SETTINGS[s.key]:
                continue  # added later: at the value earlier runs used, their keys stay
            out[s.key] = full[s.field]
        # a method reads the methods.<section> named like it or like a part of its name
        # (aanets-podnet reads methods.podnet)
        parts = {method, *method.split("-")}
        out["method_params"] = {m: p for m, p in full["method_params"].items() if m in parts}
        return out

    def reaches(self, key: str, *, method: str, family: str, uses_memory: bool) -> bool:
        """Whether the dotted setting ``key`` reaches ``method`` (is among what its run key
        hashes, key_settings): a grid key that does not leaves the method's runs alone."""
        if key in BY_KEY:  # whatever its value (an added setting at its default included)
            return _reaches(BY_KEY[key], family=family, uses_memory=uses_memory)
        reached = self.key_settings(method=method, family=family, uses_memory=uses_memory)
        if key.startswith("methods.") and key.count(".") == 2:
            return key.split(".")[1] in reached["method_params"]
        return key in reached

    def digest(self) -> str:
        """Stable hash of the config (for "same config?" checks)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- presets


def list_presets() -> list[tuple[str, str]]:
    """(name, one-line description) of every preset file, sorted by name."""
    out = []
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        data = _read_yaml(path)
        label = "reduced" if data.get("reduced", True) else "paper setting"
        out.append((path.stem, f"[{label}] {data.get('description', '')}"))
    return out


def preset_file(preset: str) -> Path:
    """A preset name (benchmarks/plan/presets/<name>.yaml) or a path to a .yaml file."""
    if preset.endswith((".yaml", ".yml")) or "/" in preset or "\\" in preset:
        path = Path(preset).expanduser()
        if not path.is_file():
            raise UserError(f"preset file {preset} does not exist")
        return path
    names = sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))  # by name: nothing read
    if preset not in names:
        raise UserError(f"unknown preset {preset!r}; choose one of: {', '.join(names)}, "
                        "or give the path of a .yaml file")
    return PRESET_DIR / f"{preset}.yaml"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read preset file {path}: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise UserError(f"preset file {path} is not a mapping")
    return data


@dataclass(frozen=True)
class PresetSource:
    """A preset file read once: planning derives every protocol's config from this copy."""

    name: str
    path: Path
    data: Mapping[str, Any]
    own_file: bool  # the user's own .yaml, not one of benchmarks/plan/presets/


def read_preset(preset: str | PresetSource) -> PresetSource:
    """Find and read a preset (a name or a .yaml path); a PresetSource is returned as it is."""
    if isinstance(preset, PresetSource):
        return preset
    path = preset_file(preset)
    return PresetSource(name=path.stem, path=path, data=MappingProxyType(_read_yaml(path)),
                        own_file=path.resolve().parent != PRESET_DIR)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge (extra wins), used for the backbone sections."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def scale_milestones(milestones: Sequence[int], old_epochs: int, new_epochs: int) -> tuple[int, ...]:
    """Keep the lr decays at the same fraction of training when the epoch count changes."""
    if old_epochs == new_epochs:
        return tuple(milestones)
    scaled = {round(m * new_epochs / old_epochs) for m in milestones}
    return tuple(sorted(m for m in scaled if 0 < m < new_epochs))


# ----------------------------------------------------------------------------- typing


def _coerce(setting: Setting, value: Any, where: str) -> Any:
    """A preset or command-line value -> the setting's type (text is parsed), else UserError.
    Numbers must be finite and integers within +-MAX_INT (NaN is no number: ``nan < 0`` is
    false, so a range check alone lets it through to every weight of a run)."""
    bad = UserError(f"{where}: {setting.key} must be {setting.describe()} (got {value!r})")
    out_of_range = UserError(f"{where}: {setting.key} must be {setting.describe_limits()} "
                             f"(got {value!r})")
    if isinstance(value, str) and setting.kind != "str":
        value = _parse_text(value, bad)
    if value is None:
        if setting.nullable:
            return None
        raise bad
    if setting.kind in ("ints", "floats"):
        # one number is a list of one (--set data.std=0.5, --set train.lr_milestones=10)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        items = value if isinstance(value, (list, tuple)) else [value] if number else None
        if items is None:
            raise bad
        one = Setting(setting.key, setting.field, setting.kind[:-1], minimum=setting.minimum)
        return tuple(_coerce_scalar(one, v, bad, out_of_range) for v in items)
    return _coerce_scalar(setting, value, bad, out_of_range)


def _coerce_scalar(setting: Setting, value: Any, bad: UserError,
                   out_of_range: UserError | None = None) -> Any:
    kind = setting.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if kind == "str":
        if value not in setting.choices:
            raise bad
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad
    if isinstance(value, float) and not math.isfinite(value):
        raise out_of_range or bad
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise bad
        value = int(value)
        if abs(value) > MAX_INT:
            raise out_of_range or bad
    else:
        try:
            value = float(value)
        except OverflowError:  # an integer beyond the float range (10**400)
            raise out_of_range or bad from None
    if setting.minimum is not None and value < setting.minimum:
        raise bad
    return value


def _parse_text(text: str, bad: UserError) -> Any:
    """'1e-4' -> 0.0001, 'true' -> True, 'null' -> None, '[1,2]' or '1,2' -> [1, 2]."""
    text = text.strip()
    lowered = text.lower()
    if lowered in ("null", "none", "~", ""):
        return None
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if text.startswith("[") or "," in text:
        inner = text.strip("[]")
        return [_parse_text(part, bad) for part in inner.split(",") if part.strip()]
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    raise bad


def parse_set(item: str) -> tuple[str, str]:
    """'aanets.fusion_lr=1e-4' -> ('aanets.fusion_lr', '1e-4')."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set {item!r}: write key=value, e.g. --set aanets.fusion_lr=1e-4")
    return key.strip(), value


def valid_keys(method_params: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every dotted key --set accepts for a preset (its methods section included)."""
    return [s.key for s in SETTINGS] + sorted(f"methods.{m}.{p}" for m, params in
                                              method_params.items() for p in params)


def unknown_key(key: str, method_params: Mapping[str, Mapping[str, Any]],
                what: str = "unknown setting") -> UserError:
    """One line for a key --set does not know: the closest valid keys (difflib), else what the
    nearest known section holds, never all of them."""
    keys = valid_keys(method_params)
    section = key.rpartition(".")[0]
    in_section = [k for k in keys if k.rpartition(".")[0] == section]
    pool = in_section or keys  # a known section: its own keys, else all (more alike)
    ratio = {k: difflib.SequenceMatcher(None, key, k).ratio() for k in pool}
    close = difflib.get_close_matches(key, pool, n=3, cutoff=0.6 if in_section else 0.75)
    close = [k for k in pool if k.startswith(key)] + [k for k in close
                                                       if ratio[k] >= ratio[close[0]] - 0.1]
    if not close:  # the right name in the wrong place: --set epochs=3
        leaf = key.rpartition(".")[2]
        close = [k for k in keys if k.rpartition(".")[2] in
                 difflib.get_close_matches(leaf, [k.rpartition(".")[2] for k in keys], cutoff=0.8)]
    close = list(dict.fromkeys(close))[:3]
    if close:
        hint = f"did you mean {' or '.join(close)}?"
    else:
        parts = key.split(".")
        for depth in range(len(parts) - 1, -1, -1):
            prefix = ".".join(parts[:depth])
            below = [k[len(prefix) + 1:] if prefix else k for k in keys
                     if not prefix or k.startswith(prefix + ".")]
            if below:
                names = list(dict.fromkeys(b.split(".")[0] for b in below))
                hint = f"{prefix or 'the top level'} has {', '.join(names)}"
                break
    return UserError(f"{what} {key!r}; {hint} (all keys: {KEYS_DOC})")


# ----------------------------------------------------------------------------- loading


def load_config(preset: str | PresetSource, *, backbone: str | None = None,
                overrides: Mapping[str, Any] | None = None,
                sets: Sequence[str] = ()) -> RunConfig:
    """Build the frozen config: preset file -> backbone section -> overrides -> ``--set`` items.

    ``preset``: a name, a .yaml path, or a PresetSource already read (read_preset), which is
    not read again. ``overrides`` take field names (``epochs``; None = not given), ``sets`` take
    ``dotted.key=value`` text. Changing ``train.epochs`` rescales the lr milestones (level 1,
    and level 2 when it has its own) proportionally unless they are set too.
    """
    source = read_preset(preset)
    path, own_file, name = source.path, source.own_file, source.name
    data = copy.deepcopy(dict(source.data))  # the source serves every protocol unchanged
    if backbone and backbone in (data.get("backbones") or {}):
        data = _merge(data, data["backbones"][backbone])

    values = _preset_values(data, name)
    method_params = _preset_method_params(data, name)

    requested: dict[str, Any] = {}
    for fname, value in (overrides or {}).items():
        if value is None:
            continue
        if fname not in BY_FIELD:
            raise unknown_key(fname, method_params, what="cannot override")
        requested[BY_FIELD[fname].key] = value
    for item in sets:
        key, text = parse_set(item)
        requested[key] = text

    applied: dict[str, Any] = {}
    for key, raw in requested.items():
        if key in BY_KEY:
            applied[key] = _coerce(BY_KEY[key], raw, "--set")
        elif key.startswith("methods.") and key.count(".") == 2:
            _, method, param = key.split(".")
            if param not in method_params.get(method, {}):
                raise unknown_key(key, method_params)
            applied[key] = _coerce_like(method_params[method][param], raw, key)
        else:
            raise unknown_key(key, method_params)

    if "train.epochs" in applied:
        old, new = values["train.epochs"], applied["train.epochs"]
        if "train.lr_milestones" not in applied:
            values["train.lr_milestones"] = scale_milestones(values["train.lr_milestones"], old, new)
        if values["aanets.fusion_milestones"] is not None and "aanets.fusion_milestones" not in applied:
            values["aanets.fusion_milestones"] = scale_milestones(values["aanets.fusion_milestones"],
                                                                  old, new)
    if applied.get("memory.total") is not None:
        values["memory.per_class"] = None
    elif applied.get("memory.per_class") is not None:
        values["memory.total"] = None
    for key, value in applied.items():
        if key.startswith("methods."):
            _, method, param = key.split(".")
            method_params[method][param] = value
        else:
            values[key] = value

    if (values["memory.per_class"] is None) == (values["memory.total"] is None):
        raise UserError(f"preset {name!r}: set exactly one of memory.per_class and memory.total")
    for key in ("data.mean", "data.std"):
        if values[key] is not None and len(values[key]) not in (1, 3):
            raise UserError(f"{key} needs 1 or 3 numbers (one per channel), got {len(values[key])}")
    mean, std = values["data.mean"], values["data.std"]
    if mean is not None and std is not None and len(mean) != len(std):
        raise UserError(f"data.mean has {len(mean)} number(s) but data.std has {len(std)}: give "
                        "both one per channel (or one each for every channel)")
    if std is not None and any(v <= 0 for v in std):
        raise UserError(f"data.std must be positive numbers (got {list(std)}): it divides "
                        "every pixel")
    order = values["data.class_order"]
    if order is not None and sorted(order) != list(range(len(order))):
        raise UserError("data.class_order must list every class id 0..C-1 exactly once")

    return RunConfig(
        preset=name,
        reduced=bool(data.get("reduced", True)),
        description=str(data.get("description", "")),
        method_params=MappingProxyType({m: MappingProxyType(p) for m, p in method_params.items()}),
        overrides=MappingProxyType(dict(sorted(applied.items()))),
        preset_path=str(path.resolve()) if own_file else None,
        **{BY_KEY[k].field: v for k, v in values.items()},
    )


def _preset_values(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Dotted key -> typed value of every setting, from a preset's sections (with defaults)."""
    sections: dict[str, set[str]] = {}
    for s in SETTINGS:
        if "." in s.key:
            section, leaf = s.key.split(".", 1)
            sections.setdefault(section, set()).add(leaf)
    for section, leaves in sections.items():
        given = data.get(section) or {}
        if not isinstance(given, Mapping):
            raise UserError(f"preset {name!r}: '{section}' must be a mapping")
        unknown = set(given) - leaves
        if unknown:
            raise UserError(f"preset {name!r}: unknown keys in '{section}': {sorted(unknown)}; "
                            f"valid: {', '.join(sorted(leaves))}")
    values: dict[str, Any] = {}
    missing = []
    for s in SETTINGS:
        section, _, leaf = s.key.rpartition(".")
        container = (data.get(section) or {}) if section else data
        if leaf in container:
            values[s.key] = _coerce(s, container[leaf], f"preset {name!r}")
        elif s.default is _REQUIRED:
            missing.append(s.key)
        else:
            values[s.key] = s.default
    if missing:
        raise UserError(f"preset {name!r} misses settings: {', '.join(missing)}")
    return values


def _coerce_like(current: Any, raw: Any, key: str) -> Any:
    """A methods.<m>.<p> value typed like the preset's own value for it."""
    kind = ("bool" if isinstance(current, bool) else "int" if isinstance(current, int)
            else "float" if isinstance(current, float) else None)
    if current is None:  # no type to follow: a number, bool or null if it reads as one, else text
        try:
            value = _parse_text(raw, UserError(key)) if isinstance(raw, str) else raw
        except UserError:
            return raw
        return _check_untyped(key, value, "--set", raw)
    if kind is None:  # strings (e.g. EWC's mode): any text
        return str(raw)
    return _coerce(Setting(key, key, kind), raw, "--set")


def _check_untyped(key: str, value: Any, where: str, shown: Any = None) -> Any:
    """A methods.<m>.<p> value of no fixed type: any number in it must be finite, any integer
    within +-MAX_INT (the checks of the typed settings)."""
    shown = value if shown is None else shown
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, bool):
            continue
        if isinstance(item, float) and not math.isfinite(item):
            raise UserError(f"{where}: {key} must be a finite number (got {shown!r})")
        if isinstance(item, int) and abs(item) > MAX_INT:
            raise UserError(f"{where}: {key} must be an integer in {-MAX_INT}..{MAX_INT} "
                            f"(got {shown!r})")
    return value


def _preset_method_params(data: Mapping[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """The preset's methods section (method -> {name: value}), its numbers checked."""
    methods = data.get("methods") or {}
    if not isinstance(methods, Mapping):
        raise UserError(f"preset {name!r}: 'methods' must be a mapping")
    out: dict[str, dict[str, Any]] = {}
    for method, params in methods.items():
        if params is not None and not isinstance(params, Mapping):
            raise UserError(f"preset {name!r}: 'methods.{method}' must be a mapping")
        out[str(method)] = {str(p): _check_untyped(f"methods.{method}.{p}", v, f"preset {name!r}")
                            for p, v in (params or {}).items()}
    return out


def stream_settings(cfg: Any, **stream_kw: Any) -> dict[str, Any]:
    """StreamSpec keywords: the stream options plus the preset's data settings."""
    return dict(stream_kw, train_per_class=cfg.train_per_class, test_per_class=cfg.test_per_class,
                image_size=cfg.image_size, mean=cfg.mean, std=cfg.std, class_order=cfg.class_order,
                augment=cfg.augment,
                backbone=None if cfg.model_backbone == "auto" else cfg.model_backbone)


__all__ = ["BACKBONE_CHOICES", "BY_KEY", "KEYS_DOC", "MAX_INT", "MLP_BACKBONES", "PRESET_DIR",
           "PresetSource", "RunConfig", "SETTINGS", "Setting", "list_presets", "load_config",
           "parse_set", "preset_file", "read_preset", "scale_milestones", "stream_settings",
           "unknown_key", "valid_keys"]
