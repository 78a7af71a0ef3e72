"""BLAS calls for the CPU kernels, all into scipy's OpenBLAS (numpy only).

Why one module: numpy and scipy each bundle their own OpenBLAS with its own thread pool, and when
both are used in one forward/backward their spinning threads fight for the cores; every GEMM of
the CPU kernels therefore goes through scipy's BLAS, from here. scipy's wrappers also give what
numpy's matmul does not: accumulation into an existing result (C = A B + beta C, in place),
and matrix-vector products for single-row inputs. GEMMs call cblas_?gemm through ctypes, which
releases the GIL during the call (scipy's f2py wrappers hold it): kernels that run independent
GEMMs in threads of their own (`over_parts`) get them computed at the same time. Batches of
same-shape products go to OpenBLAS's cblas_?gemm_batch through ctypes where scipy's OpenBLAS has
it (`gemm_batch`).

Arrays are row-major (C order) 2-D float32 or float64; BLAS is column-major, so C = A B is
computed as C^T = B^T A^T, for which the transposes of C-contiguous arrays need no copy.
"""
import contextlib
import ctypes

import numpy as np
from scipy.linalg import blas

from . import threads as cpu_threads
from .parallel import for_each_part, parts_for


def _routine(kind, dtype):
    if dtype == np.float32:
        return getattr(blas, "s" + kind)
    if dtype == np.float64:
        return getattr(blas, "d" + kind)
    raise TypeError(f"CPU BLAS kernels need float32 or float64 arrays, got {dtype}")


def _column_major(a):
    """(array, trans) such that BLAS's op(array) is a^T, with no copy for C- or F-ordered a."""
    if a.flags.c_contiguous:
        return a.T, 0
    if a.flags.f_contiguous:
        return a, 1
    return np.ascontiguousarray(a).T, 0


def _row_major_operand(x):
    """(array, CBLAS transpose flag, leading dimension) of a 2-D operand for row-major cblas:
    x itself when one of its strides is the item size, else a C-contiguous copy."""
    (rows, cols), (s0, s1), item = x.shape, x.strides, x.itemsize
    if s1 == item and s0 % item == 0 and s0 >= max(1, cols) * item:
        return x, CBLAS_NO_TRANS, s0 // item
    if s0 == item and s1 % item == 0 and s1 >= max(1, rows) * item:
        return x, CBLAS_TRANS, s1 // item
    x = np.ascontiguousarray(x)
    return x, CBLAS_NO_TRANS, max(1, cols)


def gemm(a, b, out=None, beta=0.0):
    """out = a @ b + beta * out, written in place into `out` (C-contiguous) when it is given.

    a: (M, K); b: (K, N); out: (M, N) or None (then a new array). Returns out. Through
    cblas_?gemm by ctypes where scipy's OpenBLAS has it and the product has CBLAS_MIN_MNK
    multiply-adds or more (the call releases the GIL, so products in threads of their own run at
    once; scipy's wrappers hold it), else scipy's wrapper (a few microseconds less per call).
    """
    if out is None:
        out, beta = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype), 0.0
    if not out.flags.c_contiguous or out.dtype != a.dtype:
        raise ValueError(f"gemm needs a C-contiguous {a.dtype} result array, got {out.dtype} "
                         f"with strides {out.strides}")
    function = _CBLAS_GEMM.get(out.dtype)
    (m, k), n = a.shape, out.shape[1]
    if function is not None and m * n * k >= CBLAS_MIN_MNK and a.dtype == b.dtype:
        a, trans_a, lda = _row_major_operand(a)
        b, trans_b, ldb = _row_major_operand(b)
        function(CBLAS_ROW_MAJOR, trans_a, trans_b, m, n, k, 1.0, a.ctypes.data, lda,
                 b.ctypes.data, ldb, beta, out.ctypes.data, n)
        return out
    af, trans_a = _column_major(a)
    bf, trans_b = _column_major(b)
    result = _routine("gemm", a.dtype)(1.0, bf, af, beta=beta, c=out.T, trans_a=trans_b,
                                       trans_b=trans_a, overwrite_c=1)
    if not np.shares_memory(result, out):  # scipy copied `out`: a bug here, never silent
        raise RuntimeError("scipy gemm did not write in place")
    return out


