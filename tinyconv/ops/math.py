"""Elementwise arithmetic, matmul and reductions, with numpy broadcasting.

Backward rules read like a table: each Function's backward returns d(loss)/d(input) for each input,
summed back over broadcast axes by `unbroadcast`.
"""
import math

import numpy as np

from ..engine.backend import get_array_module
from ..engine.tensor import Function
from ..kernels.matmul import matmul as matmul_arrays


def unbroadcast(grad, shape):
    """Sum `grad` over the axes along which an input of `shape` was broadcast -> `shape`."""
    if grad.shape == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def check_broadcast(op, a, b):
    """Raise a ValueError naming the op and both shapes when a and b do not broadcast."""
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast "
                         f"together") from None


def channel_sums(a):
    """a (N, C, H, W) summed over N, H, W -> (C,). A channels-last array's (N*H*W, C) rows are
    summed as (rows / k, k * C) and then folded: numpy's sum along the long axis of a (rows, C)
    array does one C-wide add per row, several times slower than long vector adds (and it
    accumulates one long running sum per channel, where the blocks keep k shorter ones)."""
    n, c, h, w = a.shape
    rows = a.transpose(0, 2, 3, 1)
    if not rows.flags.c_contiguous:
        return a.sum(axis=(0, 2, 3))
    k = math.gcd(n * h * w, 256)
    return rows.reshape(-1, k * c).sum(axis=0).reshape(k, c).sum(axis=0)


class Add(Function):
    name = "add"

    def forward(self, a, b):
        check_broadcast("add", a, b)
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, dout):
        return unbroadcast(dout, self.shapes[0]), unbroadcast(dout, self.shapes[1])


class Sub(Function):
    name = "sub"

    def forward(self, a, b):
        check_broadcast("sub", a, b)
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, dout):
        return unbroadcast(dout, self.shapes[0]), unbroadcast(-dout, self.shapes[1])


class Mul(Function):
    name = "mul"

    def forward(self, a, b):
        check_broadcast("mul", a, b)
        self.save_for_backward(a, b)
        return a * b

    def backward(self, dout):
        a, b = self.saved
        da = unbroadcast(dout * b, a.shape) if self.needs_input_grad[0] else None
        db = unbroadcast(dout * a, b.shape) if self.needs_input_grad[1] else None
        return da, db


class Div(Function):
    name = "div"

    def forward(self, a, b):
        check_broadcast("div", a, b)
        self.save_for_backward(a, b)
        return a / b

    def backward(self, dout):
        a, b = self.saved
        da = unbroadcast(dout / b, a.shape) if self.needs_input_grad[0] else None
        db = unbroadcast(-dout * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return da, db


class Pow(Function):
    """a ** b elementwise; the gradient wrt b (a ** b * log a) only when b requires grad."""
    name = "pow"

    def forward(self, a, b):
        check_broadcast("pow", a, b)
        out = a ** b
        self.save_for_backward(a, b, out)
        return out

    def backward(self, dout):
        a, b, out = self.saved
        da = unbroadcast(dout * b * a ** (b - 1), a.shape) if self.needs_input_grad[0] else None
        db = None
        if self.needs_input_grad[1]:
            xp = get_array_module(a)
            db = unbroadcast(dout * out * xp.log(a), b.shape)
        return da, db


class Neg(Function):
    name = "neg"

    def forward(self, a):
        return -a

    def backward(self, dout):
        return -dout


class MatMul(Function):
    """a @ b for 2-D operands: (M, K) @ (K, N) -> (M, N)."""
    name = "matmul"

    def forward(self, a, b):
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(f"matmul needs (M, K) @ (K, N); got {a.shape} @ {b.shape}")
        self.save_for_backward(a, b)
        return matmul_arrays(a, b)

    def backward(self, dout):
        a, b = self.saved
        da = matmul_arrays(dout, b.T) if self.needs_input_grad[0] else None
        db = matmul_arrays(a.T, dout) if self.needs_input_grad[1] else None
        return da, db


class Exp(Function):
    name = "exp"

    def forward(self, a):
        out = get_array_module(a).exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, dout):
        (out,) = self.saved
        return dout * out


class Log(Function):
    name = "log"

    def forward(self, a):
        self.save_for_backward(a)
        return get_array_module(a).log(a)

    def backward(self, dout):
        (a,) = self.saved
        return dout / a


