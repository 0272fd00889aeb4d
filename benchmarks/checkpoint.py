"""Per-phase checkpoints that work for any Avalanche strategy (AANets and the built-ins).

What is saved: the strategy's whole attribute dict (model, optimizer, plugins and their state,
clock, strategy-specific fields such as DER's buffer) in ONE pickle, so shared references
(optimizer -> model parameters, scheduler -> optimizer, old model copies) survive; plus the
global RNG states (python, numpy, torch, cuda) and the harness's metrics so far.

What is not saved: objects the resumed process rebuilds identically. They are written as
references and resolved against the fresh objects on load:
  * "shared" objects: the benchmark, its streams, experiences and datasets down to the leaf
    datasets that hold the images (exemplar buffers are subsets of those; without this a
    checkpoint would carry a copy of the whole training set);
  * "transient" objects: the evaluator and progress bars, which belong to the current process.
This is the idea of Avalanche 0.6.0's ``avalanche.checkpointing`` (pickle the strategy,
de-duplicate unique objects) without its requirement that every dataset class be registered
for constructor-based serialization, which the harness's own datasets are not. We use the
standard pickle, not dill: dill 0.4 cannot pickle a torch 2.14 optimizer. Consequence: a
strategy holding a lambda or a local class cannot be checkpointed; the runner then warns and
carries on without checkpoints.

Checkpoints are written atomically (``benchmarks.io``); a checkpoint that fails to
load is reported by the caller and ignored (the run restarts from phase 0).
"""

from __future__ import annotations

import pickle
import random
import threading
import types
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from .io import atomic_write_with, leftover_temp_files

FORMAT_VERSION = 1

# Names of strategy attributes that only live inside a train/eval call; reset on restore.
_PER_CALL_ATTRS = ("experience", "adapted_dataset", "dataloader", "mbatch", "mb_output",
                   "current_eval_stream", "_eval_streams")


class CheckpointError(Exception):
    """The checkpoint cannot be written or restored."""


# --------------------------------------------------------------------------- reference pickling

_load_context = threading.local()


def _resolve_reference(kind: str, index: int) -> Any:
    """Called by the unpickler for every object saved as a reference."""
    table = getattr(_load_context, kind, None)
    if table is None or index >= len(table):
        raise CheckpointError(f"checkpoint refers to {kind} object #{index}, which does not exist now")
    return table[index]


class _Pickler(pickle.Pickler):
    """Pickler that writes known objects as references (see module docstring)."""

    references: dict[int, tuple[str, int]] = {}

    def reducer_override(self, obj: Any) -> Any:
        ref = self.references.get(id(obj))
        if ref is not None:
            return _resolve_reference, ref
        return NotImplemented


def _pickle_module(references: dict[int, tuple[str, int]]) -> Any:
    """A pickle-module stand-in for torch.save whose Pickler knows ``references``."""
    pickler = type("_BoundPickler", (_Pickler,), {"references": references})
    module = types.ModuleType("benchmarks_checkpoint_pickle")
    module.Pickler = pickler
    module.Unpickler = pickle.Unpickler
    module.dump, module.dumps = pickle.dump, pickle.dumps
    module.load, module.loads = pickle.load, pickle.loads
    module.HIGHEST_PROTOCOL = pickle.HIGHEST_PROTOCOL
    return module


def shared_objects(benchmark: Any) -> list[Any]:
    """Deterministic list of the benchmark's objects a checkpoint may refer to instead of copying.

    Building the same benchmark again in another process yields the same list in the same
    order, which is what lets references be resolved on load.
    """
    out: list[Any] = []
    seen: set[int] = set()

    def add(obj: Any) -> None:
        if obj is None or id(obj) in seen or isinstance(obj, (list, tuple, dict, str, int, float)):
            return
        seen.add(id(obj))
        out.append(obj)
        flat = getattr(obj, "_flat_data", None)
        if flat is not None:
            add(flat)
        for child in getattr(obj, "_datasets", None) or ():
            add(child)

    add(benchmark)
    streams = getattr(benchmark, "streams", None) or {}
    for name in sorted(streams):
        stream = streams[name]
        add(stream)
        try:
            experiences = list(stream)
        except TypeError:
            continue
        for exp in experiences:
            add(exp)
            add(getattr(exp, "dataset", None))
    return out


# --------------------------------------------------------------------------- RNG state


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- save / load


def _references(shared: list[Any], transient: list[Any]) -> dict[int, tuple[str, int]]:
    refs = {id(o): ("shared", i) for i, o in enumerate(shared)}
    refs.update({id(o): ("transient", i) for i, o in enumerate(transient)})
    return refs


def save_checkpoint(path: Path, strategy: Any, extra: dict[str, Any], *,
                    shared: list[Any], transient: Iterable[Any] = ()) -> None:
    """Atomically write the strategy's state + RNG states + ``extra`` (harness metrics)."""
    transient = list(transient)
    state = {k: v for k, v in vars(strategy).items() if k not in _PER_CALL_ATTRS}
    payload = {"format": FORMAT_VERSION, "strategy_class": type(strategy).__qualname__,
               "strategy_state": state, "rng": rng_state(), "extra": extra}
    references = _pickle_module(_references(shared, transient))
    try:
        atomic_write_with(path, lambda fh: torch.save(payload, fh, pickle_module=references,
                                                      pickle_protocol=4))
    except Exception as exc:
        if isinstance(exc, OSError):
            raise
        raise CheckpointError(f"{type(exc).__name__}: {exc}") from exc


def load_checkpoint(path: Path, strategy: Any, *, shared: list[Any],
                    transient: Iterable[Any] = ()) -> dict[str, Any]:
    """Restore ``strategy`` (freshly built by the same factory) and the RNG states in place;
    return the ``extra`` dict that was saved. Raises CheckpointError if unusable."""
    _load_context.shared = list(shared)
    _load_context.transient = list(transient)
    try:
        payload = torch.load(Path(path), weights_only=False, map_location=None)
    except CheckpointError:
        raise
    except Exception as exc:  # corrupt / truncated / foreign file
        raise CheckpointError(f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    finally:
        _load_context.shared = None
        _load_context.transient = None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise CheckpointError("unknown checkpoint format")
    if payload.get("strategy_class") != type(strategy).__qualname__:
        raise CheckpointError(f"checkpoint is for {payload.get('strategy_class')}, "
                              f"not {type(strategy).__qualname__}")
    vars(strategy).update(payload["strategy_state"])
    set_rng_state(payload["rng"])
    return payload["extra"]


def checkpoint_path(out_dir: Path, method: str, seed: int) -> Path:
    """<out>/checkpoints/<method>/seed<k>.pt (only the latest finished phase is kept)."""
    return Path(out_dir) / "checkpoints" / method / f"seed{seed}.pt"


def remove_checkpoint(path: Path) -> None:
    """Delete a run's checkpoint (and its folders when empty) once the record is final."""
    path = Path(path)
    for stale in [path, *leftover_temp_files(path)]:  # + leftovers of a kill
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
    for folder in (path.parent, path.parent.parent):
        try:
            folder.rmdir()
        except OSError:
            break
