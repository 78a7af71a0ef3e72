"""Channels-last row matrices for the CPU kernels, and (N, C, H, W) views back onto them.

A (N, C, H, W) activation stored as (N, H, W, C) is a (N * H * W, C) matrix: one row per pixel,
which is what a convolution's GEMMs read and write. `embed` copies an activation into such rows
on a larger zero-bordered grid (its padding), the one copy each CPU convolution makes.
"""
import numpy as np

from .parallel import for_each_part


def channels_last_rows(a):
    """(N, C, H, W) -> its (N * H * W, C) channels-last matrix (a view when memory allows)."""
    n, c, h, w = a.shape
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).reshape(n * h * w, c)


def channels_last(a):
    """(N, C, H, W) array -> the same values as a (N, C, H, W) view of (N, H, W, C) memory, the
    layout in which the CPU kernels hand activations from layer to layer."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


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
    pixels = a.transpose(0, 2, 3, 1)

    def copy_rows(start, stop):
        grid[:, top + start:top + stop, left:left + w] = pixels[:, start:stop]
    for_each_part(copy_rows, h, a.size)
    return buf
