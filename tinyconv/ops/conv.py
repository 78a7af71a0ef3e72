"""2-D convolution and transposed convolution, PyTorch semantics (weights OIHW, activations NCHW).

The arithmetic lives in kernel modules with the same four primitives (see im2col.py):
im2col.py, written once over numpy/CuPy, and conv_cpu.py, faster numpy paths (Winograd, shifted
GEMMs, channels-last im2col). `select_kernels` is the one place that chooses between them (by
name, rule of thumb or autotuning: conv_algorithms.py), so both ops below read the same on every
device. The transposed convolution is the input gradient of a
convolution, so it reuses the same primitives with forward and backward swapped.
"""
from ..engine.backend import get_array_module
from ..engine.tensor import Function
from ..kernels import algorithms as conv_algorithms
from ..kernels.im2col import ConvGeometry, conv_output_size, pair
from .math import channel_sums


def select_kernels(x, geom):
    """The kernels for this input and geometry, by the current algorithm choice (see
    conv_algorithms: the rules of thumb by default, a fixed algorithm, or autotuned)."""
    return conv_algorithms.select(x, geom)


def _check_4d(name, a, what):
    if a.ndim != 4:
        raise ValueError(f"{name}: {what} must be 4-D, got shape {a.shape}")


def _check_bias(name, b, channels):
    if b is not None and b.shape != (channels,):
        raise ValueError(f"{name}: bias shape {b.shape} does not match the {channels} output "
                         f"channels")


def _check_groups(name, groups, in_channels, out_channels, x_shape, w_shape):
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{name}: groups={groups} must divide both the input channels "
                         f"({in_channels}) and the output channels ({out_channels}); input shape "
                         f"{x_shape}, weight shape {w_shape}")


def _check_positive(name, **values):
    for key, value in values.items():
        if min(value) < 1:
            raise ValueError(f"{name}: {key} must be >= 1, got {value}")


def conv_geometry(x_shape, w_shape, stride, padding, dilation, groups):
    """Validated ConvGeometry of conv2d; raises ValueError naming both shapes on a mismatch."""
    stride, padding, dilation = (pair(stride, "stride"), pair(padding, "padding"),
                                 pair(dilation, "dilation"))
    _check_positive("conv2d", stride=stride, dilation=dilation)
    if min(padding) < 0:
        raise ValueError(f"conv2d: padding must be >= 0, got {padding}")
    n, c, h, w = x_shape
    o, cg, kh, kw = w_shape
    _check_groups("conv2d", groups, c, o, x_shape, w_shape)
    if c != cg * groups:
        raise ValueError(f"conv2d: input has {c} channels but the weight expects {cg * groups} "
                         f"(weight shape {w_shape} with groups={groups}); input shape {x_shape}")
    out_hw = tuple(conv_output_size(size, k, s, p, d) for size, k, s, p, d in
                   zip((h, w), (kh, kw), stride, padding, dilation))
    if min(out_hw) < 1:
        raise ValueError(f"conv2d: kernel {(kh, kw)} with dilation {dilation} is larger than the "
                         f"padded input {(h + 2 * padding[0], w + 2 * padding[1])} (input shape "
                         f"{x_shape}, weight shape {w_shape}, padding {padding})")
    return ConvGeometry(tuple(x_shape), tuple(w_shape), out_hw, stride, padding, dilation, groups)


def conv_transpose_geometry(x_shape, w_shape, stride, padding, output_padding, dilation, groups):
    """ConvGeometry of the convolution whose input gradient is this transposed convolution."""
    name = "conv_transpose2d"
    stride, padding, dilation = (pair(stride, "stride"), pair(padding, "padding"),
                                 pair(dilation, "dilation"))
    output_padding = pair(output_padding, "output_padding")
    _check_positive(name, stride=stride, dilation=dilation)
    n, c, h, w = x_shape
    cin, og, kh, kw = w_shape
    _check_groups(name, groups, c, og * groups, x_shape, w_shape)
    if c != cin:
        raise ValueError(f"{name}: input has {c} channels but the weight (in, out/groups, kH, kW) "
                         f"= {w_shape} expects {cin}; input shape {x_shape}")
    for op, s, d in zip(output_padding, stride, dilation):
        if not 0 <= op < max(s, d):
            raise ValueError(f"{name}: output_padding {output_padding} must be smaller than the "
                             f"stride {stride} or the dilation {dilation}")
    out_hw = tuple((size - 1) * s - 2 * p + d * (k - 1) + op + 1 for size, k, s, p, d, op in
                   zip((h, w), (kh, kw), stride, padding, dilation, output_padding))
    if min(out_hw) < 1 or min(padding) < 0:
        raise ValueError(f"{name}: padding {padding} leaves no output for input shape {x_shape} "
                         f"and weight shape {w_shape}")
    return ConvGeometry((n, og * groups) + out_hw, tuple(w_shape), (h, w), stride, padding,
                        dilation, groups)


