"""Fast convolution kernels for numpy: channels-last inside, NCHW at the interface.

The same four primitives as im2col.py (prepare_weight, conv_forward, conv_backward_input,
conv_backward_weight), for groups=1 and float32/float64, with every GEMM through blas_cpu.

Inside, activations are channels-last rows: a (N, C, H, W) input is copied once into a zero-
bordered (N * Hp * Wp, C) buffer (Hp, Wp: padded height and width). Outputs come back as
(N, O, OH, OW) views of (N, OH, OW, O) memory, like PyTorch's channels_last; numpy's elementwise
ops keep that order, so the next layer's copy into its buffer is a plain block copy.

Two strategies, chosen per layer by `shifted_gemms_apply`:
- shifted GEMMs (stride 1, many rows): in the row buffer, kernel tap (i, j) of every output
  position is the same buffer shifted by i*dh*Wp + j*dw rows, a contiguous block. The output
  is the sum over taps of block @ W_ij, nine GEMMs accumulating in place (beta=1) into an output
  laid out on the padded grid, whose extra columns and rows are never read. No im2col copy.
  The input gradient is the same sum with negative shifts over the zero-embedded gradient.
- im2col + one GEMM (strided, few channels, or small images): taps copied into a
  (rows, C, kh * kw) matrix whose column order matches the OIHW weight, so the weight needs no
  rearranging, which for small images costs more than the copy of the input.
"""
import numpy as np

from . import blas_cpu

# Shifted GEMMs need each tap's (O, C) weight as a contiguous block; the rearranged copy of the
# weight costs about as much as an im2col copy of this many input rows per output channel.
SHIFTED_MIN_ROWS_PER_CHANNEL = 0.5
SHIFTED_MIN_CHANNELS = 16  # with fewer input channels, nine GEMMs of depth C are too thin
# Output rows per block of shifted GEMMs: a block's output stays in cache over all its taps
BLOCK_ELEMENTS = 2 ** 18
MIN_BLOCK_ROWS = 1024


def applies(x, geom):
    """True when these kernels handle the convolution (numpy float, groups=1)."""
    return x.dtype in (np.float32, np.float64) and geom.groups == 1


def shifted_gemms_apply(geom):
    """True when the shifted-GEMM strategy is the faster one for this layer (see module doc)."""
    n, c, h, w = geom.x_shape
    (ph, pw) = geom.padding
    grid_rows = n * (h + 2 * ph) * (w + 2 * pw)
    return (geom.stride == (1, 1) and c >= SHIFTED_MIN_CHANNELS
            and grid_rows >= SHIFTED_MIN_ROWS_PER_CHANNEL * geom.w_shape[0])


def channels_last_rows(a):
    """(N, C, H, W) -> its (N * H * W, C) channels-last matrix (a view when memory allows)."""
    n, c, h, w = a.shape
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).reshape(n * h * w, c)


def as_nchw(rows, n, h, w):
    """(N * H * W, C) channels-last matrix -> (N, C, H, W) view."""
    return rows.reshape(n, h, w, -1).transpose(0, 3, 1, 2)


def embed(a, grid_hw, top_left, front=0):
    """Zero (front + N * Hp * Wp, C) buffer with (N, C, H, W) array `a` placed at `top_left` of
    each image's (Hp, Wp) grid; only the part outside `a` is zero-filled."""
    n, c, h, w = a.shape
    (hp, wp), (top, left) = grid_hw, top_left
    buf = np.empty((front + n * hp * wp, c), dtype=a.dtype)
    buf[:front] = 0
    grid = buf[front:].reshape(n, hp, wp, c)
    grid[:, :top] = 0
    grid[:, top + h:] = 0
    grid[:, top:top + h, :left] = 0
    grid[:, top:top + h, left + w:] = 0
    grid[:, top:top + h, left:left + w] = a.transpose(0, 2, 3, 1)
    return buf


