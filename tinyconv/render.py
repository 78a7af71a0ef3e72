"""Pictures of arrays: tiles in a grid, and first-layer filters as small RGB images.

The first thing anyone looks at in a trained network is its first convolution's filters
(CS231n lecture 12): each (3, k, k) kernel min-max scaled on its own and shown as a colour tile.
A filter grid reads well only at the right colour order (Caffe/Keras VGG filters are BGR) and
enlarged without smoothing, so both are handled here.
"""
import math

import numpy as np

from .backend import to_numpy


def image_grid(tiles, cols=None, padding=1, pad_value=255):
    """One uint8 image from equal-size tiles (N, H, W, 3) or (N, H, W), uint8 or float in 0..1.

    cols: tiles per row (default: a near-square grid); padding: pixels between tiles.
    """
    tiles = np.asarray(tiles)
    if tiles.dtype != np.uint8:
        tiles = np.clip(np.rint(tiles * 255.0), 0, 255).astype(np.uint8)
    n, h, w = tiles.shape[:3]
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding)
                   + tiles.shape[3:], pad_value, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        top = padding + (i // cols) * (h + padding)
        left = padding + (i % cols) * (w + padding)
        grid[top:top + h, left:left + w] = tile
    return grid


def filter_grid(weight, colour_order="RGB", zoom=8, cols=None, padding=2):
    """uint8 image of first-layer filters (F, 3, kH, kW), each min-max scaled to 0..1.

    colour_order: the model's input channel order ("BGR" filters are flipped to RGB for display);
    zoom: each weight becomes a zoom x zoom block (nearest neighbour); padding: white pixels
    between tiles of the output.
    """
    w = to_numpy(getattr(weight, "data", weight)).astype(np.float64)
    if w.ndim != 4 or w.shape[1] != 3:
        raise ValueError(f"filter_grid expects RGB filters (F, 3, kH, kW), got {w.shape}")
    if colour_order == "BGR":
        w = w[:, ::-1]
    low = w.min(axis=(1, 2, 3), keepdims=True)
    high = w.max(axis=(1, 2, 3), keepdims=True)
    tiles = (w - low) / np.maximum(high - low, 1e-12)      # (F, 3, kH, kW) in 0..1
    tiles = tiles.transpose(0, 2, 3, 1)                     # (F, kH, kW, 3)
    tiles = tiles.repeat(zoom, axis=1).repeat(zoom, axis=2)  # (F, kH * zoom, kW * zoom, 3)
    return image_grid(tiles, cols, padding)