def gemv_rows(a, b):
    """a @ b for a single-row a (1, K) and b (K, N) -> (1, N), as one matrix-vector product."""
    bf, trans = _column_major(b)
    y = _routine("gemv", a.dtype)(1.0, bf, np.ascontiguousarray(a[0]), trans=trans)
    return y.reshape(1, -1)


def matmul(a, b):
    """a @ b for 2-D float arrays: matrix-vector when a has one row, else GEMM."""
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64) or 0 in a.shape + b.shape:
        return a @ b
    if a.shape[0] == 1:
        return gemv_rows(a, b)
    return gemm(a, b)


# ----- batches of products: OpenBLAS's cblas_?gemm_batch (one group of same-shape products)

CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS = 101, 111, 112
# OpenBLAS up to 0.3.30 (DYNAMIC_ARCH builds, as in scipy's wheels) crashes in gemm_batch on
# products small enough for its small-matrix kernels (M*N*K <= 100^3 on x86; OpenBLAS pull
# request 5980). Smaller products than this go through gemm one by one, with a wide margin.
GEMM_BATCH_MIN_MNK = 1 << 22
# Products from this many multiply-adds go through ctypes (GIL released): below, the compute
# takes about as long as ctypes' argument conversion, and the GIL is held only that long anyway.
CBLAS_MIN_MNK = 1 << 16


def _scipy_openblas():
    """(ctypes handle, symbol prefix) of the loaded 32-bit-integer OpenBLAS (scipy's), or None."""
    for _, lib in cpu_threads.loaded_openblas():
        config = next((getattr(lib, name) for name in ("scipy_openblas_get_config",
                                                       "openblas_get_config")
                       if hasattr(lib, name)), None)
        if config is None:
            continue
        config.restype = ctypes.c_char_p
        if b"USE64BITINT" in config():  # 64-bit integer arguments: not what gemm_batch passes
            continue
        return lib, "scipy_" if hasattr(lib, "scipy_openblas_get_config") else ""
    return None


def _find_gemm_batch():
    """{dtype: cblas_?gemm_batch} of scipy's OpenBLAS where it has it, or {}."""
    found = _scipy_openblas()
    if found is None:
        return {}
    lib, prefix = found
    if hasattr(lib, prefix + "cblas_sgemm_batch") and hasattr(lib, prefix + "cblas_dgemm_batch"):
        return {np.dtype(np.float32): getattr(lib, prefix + "cblas_sgemm_batch"),
                np.dtype(np.float64): getattr(lib, prefix + "cblas_dgemm_batch")}
    return {}


def _find_thread_count():
    """(get, set) of scipy's OpenBLAS's thread count, or None."""
    found = _scipy_openblas()
    if found is None:
        return None
    lib, prefix = found
    names = (prefix + "openblas_get_num_threads", prefix + "openblas_set_num_threads")
    if not all(hasattr(lib, name) for name in names):
        return None
    return tuple(getattr(lib, name) for name in names)


def _find_cblas_gemm():
    """{dtype: cblas_?gemm with its argument types} of scipy's OpenBLAS, or {}."""
    found = _scipy_openblas()
    if found is None:
        return {}
    lib, prefix = found
    functions = {}
    for dtype, letter, scalar in ((np.float32, "s", ctypes.c_float),
                                  (np.float64, "d", ctypes.c_double)):
        function = getattr(lib, f"{prefix}cblas_{letter}gemm", None)
        if function is None:
            return {}
        integer, pointer = ctypes.c_int, ctypes.c_void_p
        function.argtypes = [integer] * 6 + [scalar, pointer, integer, pointer, integer, scalar,
                                             pointer, integer]
        function.restype = None
        functions[np.dtype(dtype)] = function
    return functions


