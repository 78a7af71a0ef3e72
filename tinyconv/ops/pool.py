"""Max, average and adaptive average pooling over (N, C, H, W), PyTorch semantics.

Pooling windows are visited tap by tap: tap (i, j) is the strided view of the (padded) input that
holds element (i, j) of every window, so a k x k pool is k * k elementwise maxima or sums over
views, with no im2col copy. The same code runs on numpy and CuPy, and it keeps whatever memory
order the input has (channels-last inputs stay channels-last).

Output size per axis (PyTorch): floor or ceil((size + 2p - k) / s) + 1; with ceil_mode the last
window must start inside the input or the left padding, else it is dropped.
"""
from ..backend import get_array_module
from ..tensor import Function, is_grad_enabled
from .im2col import pair, tap_slices


def pool_output_size(size, kernel, stride, padding, ceil_mode):
    """Output length along one axis (PyTorch's rule, including the ceil_mode correction)."""
    out = (size + 2 * padding - kernel + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def is_channels_last(a):
    """True when (N, C, H, W) array `a` is stored as (N, H, W, C), as conv2d's CPU kernel
    returns it."""
    return a.strides[1] < a.strides[3]


def zeros(xp, shape, dtype, channels_last):
    """Zero (N, C, H, W) array, stored channels-last when asked (so gradients keep the layout)."""
    if not channels_last:
        return xp.zeros(shape, dtype=dtype)
    n, c, h, w = shape
    return xp.zeros((n, h, w, c), dtype=dtype).transpose(0, 3, 1, 2)


class PoolGeometry:
    """Window size, stride, padding as (y, x) pairs, output size, and the padding after the input
    that the last window needs (more than `padding` when ceil_mode lets it run past the border)."""

    def __init__(self, name, x_shape, kernel_size, stride, padding, ceil_mode):
        if len(x_shape) != 4:
            raise ValueError(f"{name}: input must be 4-D (N, C, H, W), got shape {x_shape}")
        self.kernel = pair(kernel_size, "kernel_size")
        self.stride = self.kernel if stride is None else pair(stride, "stride")
        self.padding = pair(padding, "padding")
        if min(self.kernel) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"{name}: kernel_size {self.kernel} and stride {self.stride} must be "
                             f">= 1 and padding {self.padding} >= 0")
        if any(2 * p > k for p, k in zip(self.padding, self.kernel)):
            raise ValueError(f"{name}: padding {self.padding} must be at most half the kernel "
                             f"size {self.kernel}")
        self.x_shape = tuple(x_shape)
        hw = x_shape[2:]
        self.out_hw = tuple(pool_output_size(*args, ceil_mode) for args in
                            zip(hw, self.kernel, self.stride, self.padding))
        if min(self.out_hw) < 1:
            raise ValueError(f"{name}: kernel {self.kernel} is larger than the padded input "
                             f"{tuple(s + 2 * p for s, p in zip(hw, self.padding))} (input shape "
                             f"{x_shape})")
        self.pad_after = tuple(max(p, (o - 1) * s + k - size - p) for size, o, s, k, p in
                               zip(hw, self.out_hw, self.stride, self.kernel, self.padding))

    def taps(self):
        """Index of every tap (i, j) into the padded input."""
        kh, kw = self.kernel
        return [tap_slices(i, j, self.out_hw, self.stride, (1, 1))
                for i in range(kh) for j in range(kw)]

    def pad(self, x, value):
        """x with `padding` before and `pad_after` after each spatial axis, filled with value."""
        (ph, pw), (ah, aw) = self.padding, self.pad_after
        if not (ph or pw or ah or aw):
            return x
        xp = get_array_module(x)
        return xp.pad(x, ((0, 0), (0, 0), (ph, ah), (pw, aw)), constant_values=value)

    def unpad(self, xpad):
        (ph, pw), (h, w) = self.padding, self.x_shape[2:]
        return xpad[:, :, ph:ph + h, pw:pw + w]


