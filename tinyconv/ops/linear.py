"""Fully connected layer y = x @ w.T + b, weights (out, in) as in PyTorch.

The products go through `matmul`, the one dispatcher (also for math.matmul and the Gram matrix):
xp's matmul in general, and on numpy the BLAS routines of blas_cpu.py (matrix-vector for a
single row, which is what batch-1 VGG and AlexNet classifiers are), so every GEMM of a CPU
forward/backward runs in one BLAS thread pool: numpy's own matmul would wake numpy's OpenBLAS,
whose spinning threads slow scipy's (the convolutions') by up to 10x while both are warm.
"""
from ..engine.backend import get_array_module
from ..engine.tensor import Function


def matmul(a, b):
    """a @ b for 2-D arrays, on the fastest path for their device."""
    if get_array_module(a).__name__ == "numpy":
        from ..kernels.cpu import blas as blas_cpu  # numpy/scipy only
        return blas_cpu.matmul(a, b)
    return a @ b


def batched_matmul(a, b):
    """a @ b over the last two axes, the leading (batch) axes broadcast as numpy's matmul does:
    (..., M, K) @ (..., K, N) -> (..., M, N), each product through `matmul`."""
    xp = get_array_module(a)
    if xp.__name__ != "numpy":
        return a @ b
    batch = xp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = xp.broadcast_to(a, batch + a.shape[-2:])
    b = xp.broadcast_to(b, batch + b.shape[-2:])
    out = xp.empty(batch + (a.shape[-2], b.shape[-1]), dtype=xp.result_type(a, b))
    for index in xp.ndindex(*batch):
        out[index] = matmul(a[index], b[index])
    return out


class Linear(Function):
    """y = x @ w.T + b over the last axis of x."""
    name = "linear"

    def forward(self, x, w, b=None):
        if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: input shape {x.shape} does not match weight shape "
                             f"{w.shape} (out, in): the last input axis must equal `in`")
        if b is not None and b.shape != (w.shape[0],):
            raise ValueError(f"linear: bias shape {b.shape} does not match weight shape {w.shape}")
        self.save_for_backward(x, w)
        y = matmul(x.reshape(-1, x.shape[-1]), w.T)                      # (rows, out)
        if b is not None:
            y += b
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, dout):
        x, w = self.saved
        dout2d = dout.reshape(-1, w.shape[0])                           # (rows, out)
        dx = dw = db = None
        if self.needs_input_grad[0]:
            dx = matmul(dout2d, w).reshape(x.shape)
        if self.needs_input_grad[1]:
            dw = matmul(dout2d.T, x.reshape(-1, x.shape[-1]))             # (out, in)
        if len(self.needs_input_grad) == 3:
            db = dout2d.sum(axis=0) if self.needs_input_grad[2] else None
            return dx, dw, db
        return dx, dw


def linear(x, w, b=None):
    """x: (..., in); w: (out, in); b: (out,) or None -> (..., out)."""
    if b is None:
        return Linear.apply(x, w)
    return Linear.apply(x, w, b)


__all__ = ["linear"]
