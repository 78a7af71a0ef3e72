"""Nearest-neighbour upsampling of (N, C, H, W), as torch.nn.functional.interpolate(mode="nearest").

The decoders of fast style transfer networks upsample by 2; that case (any whole-number factor)
repeats each pixel and sums the gradient back over each block. Other sizes gather rows and columns
with integer indices through getitem, whose backward accumulates repeated positions.
"""
import math

import numpy as np

from ..engine.backend import get_array_module
from ..engine.tensor import Function, Tensor
from .shape import getitem


class UpsampleNearest(Function):
    """Repeat every pixel of (N, C, H, W) into an (fh, fw) block -> (N, C, H * fh, W * fw)."""
    name = "upsample_nearest"

    def forward(self, x, factors):
        n, c, h, w = x.shape
        fh, fw = self.factors = factors
        blocks = get_array_module(x).broadcast_to(x[:, :, :, None, :, None], (n, c, h, fh, w, fw))
        return blocks.reshape(n, c, h * fh, w * fw)

    def backward(self, dout):
        n, c, h_out, w_out = dout.shape
        fh, fw = self.factors
        blocks = dout.reshape(n, c, h_out // fh, fh, w_out // fw, fw)  # (N, C, H, fh, W, fw)
        return blocks.sum(axis=(3, 5))


def _pair(value, what):
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"upsample_nearest: {what} must be a number or a (height, width) pair, "
                         f"got {value!r}")
    return pair


def _source_indices(in_size, out_size, scale):
    """PyTorch's nearest rule in float32: src = min(floor(dst * scale), in_size - 1)."""
    dst = np.arange(out_size, dtype=np.float32)
    src = np.floor(dst * np.float32(scale)).astype(np.int64)
    return np.minimum(src, in_size - 1)


def upsample_nearest(x, scale_factor=None, size=None):
    """(N, C, H, W) -> (N, C, H_out, W_out), each output pixel copying its nearest input pixel.

    Give exactly one of scale_factor (a number or (sh, sw); H_out = floor(H * sh)) or size
    (H_out or (H_out, W_out)). Same pixels as torch.nn.functional.interpolate(mode="nearest").
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim != 4:
        raise ValueError(f"upsample_nearest needs an (N, C, H, W) input; got shape {x.shape}")
    if (scale_factor is None) == (size is None):
        raise ValueError("upsample_nearest needs exactly one of scale_factor and size")
    in_sizes = x.shape[2:]
    if size is not None:
        out_sizes = tuple(int(s) for s in _pair(size, "size"))
        scales = [i / o for i, o in zip(in_sizes, out_sizes)]
    else:
        scale_factors = tuple(float(f) for f in _pair(scale_factor, "scale_factor"))
        if min(scale_factors) <= 0:
            raise ValueError(f"upsample_nearest: scale_factor must be positive, got {scale_factor}")
        out_sizes = tuple(math.floor(i * f) for i, f in zip(in_sizes, scale_factors))
        scales = [1 / f for f in scale_factors]
    if min(out_sizes) < 1:
        raise ValueError(f"upsample_nearest: output size {out_sizes} from input {x.shape} is empty")
    rows, cols = (_source_indices(i, o, s) for i, o, s in zip(in_sizes, out_sizes, scales))
    factors = (_whole_factor(in_sizes[0], rows), _whole_factor(in_sizes[1], cols))
    if None not in factors:
        return UpsampleNearest.apply(x, factors=factors)
    return getitem(x, (slice(None), slice(None), rows[:, None], cols[None, :]))  # (N, C, Ho, Wo)


def _whole_factor(in_size, src):
    """r when the source indices `src` repeat each of the in_size indices r times, else None."""
    r = len(src) // in_size
    if r >= 1 and len(src) == in_size * r and np.array_equal(src, np.arange(len(src)) // r):
        return r
    return None


__all__ = ["upsample_nearest"]
