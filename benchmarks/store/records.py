"""The run record: one JSON file per (run, seed), its schema, atomic write, load, validation.

A run is a method, or a method with a grid variant (``compare --grid``): the settings of the
grid that reach it, kept in the record's ``variant`` and naming its folder,
``runs/<method>@<key>=<value>[,...]/seed<k>.json`` (``run_name``).

A record is only ever written complete (``benchmarks.store.io.atomic_write_json``), so a
file that fails validation is damage (disk full, manual edit, a foreign file), never a run in
progress; callers report it and redo the run, they never use it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from .io import atomic_write_json

SCHEMA_VERSION = 1

# Settings a --grid key changes besides itself (plan/config.py load_config's rules): a new epoch
# count rescales the lr milestones, one memory budget clears the other.
GRID_DERIVED: dict[str, tuple[str, ...]] = {
    "train.epochs": ("train.lr_milestones", "aanets.fusion_milestones"),
    "memory.total": ("memory.per_class",),
    "memory.per_class": ("memory.total",),
}

# Settings added after runs had been recorded, with the value every earlier run used: a run key
# holds such a setting only when it differs from this value, so finished runs keep their keys
# (and are not redone); a record without it is read as having run with this value.
ADDED_SETTINGS: dict[str, Any] = {
    "data.augment": True,
    "model.backbone": "auto",
}


def value_text(value: Any) -> str:
    """A setting's value as a variant names it: 0.0001, 2, true, null, [10,20], text as is."""
    if isinstance(value, str):
        return value
    return json.dumps(list(value) if isinstance(value, tuple) else value, separators=(",", ":"))


def variant_tag(variant: Mapping[str, Any] | Sequence[tuple[str, Any]] | None) -> str:
    """'aanets.fusion_lr=0.0001,train.epochs=2' (keys sorted); '' for no variant."""
    items = dict(variant or {})
    return ",".join(f"{k}={value_text(items[k])}" for k in sorted(items))


def run_name(method: str, variant: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None) -> str:
    """The name of a run's folders: the method, plus '@' and the variant's tag for a grid
    variant (``aanets-lucir@aanets.fusion_lr=0.0001``)."""
    tag = variant_tag(variant)
    return f"{method}@{tag}" if tag else method


def record_run_name(rec: Mapping[str, Any]) -> str:
    """The run name of a record (its method and grid variant)."""
    return run_name(rec["method"], rec.get("variant"))


def pick_run(wanted: str, names: Sequence[str], *, flag: str = "--versus",
             where: str = "this compare") -> str:
    """The run name ``wanted`` picks among ``names``: itself, or the only run of a method of
    that name; one UserError line when it names none or several (its grid variants)."""
    from ..errors import UserError

    if wanted in names:
        return wanted
    matching = [n for n in names if n.partition("@")[0] == wanted]
    if len(matching) == 1:
        return matching[0]
    if matching:
        raise UserError(f"{flag} {wanted}: it has {len(matching)} grid variants; name one: "
                        + ", ".join(matching))
    raise UserError(f"{flag} {wanted}: no runs of it in {where} (runs: "
                    f"{', '.join(names) or 'none'})")


class RecordError(Exception):
    """A run file that cannot be used (unreadable, not JSON, or not a valid record)."""


# key -> accepted types; lists are checked further below
_REQUIRED: dict[str, tuple[type, ...]] = {
    "schema_version": (int,),
    "status": (str,),
    "benchmark": (str,),
    "phases": (int,),
    "method": (str,),
    "seed": (int,),
    "preset": (str,),
    "reduced": (bool,),
    "run_key": (str,),
    "config": (dict,),
    "stream": (dict,),
    "memory": (dict,),
    "classes_seen": (list,),
    "accuracy": (list,),
    "exp_accuracy": (list,),
    "avg_incremental_accuracy": (float, int),
    "last_accuracy": (float, int),
    "wall_time_s": (float, int),
    "peak_rss_mb": (float, int),
    "versions": (dict,),
    "git_commit": (str,),
    "device": (str,),
}
_OPTIONAL_NUMBER = ("forgetting", "nme_avg_incremental_accuracy", "nme_last_accuracy",
                    "cuda_max_allocated_mb", "cpu_threads")


