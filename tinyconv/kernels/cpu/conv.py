"""Fast convolution kernels for numpy: channels-last inside, NCHW at the interface.

The same four primitives as im2col.py (prepare_weight, conv_forward, conv_backward_input,
conv_backward_weight), for groups=1 and float32/float64, with every GEMM through blas_cpu.

Inside, activations are channels-last rows: a (N, C, H, W) input is copied once into a zero-
bordered (N * Hp * Wp, C) buffer (Hp, Wp: padded height and width). Outputs come back as
(N, O, OH, OW) views of (N, OH, OW, O) memory, like PyTorch's channels_last; numpy's elementwise
ops keep that order, so the next layer's copy into its buffer is a plain block copy.

Three strategies, chosen per layer by `strategy`:
- Winograd F(4x4, 3x3) or F(2x2, 3x3) (winograd_cpu.py) for 3x3 stride-1 layers with many
  channels (not for batches of small images, which take chunked im2col): F(4x4) where there are
  enough 4x4 output tiles to pay for its larger weight transform, F(2x2) on smaller images.
- shifted GEMMs (stride 1, a single image: many rows, or a 1x1 kernel): in the row buffer,
  kernel tap (i, j) of every output position is the same buffer shifted by i*dh*Wp + j*dw rows,
  a contiguous block.
  The output is the sum over taps of block @ W_ij, accumulating in place (beta=1) into an output
  laid out on the padded grid, whose extra columns and rows are never read. No im2col copy.
  The input gradient is the same sum with negative shifts over the zero-embedded gradient.
- im2col + one GEMM (strided, few channels, small images, and batches): window values copied
  into a column matrix (two column orders, below); batches run in chunks of images over the
  cores, each chunk's copy and GEMM on one core, and every batch's weight gradient is theirs.
  Batches of 16x16 and larger images copy only kernel-row runs and run kh GEMMs per image.
"""
import dataclasses
import weakref

import numpy as np

from .. import im2col
from . import blas as blas_cpu, parallel, winograd as winograd_cpu
from .channels_last import as_nchw, channels_last_rows, embed
from .parallel import for_each_part

# Shifted GEMMs need each tap's (O, C) weight as a contiguous block; the rearranged copy of the
# weight costs about as much as an im2col copy of this many input rows per output channel, so
# small images with many output channels (VGG conv5 at 14x14, AlexNet conv3-5) take im2col.
# A 1x1 kernel's one tap is the weight as it is (no copy), and its shifted GEMM is im2col's GEMM
# without the column copy and, backward, without the col2im pass: 1x1 layers take shifted GEMMs
# at any size (ResNet's bottlenecks at 7x7 with 2048 output channels too).
SHIFTED_MIN_ROWS_PER_CHANNEL = 1.0
SHIFTED_MIN_CHANNELS = 16  # with fewer input channels, nine GEMMs of depth C are too thin
# Batches take im2col in image chunks (below) instead of shifted GEMMs: the shifted GEMMs work on
# the padded grid (three times the outputs for 7x7 filters on 8x8 images) and run full-batch
# GEMMs over every thread, while a chunk's columns stay in cache for its single-threaded GEMM.
# Batches take it instead of Winograd too: on every 3x3 layer of the ResNet training case (128
# to 256 channels at 16x16, 8x8 and 4x4) the chunked im2col needs a third to a half of
# Winograd's CPU time (on few tiles per image its transforms and a*a thin GEMMs cost more than
# the long-K GEMMs of chunked columns), with OpenBLAS's AVX-512 and Haswell kernels.
# Winograd pays for its input and output transforms when the GEMMs are wide (many channels in
# and out) and for its weight transform when there are enough m x m output tiles per out channel:
# F(4x4)'s weight transform is four times F(2x2)'s, so layers with few tiles (VGG16 conv4 at
# 28x28) take F(2x2).
WINOGRAD_MIN_CHANNELS = {4: 128, 2: 256}  # input channels, by output tile size m
WINOGRAD_MIN_OUT_CHANNELS = {4: 128, 2: 256}  # output channels, by output tile size m
# F(4x4) with its transforms as BLAS products (few tiles x channels) pays from 128 output
# channels. Its chunked transforms (larger layers) run one numpy call per tile row and point, so
# they pay only with 256+ output channels and enough values per call (N * padded width *
# channels) to amortize each call's overhead; below that F(2x2) or shifted GEMMs are faster.
WINOGRAD4_CHUNKED_MIN_OUT_CHANNELS = 256
WINOGRAD4_CHUNKED_MIN_ROW_ELEMENTS = 2 ** 16
WINOGRAD_MIN_TILES_PER_CHANNEL = {4: 0.25, 2: 0.25}  # by output tile size m of F(m x m, 3x3)
# With very few input channels (an image's 3) the channels-last GEMMs of both backward passes
# have only C * kh * kw columns (27 for a 3x3 RGB layer) and run slowly; the generic NCHW kernels
# (im2col.py) put the pixels along the long side, so both backward passes take them (except the
# weight gradient of a batch, whose chunked GEMMs are as long along the pixels).
GENERIC_BACKWARD_MAX_CHANNELS = 4
# Output rows per block of shifted GEMMs: a block's output stays in cache over all its taps
BLOCK_ELEMENTS = 2 ** 18
MIN_BLOCK_ROWS = 1024


