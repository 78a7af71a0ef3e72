"""Pictures of gradients and maps: signed image-space gradients to RGB, maps to grayscale.

Gradients have no natural range: a few large values would make a min-max scaled picture black
with a few dots. Both functions here scale by a high percentile of the magnitude instead and clip,
the way the guided backprop and SmoothGrad figures are drawn.
"""
import numpy as np


def gradient_image(gradient, percentile=99.5):
    """Signed gradient (3, H, W) -> uint8 (H, W, 3): 0 is mid-grey, +/- the `percentile` of
    |gradient| are white/black per colour channel (clipped beyond)."""
    g = np.asarray(gradient, dtype=np.float64)
    if g.ndim != 3 or g.shape[0] != 3:
        raise ValueError(f"gradient_image expects a gradient of shape (3, H, W), got {g.shape}")
    scale = max(float(np.percentile(np.abs(g), percentile)), 1e-20)
    picture = 0.5 + 0.5 * np.clip(g / scale, -1.0, 1.0)
    return np.rint(picture.transpose(1, 2, 0) * 255.0).astype(np.uint8)


def map_image(values, percentile=99.5):
    """Non-negative map (H, W) -> uint8 (H, W): 0 is black; the `percentile` value and above
    are white."""
    m = np.asarray(values, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"map_image expects a map of shape (H, W), got {m.shape}")
    scale = max(float(np.percentile(m, percentile)), 1e-20)
    return np.rint(np.clip(m / scale, 0.0, 1.0) * 255.0).astype(np.uint8)
