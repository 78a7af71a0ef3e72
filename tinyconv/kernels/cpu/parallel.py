"""Elementwise numpy work of the CPU kernels spread over all cores.

BLAS runs its GEMMs on every core, but numpy's elementwise loops (copies into padded buffers,
Winograd transforms, pooling) run on one, and on a 2-core machine that single-threaded share
decides the speed. numpy releases the GIL inside its loops, so independent slices of one job run
truly in parallel in threads; `for_each_part` splits a job along one axis and does that.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

WORKERS = os.cpu_count() or 1
MIN_ELEMENTS_PER_PART = 1 << 16  # below this a thread hop (tens of microseconds) costs more
_pool = None
_inside = threading.local()  # .part: this thread is running a part (its own jobs run serially)


def parts_for(length, elements):
    """How many parallel parts for_each_part makes of a job of this length and size."""
    if getattr(_inside, "part", False):  # a part's own jobs: the cores are taken already (and
        return 1                          # waiting on the pool from inside it could deadlock)
    return min(WORKERS, length, max(1, elements // MIN_ELEMENTS_PER_PART))


def _as_part(job, start, stop):
    _inside.part = True
    try:
        job(start, stop)
    finally:
        _inside.part = False


def for_each_part(job, length, elements):
    """Call job(start, stop) on contiguous parts covering range(length), in parallel threads when
    the whole job touches `elements` array elements or more. Parts must write disjoint memory.
    Inside a part, for_each_part runs its job serially."""
    global _pool
    parts = parts_for(length, elements)
    if parts <= 1:
        job(0, length)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(WORKERS - 1, thread_name_prefix="tinyconv-cpu")
    bounds = [length * i // parts for i in range(parts + 1)]
    futures = [_pool.submit(_as_part, job, start, stop)
               for start, stop in zip(bounds[1:-1], bounds[2:])]
    _as_part(job, bounds[0], bounds[1])  # the calling thread does the first part
    for future in futures:
        future.result()


def for_each_slice(job, *arrays):
    """Call job(*slices) on matching slices of same-shape numpy arrays (outputs among them), in
    parallel threads when they are large. The arrays are cut along the axis with the largest
    stride of the first one (N for NCHW, H for channels-last views), so every slice is a few
    contiguous blocks of memory."""
    first = arrays[0]
    if first.ndim == 0:
        job(*arrays)
        return
    axis = max(range(first.ndim), key=lambda k: (first.shape[k] > 1, abs(first.strides[k])))
    head = (slice(None),) * axis

    def run(start, stop):
        index = head + (slice(start, stop),)
        job(*(a[index] for a in arrays))
    for_each_part(run, first.shape[axis], first.size)