def _grid(geom):
    """Padded grid (Hp, Wp) and the row shift of each kernel tap, in (i, j) order."""
    _, _, h, w = geom.x_shape
    kh, kw = geom.w_shape[2:]
    (ph, pw), (dh, dw) = geom.padding, geom.dilation
    hp, wp = h + 2 * ph, w + 2 * pw
    shifts = [i * dh * wp + j * dw for i in range(kh) for j in range(kw)]
    return (hp, wp), shifts


def taps_first(w, chunk=16384):
    """(O, C, kh, kw) -> contiguous (kh * kw, O, C): each tap's weight as one block.

    Copied in chunks of O * C rows so each chunk's nine strided reads hit the cache (about twice
    as fast as one numpy transpose)."""
    o, c, kh, kw = w.shape
    flat = w.reshape(o * c, kh * kw)
    out = np.empty((kh * kw, o * c), dtype=w.dtype)
    for start in range(0, o * c, chunk):
        out[:, start:start + chunk] = flat[start:start + chunk].T
    return out.reshape(kh * kw, o, c)


class PreparedWeight:
    """The weight in the layout the chosen strategy reads: per-tap blocks (kh*kw, O, C) for
    shifted GEMMs, the OIHW matrix (O, C * kh * kw) for im2col."""

    def __init__(self, w, geom):
        self.shifted = shifted_gemms_apply(geom)
        self.taps = taps_first(w) if self.shifted else None
        self.matrix = None if self.shifted else w.reshape(w.shape[0], -1)


def prepare_weight(w, geom):
    return PreparedWeight(w, geom)


def conv_forward(x, wk, geom, b=None):
    """x (N, C, H, W) -> (N, O, OH, OW) as a view of channels-last memory."""
    if wk.shifted:
        return _shifted_forward(x, wk.taps, geom, b)
    return _im2col_forward(x, wk.matrix, geom, b)


def conv_backward_input(dout, wk, geom):
    """dout (N, O, OH, OW) -> dx (N, C, H, W), a view of channels-last memory."""
    if wk.shifted:
        return _shifted_backward_input(dout, wk.taps, geom)
    return _im2col_backward_input(dout, wk.matrix, geom)


def conv_backward_weight(dout, x, geom):
    """dout (N, O, OH, OW), x (N, C, H, W) -> dw (O, C, kh, kw)."""
    if shifted_gemms_apply(geom):
        return _shifted_backward_weight(dout, x, geom)
    return _im2col_backward_weight(dout, x, geom)


# ----- shifted GEMMs (stride 1)