def _is_fraction(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and 0.0 <= x <= 1.0


def validate_record(rec: Any) -> dict[str, Any]:
    """Return ``rec`` if it is a complete, self-consistent run record, else raise RecordError."""
    if not isinstance(rec, dict):
        raise RecordError("not a JSON object")
    for key, types in _REQUIRED.items():
        if key not in rec:
            raise RecordError(f"missing field {key!r}")
        value = rec[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise RecordError(f"field {key!r} has the wrong type")
    if rec["schema_version"] != SCHEMA_VERSION:
        raise RecordError(f"schema version {rec['schema_version']} (expected {SCHEMA_VERSION})")
    if rec["status"] != "complete":
        raise RecordError(f"status is {rec['status']!r}, not 'complete'")
    n = rec["phases"] + 1
    if rec["phases"] < 0:
        raise RecordError("negative phase count")
    for key in ("accuracy", "classes_seen"):
        if len(rec[key]) != n:
            raise RecordError(f"{key!r} has {len(rec[key])} entries, expected {n}")
    if not all(_is_fraction(a) for a in rec["accuracy"]):
        raise RecordError("'accuracy' holds values outside [0, 1]")
    if not all(isinstance(c, int) and c > 0 for c in rec["classes_seen"]):
        raise RecordError("'classes_seen' must hold positive integers")
    rows = rec["exp_accuracy"]
    if len(rows) != n or any(not isinstance(r, list) or len(r) != i + 1 for i, r in enumerate(rows)):
        raise RecordError("'exp_accuracy' is not a lower-triangular phase x experience matrix")
    if not all(_is_fraction(a) for r in rows for a in r):
        raise RecordError("'exp_accuracy' holds values outside [0, 1]")
    nme = rec.get("nme_accuracy")
    if nme is not None and (not isinstance(nme, list) or len(nme) != n
                            or not all(_is_fraction(a) for a in nme)):
        raise RecordError("'nme_accuracy' is malformed")
    for key in _OPTIONAL_NUMBER:
        value = rec.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                  or not math.isfinite(value)):
            raise RecordError(f"field {key!r} is not a number")
    variant = rec.get("variant")
    if variant is not None and (not isinstance(variant, dict)
                                or not all(isinstance(k, str) for k in variant)):
        raise RecordError("'variant' must map setting keys to values")
    weights = rec.get("aggregation_weights")
    if weights is not None and (not isinstance(weights, list) or len(weights) != n):
        raise RecordError("'aggregation_weights' must have one entry per phase")
    expected_avg = sum(rec["accuracy"]) / n
    if abs(expected_avg - rec["avg_incremental_accuracy"]) > 1e-9:
        raise RecordError("'avg_incremental_accuracy' does not match the per-phase accuracies")
    if abs(rec["accuracy"][-1] - rec["last_accuracy"]) > 1e-12:
        raise RecordError("'last_accuracy' does not match the last phase")
    return rec


def save_record(path: Path, rec: dict[str, Any]) -> None:
    """Validate, then write atomically (a record that would not load is never written)."""
    atomic_write_json(path, validate_record(rec))


def _refuse_constant(name: str) -> Any:
    raise RecordError(f"holds the non-finite number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # e.g. 1e999
        _refuse_constant(text)
    return value


def load_record(path: Path) -> dict[str, Any]:
    """Read and validate a run file; RecordError says what is wrong with it. Any decode
    problem (not UTF-8, not JSON, NaN/Infinity) is damage, and so is a record whose method or
    seed is not the one its path names (a file copied to another run's place)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordError(f"cannot read: {exc.strerror or exc}") from None
    try:
        rec = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant,
                         parse_float=_finite_float)
    except UnicodeDecodeError as exc:
        raise RecordError(f"not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise RecordError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise RecordError("nested too deeply to be a run record") from None
    validate_record(rec)
    if record_run_name(rec) != path.parent.name:
        raise RecordError(f"it is a record of method {record_run_name(rec)!r} but lies in the "
                          f"folder of {path.parent.name!r}")
    if path.name != f"seed{rec['seed']}.json":
        raise RecordError(f"it is a record of seed {rec['seed']} but is named {path.name}")
    return rec


def with_added_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Run settings (RunSpec.settings(), dotted config keys) with every ADDED_SETTINGS key they
    lack at the value they ran with, for comparing two runs' settings."""
    config = settings.get("config")
    if not isinstance(config, Mapping) or "train.epochs" not in config:
        return dict(settings)  # not the dotted form (a record made before settings were kept)
    return dict(settings, config={**ADDED_SETTINGS, **config})


def settings_from_record(rec: dict[str, Any]) -> dict[str, Any]:
    """The settings dict of the run (runner.RunSpec.settings(), stored in the record; rebuilt
    from its fields for a record made before it was stored)."""
    if isinstance(rec.get("settings"), dict):
        return rec["settings"]
    stream = rec.get("stream") or {}
    return {"benchmark": rec["benchmark"], "phases": rec["phases"], "method": rec["method"],
            "seed": rec["seed"], "device": rec["device"],
            "base_classes": stream.get("base_classes"),
            "class_order_seed": stream.get("class_order_seed"), "config": rec["config"],
            "schema": rec["schema_version"]}


def record_path(out_dir: Path, method: str, seed: int) -> Path:
    """<out>/runs/<method>/seed<k>.json (``method``: a run name, run_name())"""
    return Path(out_dir) / "runs" / method / f"seed{seed}.json"


def find_record_files(out_dir: Path) -> list[Path]:
    """Every run file under <out>/runs, sorted."""
    return sorted((Path(out_dir) / "runs").glob("*/seed*.json"))


def usable_records(out_dir: Path) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """The valid run records under <out>/runs and (path, reason) of every unusable file."""
    records, problems = [], []
    for path in find_record_files(out_dir):
        try:
            records.append(load_record(path))
        except RecordError as exc:
            problems.append((path, str(exc)))
    return records, problems


# ------------------------------------------------------------------ diverged runs
# A run whose loss stopped being finite has no numbers and no record. A small note under
# <out>/diverged/ keeps what happened, so tables rebuilt later from the folder still name it;
# the run's next success removes it.


def divergence_path(out_dir: Path, method: str, seed: int) -> Path:
    """<out>/diverged/<method>/seed<k>.json"""
    return Path(out_dir) / "diverged" / method / f"seed{seed}.json"


def save_divergence(out_dir: Path, method: str, seed: int, run_key: str | None,
                    message: str) -> None:
    atomic_write_json(divergence_path(out_dir, method, seed),
                      {"method": method, "seed": seed, "run_key": run_key, "message": message})


def store_record(out_dir: Path, rec: dict[str, Any]) -> None:
    """Write a finished run's record in its place; a divergence note of an earlier attempt of
    the run no longer holds and goes."""
    name = record_run_name(rec)
    save_record(record_path(out_dir, name, rec["seed"]), rec)
    divergence_path(out_dir, name, rec["seed"]).unlink(missing_ok=True)


def find_divergences(out_dir: Path) -> list[dict[str, Any]]:
    """The divergence notes of ``out_dir`` whose run has no record, sorted by method and seed;
    a note that is not one (unreadable, another shape) is left out."""
    notes = []
    for path in sorted((Path(out_dir) / "diverged").glob("*/seed*.json")):
        try:
            note = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            continue
        if not (isinstance(note, dict) and isinstance(note.get("method"), str)
                and type(note.get("seed")) is int and isinstance(note.get("message"), str)):
            continue
        if note["method"] == path.parent.name and path.name == f"seed{note['seed']}.json" \
                and not record_path(out_dir, note["method"], note["seed"]).exists():
            notes.append(note)
    return notes


def average_forgetting(exp_accuracy: list[list[float]]) -> float | None:
    """Standard average forgetting (Chaudhry et al. 2018) from the lower-triangular matrix
    ``a[i][j]`` = accuracy on experience j after phase i: for each experience j < T (T = last
    phase), the best accuracy it ever had before the last phase minus its last accuracy,
    averaged over those experiences. None when there is only one phase."""
    last = len(exp_accuracy) - 1
    if last < 1:
        return None
    drops = []
    for j in range(last):
        best = max(exp_accuracy[i][j] for i in range(j, last))
        drops.append(best - exp_accuracy[last][j])
    return sum(drops) / len(drops)
