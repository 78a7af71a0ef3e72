"""Max, average and adaptive average pooling over (N, C, H, W), PyTorch semantics.

Pooling windows are visited tap by tap: tap (i, j) is the strided view of the (padded) input that
holds element (i, j) of every window, so a k x k pool is k * k elementwise maxima or sums over
views, with no im2col copy. The same code runs on numpy and CuPy, and it keeps whatever memory
order the input has (channels-last inputs stay channels-last).

Output size per axis (PyTorch): floor or ceil((size + 2p - k) / s) + 1; with ceil_mode the last
window must start inside the input or the left padding, else it is dropped.
"""
from ..engine.backend import get_array_module, is_numpy
from ..engine.tensor import Function, is_grad_enabled
from ..kernels.im2col import pair, tap_slices


def pool_output_size(size, kernel, stride, padding, ceil_mode):
    """Output length along one axis (PyTorch's rule, including the ceil_mode correction)."""
    out = (size + 2 * padding - kernel + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def is_channels_last(a):
    """True when (N, C, H, W) array `a` is stored as (N, H, W, C), as conv2d's CPU kernels
    return it."""
    return a.strides[1] < a.strides[3]


class PoolGeometry:
    """Window size, stride, padding as (y, x) pairs, output size, and the padding after the input
    that the last window needs (more than `padding` when ceil_mode lets it run past the border).

    The pools compute on a "spatial view" of their input: (N, C, H, W) itself, or (N, H, W, C)
    when the input is stored channels-last, so every tap is a view whose innermost axis is
    contiguous, and outputs and gradients come out in the input's memory order.
    """

    def __init__(self, name, x, kernel_size, stride, padding, ceil_mode):
        if x.ndim != 4:
            raise ValueError(f"{name}: input must be 4-D (N, C, H, W), got shape {x.shape}")
        self.kernel = pair(kernel_size, "kernel_size")
        self.stride = self.kernel if stride is None else pair(stride, "stride")
        self.padding = pair(padding, "padding")
        if min(self.kernel) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"{name}: kernel_size {self.kernel} and stride {self.stride} must be "
                             f">= 1 and padding {self.padding} >= 0")
        if any(2 * p > k for p, k in zip(self.padding, self.kernel)):
            raise ValueError(f"{name}: padding {self.padding} must be at most half the kernel "
                             f"size {self.kernel}")
        self.x_shape = tuple(x.shape)
        self.channels_last = is_channels_last(x)
        hw = x.shape[2:]
        self.out_hw = tuple(pool_output_size(*args, ceil_mode) for args in
                            zip(hw, self.kernel, self.stride, self.padding))
        if min(self.out_hw) < 1:
            raise ValueError(f"{name}: kernel {self.kernel} is larger than the padded input "
                             f"{tuple(s + 2 * p for s, p in zip(hw, self.padding))} (input shape "
                             f"{x.shape})")
        self.pad_after = tuple(max(p, (o - 1) * s + k - size - p) for size, o, s, k, p in
                               zip(hw, self.out_hw, self.stride, self.kernel, self.padding))
        # windows that tile the padded input exactly: every input pixel is in one window
        self.tiles = self.stride == self.kernel and all(
            o * k == size + p + a for o, k, size, p, a in
            zip(self.out_hw, self.kernel, hw, self.padding, self.pad_after))

    def spatial_view(self, a):
        """(N, C, H, W) array -> the view the pools compute on (see the class doc)."""
        return a.transpose(0, 2, 3, 1) if self.channels_last else a

    def nchw(self, v):
        """Inverse of spatial_view."""
        return v.transpose(0, 3, 1, 2) if self.channels_last else v

    def taps(self, start=0, stop=None):
        """Index of every tap (i, j) into the padded spatial view, for output rows start:stop."""
        (kh, kw), (oh, ow) = self.kernel, self.out_hw
        stop = oh if stop is None else stop
        first_row = (self.stride[0] * start, 0)
        return [tap_slices(i, j, (stop - start, ow), self.stride, offset=first_row,
                           channels_last=self.channels_last)
                for i in range(kh) for j in range(kw)]

    def rows(self, start, stop):
        """Index of output rows start:stop in the spatial view."""
        lead = (slice(None),) if self.channels_last else (slice(None), slice(None))
        return lead + (slice(start, stop),)

    def _pad_width(self, before, after):
        spatial = tuple(zip(before, after))
        return ((0, 0),) + spatial + ((0, 0),) if self.channels_last else ((0, 0),) * 2 + spatial

    def pad(self, v, value):
        """Spatial view with `padding` before and `pad_after` after each spatial axis."""
        if not (any(self.padding) or any(self.pad_after)):
            return v
        xp = get_array_module(v)
        return xp.pad(v, self._pad_width(self.padding, self.pad_after), constant_values=value)

    def unpad(self, vpad):
        """The input's part of a padded spatial view, as (N, C, H, W)."""
        (ph, pw), (h, w) = self.padding, self.x_shape[2:]
        lead = (slice(None),) * (1 if self.channels_last else 2)
        return self.nchw(vpad[lead + (slice(ph, ph + h), slice(pw, pw + w))])


