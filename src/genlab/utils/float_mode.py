"""Compute subnormal floats as zero on every thread torch computes on, or on none.

`torch.set_flush_denormal` sets the mode of the calling thread only, and torch's OpenMP
workers already exist once torch is imported. Set on the main thread alone, half of a
2-thread elementwise op flushed and half did not, and a run stopped being bit-identical
to itself: which thread takes which part of a convolution's work is not fixed. The
workers are reached through the OpenMP runtime torch runs on: one parallel region whose
body sets the mode on each thread of the team.
"""

import ctypes
import os

import torch

# The GNU, Intel and LLVM OpenMP runtimes all export GOMP_parallel, the entry point of a
# `#pragma omp parallel` region in code compiled by gcc.
OPENMP_RUNTIMES = ("libgomp.so.1", "libiomp5.so", "libomp.so")
_RegionBody = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def set_flush_denormal(flush: bool) -> bool:
    """Set the mode on this thread and on torch's OpenMP workers; whether every thread now
    has it (not where the CPU cannot flush, lacking SSE3, or the workers are out of reach)."""
    has_mode = torch.set_flush_denormal(flush) or not flush
    runtime = _loaded_openmp_runtime()
    if runtime is None:
        return False
    region = runtime.GOMP_parallel
    region.argtypes = [_RegionBody, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
    region.restype = None
    body = _RegionBody(lambda _: torch.set_flush_denormal(flush))  # held until the region ends
    region(body, None, torch.get_num_threads(), 0)
    return has_mode


def flushes_denormals() -> bool:
    """Whether this thread computes subnormal floats as zero (torch has no getter)."""
    return flushed_fraction(1) == 1.0


def flushed_fraction(elements: int = 1 << 20) -> float:
    """The share of an elementwise product of subnormals that came out zero. The op is
    split over all of torch's threads: 1.0 or 0.0 when they agree, between when not."""
    # The smallest subnormal, written as bits: a conversion from a Python float would
    # itself be flushed on this thread before any worker saw it.
    smallest = torch.ones(elements, dtype=torch.int32).view(torch.float32)
    return float(((smallest * 1.0) == 0).float().mean())


def _loaded_openmp_runtime() -> ctypes.CDLL | None:
    if "ATen parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None
    for name in OPENMP_RUNTIMES:
        try:  # RTLD_NOLOAD: the runtime torch already loaded, never a second copy
            return ctypes.CDLL(name, mode=os.RTLD_NOLOAD)
        except OSError:
            continue
    return None