class MaxPool2d(Function):
    """Maximum over each window; the gradient goes to the first maximum in scan order."""
    name = "max_pool2d"

    def forward(self, x, kernel_size, stride=None, padding=0, ceil_mode=False):
        xp = get_array_module(x)
        self.geom = geom = PoolGeometry("max_pool2d", x.shape, kernel_size, stride, padding,
                                        ceil_mode)
        xpad = geom.pad(x, -xp.inf)
        taps = geom.taps()
        y = xpad[taps[0]].copy(order="K")
        want_argmax = self.needs_input_grad[0] and is_grad_enabled()
        argmax = xp.zeros(y.shape, dtype=xp.uint16) if want_argmax else None
        for t, tap in enumerate(taps[1:], start=1):
            window = xpad[tap]
            if want_argmax:
                xp.copyto(argmax, t, where=window > y)  # strictly greater: the first max wins
            xp.maximum(y, window, out=y)
        self.save_for_backward(argmax)
        self.padded = (xpad.shape, xpad.dtype, is_channels_last(xpad))
        return y

    def backward(self, dout):
        (argmax,) = self.saved
        xp = get_array_module(dout)
        dxpad = zeros(xp, *self.padded)
        for t, tap in enumerate(self.geom.taps()):
            dxpad[tap] += xp.where(argmax == t, dout, 0)
        return self.geom.unpad(dxpad)


class AvgPool2d(Function):
    """Mean over each window, counting zero padding (count_include_pad=True) but not the part of
    a ceil_mode window that runs past the padded border, as PyTorch does."""
    name = "avg_pool2d"

    def forward(self, x, kernel_size, stride=None, padding=0, ceil_mode=False):
        xp = get_array_module(x)
        self.geom = geom = PoolGeometry("avg_pool2d", x.shape, kernel_size, stride, padding,
                                        ceil_mode)
        xpad = geom.pad(x, 0)
        taps = geom.taps()
        total = xpad[taps[0]].copy(order="K")
        for tap in taps[1:]:
            total += xpad[tap]
        self.divisor = self._divisor(xp, x.dtype)
        self.padded = (xpad.shape, xpad.dtype, is_channels_last(xpad))
        return total / self.divisor

    def _divisor(self, xp, dtype):
        """(OH, OW) window sizes: window start s*o - p to min(start + k, size + p)."""
        counts = []
        for size, o, s, k, p in zip(self.geom.x_shape[2:], self.geom.out_hw, self.geom.stride,
                                    self.geom.kernel, self.geom.padding):
            start = xp.arange(o) * s - p
            counts.append(xp.minimum(start + k, size + p) - start)
        return (counts[0][:, None] * counts[1][None, :]).astype(dtype)

    def backward(self, dout):
        xp = get_array_module(dout)
        share = dout / self.divisor
        dxpad = zeros(xp, *self.padded)
        for tap in self.geom.taps():
            dxpad[tap] += share
        return self.geom.unpad(dxpad)


def _adaptive_matrix(xp, size, out, dtype):
    """(out, size) averaging matrix: row i averages input [floor(i*size/out), ceil((i+1)*size/out))."""
    m = xp.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m


class AdaptiveAvgPool2d(Function):
    """y = A_h @ x @ A_w^T per channel, with A the averaging matrices of PyTorch's bins."""
    name = "adaptive_avg_pool2d"

    def forward(self, x, output_size):
        xp = get_array_module(x)
        h, w = x.shape[2:]
        self.a_h = _adaptive_matrix(xp, h, output_size[0], x.dtype)   # (OH, H)
        self.a_w = _adaptive_matrix(xp, w, output_size[1], x.dtype)   # (OW, W)
        return self.a_h @ x @ self.a_w.T                               # (N, C, OH, OW)

    def backward(self, dout):
        return self.a_h.T @ dout @ self.a_w                            # (N, C, H, W)


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max pooling. x: (N, C, H, W); kernel_size, stride (default: kernel_size), padding: int or
    (y, x) pair. Returns (N, C, OH, OW)."""
    return MaxPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding,
                           ceil_mode=ceil_mode)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Average pooling with count_include_pad=True. x: (N, C, H, W) -> (N, C, OH, OW)."""
    return AvgPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding,
                           ceil_mode=ceil_mode)


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed (OH, OW) (int, pair, or None in a pair to keep that size).

    x: (N, C, H, W) -> (N, C, OH, OW); bins as in PyTorch. Returns x itself when the size matches.
    """
    if x.ndim != 4:
        raise ValueError(f"adaptive_avg_pool2d: input must be 4-D (N, C, H, W), got shape "
                         f"{x.shape}")
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    size = tuple(x.shape[2 + i] if s is None else s for i, s in enumerate(size))
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be a positive int or pair, got "
                         f"{output_size!r}")
    if size == tuple(x.shape[2:]):
        return x
    return AdaptiveAvgPool2d.apply(x, output_size=size)


__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]
