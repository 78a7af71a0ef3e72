"""Fully connected layer y = x @ w.T + b, weights (out, in) as in PyTorch.

Its products go through tinyconv.kernels.matmul, the one GEMM dispatcher of the package.
"""
from ..engine.tensor import Function
from ..kernels.matmul import matmul


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
