"""Per-phase checkpoints that cannot execute code, for any registered method.

Why this design: a checkpoint lives in an output folder that others may share, so loading one
must never run code from the file. Every method's state (AANets and the Avalanche baselines:
replay buffers, DER logits, EWC importances, LwF/BiC old models, iCaRL class means) is an object
graph, and rebuilding each of them by hand from state_dicts would be a second implementation
of every strategy. Instead the strategy's attribute dict is saved with ``torch.save`` (pickle
protocol 2) and loaded with ``torch.load(weights_only=True)``: PyTorch's restricted unpickler,
which builds only tensors, plain containers and the classes on ``ALLOWED_GLOBALS`` below
(created with ``__new__`` and filled with their saved attributes; no function outside the list
is ever called). ``os.system``, ``builtins.exec`` and everything else not listed is refused
before it runs.

Objects the resumed process rebuilds identically are not copied but written as references
(``_resolve_reference(kind, index)``, the one function on the list) and resolved against the
fresh objects on load:
  * "shared": the benchmark, its streams, experiences and datasets down to the leaf datasets
    that hold the images (exemplar buffers are subsets of those);
  * "transient": the evaluator and progress bars, which belong to the current process.

A checkpoint is verified after writing (loaded back with the same safe loader, tensors mapped,
not read) and only then moved into place, so a state that the safe loader would refuse (a
class missing from the list, e.g. a new method's) is reported when saving, not at resume.

Also saved: the RNG states as plain data, the run's settings (for a clear refusal when the
same folder is reused with other settings), the CPU thread count, and the harness's metrics.
"""

from __future__ import annotations

import collections
import functools
import importlib
import pickle
import random
import threading
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from .io import atomic_write_with

FORMAT_VERSION = 2
PICKLE_PROTOCOL = 2  # the protocol torch's weights_only unpickler reads

# Names of strategy attributes that only live inside a train/eval call; reset on restore.
_PER_CALL_ATTRS = ("experience", "adapted_dataset", "dataloader", "mbatch", "mb_output",
                   "current_eval_stream", "_eval_streams")

