"""Winograd convolution F(2x2, 3x3) and F(4x4, 3x3) for numpy, channels-last.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2015). Each m x m block of
output comes from an a x a tile of input (a = m + 2, tiles overlapping by 2):
Y = A^T [(G g G^T) . (B^T d B)] A. Over all tiles and channels the elementwise product becomes
a * a GEMMs of (tiles, C) @ (C, O), where the direct method needs 9 * m * m of them per tile:
2.25x fewer multiplications for F(2x2) and 4x fewer for F(4x4), at the price of transforming the
inputs (B^T d B) and outputs (A^T m A). For layers with few tiles x channels each 2-D transform
is one BLAS product (kron(B^T, B^T) over the gathered tiles); for larger ones the transforms
are separable (rows, then columns), done with numpy's in-place ufuncs over strided views, a few
tile rows at a time so that the row-transformed intermediate stays in cache, and split over the
cores (parallel_cpu).

Accuracy (float32, relative to the largest output): F(2x2) is as accurate as the direct method;
F(4x4) loses about one more decimal digit (its transforms have entries up to 5 and 8), the price
of the larger tile. conv_cpu chooses which tile, if any, a layer uses.

Stride 1, dilation 1, 3x3 kernels only. The input gradient of such a convolution is another one
(flipped, transposed weights, padding 2 - p), so the same routine serves the backward.
"""
from dataclasses import dataclass

import numpy as np

from . import blas as blas_cpu
from .channels_last import embed
from .parallel import for_each_part, parts_for

CHUNK_ELEMENTS = 2 ** 17  # a chunk's row-transformed intermediate (elements), kept in cache


def _bt2(d, out):
    """out[0..3] = B^T d along one axis (F(2x2)): d0 - d2, d1 + d2, d2 - d1, d1 - d3."""
    np.subtract(d[0], d[2], out=out[0])
    np.add(d[1], d[2], out=out[1])
    np.subtract(d[2], d[1], out=out[2])
    np.subtract(d[1], d[3], out=out[3])


def _at2(m, out):
    """out[0..1] = A^T m along one axis (F(2x2)): m0 + m1 + m2, m1 - m2 - m3."""
    np.add(m[0], m[1], out=out[0])
    out[0] += m[2]
    np.subtract(m[1], m[2], out=out[1])
    out[1] -= m[3]


def _bt4(d, out):
    """out[0..5] = B^T d along one axis (F(4x4)), sharing partial sums:
    4d0 - 5d2 + d4, (d3 + d4) - 4(d1 + d2), (d4 - d3) + 4(d1 - d2), (d4 - d2) -+ 2(d1 - d3),
    4d1 - 5d3 + d5."""
    t42, t13, t = (np.empty_like(out[0]) for _ in range(3))
    np.subtract(d[4], d[2], out=t42)
    np.subtract(d[1], d[3], out=t13)
    t13 *= 2
    np.subtract(t42, t13, out=out[3])
    np.add(t42, t13, out=out[4])
    np.subtract(d[0], d[2], out=out[0])
    out[0] *= 4
    out[0] += t42
    t13 *= 2
    np.subtract(d[5], d[3], out=out[5])
    out[5] += t13
    np.add(d[3], d[4], out=out[1])
    np.add(d[1], d[2], out=t)
    t *= 4
    out[1] -= t
    np.subtract(d[4], d[3], out=out[2])
    np.subtract(d[1], d[2], out=t)
    t *= 4
    out[2] += t


def _at4(m, out):
    """out[0..3] = A^T m along one axis (F(4x4)): with s = m1 + m2, d = m1 - m2, S = m3 + m4,
    D = m3 - m4: m0 + s + S, d + 2D, s + 4S, d + 8D + m5."""
    s, d, big_s, big_d = (np.empty_like(out[0]) for _ in range(4))
    np.add(m[1], m[2], out=s)
    np.subtract(m[1], m[2], out=d)
    np.add(m[3], m[4], out=big_s)
    np.subtract(m[3], m[4], out=big_d)
    np.add(m[0], s, out=out[0])
    out[0] += big_s
    np.multiply(big_d, 2, out=out[1])
    out[1] += d
    np.multiply(big_s, 4, out=out[2])
    out[2] += s
    np.multiply(big_d, 8, out=out[3])
    out[3] += d
    out[3] += m[5]


@dataclass(frozen=True)
class Tile:
    """F(m x m, 3x3): output tile m, input tile a = m + 2, the 1-D transforms (as in-place ufunc
    sequences and as matrices B^T (a, a), A^T (m, a)) and G (a, 3)."""
    m: int
    input_transform: object   # (list of a views, list of a outputs) -> None
    output_transform: object  # (list of a views, list of m outputs) -> None
    g: np.ndarray             # (a, 3)
    bt: np.ndarray            # (a, a)
    at: np.ndarray            # (m, a)

    @property
    def a(self):
        return self.m + 2


F2 = Tile(2, _bt2, _at2, np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]),
          np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]),
          np.array([[1, 1, 1, 0], [0, 1, -1, -1]]))
