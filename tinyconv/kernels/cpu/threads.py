"""Let OpenBLAS's idle worker threads sleep at once instead of spinning for 0.1 s after each call.

After every BLAS call OpenBLAS keeps its worker threads busy-waiting for the next one, by default
for 2^28 CPU cycles (about 0.1 s). A forward/backward pass alternates GEMMs with numpy work
spread over the cores (copies into padded buffers, Winograd transforms, ReLU, pooling:
parallel_cpu), and every such step then shares its cores with spinning BLAS threads, so
forward/backward passes are faster with sleeping workers. Waking them for the next GEMM costs
microseconds on a quiet machine; on a VM whose host hands idle cores to other machines it can
cost much more, and there the spinning default gives steadier times (README, "Benchmarks").

`sleep_idle_blas_workers()` runs when asked, through tuning.tune_process(), which loads scipy's
BLAS first. For every OpenBLAS library loaded in the process then (scipy's, through
which tinyconv's GEMMs go, and numpy's) it sets the idle timeout to 2^4 cycles and restarts the
library's thread pool so that the setting takes effect (OpenBLAS reads it once, from
OPENBLAS_THREAD_TIMEOUT, when its threads start). Set OPENBLAS_THREAD_TIMEOUT yourself (e.g. 28,
OpenBLAS's default) and tinyconv leaves it alone. Other BLAS libraries (MKL, Accelerate) are left
as they are.
"""
import ctypes
import os
import sys

# OpenBLAS's smallest idle timeout; any timeout far below the gaps between GEMMs behaves alike
IDLE_TIMEOUT_LOG2_CYCLES = 4
_ENV = "OPENBLAS_THREAD_TIMEOUT"


def loaded_openblas():
    """[(path, ctypes handle)] of the OpenBLAS libraries mapped into this process (Linux)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return []
    found = []
    for path in sorted(p for p in paths if os.path.isfile(p)):
        try:
            found.append((path, ctypes.CDLL(path)))  # the handle of the loaded library
        except OSError:
            continue
    return found


def _functions(lib):
    """(read_env, thread_shutdown, thread_timeout) of an OpenBLAS, or None."""
    try:
        return lib.openblas_read_env, lib.blas_thread_shutdown_, lib.openblas_thread_timeout
    except AttributeError:
        return None


def idle_timeouts():
    """{path: log2 of the idle timeout in cycles} of every loaded OpenBLAS."""
    found = {path: _functions(lib) for path, lib in loaded_openblas()}
    return {path: fns[2]() for path, fns in found.items() if fns is not None}


def sleep_idle_blas_workers(log2_cycles=IDLE_TIMEOUT_LOG2_CYCLES):
    """Set every loaded OpenBLAS's idle timeout to 2^log2_cycles cycles and restart its worker
    threads (they start again with the next call). Returns the paths it changed."""
    import scipy.linalg.blas  # noqa: F401  loads scipy's OpenBLAS first
    changed = []
    previous = os.environ.get(_ENV)
    os.environ[_ENV] = str(log2_cycles)
    try:
        for path, lib in loaded_openblas():
            fns = _functions(lib)
            if fns is None:
                continue
            read_env, thread_shutdown, thread_timeout = fns
            if thread_timeout() == log2_cycles:
                continue
            read_env()        # OpenBLAS re-reads its environment variables
            thread_shutdown()  # joins the workers; the next BLAS call starts them anew
            changed.append(path)
    finally:
        if previous is None:
            del os.environ[_ENV]
        else:
            os.environ[_ENV] = previous
    return changed


def apply_default():
    """sleep_idle_blas_workers() unless OPENBLAS_THREAD_TIMEOUT is set (then OpenBLAS read it)."""
    if _ENV in os.environ or not sys.platform.startswith("linux"):
        return []
    return sleep_idle_blas_workers()