# Every class a registered method's state holds ("module.qualname"). Only classes: the safe
# loader creates them with __new__ and sets their saved attributes, never calling __init__
# except through REDUCE of a listed class (constructors of modules, optimizers, datasets:
# none runs code given to it). tests/test_checkpoint.py saves and resumes every registered
# method, so a class missing here fails a test, and at run time is reported when saving.
ALLOWED_GLOBALS: tuple[str, ...] = (
    # torch: modules, optimizer, schedulers, mixed precision
    "torch.nn.modules.activation.ReLU", "torch.nn.modules.batchnorm.BatchNorm1d",
    "torch.nn.modules.batchnorm.BatchNorm2d",
    "torch.nn.modules.container.ModuleList", "torch.nn.modules.container.ParameterList",
    "torch.nn.modules.container.Sequential", "torch.nn.modules.conv.Conv2d",
    "torch.nn.modules.flatten.Flatten", "torch.nn.modules.linear.Linear",
    "torch.nn.modules.linear.Identity",
    "torch.nn.modules.loss.BCELoss", "torch.nn.modules.loss.CrossEntropyLoss",
    "torch.nn.modules.pooling.AdaptiveAvgPool2d", "torch.nn.modules.pooling.MaxPool2d",
    "torch.optim.sgd.SGD",
    "torch.optim.lr_scheduler.MultiStepLR", "torch.optim.lr_scheduler.CosineAnnealingLR",
    "torch.amp.grad_scaler.GradScaler",
    "torch.amp.grad_scaler.OptState", "torch.amp.grad_scaler._refresh_per_optimizer_state",
    "torch.utils.data._utils.collate.default_collate",
    # our library and harness
    "aanets_avalanche.augment.BatchAugmentPlugin", "aanets_avalanche.augment.BatchAugmentation",
    "aanets_avalanche.augment.InputNormalization",
    "aanets_avalanche.features.ClassifierInputCapture",
    "aanets_avalanche.levels.LevelOutputCapture",
    "aanets_avalanche.models.aggregated.AggregatedBackbone",
    "aanets_avalanche.models.aggregated.ScaledFrozenConv2d",
    "aanets_avalanche.models.cosine.CosineClassifier",
    "aanets_avalanche.models.cosine.CosineIncrementalNet",
    "aanets_avalanche.models.resnet.Backbone", "aanets_avalanche.models.resnet.BasicBlock",
    "aanets_avalanche.models.lsc.LocalSimilarityClassifier",
    "aanets_avalanche.models.lsc.ProxyIncrementalNet",
    "aanets_avalanche.models.podnet_resnet.StrideShortcut",
    "aanets_avalanche.nca.NCALoss",
    "aanets_avalanche.plugins.finetune.BalancedFinetunePlugin",
    "aanets_avalanche.plugins.pod.PODDistillationPlugin",
    "aanets_avalanche.plugins.aggregation.AggregationUpdatePlugin",
    "aanets_avalanche.plugins.herding.HerdingMemoryPlugin",
    "aanets_avalanche.plugins.icarl.ICaRLDistillationPlugin",
    "aanets_avalanche.plugins.lucir.LUCIRDistillationPlugin",
    "benchmarks.methods.common.FeatureClassifier",
    "benchmarks.methods.bic.BiasCorrectionPlugin",
    "benchmarks.methods.der.DarkExperienceReplayPlugin",
    "benchmarks.methods.lwf.LwFDistillationPlugin",
    "benchmarks.methods.new_classes.NewClassesCrossEntropy",
    # Avalanche 0.6: strategies' plugins, buffers and the datasets wrapping ours
    "avalanche.benchmarks.utils.classification_dataset.TaskAwareSupervisedClassificationDataset",
    "avalanche.benchmarks.utils.data.AvalancheDataset",
    "avalanche.benchmarks.utils.data._FlatDataWithTransform",
    "avalanche.benchmarks.utils.data_attribute.DataAttribute",
    "avalanche.benchmarks.utils.flat_data.ConstantSequence",
    "avalanche.benchmarks.utils.flat_data.FlatData",
    "avalanche.benchmarks.utils.flat_data.LazyIndices",
    "avalanche.benchmarks.utils.transform_groups.EmptyTransformGroups",
    "avalanche.benchmarks.utils.transform_groups.identity",
    "avalanche.evaluation.metrics.mean.Mean", "avalanche.models.bic_model.BiasLayer",
    "avalanche.models.dynamic_modules.IncrementalClassifier",
    "avalanche.models.dynamic_modules.TrainEvalModel",
    "avalanche.models.ncm_classifier.NCMClassifier",
    "avalanche.training.losses.ICaRLLossPlugin", "avalanche.training.plugins.bic.BiCPlugin",
    "avalanche.training.plugins.clock.Clock", "avalanche.training.plugins.ewc.EWCPlugin",
    "benchmarks.methods.ewc.BoundedFisherEWCPlugin",
    "avalanche.training.plugins.lr_scheduling.LRSchedulerPlugin",
    "avalanche.training.plugins.lwf.LwFPlugin", "avalanche.training.plugins.replay.ReplayPlugin",
    "avalanche.training.regularization.LearningWithoutForgetting",
    "avalanche.training.storage_policy.ClassBalancedBuffer",
    "avalanche.training.storage_policy.ExperienceBalancedBuffer",
    "avalanche.training.storage_policy.ReservoirSamplingBuffer",
    "avalanche.training.supervised.der.ClassBalancedBufferWithLogits",
    "avalanche.training.supervised.icarl._ICaRLPlugin",
    "avalanche.training.templates.base_sgd.PeriodicEval", "avalanche.training.utils.ParamData",
    # Python and NumPy values inside those (range indices, index arrays, partial transforms)
    "builtins.range", "builtins.dict", "builtins.int", "builtins.list", "functools.partial",
    "numpy.ndarray", "numpy.dtype", "numpy._core.multiarray._reconstruct",
    # NumPy 2 pickles a dtype by its class (Cumulative's concatenated index arrays hold int64)
    "numpy.dtypes.Int64DType", "numpy.dtypes.Int32DType", "numpy.dtypes.UInt8DType",
    "numpy.dtypes.BoolDType", "numpy.dtypes.Float32DType", "numpy.dtypes.Float64DType",
)

# Plain torch functions some states hold (EWC's ParamData keeps torch.zeros as its init
# function); pickle would write them as getattr(torch._C..., name), and getattr must never be
# callable from a file, so they are saved by name and looked up in this fixed table.
_TORCH_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "zeros": torch.zeros, "ones": torch.ones, "empty": torch.empty, "zeros_like": torch.zeros_like,
    "ones_like": torch.ones_like, "empty_like": torch.empty_like, "randn": torch.randn,
}
_TORCH_FUNCTION_NAMES = {id(f): name for name, f in _TORCH_FUNCTIONS.items()}


