"""Image transforms and regularizers for the optimization loop (lucid's "transformation
robustness").

Two kinds:
- differentiable transforms, Tensor -> Tensor, applied to the image before the objective inside the
  graph (jitter by a random roll; gradients flow back through them, so nothing needs undoing);
- post-step regularizers, functions (x array, step) -> None that edit the image array in place
  after each update (blur every k steps, clamp to the valid range, clip small pixels).
"""
from scipy import ndimage

from .. import ops
from ..engine.backend import get_array_module, to_numpy
from ..engine.tensor import Tensor


def roll2d(x, dy, dx):
    """Circularly shift a (N, C, H, W) Tensor by dy rows and dx columns (differentiable)."""
    if dy % x.shape[2]:
        x = ops.concat([x[:, :, -dy:], x[:, :, :-dy]], axis=2)
    if dx % x.shape[3]:
        x = ops.concat([x[:, :, :, -dx:], x[:, :, :, :-dx]], axis=3)
    return x


def jitter(max_shift, rng):
    """A transform rolling the image by a random shift in [-max_shift, max_shift] each call."""
    def transform(x):
        dy, dx = (int(s) for s in rng.integers(-max_shift, max_shift + 1, size=2))
        return roll2d(x, dy, dx)
    return transform


def blur_every(every, sigma):
    """Gaussian blur of each channel (sigma in pixels) after every `every`-th step (Yosinski)."""
    def regularize(x, step):
        if every and (step + 1) % every == 0:
            xp = get_array_module(x)
            blurred = ndimage.gaussian_filter(to_numpy(x), sigma=(0, 0, sigma, sigma))
            x[...] = xp.asarray(blurred)
    return regularize


def clamp(low, high):
    """Clamp each channel to [low[c], high[c]] (the valid pixel range in the model's input space).

    low, high: arrays of shape (C,) or scalars.
    """
    def regularize(x, step):
        xp = get_array_module(x)
        lo = xp.asarray(low, dtype=x.dtype).reshape(1, -1, 1, 1)
        hi = xp.asarray(high, dtype=x.dtype).reshape(1, -1, 1, 1)
        xp.clip(x, lo, hi, out=x)
    return regularize


def clip_small_norm(percentile):
    """Zero the pixels whose colour-vector norm is below the given percentile (Yosinski 2015)."""
    def regularize(x, step):
        xp = get_array_module(x)
        norms = xp.sqrt((x * x).sum(axis=1, keepdims=True))  # (N, 1, H, W)
        threshold = xp.percentile(norms.reshape(len(x), -1), percentile, axis=1)
        x *= norms >= threshold.reshape(-1, 1, 1, 1)
    return regularize


def clip_small_contribution(percentile, gradient_holder):
    """Zero pixels whose contribution |x * dL/dx| (summed over colour) is below the percentile.

    gradient_holder: a dict the loop fills with the last gradient under key "grad".
    """
    def regularize(x, step):
        g = gradient_holder.get("grad")
        if g is None:
            return
        xp = get_array_module(x)
        contribution = xp.abs(x * g).sum(axis=1, keepdims=True)  # (N, 1, H, W)
        threshold = xp.percentile(contribution.reshape(len(x), -1), percentile, axis=1)
        x *= contribution >= threshold.reshape(-1, 1, 1, 1)
    return regularize


def centre_bias(x0, start, steps):
    """Update only a centred window whose side grows linearly from `start` (a fraction of the
    image side) to the whole image over the first half of `steps`; pixels outside it keep their
    values (the centre-biased regularization of Nguyen et al. 2016: one object in the middle).

    x0: the start image (N, C, H, W), whose border pixels are kept at first.
    """
    previous = [x0.copy()]

    def regularize(x, step):
        h, w = x.shape[2:]
        side = min(1.0, start + (1.0 - start) * step / max(1.0, steps / 2))
        if side < 1:
            top, left = int(round(h * (1 - side) / 2)), int(round(w * (1 - side) / 2))
            window = x[:, :, top:h - top, left:w - left].copy()
            x[...] = previous[0]
            x[:, :, top:h - top, left:w - left] = window
            previous[0] = x.copy()
    return regularize


def snap_to_pixels(preprocessing):
    """A transform whose forward value is the image rounded to the nearest 8-bit picture (what a
    saved PNG holds) and whose gradient passes straight through (Tensor -> Tensor)."""
    def transform(x):
        xp = x.xp
        mean = xp.asarray(preprocessing.mean, dtype=x.dtype).reshape(1, 3, 1, 1)
        std = xp.asarray(preprocessing.std, dtype=x.dtype).reshape(1, 3, 1, 1)
        units = 255.0 / preprocessing.scale
        pixels = xp.clip(xp.rint((x.data * std + mean) * units), 0, 255)  # (N, 3, H, W) 0..255
        return x + Tensor((pixels / units - mean) / std - x.data)
    return transform
