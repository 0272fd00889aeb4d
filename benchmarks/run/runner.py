"""One run = (benchmark, method, seed, preset): train phase by phase, evaluate on all classes
seen so far, checkpoint after every phase, write the run record.

Resuming: if a checkpoint of the same run (same run key) exists, the strategy, the global RNG
states and the metrics so far are restored and training continues with the next phase; on CPU
the numbers are the same as those of an uninterrupted run with the same CPU thread count, so
the count is recorded and a CPU resume under another count is refused. A checkpoint with other
settings is refused too (never deleted); one that cannot be loaded safely is set aside.
"""

from __future__ import annotations

import platform
import re
import resource
import subprocess
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from tqdm.auto import tqdm

from ..store.checkpoint import (CheckpointError, checkpoint_path, load_checkpoint, remove_checkpoint,
                         save_checkpoint, shared_objects)
from ..errors import RunDiverged, UserError
from ..methods import get_method, memory_plan
from .base_phase import adopt_base_phase, save_base_phase
from .progress import EpochProgress, phase_line
from ..store.outdir import cpu_mismatch, set_aside, settings_difference
from .cpu import cpu_kernels, cpu_threads
from ..store.records import SCHEMA_VERSION, average_forgetting, save_divergence, store_record
from ..plan.cells import RunSpec
from .runtime import apply as apply_speed_options

_EXP_KEY = re.compile(r"^Top1_Acc_Exp/eval_phase/test_stream/Task\d+/Exp(\d+)$")
_STREAM_PREFIX = "Top1_Acc_Stream/eval_phase/test_stream"
_NME_PREFIX = "Top1_NME_Acc_Stream/eval_phase/test_stream"


def check_resumable(meta: dict[str, Any], spec: RunSpec, ckpt: Path) -> None:
    """UserError unless the checkpoint was written by this run with this thread count and
    these CPU kernels (CPU)."""
    if meta.get("run_key") != spec.key():
        saved = meta.get("settings") if isinstance(meta.get("settings"), dict) else {}
        raise UserError(f"{ckpt} (unfinished run) was made with other settings: "
                        f"{settings_difference(saved, spec.settings())}; use another --out, or "
                        "the settings it was made with")
    if spec.device == "cpu":
        refusal = cpu_mismatch(meta, ckpt, threads=cpu_threads(), kernels=cpu_kernels())
        if refusal is not None:
            raise refusal


# ----------------------------------------------------------------------------- environment


def divergence_hint(spec: RunSpec) -> str:
    """What to change, naming the --set keys: the lr, and the method's own weights."""
    lr = spec.config.lr
    own = [f"methods.{part}.{name}" for part in (spec.method, *spec.method.split("-"))
           for name, value in spec.config.method_params.get(part, {}).items()
           if isinstance(value, float) and not isinstance(value, bool)]
    weights = f" or its weights ({', '.join(dict.fromkeys(own))})" if own else ""
    return (f"lower its lr (--set train.lr={lr / 2:g}){weights}, or leave the method out "
            "(--methods)")


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """All global generators (python, numpy, torch, cuda) + cuDNN's algorithm choice:
    deterministic (the same numbers on every run) or benchmarked (cudnn.benchmark: the fastest
    algorithm per shape, whose choice may change the numbers from run to run)."""
    from avalanche.training.determinism.rng_manager import RNGManager
    RNGManager.set_random_seeds(seed)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when available else 'cpu'; anything else is returned checked."""
    from ..errors import UserError
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise UserError(f"unknown device {device!r}; use auto, cpu or cuda")
    return device


def package_versions() -> dict[str, str]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "unknown"
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": version("torchvision"), "avalanche": version("avalanche-lib")}


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else "unknown"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# ----------------------------------------------------------------------------- evaluation


def build_evaluator(nme: bool):
    """Metrics the harness reads (stream + per-experience accuracy, NME when available), and no
    loggers: Avalanche's per-iteration output stays off; progress comes from tqdm."""
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.training.plugins import EvaluationPlugin
    metrics = list(accuracy_metrics(stream=True, experience=True))
    if nme:
        from aanets_avalanche.metrics import nme_accuracy_metrics
        metrics += list(nme_accuracy_metrics(stream=True))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No loggers specified")
        return EvaluationPlugin(*metrics, loggers=[], collect_all=False)