class CheckpointError(Exception):
    """The checkpoint cannot be written or restored."""


class UnsafeCheckpoint(CheckpointError):
    """The safe loader refused the file: it asks for something not allowed (or is damaged)."""


# --------------------------------------------------------------------------- references

_load_context = threading.local()


def _resolve_reference(kind: str, index: int) -> Any:
    """Called by the unpickler for every object saved as a reference."""
    if kind not in ("shared", "transient"):
        raise CheckpointError(f"checkpoint refers to an unknown kind of object {kind!r}")
    if getattr(_load_context, "placeholders", False):
        return None  # reading the metadata only: the referenced objects are not needed
    table = getattr(_load_context, kind, None)
    if table is None or not isinstance(index, int) or not 0 <= index < len(table):
        raise CheckpointError(f"checkpoint refers to {kind} object #{index}, which does not exist now")
    return table[index]


def _torch_function(name: str) -> Callable[..., Any]:
    """Called by the unpickler for a torch function saved by name (see _TORCH_FUNCTIONS)."""
    try:
        return _TORCH_FUNCTIONS[name]
    except (KeyError, TypeError):
        raise CheckpointError(f"checkpoint names an unknown torch function {name!r}") from None


def _defaultdict(factory: Any, items: dict) -> collections.defaultdict:
    """Called by the unpickler for a defaultdict (the safe loader only fills plain dicts)."""
    return collections.defaultdict(factory, items)


class _Pickler(pickle.Pickler):
    """Pickler that writes known objects as references (see module docstring), defaultdicts as
    a factory + plain dict, and the few plain torch functions by name."""

    references: dict[int, tuple[str, int]] = {}

    def reducer_override(self, obj: Any) -> Any:
        ref = self.references.get(id(obj))
        if ref is not None:
            return _resolve_reference, ref
        if type(obj) is collections.defaultdict:
            return _defaultdict, (obj.default_factory, dict(obj))
        name = _TORCH_FUNCTION_NAMES.get(id(obj))
        if name is not None:
            return _torch_function, (name,)
        return NotImplemented


def _pickle_module(references: dict[int, tuple[str, int]]) -> types.ModuleType:
    """A pickle-module stand-in for torch.save whose Pickler knows ``references``."""
    module = types.ModuleType("benchmarks_checkpoint_pickle")
    module.Pickler = type("_BoundPickler", (_Pickler,), {"references": references})
    module.Unpickler = pickle.Unpickler
    module.dump, module.dumps = pickle.dump, pickle.dumps
    module.load, module.loads = pickle.load, pickle.loads
    module.HIGHEST_PROTOCOL = pickle.HIGHEST_PROTOCOL
    return module


def _references(shared: list[Any], transient: list[Any]) -> dict[int, tuple[str, int]]:
    refs = {id(o): ("shared", i) for i, o in enumerate(shared)}
    refs.update({id(o): ("transient", i) for i, o in enumerate(transient)})
    return refs


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


@functools.lru_cache(maxsize=1)
def allowed_globals() -> tuple[Any, ...]:
    """The objects named in ALLOWED_GLOBALS (imported from our own list, never from a file),
    plus this module's three loader helpers."""
    out: list[Any] = [_resolve_reference, _torch_function, _defaultdict]
    for full_name in ALLOWED_GLOBALS:
        module_name, _, name = full_name.rpartition(".")
        out.append((getattr(importlib.import_module(module_name), name), full_name))
    return tuple(out)


# --------------------------------------------------------------------------- RNG state (plain data)