_GEMM_BATCH = _find_gemm_batch()
_CBLAS_GEMM = _find_cblas_gemm()
_THREAD_COUNT = _find_thread_count()


@contextlib.contextmanager
def single_threaded():
    """Every GEMM inside the block (from any thread) runs on one core: for kernels that spread
    independent GEMMs over the cores in threads of their own (gemm releases the GIL). The
    thread count is OpenBLAS's, for the whole process, restored on exit; with another BLAS the
    block changes nothing."""
    if _THREAD_COUNT is None:
        yield
        return
    get, set_ = _THREAD_COUNT
    previous = get()
    set_(1)
    try:
        yield
    finally:
        set_(previous)


def over_parts(job, length, elements):
    """parallel.for_each_part(job, length, elements), every GEMM inside on one core when the job
    is split (each part's GEMMs on its own core instead of each GEMM split over all of them)."""
    if parts_for(length, elements) > 1:
        with single_threaded():
            for_each_part(job, length, elements)
    else:
        job(0, length)


def _layout(arrays):
    """(transposed, leading dimension) shared by 2-D arrays of one shape with unit stride along
    rows (row-major) or columns (transposed), else None."""
    item = arrays[0].itemsize
    rows, cols = arrays[0].shape
    strides = {a.strides for a in arrays}
    if len(strides) != 1 or len({a.shape for a in arrays}) != 1:
        return None
    (s0, s1), = strides
    if s1 == item and s0 % item == 0 and s0 // item >= max(1, cols):
        return False, s0 // item
    if s0 == item and s1 % item == 0 and s1 // item >= max(1, rows):
        return True, s1 // item
    return None


def gemm_batch(a_list, b_list, out_list):
    """out_list[i] = a_list[i] @ b_list[i] for i in range(len), all a's (M, K), b's (K, N) and
    out's (M, N) of one shape and dtype, written in place.

    One cblas_?gemm_batch call where OpenBLAS has it: each thread takes whole products, instead
    of every product being split over the threads, which pays where the products are small (a
    split product's threads spend more of their time synchronizing). Else, and for products
    under GEMM_BATCH_MIN_MNK multiply-adds, one gemm each."""
    if not out_list:
        return out_list
    function = _GEMM_BATCH.get(out_list[0].dtype)
    layouts = None
    if function is not None and a_list[0].size * b_list[0].shape[1] >= GEMM_BATCH_MIN_MNK and \
            {x.dtype for x in (*a_list, *b_list, *out_list)} == {out_list[0].dtype}:
        layouts = _layout(a_list), _layout(b_list), _layout(out_list)
    if layouts is None or None in layouts or layouts[2][0]:
        for a, b, out in zip(a_list, b_list, out_list):
            gemm(a, b, out=out)
        return out_list
    a_layout, b_layout, out_layout = layouts
    (m, k), n, count = a_list[0].shape, b_list[0].shape[1], len(out_list)
    scalar = ctypes.c_float if out_list[0].dtype == np.float32 else ctypes.c_double

    def one(value, kind=ctypes.c_int):
        return (kind * 1)(value)

    def pointers(arrays):
        return (ctypes.c_void_p * count)(*(a.ctypes.data for a in arrays))

    function(ctypes.c_int(CBLAS_ROW_MAJOR),
             one(CBLAS_TRANS if a_layout[0] else CBLAS_NO_TRANS),
             one(CBLAS_TRANS if b_layout[0] else CBLAS_NO_TRANS),
             one(m), one(n), one(k), one(1.0, scalar),
             pointers(a_list), one(a_layout[1]), pointers(b_list), one(b_layout[1]),
             one(0.0, scalar), pointers(out_list), one(out_layout[1]),
             ctypes.c_int(1), one(count))
    return out_list
