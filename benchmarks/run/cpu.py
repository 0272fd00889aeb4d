"""What of the CPU decides a run's float numbers: the thread count and the kernels.

A CPU run resumed from its checkpoint continues with the numbers of an uninterrupted run only
under the same thread count (the order of float sums) and the same kernels: ATen's vectorised
CPU kernels (``torch.backends.cpu.get_cpu_capability()``: AVX2, AVX512, ...) and oneDNN's
convolutions (their instruction set: AVX2, AVX-512, AVX-512 with bf16, AMX, ...). Both depend
on the host's CPU, and can be lowered with ``ATEN_CPU_CAPABILITY`` / ``ONEDNN_MAX_CPU_ISA``.
Records and checkpoints keep both; a CPU resume under other kernels is refused like one under
another thread count (store/outdir.py names what to set).
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile

import torch


def cpu_threads() -> int:
    """Threads PyTorch uses on the CPU: they change the order of float sums, hence the numbers."""
    return torch.get_num_threads()


@functools.lru_cache(maxsize=1)
def onednn_isa() -> str:
    """oneDNN's instruction set in this process, e.g. "Intel AVX2" ("unknown" if it does not
    say). oneDNN prints it once, when its verbose mode is first switched on: read that line
    from stdout around one small NHWC convolution (cached: asked once per process)."""
    if not torch.backends.mkldnn.is_available():
        return "none"
    try:
        out = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        out = 1
    saved = os.dup(out)
    with tempfile.TemporaryFile() as tmp:
        sys.stdout.flush()
        os.dup2(tmp.fileno(), out)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                x = torch.zeros(1, 8, 8, 8).to(memory_format=torch.channels_last)
                w = torch.zeros(8, 8, 3, 3).to(memory_format=torch.channels_last)
                torch.nn.functional.conv2d(x, w)
        finally:
            sys.stdout.flush()
            os.dup2(saved, out)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    for line in text.splitlines():
        if ",isa:" in line:
            return line.split(",isa:", 1)[1].strip()
    return "unknown"


def cpu_kernels() -> dict[str, str]:
    """The kernels this process computes with on the CPU (recorded beside the thread count)."""
    return {"aten": torch.backends.cpu.get_cpu_capability(), "onednn": onednn_isa()}


__all__ = ["cpu_kernels", "cpu_threads", "onednn_isa"]