def _row_blocks(rows, width):
    """(start, stop) blocks of output rows, each small enough that its (block, width) output
    stays in cache while all the taps accumulate into it."""
    step = max(MIN_BLOCK_ROWS, BLOCK_ELEMENTS // width)
    return [(start, min(start + step, rows)) for start in range(0, rows, step)]


def _shifted_gemms(src, taps, shifts, out, rows, bias=None):
    """out[r] = bias + sum over taps t of src[r + shifts[t]] @ taps[t], for r < rows, block by
    block. src: (R, K) rows; taps: (T, K, M) matrices; out: (>= rows, M)."""
    for start, stop in _row_blocks(rows, out.shape[1]):
        block = out[start:stop]
        beta = 0.0
        if bias is not None:
            block[:] = bias
            beta = 1.0
        for shift, tap in zip(shifts, taps):
            blas_cpu.gemm(src[start + shift:stop + shift], tap, out=block, beta=beta)
            beta = 1.0


def _shifted_forward(x, taps, geom, b):
    n = geom.x_shape[0]
    (hp, wp), shifts = _grid(geom)
    oh, ow = geom.out_hw
    xrows = embed(x, (hp, wp), geom.padding)                      # (N*Hp*Wp, C)
    out = np.empty((n * hp * wp, geom.w_shape[0]), dtype=x.dtype)  # output on the padded grid
    rows = n * hp * wp - shifts[-1]  # the last valid output row is rows - 1
    _shifted_gemms(xrows, taps.transpose(0, 2, 1), shifts, out, rows, b)
    return out.reshape(n, hp, wp, -1)[:, :oh, :ow].transpose(0, 3, 1, 2)


def _shifted_backward_input(dout, taps, geom):
    """dxpad[r] = sum over taps of dout_grid[r - shift] @ W_ij^T."""
    n, c, h, w = geom.x_shape
    (hp, wp), shifts = _grid(geom)
    front = shifts[-1]  # zero rows before the first image, for the negative shifts
    grows = embed(dout, (hp, wp), (0, 0), front)                  # (front + N*Hp*Wp, O)
    dxrows = np.empty((n * hp * wp, c), dtype=dout.dtype)
    _shifted_gemms(grows, taps, [front - shift for shift in shifts], dxrows, n * hp * wp)
    ph, pw = geom.padding
    return dxrows.reshape(n, hp, wp, c)[:, ph:ph + h, pw:pw + w].transpose(0, 3, 1, 2)


def _shifted_backward_weight(dout, x, geom):
    """dW_ij^T = dout_grid^T @ (input rows shifted by tap ij)."""
    n = geom.x_shape[0]
    o, c, kh, kw = geom.w_shape
    (hp, wp), shifts = _grid(geom)
    xrows = embed(x, (hp, wp), geom.padding)
    grows = embed(dout, (hp, wp), (0, 0))
    rows = n * hp * wp - shifts[-1]
    dw_taps = np.empty((kh * kw, o, c), dtype=x.dtype)
    for t, shift in enumerate(shifts):
        blas_cpu.gemm(grows[:rows].T, xrows[shift:shift + rows], out=dw_taps[t])
    return np.ascontiguousarray(dw_taps.reshape(kh, kw, o, c).transpose(2, 3, 0, 1))


# ----- im2col + one GEMM (any stride and dilation)

def _tap_index(geom, i, j):
    """Index of tap (i, j) in a padded channels-last (N, Hp, Wp, C) array."""
    (oh, ow), (sh, sw), (dh, dw) = geom.out_hw, geom.stride, geom.dilation
    return (slice(None), slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))


def _im2col(x, geom):
    """x (N, C, H, W) -> (N * OH * OW, C * kh * kw), columns in the OIHW weight's order."""
    n, c, h, w = geom.x_shape
    kh, kw = geom.w_shape[2:]
    (ph, pw), (oh, ow) = geom.padding, geom.out_hw
    xpad = embed(x, (h + 2 * ph, w + 2 * pw), (ph, pw)).reshape(n, h + 2 * ph, w + 2 * pw, c)
    cols = np.empty((n, oh, ow, c, kh, kw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[..., i, j] = xpad[_tap_index(geom, i, j)]
    return cols.reshape(n * oh * ow, c * kh * kw)


def _im2col_forward(x, w_matrix, geom, b):
    n, (oh, ow) = geom.x_shape[0], geom.out_hw
    out = np.empty((n * oh * ow, geom.w_shape[0]), dtype=x.dtype)  # (N*OH*OW, O)
    beta = 0.0
    if b is not None:
        out[:] = b
        beta = 1.0
    blas_cpu.gemm(_im2col(x, geom), w_matrix.T, out=out, beta=beta)
    return as_nchw(out, n, oh, ow)


def _im2col_backward_input(dout, w_matrix, geom):
    n, c, h, w = geom.x_shape
    kh, kw = geom.w_shape[2:]
    (ph, pw), (oh, ow) = geom.padding, geom.out_hw
    dcols = blas_cpu.gemm(channels_last_rows(dout), w_matrix)      # (N*OH*OW, C*kh*kw)
    dcols = dcols.reshape(n, oh, ow, c, kh, kw)
    dxpad = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=dout.dtype)
    for i in range(kh):
        for j in range(kw):
            dxpad[_tap_index(geom, i, j)] += dcols[..., i, j]
    return dxpad[:, ph:ph + h, pw:pw + w].transpose(0, 3, 1, 2)


def _im2col_backward_weight(dout, x, geom):
    dw = blas_cpu.gemm(channels_last_rows(dout).T, _im2col(x, geom))   # (O, C*kh*kw)
    return dw.reshape(geom.w_shape)
