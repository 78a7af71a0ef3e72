"""Non-parametric texture synthesis (Efros & Leung, "Texture synthesis by non-parametric sampling",
ICCV 1999): grow a texture pixel by pixel, each new pixel copied from the centre of a sample window
whose neighbourhood matches the already-synthesized neighbourhood of the pixel.

The match is a Gaussian-weighted SSD over the known pixels of the w x w neighbourhood, against all
(H - w + 1)(W - w + 1) windows of the sample at once. With the mask-weighted kernel m (zero where
the neighbourhood is unknown) and the neighbourhood t,
    SSD_i = sum m s_i^2 - 2 sum m t s_i + sum m t^2,
so for a pixel it is one product of a (n_windows, 2 w^2 C) matrix [s^2, s] with the vector
[m, -2 m t]. In onion order, pixels of one growth layer that are not in each other's neighbourhoods
(Chebyshev distance > w // 2) cannot influence each other, so they are matched together as one
matrix-matrix product; scanline order goes one pixel at a time.
"""
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from ..image import to_uint8

ORDERS = ("onion", "scanline")
_SEED_SIZE = 3


class SynthesisInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped `synthesize`; `texture` is what was grown so far (black where not yet
    filled), uint8 like synthesize's result."""

    def __init__(self, texture):
        super().__init__("texture synthesis interrupted")
        self.texture = texture


def synthesize(sample, out_size, window=11, error_threshold=0.1, seed=0, order="onion",
               max_error=0.3, progress=None):
    """Synthesize an (h, w) texture from a sample image (H, W, C) or (H, W) -> uint8, same channels.

    sample: uint8, or floats (see `tinyconv.image.to_uint8`); out_size = (h, w); window: odd
    neighbourhood size (the knob: larger windows keep larger structures); error_threshold: pick
    uniformly among the windows whose SSD is within (1 + error_threshold) of the best; order:
    "onion" grows outward from a random 3x3 seed patch in the centre, "scanline" fills rows from a
    seed patch in the top-left corner. max_error: as in the paper, a pixel whose best match has a
    larger (mean squared, 0..1 units) error waits for more context; when a whole pass fills
    nothing the limit rises by 10%. progress(filled, total) is called after each batch.
    The same seed gives the same texture. Ctrl-C raises SynthesisInterrupted (a
    KeyboardInterrupt) holding the texture grown so far.
    """
    sample = to_uint8(sample)
    grayscale = sample.ndim == 2
    if grayscale:
        sample = sample[:, :, None]
    _check_arguments(sample, out_size, window, order)
    rng = np.random.default_rng(seed)
    height, width = out_size
    half = window // 2
    texture = sample.astype(np.float32) / 255.0
    windows = _SampleWindows.of(texture, window)
    out, filled, inside = _seeded_canvas(texture, out_size, half, order, rng)
    try:
        _grow(out, filled, inside, windows, order, rng, error_threshold, max_error, progress)
    except KeyboardInterrupt as stop:
        raise SynthesisInterrupted(_texture(out, half, height, width, grayscale)) from stop
    return _texture(out, half, height, width, grayscale)


def _check_arguments(sample, out_size, window, order):
    """ValueError unless sample (H, W, C), window, out_size (h, w) and order can be synthesized."""
    height, width = out_size
    if sample.ndim != 3 or window % 2 == 0 or window < 3:
        raise ValueError(f"synthesize expects a sample (H, W[, C]) and an odd window >= 3, got "
                         f"{sample.shape} and {window}")
    if min(sample.shape[:2]) <= window:
        raise ValueError(f"the sample {sample.shape[:2]} must be larger than the window {window}")
    if height < _SEED_SIZE or width < _SEED_SIZE:
        raise ValueError(f"out_size must be at least {_SEED_SIZE} x {_SEED_SIZE}, got {out_size}")
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; choose one of {ORDERS}")


@dataclass
class _SampleWindows:
    """Every w x w window of the sample, ready for the SSD product.

    patch_matrix: (n_windows, 2 w^2 C) rows [s^2, s]; centres: (n_windows, C) centre pixels;
    gauss: (w^2 C,) the Gaussian kernel over a window's values; half: w // 2."""
    patch_matrix: np.ndarray
    centres: np.ndarray
    gauss: np.ndarray
    half: int

    @classmethod
    def of(cls, texture, window):
        """The windows of a float32 (H, W, C) sample in 0..1."""
        half = window // 2
        channels = texture.shape[2]
        windows = sliding_window_view(texture, (window, window), axis=(0, 1))  # (Hs, Ws, C, w, w)
        windows = windows.transpose(0, 1, 3, 4, 2).reshape(-1, window * window * channels)
        patch_matrix = np.concatenate([windows ** 2, windows], 1)  # (n_windows, 2 w^2 C)
        centres = windows[:, (half * window + half) * channels:][:, :channels]  # (n_windows, C)
        sigma = window / 6.4  # the paper's kernel width
        g = np.exp(-(np.arange(window) - half) ** 2 / (2 * sigma ** 2))
        gauss = np.repeat(np.outer(g, g).ravel(), channels).astype(np.float32)  # (w^2 C,)
        return cls(patch_matrix, centres, gauss, half)