def rng_state() -> dict[str, Any]:
    """Global RNG states as tensors and plain numbers (no numpy objects in the file)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                  float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- save / load


def _safe_load(path: Path, *, shared: list[Any] | None, transient: list[Any] | None,
               mmap: bool = False) -> Any:
    """torch.load(weights_only=True) with our allowlist; references resolved against the
    given tables (None: resolved to None, for reading the metadata only)."""
    _load_context.placeholders = shared is None
    _load_context.shared = shared
    _load_context.transient = transient
    try:
        with torch.serialization.safe_globals(list(allowed_globals())), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "protocol 4" for a foreign file: refused anyway
            return torch.load(Path(path), weights_only=True, mmap=mmap,
                              map_location="cpu" if mmap else None)
    except CheckpointError:
        raise
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpoint(f"refused by the safe loader: {_first_line(exc)}") from None
    except Exception as exc:  # truncated / not a zip / foreign file
        raise CheckpointError(f"unreadable ({type(exc).__name__}: {_first_line(exc)})") from None
    finally:
        _load_context.placeholders = False
        _load_context.shared = None
        _load_context.transient = None


_TORCH_ADVICE = ("Weights only load failed", "(1)", "(2)", "Check the documentation",
                 "Please file an issue")


def _first_line(exc: BaseException) -> str:
    """The informative line of an exception (torch's weights-only errors bury it in advice)."""
    text = str(exc).split("WeightsUnpickler error:", 1)[-1]
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.strip().startswith(_TORCH_ADVICE)]
    return (lines[0] if lines else type(exc).__name__).split(". ")[0][:300]  # first sentence


def save_checkpoint(path: Path, strategy: Any, meta: dict[str, Any], extra: dict[str, Any], *,
                    shared: list[Any], transient: Iterable[Any] = ()) -> None:
    """Atomically write the strategy's state + RNG states + ``meta`` (run settings, plain
    data) + ``extra`` (harness metrics); the file is verified loadable before it replaces the
    previous checkpoint."""
    transient = list(transient)
    state = {k: v for k, v in vars(strategy).items() if k not in _PER_CALL_ATTRS}
    payload = {"format": FORMAT_VERSION, "meta": meta,
               "strategy_class": type(strategy).__qualname__,
               "strategy_state": state, "rng": rng_state(), "extra": extra}
    module = _pickle_module(_references(shared, transient))

    def write(fh) -> None:
        try:
            torch.save(payload, fh, pickle_module=module, pickle_protocol=PICKLE_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"cannot serialize the state ({type(exc).__name__}: "
                                  f"{_first_line(exc)})") from None

    def verify(tmp: Path) -> None:
        try:
            _safe_load(tmp, shared=shared, transient=transient, mmap=True)
        except CheckpointError as exc:
            raise CheckpointError(f"the safe loader would not load it back: {exc}") from None

    atomic_write_with(Path(path), write, verify=verify)


def load_checkpoint(path: Path, strategy: Any, *, shared: list[Any],
                    transient: Iterable[Any] = (),
                    adopt: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Restore ``strategy`` (freshly built by the same factory) and the RNG states in place;
    return (meta, extra) as saved. ``adopt`` maps the saved attributes first (a base phase
    saved by another method of the group, base_phase.py). Raises CheckpointError
    (UnsafeCheckpoint when refused)."""
    payload = _safe_load(path, shared=list(shared), transient=list(transient))
    _check_payload(payload)
    if payload.get("strategy_class") != type(strategy).__qualname__:
        raise CheckpointError(f"checkpoint is for {payload.get('strategy_class')}, "
                              f"not {type(strategy).__qualname__}")
    state = payload["strategy_state"]
    vars(strategy).update(state if adopt is None else adopt(state))
    set_rng_state(payload["rng"])
    return payload["meta"], payload["extra"]


def read_checkpoint_meta(path: Path) -> dict[str, Any]:
    """The run settings a checkpoint was written with, read with the same safe loader
    (tensors memory-mapped, not read; references not resolved)."""
    payload = _safe_load(path, shared=None, transient=None, mmap=True)
    _check_payload(payload)
    return payload["meta"]


def _check_payload(payload: Any) -> None:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise CheckpointError("unknown checkpoint format")
    if not isinstance(payload.get("meta"), dict):
        raise CheckpointError("checkpoint has no settings")


def checkpoint_path(out_dir: Path, method: str, seed: int) -> Path:
    """<out>/checkpoints/<method>/seed<k>.pt (only the latest finished phase is kept)."""
    return Path(out_dir) / "checkpoints" / method / f"seed{seed}.pt"


def find_checkpoints(out_dir: Path) -> list[Path]:
    """Every checkpoint under <out>/checkpoints, sorted."""
    return sorted((Path(out_dir) / "checkpoints").glob("*/seed*.pt"))


def remove_checkpoint(path: Path) -> None:
    """Delete a finished run's checkpoint (and its folders when empty): the record written
    just before holds everything it had to say."""
    path = Path(path)
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    for folder in (path.parent, path.parent.parent):
        try:
            folder.rmdir()
        except OSError:
            break
