"""Keep freed CPU memory for reuse instead of handing it back to the OS after every array.

A forward/backward pass allocates and frees the same few dozen large arrays (activations, padded
buffers, gradients) on every iteration. glibc's malloc serves arrays above its mmap threshold
(128 KiB, raised dynamically to at most 32 MiB) with fresh mmap()ed pages and gives them back on
free, so each iteration page-faults every large array in anew, a noticeable share of a pass's
time spent in the kernel. Raising the mmap and
trim thresholds to 1 GiB makes malloc reuse its heap instead, like a framework's caching
allocator: no faults after the first pass, the same peak memory, and up to 1 GiB of freed memory
kept by the process between passes.

`keep_freed_memory()` runs when asked, through tuning.tune_process() (Linux with glibc); set
TINYCONV_CPU_ALLOCATOR=system to leave malloc as it is even then.
"""
import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30
_applied = False


def keep_freed_memory(keep_bytes=KEEP_BYTES):
    """Tell glibc's malloc to serve arrays up to keep_bytes from its heap and to keep up to
    keep_bytes of freed memory. Returns True if applied (Linux/glibc), False otherwise."""
    global _applied
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # another C library (musl): leave it alone
        return False
    _applied = bool(mallopt(M_MMAP_THRESHOLD, keep_bytes)) and \
        bool(mallopt(M_TRIM_THRESHOLD, keep_bytes))
    return _applied


def apply_default():
    """keep_freed_memory() unless TINYCONV_CPU_ALLOCATOR=system."""
    choice = os.environ.get("TINYCONV_CPU_ALLOCATOR", "caching").strip().lower()
    if choice not in ("caching", "system"):
        raise ValueError(f"TINYCONV_CPU_ALLOCATOR={choice!r}: choose 'caching' (default) or "
                         f"'system'")
    return keep_freed_memory() if choice == "caching" else False


def applied():
    """Whether keep_freed_memory() took effect in this process."""
    return _applied