def _seeded_canvas(texture, out_size, half, order, rng):
    """(out, filled, inside): the zero-bordered float32 output (h + 2 half, w + 2 half, C) holding
    a random 3x3 patch of `texture` at the seed corner, the bool mask of its filled pixels, and
    the bool mask of the output proper (inside the border)."""
    height, width = out_size
    out = np.zeros((height + 2 * half, width + 2 * half, texture.shape[2]), np.float32)
    filled = np.zeros((height + 2 * half, width + 2 * half), bool)
    seed_top, seed_left = _seed_corner(order, height, width)
    sy = rng.integers(texture.shape[0] - _SEED_SIZE + 1)
    sx = rng.integers(texture.shape[1] - _SEED_SIZE + 1)
    rows = slice(half + seed_top, half + seed_top + _SEED_SIZE)
    cols = slice(half + seed_left, half + seed_left + _SEED_SIZE)
    out[rows, cols] = texture[sy:sy + _SEED_SIZE, sx:sx + _SEED_SIZE]
    filled[rows, cols] = True
    inside = np.zeros_like(filled)
    inside[half:half + height, half:half + width] = True
    return out, filled, inside


def _grow(out, filled, inside, windows, order, rng, error_threshold, max_error, progress):
    """Fill every pixel of `inside` in `out` (in place), pass after pass over the growth front;
    a pass that fills nothing raises max_error by 10%."""
    total = int(inside.sum())
    done = int((filled & inside).sum())
    while done < total:
        progress_made = False
        pixels = _next_pixels(filled, inside, order, rng)
        if order == "scanline":  # each pixel depends on its left neighbour: one at a time
            batches = (pixels[i:i + 1] for i in range(len(pixels)))
        else:
            batches = _independent_batches(pixels, windows.half, filled.shape)
        for batch in batches:
            accepted = _fill_batch(batch, out, filled, windows, rng, error_threshold, max_error)
            done += accepted
            progress_made |= accepted > 0
            if progress is not None:
                progress(done, total)
        if not progress_made:
            max_error *= 1.1


def _fill_batch(batch, out, filled, windows, rng, error_threshold, max_error):
    """Match the pixels `batch` (B, 2) (padded (y, x)) against every sample window at once and
    fill those whose best match is within max_error; returns how many were filled."""
    half, channels = windows.half, out.shape[2]
    ys, xs = batch[:, 0], batch[:, 1]
    neighbourhoods = np.stack([out[y - half:y + half + 1, x - half:x + half + 1].ravel()
                               for y, x in zip(ys, xs)])  # (B, w^2 C)
    known = np.stack([np.repeat(filled[y - half:y + half + 1, x - half:x + half + 1].ravel(),
                                channels)
                      for y, x in zip(ys, xs)])
    mask = known * windows.gauss
    mask /= mask.sum(1, keepdims=True)
    ssd = windows.patch_matrix @ np.concatenate([mask, -2.0 * mask * neighbourhoods], 1).T
    ssd += (mask * neighbourhoods ** 2).sum(1)  # (n_windows, B)
    ssd = np.maximum(ssd, 0.0)
    # float32 round-off is ~1e-6 of the unit range, so that much slack counts as equal
    best = ssd.min(0)
    limit = best * (1.0 + error_threshold) + 1e-6
    accepted = np.flatnonzero(best <= max_error)
    for b in accepted:
        candidates = np.flatnonzero(ssd[:, b] <= limit[b])
        out[ys[b], xs[b]] = windows.centres[rng.choice(candidates)]
    filled[ys[accepted], xs[accepted]] = True
    return len(accepted)


def _texture(out, half, height, width, grayscale):
    """The uint8 texture (h, w[, C]) inside the zero border of the working array `out`."""
    result = np.rint(out[half:half + height, half:half + width] * 255.0).astype(np.uint8)
    return result[:, :, 0] if grayscale else result


def _seed_corner(order, height, width):
    """Top-left corner of the seed patch in the output."""
    if order == "scanline":
        return 0, 0
    return (height - _SEED_SIZE) // 2, (width - _SEED_SIZE) // 2


def _next_pixels(filled, inside, order, rng):
    """The pixels to grow next (n, 2) as padded (y, x), in processing order.

    onion: the unfilled pixels touching the filled region, most filled neighbours first (ties in
    random order, as in the paper); scanline: the remaining pixels of the first unfinished row.
    """
    if order == "scanline":
        todo = inside & ~filled
        y = np.flatnonzero(todo.any(1))[0]
        xs = np.flatnonzero(todo[y])
        return np.column_stack([np.full(len(xs), y), xs])
    front = ndimage.binary_dilation(filled, np.ones((3, 3), bool)) & inside & ~filled
    counts = ndimage.convolve(filled.astype(np.int32), np.ones((3, 3), np.int32), mode="constant")
    ys, xs = np.nonzero(front)
    shuffle = rng.permutation(len(ys))
    ys, xs = ys[shuffle], xs[shuffle]
    first = np.argsort(-counts[ys, xs], kind="stable")
    return np.column_stack([ys[first], xs[first]])


def _independent_batches(pixels, half, shape):
    """Split the ordered pixels (n, 2) of one onion layer into batches of pixels that are not in
    each other's neighbourhoods (Chebyshev distance > half); yields (b, 2) arrays.

    Each pixel joins the first batch it is independent of, so matching a batch at once gives what
    one-by-one matching in the order "batch after batch" gives, and pixels early in the layer's
    order stay early.
    """
    remaining = pixels
    while len(remaining):
        claimed = np.zeros(shape, bool)  # the neighbourhoods of this batch's pixels
        taken = np.zeros(len(remaining), bool)
        for i, (y, x) in enumerate(remaining):
            if not claimed[y, x]:
                taken[i] = True
                claimed[y - half:y + half + 1, x - half:x + half + 1] = True
        yield remaining[taken]
        remaining = remaining[~taken]
