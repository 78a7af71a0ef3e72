"""The process settings tinyconv's CPU kernels run best under, applied only when asked.

`import tinyconv` leaves the process as it is: the C library's allocator and every BLAS thread
pool belong to the whole process, and other libraries in it (PyTorch, a user's own numpy code)
would run under tinyconv's choices too. The `tinyconv` command and the benchmark's tinyconv
processes call `tune_process()`; a library user opts in the same way:

    import tinyconv
    tinyconv.tune_process()   # once, early: before the first large arrays
"""
from . import memory, threads


def tune_process():
    """Apply both CPU settings to this process; calling it again changes nothing more.

    - glibc's malloc keeps up to 1 GiB of freed memory for reuse (memory.py), unless
      TINYCONV_CPU_ALLOCATOR=system;
    - every loaded OpenBLAS (scipy's is loaded here) lets its idle workers sleep at once instead
      of spinning (threads.py), unless OPENBLAS_THREAD_TIMEOUT is set.
    Returns {"malloc": applied (bool), "openblas": [paths of the libraries changed now]}."""
    return {"malloc": memory.apply_default(), "openblas": threads.apply_default()}
