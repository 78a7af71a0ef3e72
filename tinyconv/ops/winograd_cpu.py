"""Winograd F(2x2, 3x3) convolution for numpy, channels-last: 2.25x fewer multiplications.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2015). Each 2x2 block of
output comes from a 4x4 tile of input: Y = A^T [(G g G^T) . (B^T d B)] A. Over all tiles and
channels, the elementwise product becomes 16 GEMMs of (tiles, C) @ (C, O), against 36 GEMMs of
the same size for the direct method, at the price of transforming inputs (B^T d B) and outputs
(A^T m A) with additions only, over strided views. That trade wins for wide layers on mid-size
images (the GEMMs dominate); conv_cpu decides where to use it. float32 error stays at the
level of the direct method's (the transforms have entries 0, +-1, +-1/2).

Stride 1, dilation 1, 3x3 kernels only. The input gradient of such a convolution is another one
(flipped, transposed weights, padding 2 - p), so the same routine serves the backward.
"""
import numpy as np

from . import blas_cpu
from .channels_last import embed
from .parallel_cpu import for_each_part

G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
# (16, 9): row 4k + l maps the 9 kernel taps (3i + j) to transformed weight (k, l), G g G^T
WEIGHT_TRANSFORM = np.kron(G, G)
# the same for the kernel flipped in both axes (tap 3i + j reads tap 8 - 3i - j)
WEIGHT_TRANSFORM_FLIPPED = np.ascontiguousarray(WEIGHT_TRANSFORM[:, ::-1])


def transform_weights(w, flipped=False):
    """w (O, C, 3, 3) -> (16, O, C): G g G^T for every (out, in) pair, as one BLAS product
    (which also brings each of the 16 transformed taps together as one (O, C) block)."""
    o, c = w.shape[:2]
    transform = WEIGHT_TRANSFORM_FLIPPED if flipped else WEIGHT_TRANSFORM
    return blas_cpu.gemm(transform.astype(w.dtype), w.reshape(o * c, 9).T).reshape(16, o, c)


def _input_tiles(x, padding, tiles_hw):
    """B^T d B of every 4x4 input tile (stride 2): x (N, C, H, W) -> V (16, N*TH*TW, C)."""
    n, c = x.shape[:2]
    th, tw = tiles_hw
    hq, wq = 2 * th + 2, 2 * tw + 2  # the padded input that the tiles cover
    xp = embed(x, (hq, wq), padding).reshape(n, hq, wq, c)
    v = np.empty((4, 4, n, th, tw, c), dtype=x.dtype)

    def transform_tile_rows(start, stop):
        rows = [xp[:, 2 * start + a:2 * stop + a - 1:2] for a in range(4)]  # d rows 0..3
        r = np.empty((4, n, stop - start, wq, c), dtype=x.dtype)
        _transform_bt(rows, r)
        for k in range(4):
            _transform_bt([r[k][:, :, b:b + 2 * tw - 1:2] for b in range(4)],
                          v[k][:, :, start:stop])
    for_each_part(transform_tile_rows, th, v.size)
    return v.reshape(16, n * th * tw, c)


def _transform_bt(d, out):
    """out[0..3] = B^T d along one axis: d0 - d2, d1 + d2, d2 - d1, d1 - d3."""
    np.subtract(d[0], d[2], out=out[0])
    np.add(d[1], d[2], out=out[1])
    np.subtract(d[2], d[1], out=out[2])
    np.subtract(d[1], d[3], out=out[3])


def _transform_at(m, out0, out1):
    """(out0, out1) = A^T m along one axis: m0 + m1 + m2, m1 - m2 - m3."""
    np.add(m[0], m[1], out=out0)
    out0 += m[2]
    np.subtract(m[1], m[2], out=out1)
    out1 -= m[3]


def conv3x3(x, u, padding, out_channels, bias=None):
    """x (N, C, H, W) correlated with transformed weights u: 16 GEMM operands (C, O) ->
    (N, O, OH, OW), a view of channels-last memory. padding: (ph, pw), each 0, 1 or 2."""
    n, _, h, w = x.shape
    oh, ow = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    v = _input_tiles(x, padding, (th, tw))                          # (16, P, C)
    m = np.empty((16, n * th * tw, out_channels), dtype=x.dtype)    # (16, P, O)
    for kl in range(16):
        blas_cpu.gemm(v[kl], u[kl], out=m[kl])
    m = m.reshape(4, 4, n, th, tw, out_channels)
    y = np.empty((n, th, 2, tw, 2, out_channels), dtype=x.dtype)   # (N, 2TH, 2TW, O) in tiles

    def transform_tile_rows(start, stop):
        s = np.empty((2, 4, n, stop - start, tw, out_channels), dtype=x.dtype)
        for l in range(4):
            _transform_at(m[:, l, :, start:stop], s[0, l], s[1, l])
        for a in range(2):
            _transform_at(s[a], y[:, start:stop, a, :, 0], y[:, start:stop, a, :, 1])
            if bias is not None:
                y[:, start:stop, a] += bias
    for_each_part(transform_tile_rows, th, m.size)
    return y.reshape(n, 2 * th, 2 * tw, out_channels)[:, :oh, :ow].transpose(0, 3, 1, 2)
