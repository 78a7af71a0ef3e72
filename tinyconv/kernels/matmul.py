"""Matrix products of arrays, the one dispatcher for every GEMM outside the convolution kernels
(fully connected layers, math.matmul, the Gram matrix):
xp's matmul in general, and on numpy the BLAS routines of cpu/blas.py (matrix-vector for a
single row, which is what batch-1 VGG and AlexNet classifiers are), so every GEMM of a CPU
forward/backward runs in one BLAS thread pool: numpy's own matmul would wake numpy's OpenBLAS,
whose spinning threads would fight scipy's (the convolutions') for the cores while both are warm.
"""
from ..engine.backend import get_array_module, is_numpy


def matmul(a, b):
    """a @ b for 2-D arrays, on the fastest path for their device."""
    if is_numpy(get_array_module(a)):
        from .cpu import blas as blas_cpu  # numpy/scipy only
        return blas_cpu.matmul(a, b)
    return a @ b


def batched_matmul(a, b):
    """a @ b over the last two axes, the leading (batch) axes broadcast as numpy's matmul does:
    (..., M, K) @ (..., K, N) -> (..., M, N), each product through `matmul`."""
    xp = get_array_module(a)
    if not is_numpy(xp):
        return a @ b
    batch = xp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = xp.broadcast_to(a, batch + a.shape[-2:])
    b = xp.broadcast_to(b, batch + b.shape[-2:])
    out = xp.empty(batch + (a.shape[-2], b.shape[-1]), dtype=xp.result_type(a, b))
    for index in xp.ndindex(*batch):
        out[index] = matmul(a[index], b[index])
    return out