class Sqrt(Function):
    name = "sqrt"

    def forward(self, a):
        out = get_array_module(a).sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, dout):
        (out,) = self.saved
        return dout / (2 * out)


class Abs(Function):
    name = "abs"

    def forward(self, a):
        self.save_for_backward(a)
        return get_array_module(a).abs(a)

    def backward(self, dout):
        (a,) = self.saved
        return dout * get_array_module(a).sign(a)


class Clip(Function):
    """Clamp to [low, high] (either may be None); the gradient passes inside the range."""
    name = "clip"

    def forward(self, a, low=None, high=None):
        self.save_for_backward(a)
        self.low, self.high = low, high
        return get_array_module(a).clip(a, low, high)

    def backward(self, dout):
        (a,) = self.saved
        inside = True
        if self.low is not None:
            inside = inside & (a >= self.low)
        if self.high is not None:
            inside = inside & (a <= self.high)
        return dout * inside


def _normalize_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for ax in axes:
        if not -ndim <= ax < ndim:
            raise ValueError(f"axis {ax} is out of range for a tensor with {ndim} dimensions")
    return tuple(sorted(ax % ndim for ax in axes))


def _expand_reduced(grad, shape, axes):
    """Reshape a reduced gradient so it broadcasts against the input `shape`."""
    kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
    return grad.reshape(kept)


class Sum(Function):
    name = "sum"

    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axes = a.shape, _normalize_axes(axis, a.ndim)
        return a.sum(axis=self.axes, keepdims=keepdims)

    def backward(self, dout):
        xp = get_array_module(dout)
        return xp.broadcast_to(_expand_reduced(dout, self.shape, self.axes), self.shape)


class Mean(Function):
    name = "mean"

    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axes = a.shape, _normalize_axes(axis, a.ndim)
        self.count = 1
        for ax in self.axes:
            self.count *= a.shape[ax]
        return a.mean(axis=self.axes, keepdims=keepdims)

    def backward(self, dout):
        xp = get_array_module(dout)
        grad = _expand_reduced(dout, self.shape, self.axes) / self.count
        return xp.broadcast_to(grad, self.shape)


class Max(Function):
    """Maximum over axes; the gradient is shared equally among tied maxima."""
    name = "max"

    def forward(self, a, axis=None, keepdims=False):
        self.axes = _normalize_axes(axis, a.ndim)
        out = a.max(axis=self.axes, keepdims=True)
        self.save_for_backward(a, out)
        return out if keepdims else out.reshape([n for i, n in enumerate(out.shape)
                                                 if i not in self.axes])

    def backward(self, dout):
        a, out = self.saved
        is_max = a == out
        ties = is_max.sum(axis=self.axes, keepdims=True).astype(a.dtype)  # int would promote
        return _expand_reduced(dout, a.shape, self.axes) * is_max / ties


def add(a, b):
    return Add.apply(a, b)


def sub(a, b):
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(a, b)


def div(a, b):
    return Div.apply(a, b)


def pow(a, b):  # noqa: A001  (mirrors the operator it implements)
    return Pow.apply(a, b)


def neg(a):
    return Neg.apply(a)


def matmul(a, b):
    """(M, K) @ (K, N) -> (M, N)."""
    return MatMul.apply(a, b)


def exp(a):
    return Exp.apply(a)


def log(a):
    return Log.apply(a)


def sqrt(a):
    return Sqrt.apply(a)


def abs(a):  # noqa: A001
    return Abs.apply(a)


def clip(a, low=None, high=None):
    """Clamp elementwise to [low, high]; either bound may be None."""
    return Clip.apply(a, low=low, high=high)


def sum(a, axis=None, keepdims=False):  # noqa: A001
    return Sum.apply(a, axis=axis, keepdims=keepdims)


def mean(a, axis=None, keepdims=False):
    return Mean.apply(a, axis=axis, keepdims=keepdims)


def max(a, axis=None, keepdims=False):  # noqa: A001
    return Max.apply(a, axis=axis, keepdims=keepdims)


__all__ = [
    "unbroadcast", "add", "sub", "mul", "div", "pow", "neg", "matmul", "exp", "log", "sqrt", "abs",
    "clip", "sum", "mean", "max",
]
