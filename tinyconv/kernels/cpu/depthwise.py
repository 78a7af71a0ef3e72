"""Depthwise convolution on numpy: groups == input channels == output channels (MobileNet).

The same four primitives as im2col.py, for float32/float64, any kernel size, stride, padding and
dilation. Each output channel reads one input channel, so there is no GEMM to make: the generic
path's im2col copy plus a batch of C tiny (1 x kh*kw) @ (kh*kw x OH*OW) products spends its
time on the copy and on per-group overhead. Here, channels-last, the convolution is kh * kw
multiply-adds of whole (N, rows, OW, C) views, one per kernel tap, each scaled per channel:

    forward            out[n, y, x]          += xpad[n, s*y + d*i, s*x + d*j] * w[i, j]
    input gradient     dxpad[n, s*y + d*i, s*x + d*j] += dout[n, y, x] * w[i, j]
    weight gradient    dw[i, j] = sum over n, y, x of dout[n, y, x] * xpad[n, s*y + d*i, ...]

(vectors over C). The work is cut into blocks of rows whose output and one product stay in
cache while every tap adds into them, and the blocks run over the cores (parallel.py). The input
gradient is cut by rows of dxpad, each block adding the taps' products of the dout rows that
land in it, so blocks write disjoint memory at any stride. Outputs are (N, C, H, W) views of
channels-last memory, like conv.py's.
"""
import numpy as np

from .. import im2col
from .channels_last import embed
from .parallel import for_each_part

BLOCK_ELEMENTS = 2 ** 17  # values per block: a block and a tap's product stay in a core's L2 (1-2 MiB)


def applies(x, geom):
    """True for depthwise convolutions of numpy float arrays."""
    c = geom.x_shape[1]
    return x.dtype in (np.float32, np.float64) and geom.groups == c == geom.w_shape[0]


def prepare_weight(w, geom):
    """w (C, 1, kh, kw) -> (kh * kw, C): each tap's per-channel scale as one row."""
    return np.ascontiguousarray(w.reshape(w.shape[0], -1).T)


def _padded(x, geom):
    """x (N, C, H, W) -> its zero-padded channels-last copy (N, Hp, Wp, C)."""
    n, c, h, w = geom.x_shape
    (ph, pw) = geom.padding
    grid = (h + 2 * ph, w + 2 * pw)
    return embed(x, grid, (ph, pw)).reshape(n, *grid, c)


def _taps(geom):
    kh, kw = geom.w_shape[2:]
    return [(i, j) for i in range(kh) for j in range(kw)]


def _tap(geom, i, j, start, stop):
    """Index in a padded (N, Hp, Wp, C) array of tap (i, j) for output rows start..stop-1."""
    return im2col.tap_slices(i, j, (stop - start, geom.out_hw[1]), geom.stride, geom.dilation,
                             offset=(start * geom.stride[0], 0), channels_last=True)


def _blocks(start, stop, row_elements):
    """(start, stop) blocks of rows of `row_elements` values, about BLOCK_ELEMENTS each."""
    step = max(1, BLOCK_ELEMENTS // row_elements)
    return [(a, min(a + step, stop)) for a in range(start, stop, step)]


def _rows_last(a):
    """(N, C, H, W) -> contiguous channels-last (N, H, W, C) (a view when it already is)."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def conv_forward(x, wk, geom, b=None):
    """x (N, C, H, W), wk (kh*kw, C) -> (N, C, OH, OW), a view of channels-last memory."""
    n, c = geom.x_shape[:2]
    oh, ow = geom.out_hw
    xpad = _padded(x, geom)
    out = np.empty((n, oh, ow, c), dtype=x.dtype)
    taps = _taps(geom)

    def rows(start, stop):
        for r0, r1 in _blocks(start, stop, n * ow * c):
            block = out[:, r0:r1]
            product = np.empty_like(block)
            for t, (i, j) in enumerate(taps):
                source = xpad[_tap(geom, i, j, r0, r1)]
                if t == 0 and b is None:
                    np.multiply(source, wk[0], out=block)
                    continue
                if t == 0:
                    block[...] = b
                np.multiply(source, wk[t], out=product)
                block += product
    for_each_part(rows, oh, out.size * len(taps))
    return out.transpose(0, 3, 1, 2)


def _landing_rows(geom, i, start, stop):
    """The dout rows y whose tap-row-i pixels land in padded rows start..stop-1:
    start <= s*y + d*i < stop."""
    s, d = geom.stride[0], geom.dilation[0]
    first = max(0, -(-(start - d * i) // s))
    last = min(geom.out_hw[0], -(-(stop - d * i) // s))
    return first, last


def conv_backward_input(dout, wk, geom):
    """dout (N, C, OH, OW) -> dx (N, C, H, W), a view of channels-last memory."""
    n, c, h, w = geom.x_shape
    ow = geom.out_hw[1]
    (ph, pw) = geom.padding
    hp, wp = h + 2 * ph, w + 2 * pw
    grad = _rows_last(dout)
    dxpad = np.empty((n, hp, wp, c), dtype=dout.dtype)
    taps = _taps(geom)

    def rows(start, stop):
        for r0, r1 in _blocks(start, stop, n * wp * c):
            dxpad[:, r0:r1] = 0
            product = np.empty((n, r1 - r0, ow, c), dtype=dout.dtype)
            for t, (i, j) in enumerate(taps):
                y0, y1 = _landing_rows(geom, i, r0, r1)
                if y1 <= y0:
                    continue
                part = product[:, :y1 - y0]
                np.multiply(grad[:, y0:y1], wk[t], out=part)
                dxpad[_tap(geom, i, j, y0, y1)] += part
    for_each_part(rows, hp, grad.size * len(taps))
    return dxpad[:, ph:ph + h, pw:pw + w].transpose(0, 3, 1, 2)


def conv_backward_weight(dout, x, geom):
    """dout (N, C, OH, OW), x (N, C, H, W) -> dw (C, 1, kh, kw)."""
    n, c = geom.x_shape[:2]
    oh, ow = geom.out_hw
    xpad = _padded(x, geom)
    grad = _rows_last(dout)
    taps = _taps(geom)
    sums = {}

    def rows(start, stop):
        total = np.zeros((len(taps), c), dtype=np.float64)
        for r0, r1 in _blocks(start, stop, n * ow * c):
            block = grad[:, r0:r1]
            product = np.empty_like(block)
            for t, (i, j) in enumerate(taps):
                np.multiply(block, xpad[_tap(geom, i, j, r0, r1)], out=product)
                total[t] += product.reshape(-1, c).sum(axis=0)
        sums[start] = total
    for_each_part(rows, oh, grad.size * len(taps))
    dw = sum(sums.values())
    return np.ascontiguousarray(dw.T.astype(x.dtype)).reshape(geom.w_shape)