F4 = Tile(4, _bt4, _at4, np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6],
                                   [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
                                   [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
          np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                    [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]),
          np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                    [0, 1, -1, 8, -8, 1]]))
TILES = {2: F2, 4: F4}
# (a*a, 9) per tile: row a*k + l of G g G^T from the 9 kernel taps (3i + j)
WEIGHT_TRANSFORMS = {m: np.kron(tile.g, tile.g) for m, tile in TILES.items()}
# The 2-D transforms as single matrices over a tile's a*a (row-major) values:
# B^T d B -> (a*a, a*a) and A^T M A -> (m*m, a*a)
INPUT_TRANSFORMS = {m: np.kron(tile.bt, tile.bt) for m, tile in TILES.items()}
OUTPUT_TRANSFORMS = {m: np.kron(tile.at, tile.at) for m, tile in TILES.items()}
# Up to this many tiles x channels, the transforms run as one BLAS product over gathered tiles
# (all cores, few calls); above it, as in-place ufuncs over cache-sized chunks (less memory
# traffic): the gathered tiles of a large layer do not fit in cache, and each BLAS product
# then streams them from memory.
GEMM_TRANSFORM_MAX_ELEMENTS = 2 ** 17


def blas_transforms(tiles, channels):
    """Whether the transforms of `tiles` tiles of `channels` channels run as BLAS products."""
    return tiles * channels <= GEMM_TRANSFORM_MAX_ELEMENTS


def _flip_permutation(g):
    """perm with G @ reversed(g) == (G @ g)[perm] for every 3-tap g, or None if no such row
    permutation exists. F(2x2) has one (flipping the kernel maps each interpolation point x to
    1/x, and its points 0, 1, -1, infinity go to each other); F(4x4) has none (2 -> 1/2)."""
    reversed_g = g[:, ::-1]
    perm = []
    for row in reversed_g:
        matches = [k for k in range(len(g)) if np.array_equal(g[k], row)]
        if not matches:
            return None
        perm.append(matches[0])
    return np.array(perm)


def _flip_permutation_2d(g):
    """The permutation of the a*a rows of G g G^T that flips the 3x3 kernel, or None."""
    perm = _flip_permutation(g)
    if perm is None:
        return None
    return (perm[:, None] * len(perm) + perm[None, :]).ravel()


# Rows of the transformed weight that give the transform of the 180-degree-rotated kernel
FLIPPED_ROWS = {m: _flip_permutation_2d(tile.g) for m, tile in TILES.items()}


def flipped_weights(u, w, tile):
    """The transformed flipped kernel (the input gradient's weights) as a*a (O, C) operands:
    rows of the forward's transformed weights u (a*a, O, C) where the tile allows (F(2x2): no
    arithmetic, no copy), else transform_weights(w, tile, flipped=True)."""
    rows = FLIPPED_ROWS[tile.m]
    if rows is None:
        return transform_weights(w, tile, flipped=True)
    return [u[k] for k in rows]


def transform_weights(w, tile, flipped=False):
    """w (O, C, 3, 3) -> (a*a, O, C): G g G^T for every (out, in) pair, as one BLAS product
    (which also brings each transformed tap together as one (O, C) block). flipped: the kernel
    rotated by 180 degrees (tap 3i + j reads tap 8 - 3i - j), for the input gradient."""
    o, c = w.shape[:2]
    transform = WEIGHT_TRANSFORMS[tile.m]
    if flipped:
        transform = transform[:, ::-1]
    return blas_cpu.gemm(np.ascontiguousarray(transform, dtype=w.dtype),
                         w.reshape(o * c, 9).T).reshape(tile.a * tile.a, o, c)


