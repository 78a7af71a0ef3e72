"""Generic convolution kernels over `xp`: im2col + one batched GEMM, col2im for the backward.

Written once for numpy and CuPy (chainer's utils/conv.py is the model). im2col copies the kh * kw
strided views ("taps") of the zero-padded input into a (N, C, kh, kw, OH, OW) array, so the whole
convolution is one matmul per group; col2im adds the taps back, which is also how overlapping
windows accumulate their gradient. tinyconv/ops/conv.py picks these kernels, or the faster CPU
ones in conv_cpu.py, through one dispatcher. Every kernel here takes and returns plain arrays.

The four primitives, shared by conv2d and conv_transpose2d (the transpose of a convolution is
its input gradient):
    prepare_weight(w, geom)               w (O, C/G, kh, kw) in the layout the kernels read
    conv_forward(x, wk, geom, b)          (N, C, H, W) -> (N, O, OH, OW), plus bias b (O,)
    conv_backward_input(dout, wk, geom)   (N, O, OH, OW) -> (N, C, H, W)
    conv_backward_weight(dout, x, geom)   -> (O, C/G, kh, kw)
"""
from dataclasses import dataclass

from ..engine.backend import get_array_module
from .matmul import batched_matmul


def pair(value, name):
    """(a, b) from an int or a pair of ints."""
    if isinstance(value, int):
        return value, value
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return value


def conv_output_size(size, kernel, stride, padding, dilation):
    """Output length along one axis: floor((size + 2p - d(k - 1) - 1) / s) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class ConvGeometry:
    """Everything about a convolution except the arrays: input (N, C, H, W), weight (O, C/G, kh,
    kw), output (N, O, OH, OW), and stride, padding, dilation as (y, x) pairs."""
    x_shape: tuple
    w_shape: tuple
    out_hw: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int

    @property
    def out_shape(self):
        return (self.x_shape[0], self.w_shape[0]) + tuple(self.out_hw)


def tap_slices(i, j, out_hw, stride, dilation=(1, 1), offset=(0, 0), channels_last=False):
    """Index of tap (i, j) in a padded (..., Hp, Wp) array, or (N, Hp, Wp, C) when channels_last:
    the (OH, OW) input pixels that meet kernel element (i, j), one per output position, the
    first at `offset` + (i, j) * dilation."""
    (oh, ow), (sh, sw), (dh, dw) = out_hw, stride, dilation
    y0, x0 = offset[0] + i * dh, offset[1] + j * dw
    lead = (slice(None),) if channels_last else (Ellipsis,)
    return lead + (slice(y0, y0 + sh * (oh - 1) + 1, sh), slice(x0, x0 + sw * (ow - 1) + 1, sw))


def im2col(x, geom):
    """(N, C, H, W) -> cols (N, C, kh, kw, OH, OW): cols[n, c, i, j] is tap (i, j) of the zero-
    padded input."""
    xp = get_array_module(x)
    n, c = x.shape[:2]
    kh, kw = geom.w_shape[2:]
    (ph, pw), (oh, ow) = geom.padding, geom.out_hw
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    cols = xp.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xpad[tap_slices(i, j, geom.out_hw, geom.stride, geom.dilation)]
    return cols


def col2im(cols, geom):
    """Adjoint of im2col: cols (N, C, kh, kw, OH, OW) -> (N, C, H, W), overlapping taps summed."""
    xp = get_array_module(cols)
    n, c, h, w = geom.x_shape
    kh, kw = geom.w_shape[2:]
    ph, pw = geom.padding
    xpad = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xpad[tap_slices(i, j, geom.out_hw, geom.stride, geom.dilation)] += cols[:, :, i, j]
    return xpad[:, :, ph:ph + h, pw:pw + w]


def prepare_weight(w, geom):
    """These kernels read the OIHW weight as it is."""
    return w


def _grouped_cols(cols, groups):
    """cols (N, C, kh, kw, OH, OW) -> (N, G, C/G * kh * kw, OH * OW)."""
    n, c, kh, kw, oh, ow = cols.shape
    return cols.reshape(n, groups, c // groups * kh * kw, oh * ow)


def conv_forward(x, w, geom, b=None):
    """Cross-correlation of x (N, C, H, W) with w (O, C/G, kh, kw), plus bias b (O,) or None
    -> (N, O, OH, OW)."""
    g, o = geom.groups, geom.w_shape[0]
    cols = _grouped_cols(im2col(x, geom), g)                  # (N, G, C/G*kh*kw, OH*OW)
    y = batched_matmul(w.reshape(1, g, o // g, -1), cols).reshape(geom.out_shape)  # NOHW
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv_backward_input(dout, w, geom):
    """Gradient wrt the input: dout (N, O, OH, OW) -> dx (N, C, H, W)."""
    n, o, oh, ow = dout.shape
    g = geom.groups
    w_t = w.reshape(g, o // g, -1).transpose(0, 2, 1)          # (G, C/G*kh*kw, O/G)
    dcols = batched_matmul(w_t, dout.reshape(n, g, o // g, oh * ow))  # (N, G, CK/G, OH*OW)
    kh, kw = geom.w_shape[2:]
    return col2im(dcols.reshape((n, geom.x_shape[1], kh, kw, oh, ow)), geom)


def conv_backward_weight(dout, x, geom):
    """Gradient wrt the weight: dout (N, O, OH, OW), x (N, C, H, W) -> dw (O, C/G, kh, kw)."""
    n, o, oh, ow = dout.shape
    g = geom.groups
    cols = _grouped_cols(im2col(x, geom), g)                  # (N, G, C/G*kh*kw, OH*OW)
    dw = batched_matmul(dout.reshape(n, g, o // g, oh * ow),
                        cols.transpose(0, 1, 3, 2))  # (N, G, O/G, CK)
    return dw.sum(axis=0).reshape(geom.w_shape)