def attach_loggers(evaluator: Any, kinds: Sequence[str], folder: Path, *, run_name: str,
                   config: dict[str, Any]) -> list[Any]:
    """Add the training metrics and one Avalanche logger per kind to the run's evaluator (no-op
    without kinds: the default run computes only what the record needs)."""
    if not kinds:
        return []
    from .run_logging import make_loggers, training_metrics
    loggers = make_loggers(kinds, folder, run_name=run_name, config=config)
    evaluator.metrics.extend(training_metrics())
    evaluator.loggers.extend(loggers)
    return loggers


def close_loggers(loggers: Sequence[Any]) -> None:
    if loggers:
        from .run_logging import close_loggers as close
        close(loggers)


def phase_metrics(results: dict[str, Any], phase: int) -> dict[str, Any]:
    """Pick the harness's numbers out of ``strategy.eval`` results for phase ``phase``."""
    stream = [v for k, v in results.items() if k.startswith(_STREAM_PREFIX)]
    if len(stream) != 1:
        raise RuntimeError(f"expected one stream accuracy in the eval results, got {len(stream)}")
    per_exp: dict[int, float] = {}
    for key, value in results.items():
        match = _EXP_KEY.match(key)
        if match:
            per_exp[int(match.group(1))] = float(value)
    if sorted(per_exp) != list(range(phase + 1)):
        raise RuntimeError(f"per-experience accuracies for experiences {sorted(per_exp)}, "
                           f"expected 0..{phase}")
    nme = [v for k, v in results.items() if k.startswith(_NME_PREFIX)]
    return {"accuracy": float(stream[0]), "exp_accuracy": [per_exp[j] for j in range(phase + 1)],
            "nme_accuracy": float(nme[0]) if nme else None}


# ----------------------------------------------------------------------------- the run


