"""Pointwise nonlinearities, softmax and dropout over (N, C, ...) arrays."""
import numpy as np

from ..engine.backend import get_array_module, is_numpy
from ..engine.tensor import Function
from ..kernels.cpu.parallel import for_each_slice


class ReLU(Function):
    """max(x, 0). Saves its output y (y > 0 exactly where x > 0), which the hooks in
    tinyconv.hooks (guided_relu, deconvnet_relu, redirected_relu) read as ctx.saved.
    inplace=True writes y over x's array (which must then be read by nobody else)."""
    name = "relu"

    def forward(self, x, inplace=False):
        xp = get_array_module(x)
        if not is_numpy(xp):
            y = xp.maximum(x, 0, out=x) if inplace else xp.maximum(x, 0)
        else:
            y = x if inplace else np.empty_like(x)  # empty_like keeps x's memory layout
            for_each_slice(lambda xs, ys: np.maximum(xs, 0, out=ys), x, y)
        self.save_for_backward(y)
        return y

    def backward(self, dout):
        (y,) = self.saved
        if not is_numpy(get_array_module(y)):
            return dout * (y > 0)
        dx = np.empty_like(dout)

        def masked(ys, ds, dxs):  # dx = (y > 0) * dout, written once, no temporaries
            np.greater(ys, 0, out=dxs)
            np.multiply(dxs, ds, out=dxs)
        for_each_slice(masked, y, dout, dx)
        return dx


class ReLU6(Function):
    """min(max(x, 0), 6) (MobileNetV2). Saves its output y (0 < y < 6 exactly where 0 < x < 6,
    where the gradient passes), which the hooks guided_relu6 and deconvnet_relu6 read as
    ctx.saved. inplace=True writes y over x's array, as ReLU."""
    name = "relu6"

    def forward(self, x, inplace=False):
        xp = get_array_module(x)
        y = x if inplace else xp.empty_like(x)
        if is_numpy(xp):
            for_each_slice(lambda xs, ys: np.clip(xs, 0, 6, out=ys), x, y)
        else:
            xp.clip(x, 0, 6, out=y)
        self.save_for_backward(y)
        return y

    def backward(self, dout):
        (y,) = self.saved
        if not is_numpy(get_array_module(y)):
            return dout * ((y > 0) & (y < 6))
        dx = np.empty_like(dout)  # keeps dout's memory layout

        def masked(ys, ds, dxs):  # dx = (0 < y < 6) * dout, over the cores like ReLU's
            passes = np.greater(ys, 0)
            passes &= np.less(ys, 6)
            np.multiply(ds, passes, out=dxs)
        for_each_slice(masked, y, dout, dx)
        return dx


class LeakyReLU(Function):
    name = "leaky_relu"

    def forward(self, x, negative_slope=0.01):
        self.save_for_backward(x)
        self.slope = negative_slope
        xp = get_array_module(x)
        return xp.where(x > 0, x, x * x.dtype.type(negative_slope))

    def backward(self, dout):
        (x,) = self.saved
        xp = get_array_module(x)
        return xp.where(x > 0, dout, dout * dout.dtype.type(self.slope))


class Tanh(Function):
    name = "tanh"

    def forward(self, x):
        y = get_array_module(x).tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, dout):
        (y,) = self.saved
        return dout * (1 - y * y)


class Sigmoid(Function):
    name = "sigmoid"

    def forward(self, x):
        xp = get_array_module(x)
        # 0.5 * (1 + tanh(x / 2)) is sigmoid without overflow for large |x|
        y = 0.5 * (1 + xp.tanh(0.5 * x))
        self.save_for_backward(y)
        return y

    def backward(self, dout):
        (y,) = self.saved
        return dout * y * (1 - y)


class Softmax(Function):
    name = "softmax"

    def forward(self, x, axis=1):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
        y = e / e.sum(axis=axis, keepdims=True)
        self.axis = axis
        self.save_for_backward(y)
        return y

    def backward(self, dout):
        (y,) = self.saved
        return y * (dout - (dout * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    name = "log_softmax"

    def forward(self, x, axis=1):
        xp = get_array_module(x)
        shifted = x - x.max(axis=axis, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        self.axis = axis
        self.save_for_backward(y)
        return y

    def backward(self, dout):
        (y,) = self.saved
        xp = get_array_module(y)
        return dout - xp.exp(y) * dout.sum(axis=self.axis, keepdims=True)


class Dropout(Function):
    """Inverted dropout: zero each element with probability p, scale the rest by 1 / (1 - p)."""
    name = "dropout"

    def forward(self, x, p=0.5, rng=None):
        xp = get_array_module(x)
        rng = rng if rng is not None else xp.random
        mask = (rng.random_sample(x.shape) >= p).astype(x.dtype) / x.dtype.type(1 - p)
        self.save_for_backward(mask)
        return x * mask

    def backward(self, dout):
        (mask,) = self.saved
        return dout * mask


def relu(x, inplace=False):
    """max(x, 0). inplace=True overwrites x's array (as PyTorch's inplace ReLU): only for an x
    whose values nobody reads afterwards; its gradient is still correct, since the ReLU
    backward reads only the output."""
    return ReLU.apply(x, inplace=inplace)


def relu6(x, inplace=False):
    """min(max(x, 0), 6). inplace=True overwrites x's array, as relu's."""
    return ReLU6.apply(x, inplace=inplace)


def leaky_relu(x, negative_slope=0.01):
    return LeakyReLU.apply(x, negative_slope=negative_slope)


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def softmax(x, axis=1):
    """exp(x) / sum(exp(x)) along `axis` (the class axis of (N, classes) scores)."""
    return Softmax.apply(x, axis=axis)


def log_softmax(x, axis=1):
    return LogSoftmax.apply(x, axis=axis)


def dropout(x, p=0.5, training=False, rng=None):
    """Inverted dropout when training, identity otherwise. rng: a numpy/CuPy RandomState."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=p, rng=rng)


__all__ = ["relu", "relu6", "leaky_relu", "tanh", "sigmoid", "softmax", "log_softmax", "dropout"]
