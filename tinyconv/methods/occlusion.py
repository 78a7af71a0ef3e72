"""Occlusion sensitivity (Zeiler & Fergus 2014): an Objective, such as P(class)
(objectives.class_probability, the paper's) or a channel's mean activation, as a grey square
slides over the image.

The square is filled with `fill` in the model's input space; 0 there is the dataset mean after
mean subtraction, the "grey" of the paper. Occluded copies are run in batches.
"""
import numpy as np

from ..engine.backend import to_numpy
from ..engine.tensor import Tensor
from .attribution import objective_values


def occlusion_positions(height, width, size, stride):
    """Top-left corners (ys, xs) of the square so that it covers the image edge to edge."""
    if not 0 < size <= min(height, width):
        raise ValueError(f"occluder size {size} must be in 1..{min(height, width)}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    ys = list(range(0, height - size + 1, stride))
    xs = list(range(0, width - size + 1, stride))
    if ys[-1] != height - size:
        ys.append(height - size)
    if xs[-1] != width - size:
        xs.append(width - size)
    return ys, xs


def occlusion_map(model, x, objective, size=None, stride=None, fill=0.0, batch_size=32,
                  progress=None):
    """The value of `objective` (an Objective, such as objectives.class_probability) for each
    square position.

    x: one preprocessed image (1, 3, H, W) or (3, H, W). size: square side in pixels [H // 8];
    stride [size // 2]. Returns (value_map (rows, cols), heat (H, W)): the map on the grid of
    positions, and the value at each pixel averaged over the squares that covered it.
    """
    image = np.asarray(to_numpy(x.data if isinstance(x, Tensor) else x))
    image = image[0] if image.ndim == 4 else image
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected one image (1, 3, H, W) or (3, H, W), got {image.shape}")
    _, height, width = image.shape
    size = size or max(1, height // 8)
    stride = stride or max(1, size // 2)
    ys, xs = occlusion_positions(height, width, size, stride)
    positions = [(y, x0) for y in ys for x0 in xs]
    probs = np.empty(len(positions), dtype=np.float64)
    for start in range(0, len(positions), batch_size):
        chunk = positions[start:start + batch_size]
        batch = np.repeat(image[None], len(chunk), axis=0)  # (B, 3, H, W)
        for b, (y, x0) in enumerate(chunk):
            batch[b, :, y:y + size, x0:x0 + size] = fill
        probs[start:start + len(chunk)] = objective_values(model, batch, objective)
        if progress:
            progress(min(start + batch_size, len(positions)), len(positions))
    prob_map = probs.reshape(len(ys), len(xs))
    covered = np.zeros((height, width))
    summed = np.zeros((height, width))
    for (y, x0), p in zip(positions, probs):
        summed[y:y + size, x0:x0 + size] += p
        covered[y:y + size, x0:x0 + size] += 1
    return prob_map, (summed / np.maximum(covered, 1)).astype(np.float32)