def run_one(spec: RunSpec, bench: Any, out_dir: Path, *, command: str = "",
            progress: bool | str = True, notify: Callable[[str], None] = print,
            after_phase: Callable[[RunSpec, int], None] | None = None,
            echo: Callable[[str], None] = print, log: Sequence[str] = (),
            write_record: bool = True) -> dict[str, Any]:
    """Train and evaluate one run, resuming from its checkpoint if there is one; write and
    return the record. ``after_phase(spec, i)`` is called once phase i is checkpointed (tests
    use it to simulate an interruption). ``progress``: "bars", "lines" (one ``echo`` per phase),
    "off" (or True/False for bars/off); ``log``: Avalanche loggers by name (run_logging.py).
    ``write_record=False`` only returns the record: a remote executor's driver writes it, so
    results need no shared filesystem. A run that diverges leaves a note instead of a record
    (records.save_divergence), which the tables list; its next success removes it."""
    mode = progress if isinstance(progress, str) else ("bars" if progress else "off")
    info = get_method(spec.method)
    cfg = spec.config
    seed_everything(spec.seed, spec.speed.deterministic is not False)
    if spec.device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    evaluator = build_evaluator(info.nme)
    strategy = info.factory(cfg, bench, torch.device(spec.device), evaluator)
    execution = apply_speed_options(strategy, spec.speed, bench)
    epoch_bar = EpochProgress(mode == "bars")
    strategy.plugins.append(epoch_bar)
    transient: list[Any] = [evaluator, epoch_bar]

    ckpt = checkpoint_path(out_dir, spec.name, spec.seed)  # name: method[@grid variant]
    shared = shared_objects(bench.benchmark)
    done: dict[str, Any] = {"phase": -1, "accuracy": [], "exp_accuracy": [], "nme_accuracy": [],
                            "aggregation_weights": [], "phase_times": [], "resumed_at": []}
    if ckpt.exists():
        try:
            meta, extra = load_checkpoint(ckpt, strategy, shared=shared, transient=transient)
        except CheckpointError as exc:
            kept = set_aside(ckpt)
            notify(f"warning: checkpoint {ckpt} is unusable ({exc}); kept as {kept.name}, "
                   "the run restarts from phase 0")
            seed_everything(spec.seed, spec.speed.deterministic is not False)
            evaluator = build_evaluator(info.nme)
            strategy = info.factory(cfg, bench, torch.device(spec.device), evaluator)
            execution = apply_speed_options(strategy, spec.speed, bench)
            strategy.plugins.append(epoch_bar)
            transient = [evaluator, epoch_bar]
        else:
            check_resumable(meta, spec, ckpt)
            done = extra["done"]
            done["resumed_at"].append(done["phase"] + 1)
    if done["phase"] < 0 and info.base_phase is not None:  # phase 0 trained by a sibling method
        adopted = adopt_base_phase(out_dir, spec.settings(), strategy, shared=shared,
                                   transient=transient, cpu_threads=cpu_threads(), notify=notify)
        if adopted is not None:
            done = adopted

    train_stream = bench.benchmark.train_stream
    test_stream = bench.benchmark.test_stream
    n_phases = len(train_stream)
    if n_phases != spec.phases + 1:
        raise RuntimeError(f"benchmark has {n_phases} experiences, expected {spec.phases + 1}")

    loggers = attach_loggers(evaluator, log, out_dir / "logs" / spec.name / f"seed{spec.seed}",
                             run_name=f"{spec.benchmark}-p{spec.phases}-{spec.name}-seed{spec.seed}",
                             config={"benchmark": spec.benchmark, "phases": spec.phases,
                                     "method": spec.method, "seed": spec.seed,
                                     "device": spec.device, **spec.config.to_dict()})
    checkpointing = True
    phase_bar = None
    if mode == "bars":
        phase_bar = tqdm(total=n_phases, initial=done["phase"] + 1, position=1, leave=False,
                         desc=f"{spec.name} seed {spec.seed}: phases", dynamic_ncols=True)
    try:
        for i in range(done["phase"] + 1, n_phases):
            start = time.perf_counter()
            strategy.train(train_stream[i], **execution["loader_kwargs"])
            results = strategy.eval(test_stream[: i + 1], **execution["loader_kwargs"])
            m = phase_metrics(results, i)
            weights_fn = getattr(strategy, "aggregation_weights", None)
            weights = weights_fn() if callable(weights_fn) else None
            done["accuracy"].append(m["accuracy"])
            done["exp_accuracy"].append(m["exp_accuracy"])
            done["nme_accuracy"].append(m["nme_accuracy"])
            done["aggregation_weights"].append(None if weights is None else [float(w) for w in weights])
            done["phase_times"].append(time.perf_counter() - start)
            done["phase"] = i
            if checkpointing and i < n_phases - 1:
                try:
                    save_checkpoint(ckpt, strategy, meta_for(spec), {"done": done},
                                    shared=shared, transient=transient)
                except CheckpointError as exc:
                    checkpointing = False
                    notify(f"warning: cannot checkpoint {spec.name} ({exc}); this run will "
                           "restart from phase 0 if interrupted")
            if checkpointing and i == 0 and info.base_phase is not None:
                try:
                    save_base_phase(out_dir, spec.settings(), strategy, done, shared=shared,
                                    transient=transient, cpu_threads=cpu_threads())
                except CheckpointError as exc:
                    notify(f"warning: cannot keep the base phase of {spec.name} for its "
                           f"group ({exc}); the others train their own")
            if phase_bar is not None:
                phase_bar.update(1)
            if mode == "lines":
                echo(phase_line(spec.name, spec.seed, i, n_phases, done["phase_times"][-1],
                                m["accuracy"], epoch_bar))
            if after_phase is not None:
                after_phase(spec, i)
    except RunDiverged as exc:
        diverged = RunDiverged(f"{spec.name} seed {spec.seed}: {exc}; {divergence_hint(spec)}")
        if write_record:  # otherwise the driver that writes the records notes it
            save_divergence(out_dir, spec.name, spec.seed, spec.key(), str(diverged))
        raise diverged from None
    finally:
        if phase_bar is not None:
            phase_bar.close()
        close_loggers(loggers)

    execution = {k: v for k, v in execution.items() if k != "loader_kwargs"}
    if execution["compile_applied"]:  # torch.compile falls back to eager where unsupported
        execution["compile_applied"] = bool(getattr(strategy, "compile_model", False))
    record = build_record(spec, bench, done, command=command)
    record["execution"] = execution
    if write_record:
        store_record(out_dir, record)
    remove_checkpoint(ckpt)
    return record