def _chunks(start, stop, per_row):
    """(s0, s1) runs of tile rows within [start, stop), each about CHUNK_ELEMENTS big."""
    step = max(1, CHUNK_ELEMENTS // per_row)
    return [(s0, min(s0 + step, stop)) for s0 in range(start, stop, step)]


def _input_tiles(x, padding, tiles_hw, tile):
    """B^T d B of every a x a input tile (stride m): x (N, C, H, W) -> V (a*a, N*TH*TW, C)."""
    n, c = x.shape[:2]
    (th, tw), m, a = tiles_hw, tile.m, tile.a
    hq, wq = m * th + 2, m * tw + 2  # the padded input that the tiles cover
    xp = embed(x, (hq, wq), padding).reshape(n, hq, wq, c)
    v = np.empty((a, a, n, th, tw, c), dtype=x.dtype)

    def transform_tile_rows(start, stop):
        for s0, s1 in _chunks(start, stop, a * n * wq * c):
            rows = [xp[:, m * s0 + i:m * (s1 - 1) + i + 1:m] for i in range(a)]
            r = np.empty((a, n, s1 - s0, wq, c), dtype=x.dtype)
            tile.input_transform(rows, r)
            for k in range(a):
                tile.input_transform([r[k][:, :, j:j + m * (tw - 1) + 1:m] for j in range(a)],
                                     v[k][:, :, s0:s1])
    for_each_part(transform_tile_rows, th, v.size)
    return v.reshape(a * a, n * th * tw, c)


def _output_tiles(mm, tile, bias):
    """A^T M A of every tile: mm (a, a, N, TH, TW, O) -> y (N, TH, m, TW, m, O)."""
    _, _, n, th, tw, o = mm.shape
    m, a = tile.m, tile.a
    y = np.empty((n, th, m, tw, m, o), dtype=mm.dtype)

    def transform_tile_rows(start, stop):
        for s0, s1 in _chunks(start, stop, m * a * n * tw * o):
            s = np.empty((m, a, n, s1 - s0, tw, o), dtype=mm.dtype)
            for l in range(a):
                tile.output_transform([mm[k, l, :, s0:s1] for k in range(a)],
                                      [s[i, l] for i in range(m)])
            for i in range(m):
                tile.output_transform(s[i], [y[:, s0:s1, i, :, j] for j in range(m)])
                if bias is not None:
                    y[:, s0:s1, i] += bias
    for_each_part(transform_tile_rows, th, mm.size)
    return y


def _input_tiles_gemm(x, padding, tiles_hw, tile):
    """_input_tiles as one BLAS product: the a x a tiles gathered into D (a*a, P, C), then
    V = kron(B^T, B^T) @ D."""
    n, c = x.shape[:2]
    (th, tw), m, a = tiles_hw, tile.m, tile.a
    hq, wq = m * th + 2, m * tw + 2
    xp = embed(x, (hq, wq), padding).reshape(n, hq, wq, c)
    d = np.empty((a, a, n, th, tw, c), dtype=x.dtype)

    def gather_tile_rows(start, stop):
        for i in range(a):
            for j in range(a):
                d[i, j, :, start:stop] = xp[:, m * start + i:m * (stop - 1) + i + 1:m,
                                            j:j + m * (tw - 1) + 1:m]
    for_each_part(gather_tile_rows, th, d.size)
    transform = INPUT_TRANSFORMS[m].astype(x.dtype)
    return blas_cpu.gemm(transform, d.reshape(a * a, -1)).reshape(a * a, n * th * tw, c)


def _output_tiles_gemm(mm, tile, bias):
    """_output_tiles as one BLAS product, Y = kron(A^T, A^T) @ M, then scattered into
    y (N, TH, m, TW, m, O)."""
    _, _, n, th, tw, o = mm.shape
    m, a = tile.m, tile.a
    transform = OUTPUT_TRANSFORMS[m].astype(mm.dtype)
    yt = blas_cpu.gemm(transform, mm.reshape(a * a, -1)).reshape(m, m, n, th, tw, o)
    y = np.empty((n, th, m, tw, m, o), dtype=mm.dtype)

    def scatter_tile_rows(start, stop):
        for i in range(m):
            for j in range(m):
                y[:, start:stop, i, :, j] = yt[i, j, :, start:stop]
            if bias is not None:
                y[:, start:stop, i] += bias
    for_each_part(scatter_tile_rows, th, y.size)
    return y


def _products(v, u, mm):
    """mm[k] = v[k] @ u[k] for the a*a products of a layer. Products too small for one batched
    BLAS call (blas_cpu.GEMM_BATCH_MIN_MNK) run in parts over the cores, each product on one
    core: a product of a few dozen tiles split over the cores spends its time synchronizing, and
    where another process holds a core, each of the a*a split products waits for it."""
    (p, c), o = v[0].shape, mm[0].shape[1]
    if p * c * o >= blas_cpu.GEMM_BATCH_MIN_MNK or parts_for(len(mm), mm[0].size * len(mm)) < 2:
        blas_cpu.gemm_batch(list(v), list(u), list(mm))
        return

    def run(start, stop):
        for k in range(start, stop):
            blas_cpu.gemm(v[k], u[k], out=mm[k])
    blas_cpu.over_parts(run, len(mm), mm[0].size * len(mm))


def conv3x3(x, u, padding, out_channels, tile, bias=None):
    """x (N, C, H, W) correlated with transformed weights u: a*a GEMM operands (C, O) (an array
    or a sequence of 2-D arrays) ->
    (N, O, OH, OW), a view of channels-last memory. padding: (ph, pw), each 0, 1 or 2."""
    n, _, h, w = x.shape
    m, a = tile.m, tile.a
    oh, ow = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2
    th, tw = -(-oh // m), -(-ow // m)
    tiles = n * th * tw
    input_tiles = _input_tiles_gemm if blas_transforms(tiles, x.shape[1]) else _input_tiles
    output_tiles = _output_tiles_gemm if blas_transforms(tiles, out_channels) else _output_tiles
    v = input_tiles(x, padding, (th, tw), tile)
    mm = np.empty((a * a, tiles, out_channels), dtype=x.dtype)      # (a*a, P, O)
    _products(v, u, mm)                                              # v: (a*a, P, C)
    y = output_tiles(mm.reshape(a, a, n, th, tw, out_channels), tile, bias)
    return y.reshape(n, m * th, m * tw, out_channels)[:, :oh, :ow].transpose(0, 3, 1, 2)
