"""BLAS calls for the CPU kernels, all through scipy.linalg.blas (numpy only).

Why one module: numpy and scipy each bundle their own OpenBLAS with its own thread pool, and when
both are used in one forward/backward their spinning threads fight for the cores; every GEMM of
the CPU kernels therefore goes through scipy's BLAS, from here. scipy's wrappers also give what
numpy's matmul does not: accumulation into an existing result (C = A B + beta C, in place),
and matrix-vector products for single-row inputs.

Arrays are row-major (C order) 2-D float32 or float64; BLAS is column-major, so C = A B is
computed as C^T = B^T A^T, for which the transposes of C-contiguous arrays need no copy.
"""
import numpy as np
from scipy.linalg import blas


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


def gemm(a, b, out=None, beta=0.0):
    """out = a @ b + beta * out, written in place into `out` (C-contiguous) when it is given.

    a: (M, K); b: (K, N); out: (M, N) or None (then a new array). Returns out.
    """
    if out is None:
        out, beta = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype), 0.0
    if not out.flags.c_contiguous or out.dtype != a.dtype:
        raise ValueError(f"gemm needs a C-contiguous {a.dtype} result array, got {out.dtype} "
                         f"with strides {out.strides}")
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