def _with_bias_grad(fn, dx, dw, dout):
    """(dx, dw), and the bias gradient (O,) of dout (N, O, OH, OW) when Function `fn` was called
    with a bias."""
    if len(fn.needs_input_grad) == 3:
        return dx, dw, channel_sums(dout) if fn.needs_input_grad[2] else None
    return dx, dw



class Conv2d(Function):
    """y[n, o] = b[o] + sum over c, i, j of w[o, c, i, j] * xpad[n, c, s*y + d*i, s*x + d*j]."""
    name = "conv2d"

    def forward(self, x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        _check_4d("conv2d", x, "input (N, C, H, W)")
        _check_4d("conv2d", w, "weight (out, in/groups, kH, kW)")
        self.geom = conv_geometry(x.shape, w.shape, stride, padding, dilation, groups)
        _check_bias("conv2d", b, w.shape[0])
        self.kernels = select_kernels(x, self.geom)
        wk = self.kernels.prepare_weight(w, self.geom)
        self.save_for_backward(x, wk)
        return self.kernels.conv_forward(x, wk, self.geom, b)

    def backward(self, dout):
        x, w = self.saved
        need_x, need_w = self.needs_input_grad[:2]
        dx = self.kernels.conv_backward_input(dout, w, self.geom) if need_x else None
        dw = self.kernels.conv_backward_weight(dout, x, self.geom) if need_w else None
        return _with_bias_grad(self, dx, dw, dout)


class ConvTranspose2d(Function):
    """The adjoint of conv2d wrt its input: each input pixel scatters w[c] * x[n, c, y, x] into
    the output window at (s*y - p, s*x - p); weight layout (in, out/groups, kH, kW)."""
    name = "conv_transpose2d"

    def forward(self, x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
        _check_4d("conv_transpose2d", x, "input (N, C, H, W)")
        _check_4d("conv_transpose2d", w, "weight (in, out/groups, kH, kW)")
        self.geom = conv_transpose_geometry(x.shape, w.shape, stride, padding, output_padding,
                                            dilation, groups)
        _check_bias("conv_transpose2d", b, self.geom.x_shape[1])
        # the convolution being transposed reads the output; its kernels follow that array's module
        self.kernels = select_kernels(x, self.geom)
        wk = self.kernels.prepare_weight(w, self.geom)
        self.save_for_backward(x, wk)
        y = self.kernels.conv_backward_input(x, wk, self.geom)
        return y if b is None else y + b.reshape(1, -1, 1, 1)

    def backward(self, dout):
        x, w = self.saved
        need_x, need_w = self.needs_input_grad[:2]
        dx = self.kernels.conv_forward(dout, w, self.geom) if need_x else None
        dw = self.kernels.conv_backward_weight(x, dout, self.geom) if need_w else None
        return _with_bias_grad(self, dx, dw, dout)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation (PyTorch's conv2d).

    x: (N, C, H, W); w: (O, C/groups, kH, kW); b: (O,) or None. stride, padding, dilation: int or
    (y, x) pair. Returns (N, O, OH, OW) with OH = floor((H + 2p - d(kH - 1) - 1) / s) + 1.
    """
    params = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    if b is None:
        return Conv2d.apply(x, w, **params)
    return Conv2d.apply(x, w, b, **params)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution (PyTorch's conv_transpose2d), the input gradient of conv2d.

    x: (N, C, H, W); w: (C, O/groups, kH, kW); b: (O,) or None. Returns (N, O, OH, OW) with
    OH = (H - 1)s - 2p + d(kH - 1) + output_padding + 1.
    """
    params = dict(stride=stride, padding=padding, output_padding=output_padding,
                  dilation=dilation, groups=groups)
    if b is None:
        return ConvTranspose2d.apply(x, w, **params)
    return ConvTranspose2d.apply(x, w, b, **params)


__all__ = ["conv2d", "conv_transpose2d"]
