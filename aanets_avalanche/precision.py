"""The arithmetic the AANets-library methods train in: bf16 autocast or fp32.

``use_amp`` (AANetsStrategy, PODNetStrategy, ``set_speed_options``) is True (bf16 autocast on
any device, CUDA or CPU), False (fp32) or "auto" (bf16 where the device computes bf16 natively,
see ``native_bf16``; fp32 elsewhere). ``resolve_amp`` turns it into the bool the strategy keeps
as ``use_amp`` (``precision`` reads "bf16" or "fp32"). bf16 has fp32's exponent range, so no
loss scaling (GradScaler) is needed.

Under bf16 autocast the convolutions and matrix products of the training forward, of the old
model's forward (distillation), of the level-2 pass and of PODNet's fine-tuning run in bf16.
Kept in fp32: parameters, gradients and optimizer state; BatchNorm statistics; the classifier
head (cosine / local-similarity, see ``full_precision``) and so the logits; every loss.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any

import torch

AMP_CHOICES = (True, False, "auto")

# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) under which oneDNN may not use native bf16 instructions
_ONEDNN_CAPS_WITHOUT_BF16 = frozenset({"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE",
                                       "AVX512_CORE_VNNI"})
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def check_amp(value: Any) -> bool | str:
    """``use_amp`` as given, or a ValueError unless it is True, False or "auto"."""
    if isinstance(value, bool) or (isinstance(value, str) and value == "auto"):
        return value
    raise ValueError(f"use_amp must be True, False or 'auto', got {value!r}")


def _cpu_flags() -> set[str]:
    """The CPU's bf16 feature flags: torch's cpuinfo if it tells, else /proc/cpuinfo (Linux)."""
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    if callable(capabilities):
        try:
            found = capabilities()
            return {flag for flag in _CPU_BF16_FLAGS if found.get(flag)}
        except Exception:  # an unknown platform: read the kernel's list instead
            pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            words = set(handle.read().split())
    except OSError:
        return set()
    return {flag for flag in _CPU_BF16_FLAGS if flag in words}


def _onednn_may_use_bf16() -> bool:
    """False when the environment caps oneDNN (which runs the CPU convolutions) below its bf16
    kernels, e.g. ``ONEDNN_MAX_CPU_ISA=AVX2``."""
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        if os.environ.get(name, "").strip().upper() in _ONEDNN_CAPS_WITHOUT_BF16:
            return False
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else True
    except Exception:
        return True


@functools.lru_cache(maxsize=None)
def _cpu_native_bf16() -> bool:
    return bool(_cpu_flags()) and _onednn_may_use_bf16()


def native_bf16(device: str | torch.device) -> bool:
    """Whether ``device`` computes bf16 natively: a CUDA GPU with bf16 units (Ampere or later),
    or a CPU with AVX512-BF16 or AMX-BF16 that oneDNN is allowed to use."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return _cpu_native_bf16()
    return False


def resolve_amp(use_amp: Any, device: str | torch.device) -> bool:
    """Whether to train in bf16 autocast on ``device``: ``use_amp`` checked (``check_amp``),
    "auto" decided by ``native_bf16``."""
    value = check_amp(use_amp)
    device = torch.device(device)
    if value == "auto":
        return native_bf16(device)
    if value and not torch.amp.is_autocast_available(device.type):
        raise ValueError(f"use_amp=True: torch has no autocast for device {device.type!r}")
    return value


def precision_name(use_amp: bool) -> str:
    return "bf16" if use_amp else "fp32"


def full_precision(tensor: torch.Tensor) -> contextlib.AbstractContextManager:
    """A context where autocast is off for ``tensor``'s device: the ops inside run in their
    inputs' dtype (cast them to float). For the small, precision-sensitive parts of a bf16
    forward: the classifier head's normalisations and similarities."""
    device_type = tensor.device.type
    if device_type in ("cpu", "cuda") or torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


__all__ = ["AMP_CHOICES", "check_amp", "full_precision", "native_bf16", "precision_name",
           "resolve_amp"]