def split_over_cores(xp, job, length, elements):
    """job(start, stop) over range(length): in parallel threads for numpy (parallel_cpu), in one
    call for CuPy, whose kernels are parallel already."""
    if is_numpy(xp):
        from ..kernels.cpu.parallel import for_each_part
        for_each_part(job, length, elements)
    else:
        job(0, length)


class MaxPool2d(Function):
    """Maximum over each window; the gradient goes to the first maximum in scan order."""
    name = "max_pool2d"

    def forward(self, x, kernel_size, stride=None, padding=0, ceil_mode=False):
        xp = get_array_module(x)
        self.geom = geom = PoolGeometry("max_pool2d", x, kernel_size, stride, padding, ceil_mode)
        vpad = geom.pad(geom.spatial_view(x), -xp.inf)
        taps = geom.taps()
        y = xp.empty(vpad[taps[0]].shape, dtype=x.dtype)
        argmax = None
        if self.needs_input_grad[0] and is_grad_enabled():
            argmax = xp.zeros(y.shape, dtype=xp.uint8 if len(taps) < 256 else xp.uint16)

        def pool_rows(start, stop):
            taps = geom.taps(start, stop)
            y_part = y[geom.rows(start, stop)]
            y_part[...] = vpad[taps[0]]
            for t, tap in enumerate(taps[1:], start=1):
                window = vpad[tap]
                if argmax is not None:  # strictly greater: the first max wins. Arithmetic, not
                    # a masked write (copyto/where): branch-free, so no mispredicted branches
                    # on data whose maxima fall at random
                    a = argmax[geom.rows(start, stop)]
                    a += (a.dtype.type(t) - a) * (window > y_part)
                xp.maximum(y_part, window, out=y_part)
        split_over_cores(xp, pool_rows, geom.out_hw[0], y.size * len(taps))
        self.save_for_backward(argmax)
        self.padded_shape = vpad.shape
        return geom.nchw(y)

    def backward(self, dout):
        (argmax,) = self.saved
        xp = get_array_module(dout)
        geom = self.geom
        dv = geom.spatial_view(dout)
        if not geom.tiles:  # overlapping windows: accumulate, one thread
            dvpad = xp.zeros(self.padded_shape, dtype=dout.dtype)
            for t, tap in enumerate(geom.taps()):
                dvpad[tap] += dv * (argmax == t)
            return geom.unpad(dvpad)
        dvpad = xp.empty(self.padded_shape, dtype=dout.dtype)  # every pixel written once below

        def unpool_rows(start, stop):
            part = geom.rows(start, stop)
            for t, tap in enumerate(geom.taps(start, stop)):
                xp.multiply(dv[part], argmax[part] == t, out=dvpad[tap])
        split_over_cores(xp, unpool_rows, geom.out_hw[0], dvpad.size)
        return geom.unpad(dvpad)


class AvgPool2d(Function):
    """Mean over each window, counting zero padding (count_include_pad=True) but not the part of
    a ceil_mode window that runs past the padded border, as PyTorch does."""
    name = "avg_pool2d"

    def forward(self, x, kernel_size, stride=None, padding=0, ceil_mode=False):
        xp = get_array_module(x)
        self.geom = geom = PoolGeometry("avg_pool2d", x, kernel_size, stride, padding, ceil_mode)
        vpad = geom.pad(geom.spatial_view(x), 0)
        taps = geom.taps()
        total = vpad[taps[0]].copy()
        for tap in taps[1:]:
            total += vpad[tap]
        self.divisor = self._divisor(xp, x.dtype)
        self.padded_shape = vpad.shape
        return geom.nchw(total / self.divisor)

    def _divisor(self, xp, dtype):
        """Window sizes, (OH, OW) in the spatial view's axes: start s*o - p to
        min(start + k, size + p)."""
        geom = self.geom
        counts = []
        for size, o, s, k, p in zip(geom.x_shape[2:], geom.out_hw, geom.stride, geom.kernel,
                                    geom.padding):
            start = xp.arange(o) * s - p
            counts.append(xp.minimum(start + k, size + p) - start)
        divisor = (counts[0][:, None] * counts[1][None, :]).astype(dtype)
        return divisor[:, :, None] if geom.channels_last else divisor

    def backward(self, dout):
        xp = get_array_module(dout)
        share = self.geom.spatial_view(dout) / self.divisor
        dvpad = xp.zeros(self.padded_shape, dtype=dout.dtype)
        for tap in self.geom.taps():
            dvpad[tap] += share
        return self.geom.unpad(dvpad)


def _adaptive_matrix(xp, size, out, dtype):
    """(out, size) averaging matrix: row i averages inputs floor(i*size/out) to
    ceil((i+1)*size/out) - 1, PyTorch's bins."""
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