def meta_for(spec: RunSpec) -> dict[str, Any]:
    """What a checkpoint says about its run, as plain data (read back without the strategy)."""
    return {"run_key": spec.key(), "settings": spec.settings(), "cpu_threads": cpu_threads(),
            "cpu_kernels": cpu_kernels(),
            "method": spec.method, "seed": spec.seed}


def build_record(spec: RunSpec, bench: Any, done: dict[str, Any], *, command: str) -> dict[str, Any]:
    """The run record (schema in records.py)."""
    info = get_method(spec.method)
    acc = done["accuracy"]
    nme = done["nme_accuracy"]
    has_nme = all(v is not None for v in nme)
    weights = done["aggregation_weights"]
    classes_seen = []
    total = 0
    for classes in bench.phase_classes:
        total += len(classes)
        classes_seen.append(total)
    return {
        "schema_version": SCHEMA_VERSION,
        "status": "complete",
        "benchmark": spec.benchmark,
        "phases": spec.phases,
        "method": spec.method,
        "method_description": info.description,
        "seed": spec.seed,
        # the --grid settings of this run (None outside a grid): its folder is run_name's
        "variant": spec.settings().get("variant"),
        "preset": spec.config.preset,
        "reduced": spec.config.reduced,
        "run_key": spec.key(),
        "command": command,
        "config": spec.config.to_dict(),
        "stream": {"num_classes": int(bench.num_classes), "backbone": bench.backbone,
                   "base_classes": spec.base_classes, "class_order_seed": spec.class_order_seed,
                   "input_shape": [int(s) for s in bench.input_shape],
                   "class_order": [int(c) for c in bench.class_order],
                   "phase_classes": [[int(c) for c in p] for p in bench.phase_classes],
                   "skipped_images": len(getattr(bench, "skipped_images", ()))},
        "memory": memory_plan(info, spec.config, int(bench.num_classes)),
        "classes_seen": classes_seen,
        "accuracy": acc,
        "nme_accuracy": nme if has_nme else None,
        "exp_accuracy": done["exp_accuracy"],
        "avg_incremental_accuracy": sum(acc) / len(acc),
        "last_accuracy": acc[-1],
        "forgetting": average_forgetting(done["exp_accuracy"]),
        "nme_avg_incremental_accuracy": sum(nme) / len(nme) if has_nme else None,
        "nme_last_accuracy": nme[-1] if has_nme else None,
        "aggregation_weights": weights if any(w is not None for w in weights) else None,
        "phase_times_s": done["phase_times"],
        "base_phase_from": done.get("base_phase_from"),  # phase 0 adopted from that method
        "wall_time_s": sum(done["phase_times"]),
        "resumed_at_phase": done["resumed_at"],
        "peak_rss_mb": peak_rss_mb(),
        "cuda_max_allocated_mb": (torch.cuda.max_memory_allocated() / 2**20
                                  if spec.device == "cuda" else None),
        "device": spec.device,
        "settings": spec.settings(),
        "cpu_threads": cpu_threads(),
        "cpu_kernels": cpu_kernels(),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