def applies(x, geom):
    """True when these kernels handle the convolution (numpy float, groups=1)."""
    return x.dtype in (np.float32, np.float64) and geom.groups == 1


STRATEGIES = ("im2col", "shifted", "winograd2", "winograd4")


def strategies(geom):
    """The strategies that can compute this convolution (all of them take groups=1)."""
    (ph, pw) = geom.padding
    names = ["im2col"]
    if geom.stride == (1, 1):
        names.append("shifted")
        if geom.w_shape[2:] == (3, 3) and geom.dilation == (1, 1) and max(ph, pw) <= 2:
            names += ["winograd2", "winograd4"]
    return names


def strategy(geom):
    """"winograd4", "winograd2", "shifted" or "im2col": the fastest kernel for this layer by
    the rules of thumb above (set from timings of VGG layers; `conv_algorithms` can time them
    instead)."""
    n, c, h, w = geom.x_shape
    o = geom.w_shape[0]
    (ph, pw), (oh, ow) = geom.padding, geom.out_hw
    available = strategies(geom)
    if "winograd2" in available and not _batched(geom):
        for m in (4, 2):
            tiles = n * -(-oh // m) * -(-ow // m)
            if m == 4 and not winograd_cpu.blas_transforms(tiles, max(c, o)) and (
                    o < WINOGRAD4_CHUNKED_MIN_OUT_CHANNELS
                    or n * (ow + 2) * max(c, o) < WINOGRAD4_CHUNKED_MIN_ROW_ELEMENTS):
                continue
            if o >= WINOGRAD_MIN_OUT_CHANNELS[m] and c >= WINOGRAD_MIN_CHANNELS[m] \
                    and tiles >= WINOGRAD_MIN_TILES_PER_CHANNEL[m] * o:
                return f"winograd{m}"
    one_tap = geom.w_shape[2:] == (1, 1)  # its taps are the weight itself: nothing to copy
    if "shifted" in available and c >= SHIFTED_MIN_CHANNELS and not _batched(geom) and (
            one_tap or n * (h + 2 * ph) * (w + 2 * pw) >= SHIFTED_MIN_ROWS_PER_CHANNEL * o):
        return "shifted"
    return "im2col"


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
    as fast as one numpy transpose). A 1x1 kernel is its one tap already: a view, no copy."""
    o, c, kh, kw = w.shape
    if kh * kw == 1:
        return np.ascontiguousarray(w).reshape(1, o, c)
    flat = w.reshape(o * c, kh * kw)
    out = np.empty((kh * kw, o * c), dtype=w.dtype)
    for start in range(0, o * c, chunk):
        out[:, start:start + chunk] = flat[start:start + chunk].T
    return out.reshape(kh * kw, o, c)


class PreparedWeight:
    """The weight in the layout the layer's strategy reads: per-tap blocks (kh*kw, O, C) for
    shifted GEMMs, Winograd-transformed blocks (a*a, O, C), or the OIHW matrix (O, C*kh*kw) for
    im2col. The Winograd weights of the backward (flipped kernel) are made by the first backward
    (F(2x2): rows of the forward's, no arithmetic). Layouts are taken from and added to `kept`
    (prepare_weight's cache) where given, except views of w, which cost nothing to make again
    and would keep w alive."""

    def __init__(self, w, geom, name, kept=None):
        self.strategy = name
        self.w = w
        self._kept = {} if kept is None else kept
        if self.strategy == "shifted":
            self.taps = self._layout("taps", lambda: taps_first(w))
        elif self.strategy.startswith("winograd"):
            self.tile = winograd_cpu.TILES[int(self.strategy[-1])]
            self.winograd = self._layout(
                "winograd", lambda: winograd_cpu.transform_weights(w, self.tile))
        else:
            self.matrix = self._layout("matrix", lambda: im2col_weight_matrix(w, geom))

    def _layout(self, key, make):
        if key in self._kept:
            return self._kept[key]
        value = make()
        if not (isinstance(value, np.ndarray) and np.shares_memory(value, self.w)):
            self._kept[key] = value
        return value

    def flipped(self):
        """The input gradient's transformed weights: a*a (O, C) operands."""
        return self._layout(
            "flipped", lambda: winograd_cpu.flipped_weights(self.winograd, self.w, self.tile))


# Prepared layouts of read-only arrays that own their memory are kept while the array lives:
# such an array cannot change (the folded weights of models/folding.py, replaced, never
# written, when their sources change), and preparing it again on every call (per-tap copies,
# Winograd transforms) costs a few percent of a frozen network's pass. Writable weights (those
# an optimizer updates in place) are prepared on every call.
_prepared = {}  # id(w) -> (weak reference to w, {(strategy, column order): {name: layout}})


def _unchanging(w):
    return isinstance(w, np.ndarray) and not w.flags.writeable and w.base is None


def _forget(key):
    return lambda _: _prepared.pop(key, None)


def prepare_weight(w, geom, name=None):
    """w (O, C, kh, kw) in the layout of strategy `name` (None: the rule-of-thumb choice); the
    layouts of read-only arrays that own their memory are made once (above)."""
    name = name or strategy(geom)
    if name not in strategies(geom):
        raise ValueError(f"conv_cpu: strategy {name!r} cannot compute this convolution; it "
                         f"takes {strategies(geom)}")
    if not _unchanging(w):
        return PreparedWeight(w, geom, name)
    entry = _prepared.get(id(w))
    if entry is None or entry[0]() is not w:
        entry = _prepared[id(w)] = (weakref.ref(w, _forget(id(w))), {})
    kept = entry[1].setdefault((name, name == "im2col" and _uses_runs(geom)), {})
    return PreparedWeight(w, geom, name, kept)


def conv_forward(x, wk, geom, b=None):
    """x (N, C, H, W) -> (N, O, OH, OW) as a view of channels-last memory."""
    if wk.strategy.startswith("winograd"):
        u = wk.winograd.transpose(0, 2, 1)                              # (a*a, C, O)
        return winograd_cpu.conv3x3(x, u, geom.padding, geom.w_shape[0], wk.tile, b)
    if wk.strategy == "shifted":
        return _shifted_forward(x, wk.taps, geom, b)
    return _im2col_forward(x, wk.matrix, geom, b)


def conv_backward_input(dout, wk, geom):
    """dout (N, O, OH, OW) -> dx (N, C, H, W), a view of channels-last memory (NCHW for
    inputs of a few channels)."""
    if geom.x_shape[1] <= GENERIC_BACKWARD_MAX_CHANNELS:
        return im2col.conv_backward_input(dout, wk.w, geom)
    if wk.strategy.startswith("winograd"):  # correlation with the flipped, transposed kernel
        u = wk.flipped()                                                # a*a x (O, C)
        padding = (2 - geom.padding[0], 2 - geom.padding[1])
        return winograd_cpu.conv3x3(dout, u, padding, geom.x_shape[1], wk.tile)
    if wk.strategy == "shifted":
        return _shifted_backward_input(dout, wk.taps, geom)
    return _im2col_backward_input(dout, wk.w, wk.matrix, geom)


def conv_backward_weight(dout, x, geom):
    """dout (N, O, OH, OW), x (N, C, H, W) -> dw (O, C, kh, kw)."""
    if _batched(geom):
        return _im2col_backward_weight(dout, x, geom)
    if geom.x_shape[1] <= GENERIC_BACKWARD_MAX_CHANNELS:
        return im2col.conv_backward_weight(dout, x, geom)
    if geom.stride == (1, 1):
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
    block. src: (R, K) rows; taps: (T, K, M) matrices; out: (>= rows, M).

    The rows are split over the cores, each part running every tap of its rows with one-core
    GEMMs: one hand-off per layer instead of every tap's GEMM being split over the threads and
    synchronized (the products of small images, ResNet's at 14x14 and 7x7, spent much of their
    time there)."""
    def part(first, last):
        for start, stop in _row_blocks(last - first, out.shape[1]):
            start, stop = start + first, stop + first
            block = out[start:stop]
            beta = 0.0
            if bias is not None:
                block[:] = bias
                beta = 1.0
            for shift, tap in zip(shifts, taps):
                blas_cpu.gemm(src[start + shift:stop + shift], tap, out=block, beta=beta)
                beta = 1.0
    blas_cpu.over_parts(part, rows, rows * src.shape[1] * len(taps))


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

    def taps(first, last):  # the taps split over the cores
        for t in range(first, last):
            blas_cpu.gemm(grows[:rows].T, xrows[shifts[t]:shifts[t] + rows], out=dw_taps[t])
    blas_cpu.over_parts(taps, len(shifts), rows * (o + c) * len(shifts))
    return np.ascontiguousarray(dw_taps.reshape(kh, kw, o, c).transpose(2, 3, 0, 1))


# ----- im2col + one GEMM (any stride and dilation)
# Two column orders. Layers with dilation 1 along x that are strided, have a few input channels
# (AlexNet conv1, 11x11 / 4 over 3 channels; VGG conv1_1) or at least as many output pixels per
# image as output channels use (kernel row i, kernel column j, channel c): the kw * C values
# under a window's kernel row are one contiguous run of the channels-last input, so each kernel
# row is one copy of (N, OH, OW, kw * C) runs (AlexNet conv1: 11 copies of 33-value runs rather
# than 121 of 3 values; few long copies beat many short ones, and tap-by-tap copies write one
# value per kh * kw, touching every cache line of the columns kh * kw times), and the col2im
# adds stride-wide groups of kernel columns, whose runs do not overlap. The weight is rearranged
# to match, which costs about as much as copying O column rows, so images with fewer output
# pixels than output channels (VGG conv5 at 14x14, AlexNet conv3-5) use (c, i, j), the OIHW
# weight's own order, copied tap by tap (each tap's (OW, C) one loop for numpy). (The input
# gradient of a few-channel layer takes the generic kernels, see GENERIC_BACKWARD_MAX_CHANNELS.)
# The copies run over the cores, output rows split between them (images, for batches: below).


def _uses_runs(geom):
    """Whether this layer's columns are in (i, j, c) order (else (c, i, j)); the same for every
    chunk of images of the layer."""
    (oh, ow), o = geom.out_hw, geom.w_shape[0]
    return geom.dilation[1] == 1 and (geom.stride[1] > 1 or oh * ow >= o
                                      or geom.x_shape[1] <= GENERIC_BACKWARD_MAX_CHANNELS)


def im2col_weight_matrix(w, geom):
    """(O, C, kh, kw) -> (O, C * kh * kw) in the column order of _im2col for this layer."""
    if _uses_runs(geom):
        return np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(w.shape[0], -1)
    return w.reshape(w.shape[0], -1)


def _tap_index(geom, i, j):
    """Index of tap (i, j) in a padded channels-last (N, Hp, Wp, C) array."""
    return im2col.tap_slices(i, j, geom.out_hw, geom.stride, geom.dilation, channels_last=True)


def _window_runs(xpad, geom, i, j0=0, j1=None):
    """(N, OH, OW, (j1 - j0) * C) view of padded channels-last xpad (N, Hp, Wp, C): at [n, y, x]
    the values under kernel row i, kernel columns j0..j1-1 of output (y, x) (dilation 1 along x),
    one contiguous run each. Runs of different outputs overlap when j1 - j0 > the x stride."""
    n, _, _, c = xpad.shape
    j1 = geom.w_shape[3] if j1 is None else j1
    (oh, ow), (sh, sw), (dh, _) = geom.out_hw, geom.stride, geom.dilation
    s0, s1, s2, s3 = xpad.strides
    return np.lib.stride_tricks.as_strided(xpad[:, i * dh, j0], (n, oh, ow, (j1 - j0) * c),
                                           (s0, sh * s1, sw * s2, s3))


class _Columns:
    """The im2col columns of x (N, C, H, W), copied image range by image range: the zero-
    bordered channels-last input and its window views (one per kernel row, or per tap) are made
    once per layer, so that each chunk of a batch costs one copy per kernel row (or tap) and no
    further padding or view making."""

    def __init__(self, x, geom):
        n, c, h, w = geom.x_shape
        kh, kw = geom.w_shape[2:]
        (ph, pw), (oh, ow) = geom.padding, geom.out_hw
        xpad = embed(x, (h + 2 * ph, w + 2 * pw), (ph, pw)).reshape(n, h + 2 * ph, w + 2 * pw, c)
        self.runs = _uses_runs(geom)
        if self.runs:  # (N, OH, OW, kw, C) per kernel row
            self.sources = [_window_runs(xpad, geom, i).reshape(n, oh, ow, kw, c)
                            for i in range(kh)]
        else:          # (N, OH, OW, C) per tap
            self.sources = [xpad[_tap_index(geom, i, j)] for i in range(kh) for j in range(kw)]
        self.shape = (oh, ow, kh, kw, c) if self.runs else (oh, ow, c, kh, kw)
        self.kw, self.dtype = kw, x.dtype
        self.image_values = oh * ow * kh * kw * c  # columns of one image

    def __call__(self, start, stop, out=None):
        """Columns (images * OH * OW, C * kh * kw) of images start..stop-1, in out (a buffer of
        at least that many values) where given; split over the cores by output rows."""
        count = (stop - start) * self.image_values
        buf = np.empty(count, self.dtype) if out is None else out[:count]
        cols = buf.reshape((stop - start,) + self.shape)
        sources = [source[start:stop] for source in self.sources]

        def copy_rows(a, b):
            for t, source in enumerate(sources):
                if self.runs:
                    cols[:, a:b, :, t] = source[:, a:b]
                else:
                    cols[:, a:b, :, :, t // self.kw, t % self.kw] = source[:, a:b]
        for_each_part(copy_rows, self.shape[0], count)
        return buf.reshape(cols.shape[0] * self.shape[0] * self.shape[1], -1)

    parts = [slice(None)]  # the slices of the C * kh * kw weight columns that blocks pair with

    def blocks(self, cols, images):
        """(block of columns, index into parts, slice of the chunk's output rows, first product
        into those rows) of each GEMM of a chunk: one."""
        return [(cols, 0, slice(None), True)]


class _RowRuns:
    """Kernel-row runs of a stride-1 layer's x (N, C, H, W), copied image range by image range:
    per image (Hp * OW, kw * C) rows, row y * OW + x holding the kw * C values under kernel row 0
    of output (y, x) on the padded grid, so that kernel row i of the image's outputs is the
    contiguous block of OH * OW rows from row i * OW, and its product with the kernel row's
    (kw * C, O) weight adds that row's share of the output. kh times fewer values to copy than
    im2col columns, for kh GEMMs of one image each."""

    def __init__(self, x, geom):
        n, c, h, w = geom.x_shape
        kh, kw = geom.w_shape[2:]
        (ph, pw), (oh, ow) = geom.padding, geom.out_hw
        hp = h + 2 * ph
        xpad = embed(x, (hp, w + 2 * pw), (ph, pw)).reshape(n, hp, w + 2 * pw, c)
        self.source = np.lib.stride_tricks.as_strided(xpad, (n, hp, ow, kw * c),
                                                      xpad.strides[:3] + xpad.strides[3:])
        self.kh, self.ow, self.pixels, self.width = kh, ow, oh * ow, kw * c
        self.image_values, self.dtype = hp * ow * kw * c, x.dtype
        self.parts = [slice(i * kw * c, (i + 1) * kw * c) for i in range(kh)]

    def __call__(self, start, stop, out):
        """Runs (images, Hp * OW, kw * C) of images start..stop-1, in buffer out."""
        runs = out[:(stop - start) * self.image_values].reshape((stop - start,)
                                                                 + self.source.shape[1:])
        runs[...] = self.source[start:stop]
        return runs.reshape(stop - start, -1, self.width)

    def blocks(self, runs, images):
        """As _Columns.blocks: kh products per image, kernel row by kernel row."""
        return [(runs[k, i * self.ow:i * self.ow + self.pixels], i,
                 slice(k * self.pixels, (k + 1) * self.pixels), i == 0)
                for k in range(images) for i in range(self.kh)]


def _column_source(x, geom):
    """_RowRuns for batches of stride-1 layers with images of ROW_GEMM_MIN_PIXELS output pixels
    or more whose kernel-row products have ROW_GEMM_MIN_MULTIPLY_ADDS or more, else _Columns."""
    oh, ow = geom.out_hw
    if geom.stride == (1, 1) and geom.dilation == (1, 1) and _uses_runs(geom) \
            and oh * ow >= ROW_GEMM_MIN_PIXELS and _batched(geom) \
            and oh * ow * geom.w_shape[3] * geom.x_shape[1] * geom.w_shape[0] \
            >= ROW_GEMM_MIN_MULTIPLY_ADDS:
        return _RowRuns(x, geom)
    return _Columns(x, geom)


def _im2col(x, geom):
    """x (N, C, H, W) -> (N * OH * OW, C * kh * kw), columns in im2col_weight_matrix's order."""
    return _Columns(x, geom)(0, geom.x_shape[0])


# Batches of images run im2col + GEMM image part by image part over the cores: each part, in a
# thread of its own, loops over chunks of images whose columns take about IM2COL_CHUNK_BYTES,
# copies a chunk's columns and runs its GEMM on one core (BLAS single-threaded meanwhile).
# A chunk's columns stay in cache between the copy and the GEMM, the GEMMs have cache-sized
# operands, a weight gradient's long inner dimension (every output pixel of the batch) is split
# into per-part sums instead of being split by BLAS over synchronizing threads, and the copies
# run over the cores too. A single image (or a one-core machine) is one chunk, its GEMM on all
# the cores.
# Layers whose single image's columns pass IM2COL_CHUNK_MAX_IMAGE_BYTES (VGG's at 224 but conv1_1)
# keep the unbatched kernels: a chunk of one such image no longer stays in cache.
IM2COL_CHUNK_BYTES = 2 ** 21
IM2COL_CHUNK_MAX_IMAGE_BYTES = 2 ** 23
# Batches of stride-1 layers whose images have at least ROW_GEMM_MIN_PIXELS output pixels copy
# kernel-row runs instead of columns (_RowRuns): kh times less copying, and kh GEMMs of one
# image's OH * OW rows each run as fast as the one im2col GEMM of the chunk; on smaller images
# (8x8) the GEMMs are too short to pay for their number.
ROW_GEMM_MIN_PIXELS = 256
# ... and whose kernel-row GEMMs have at least this many multiply-adds (OH*OW x kw*C x O):
# smaller products (the ConvNetJS net's 7x7 layers over 3 to 20 channels, 0.3-0.6 M each) spend
# much of their time in the per-call overhead of kh GEMMs per image, and the chunk's one im2col
# GEMM is faster despite its kh times larger copy; ResNet-50's 3x3 layers at batch 8 (38 M at
# 56x56) run a little faster in kernel rows.
ROW_GEMM_MIN_MULTIPLY_ADDS = 2 ** 22


def _over_image_chunks(job, geom, itemsize):
    """[job(chunks) for each part of the batch], in the parts' order, the parts in parallel over
    the cores, chunks being the part's (start, stop) image ranges of about IM2COL_CHUNK_BYTES of
    columns each. Fixed parts, not chunks handed to whichever thread is free: a weight gradient is
    then summed in the same order on every run, which bit-identical training resumes need."""
    n, c = geom.x_shape[:2]
    per_image = geom.out_hw[0] * geom.out_hw[1] * c * geom.w_shape[2] * geom.w_shape[3]
    if not _batched(geom):
        return [job([(0, n)])]
    step = max(1, IM2COL_CHUNK_BYTES // (per_image * itemsize))
    results = {}

    def run(start, stop):
        results[start] = job([(a, min(a + step, stop)) for a in range(start, stop, step)])
    blas_cpu.over_parts(run, n, n * per_image)
    return [results[start] for start in sorted(results)]


def _batched(geom):
    """Whether this layer's im2col kernels run image chunks over the cores (the same choice for
    every dtype: an image's columns counted in float32)."""
    n, c = geom.x_shape[:2]
    per_image = geom.out_hw[0] * geom.out_hw[1] * c * geom.w_shape[2] * geom.w_shape[3]
    return per_image * 4 <= IM2COL_CHUNK_MAX_IMAGE_BYTES \
        and parallel.parts_for(n, n * per_image) > 1


def _chunk(geom, start, stop):
    """The geometry of images start..stop-1 of the batch."""
    return dataclasses.replace(geom, x_shape=(stop - start,) + geom.x_shape[1:])


def _chunk_buffer(columns, chunks):
    """One buffer for the columns of every chunk of a part (the same memory, still in cache,
    for each chunk's copy)."""
    largest = max(stop - start for start, stop in chunks)
    return np.empty(largest * columns.image_values, columns.dtype)


def _im2col_forward(x, w_matrix, geom, b):
    n, (oh, ow) = geom.x_shape[0], geom.out_hw
    out = np.empty((n * oh * ow, geom.w_shape[0]), dtype=x.dtype)  # (N*OH*OW, O)
    columns = _column_source(x, geom)
    weights = [np.ascontiguousarray(w_matrix[:, part]).T for part in columns.parts]

    def job(chunks):
        buf = _chunk_buffer(columns, chunks)
        for start, stop in chunks:
            rows = out[start * oh * ow:stop * oh * ow]
            if b is not None:
                rows[:] = b
            for block, t, outs, first in columns.blocks(columns(start, stop, buf), stop - start):
                blas_cpu.gemm(block, weights[t], out=rows[outs],
                              beta=0.0 if first and b is None else 1.0)
    _over_image_chunks(job, geom, x.itemsize)
    return as_nchw(out, n, oh, ow)


def _flipped(geom):
    """The geometry of a stride-1 layer's input gradient as a convolution of dout with the
    flipped, transposed kernel (C, O, kh, kw), or None where a padding would be negative."""
    (kh, kw), (ph, pw), (dh, dw) = geom.w_shape[2:], geom.padding, geom.dilation
    padding = (dh * (kh - 1) - ph, dw * (kw - 1) - pw)
    if geom.stride != (1, 1) or min(padding) < 0:
        return None
    o, c = geom.w_shape[:2]
    return dataclasses.replace(geom, x_shape=geom.out_shape, w_shape=(c, o, kh, kw),
                               out_hw=geom.x_shape[2:], padding=padding)


def _im2col_backward_input(dout, w, w_matrix, geom):
    """dx: for batches of a stride-1 layer, the im2col convolution of dout with the flipped,
    transposed kernel (the same chunked copies and GEMMs as the forward), else col2im of dout @ W,
    chunk by chunk of images."""
    flipped = _flipped(geom) if _batched(geom) else None
    if flipped is not None:
        w_flipped = np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
        return _im2col_forward(dout, im2col_weight_matrix(w_flipped, flipped), flipped, None)
    n, c, h, w = geom.x_shape
    (ph, pw), (oh, ow) = geom.padding, geom.out_hw
    grows = channels_last_rows(dout)                                # (N*OH*OW, O)
    dxpad = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=dout.dtype)

    def job(chunks):
        for start, stop in chunks:
            dcols = blas_cpu.gemm(grows[start * oh * ow:stop * oh * ow], w_matrix)
            _col2im(dcols, dxpad[start:stop], _chunk(geom, start, stop))
    _over_image_chunks(job, geom, dout.itemsize)
    return dxpad[:, ph:ph + h, pw:pw + w].transpose(0, 3, 1, 2)


def _col2im(dcols, dxpad, geom):
    """Add columns dcols (N*OH*OW, C*kh*kw) into padded channels-last dxpad (N, Hp, Wp, C): tap
    by tap, or with (i, j, c) columns in stride-wide groups of kernel columns whose runs do not
    overlap from one output to the next."""
    n, c = geom.x_shape[:2]
    kh, kw = geom.w_shape[2:]
    (oh, ow), sw = geom.out_hw, geom.stride[1]
    if _uses_runs(geom):
        dcols = dcols.reshape(n, oh, ow, kh, kw, c)
        for i in range(kh):
            for j0 in range(0, kw, sw):
                j1 = min(j0 + sw, kw)
                _window_runs(dxpad, geom, i, j0, j1)[...] += \
                    dcols[:, :, :, i, j0:j1].reshape(n, oh, ow, (j1 - j0) * c)
    else:
        dcols = dcols.reshape(n, oh, ow, c, kh, kw)
        for i in range(kh):
            for j in range(kw):
                dxpad[_tap_index(geom, i, j)] += dcols[..., i, j]


def _im2col_backward_weight(dout, x, geom):
    """dW^T = columns^T @ dout, summed over the chunks of each part, then over the parts in order.
    (Columns^T @ dout, not dout^T @ columns: OpenBLAS runs the product with the C * kh * kw side
    as rows faster where O is small, 16 for a first layer.)"""
    o, c, kh, kw = geom.w_shape
    oh, ow = geom.out_hw
    grows = channels_last_rows(dout)                                # (N*OH*OW, O)
    columns = _column_source(x, geom)

    def job(chunks):
        buf = _chunk_buffer(columns, chunks)
        dw_t = np.zeros((c * kh * kw, o), dtype=x.dtype)
        for start, stop in chunks:
            chunk_rows = grows[start * oh * ow:stop * oh * ow]
            for block, t, outs, _ in columns.blocks(columns(start, stop, buf), stop - start):
                blas_cpu.gemm(block.T, chunk_rows[outs], out=dw_t[columns.parts[t]], beta=1.0)
        return dw_t
    dw = sum(_over_image_chunks(job, geom, x.itemsize)).T
    if _uses_runs(geom):
        return np.ascontiguousarray(dw.reshape(o, kh, kw, c).transpose(0, 3, 1, 2))
    return dw.reshape(geom.w_shape)
