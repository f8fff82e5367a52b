"""Keep freed CPU memory in the process instead of handing it back to the OS every step.

torch allocates CPU tensors with the C library's malloc. glibc serves a block above its
mmap threshold (128 KiB at start, raised only as freed blocks teach it) with a fresh
mmap and unmaps it on free, and trims the heap top back to the OS; a training step that
frees and reallocates the same activations each time then re-faults and zeroes every
page of them. On the VAE's Fashion-MNIST step that was 16% of the step, and it hit two
processes running the same loop differently, since how the threshold grows depends on
the order of earlier frees (issue 16: the plain loop and genlab's differed by 8%).
Fixed thresholds up to the largest glibc accepts keep those pages mapped and reused.
"""

import ctypes
import ctypes.util

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's ceiling on 64-bit: larger blocks are still mmapped
TRIM_THRESHOLD = 1 << 30  # give memory back to the OS only when 1 GiB sits free at the heap top
TOP_PAD = 64 << 20  # grow the heap in 64 MiB steps rather than one page-run per allocation


def keep_freed_memory() -> bool:
    """Set glibc's malloc to reuse freed blocks up to 32 MiB; whether it took (False off
    glibc, e.g. macOS or musl, where nothing is changed). Process-wide and not undone: the
    memory kept is at most the peak the process already reached."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return all(
        libc.mallopt(param, value) == 1
        for param, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (M_TOP_PAD, TOP_PAD),
        )
    )
