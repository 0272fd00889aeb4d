"""How a run executes, apart from what it computes: loader workers, bf16 autocast, torch.compile,
the channels-last memory format.

These are the ``--num-workers`` / ``--amp`` / ``--compile`` / ``--channels-last`` switches of
``compare``. They change
speed; they enter a run's key only where they can also change its numbers, so switching one on
reuses finished runs whenever the numbers would be the same:

- ``num_workers``: only when the datasets draw random numbers per image in the loader (the
  per-sample input path, the large-image folder path): worker processes draw from their own
  generators. On the batched path the loader only indexes tensors, so workers change nothing.
- ``amp``: whenever bf16 autocast is on ("on", or "auto" on a device with native bf16: CUDA,
  a CPU with avx512_bf16 / amx_bf16), on the CPU as on CUDA: the key says "bf16".
- ``deterministic``: only when cuDNN's deterministic algorithms are switched off on CUDA (on the
  CPU the kernels are deterministic either way).
- ``compile``: always (compiled kernels may round differently), when on.
- ``channels_last``: always when applied (other convolution kernels, other rounding). Default:
  on for the CPU, where oneDNN's NHWC kernels made a training epoch 1.24x (LUCIR) and 1.18x
  (AANets) faster here (docs/speed.md); off on CUDA, where we have not measured it.

AANets-library methods take all four (``AANetsStrategy.set_speed_options``); Avalanche's
baselines take the loader workers and channels-last (their model is converted once, at build
time), while amp and compile are recorded as not applied to them.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ..plan.request import SpeedOptions

MAX_AUTO_WORKERS = 8


def auto_workers(bench: Any) -> int:
    """0 when the loader only indexes in-memory tensors (the batched path: workers would only
    add inter-process copies); else one per spare core, at most MAX_AUTO_WORKERS."""
    if not getattr(bench, "per_sample_random", False):
        return 0
    return max(1, min(MAX_AUTO_WORKERS, (os.cpu_count() or 2) - 1))


def resolved_workers(options: SpeedOptions, bench: Any) -> int:
    return auto_workers(bench) if options.num_workers is None else options.num_workers


def resolved_channels_last(options: SpeedOptions, device: str) -> bool:
    if options.channels_last is None:
        return str(device).split(":")[0] == "cpu"
    return bool(options.channels_last)


def resolved_amp(options: SpeedOptions, device: str) -> bool:
    """Whether bf16 autocast is on for ``device`` ("auto": where the device has native bf16)."""
    from aanets_avalanche.precision import resolve_amp
    return resolve_amp({"on": True, "off": False}.get(options.amp, options.amp),
                       str(device).split(":")[0])


def precision_reason(device: str) -> str:
    """Why "auto" chose as it did, in a few words (for the line a compare prints)."""
    from aanets_avalanche.precision import native_bf16
    if str(device).startswith("cuda"):
        return "a CUDA device" + ("" if native_bf16(device) else " without native bf16")
    if native_bf16("cpu"):
        return "the CPU has native bf16 units"
    return "no native bf16 on this CPU, or oneDNN capped below it"


def key_part(options: SpeedOptions, bench: Any, device: str) -> dict[str, Any]:
    """What of the switches enters the run key (see the module docstring)."""
    part: dict[str, Any] = {"input_pipeline": getattr(bench, "input_pipeline", "per-sample")}
    workers = resolved_workers(options, bench)
    if getattr(bench, "per_sample_random", False) and workers > 0:
        part["num_workers"] = workers
    if resolved_amp(options, device):
        part["amp"] = "bf16"
    if options.deterministic is False and device == "cuda":
        part["deterministic"] = False
    if options.compile:
        part["compile"] = True
    if resolved_channels_last(options, device):
        part["channels_last"] = True
    return part


def apply(strategy: Any, options: SpeedOptions, bench: Any) -> dict[str, Any]:
    """Configure a freshly built strategy; returns what was applied (for the run record) and
    the keyword arguments its train/eval calls need (``loader_kwargs``)."""
    workers = resolved_workers(options, bench)
    device_type = getattr(getattr(strategy, "device", None), "type", "cpu")
    channels_last = resolved_channels_last(options, device_type)
    setter = getattr(strategy, "set_speed_options", None)
    amp = resolved_amp(options, device_type)
    if callable(setter):
        setter(num_workers=workers, use_amp=amp, compile_model=options.compile,
               channels_last=channels_last)
    elif channels_last:  # an Avalanche baseline: its layers only grow linear heads
        strategy.model.to(memory_format=torch.channels_last)
    own = callable(setter)
    return {
        "input_pipeline": getattr(bench, "input_pipeline", "per-sample"),
        "num_workers": workers,
        "amp": options.amp,
        "amp_applied": bool(own and amp),
        "precision": "bf16" if own and amp else "fp32",
        "deterministic": options.deterministic is not False,
        "compile": options.compile,
        "compile_applied": bool(own and options.compile),
        "channels_last": channels_last,
        "loader_kwargs": {"num_workers": workers, "persistent_workers": workers > 0},
    }


__all__ = ["SpeedOptions", "apply", "auto_workers", "key_part", "resolved_amp", "resolved_channels_last",
           "resolved_workers"]
