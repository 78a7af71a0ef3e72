"""Losses and the feature statistics the visualization methods optimize.

cross_entropy trains classifiers; mse compares features (content loss, feature inversion); the
Gram matrix is the style/texture statistic of Gatys et al.; total variation is the natural-image
prior of Mahendran & Vedaldi and of style transfer. Each returns a Tensor (a scalar for losses).
"""
import numpy as np

from ..engine.backend import get_array_module, to_numpy
from ..engine.tensor import Function, Tensor
from .activation import log_softmax
from ..kernels.matmul import batched_matmul
from .shape import getitem


class GramMatrix(Function):
    """(N, C, H, W) -> (N, C, C): G = F F^T / (C H W) with F the (N, C, H*W) features."""
    name = "gram_matrix"

    def forward(self, x):
        n, c, h, w = self.shape = x.shape
        features = x.reshape(n, c, h * w)
        self.count = c * h * w
        self.save_for_backward(features)
        return batched_matmul(features, features.transpose(0, 2, 1)) / self.count

    def backward(self, dout):
        (features,) = self.saved
        dfeatures = batched_matmul(dout + dout.transpose(0, 2, 1), features) / self.count
        return dfeatures.reshape(self.shape)


class TotalVariation(Function):
    """Total variation of the last two axes (H, W), summed over everything -> scalar.

    beta == 2: the sum of every squared difference between horizontal and vertical neighbours.
    Otherwise (Mahendran & Vedaldi): sum over pixels (i, j) < (H - 1, W - 1) of
    ((x[i, j+1] - x[i, j])^2 + (x[i+1, j] - x[i, j])^2 + eps) ** (beta / 2); eps keeps the
    gradient finite in flat regions when beta < 2.
    """
    name = "total_variation"

    def forward(self, x, beta=2.0, eps=1e-8):
        self.beta, self.shape = beta, x.shape
        if beta == 2:
            dx = x[..., :, 1:] - x[..., :, :-1]  # (..., H, W - 1)
            dy = x[..., 1:, :] - x[..., :-1, :]  # (..., H - 1, W)
            self.save_for_backward(dx, dy)
            return (dx * dx).sum() + (dy * dy).sum()
        dx = x[..., :-1, 1:] - x[..., :-1, :-1]  # (..., H - 1, W - 1)
        dy = x[..., 1:, :-1] - x[..., :-1, :-1]
        v = dx * dx + dy * dy + eps
        self.save_for_backward(dx, dy, v)
        return (v ** (beta / 2)).sum()

    def backward(self, dout):
        xp = get_array_module(dout)
        grad = xp.zeros(self.shape, dtype=self.saved[0].dtype)
        if self.beta == 2:
            dx, dy = self.saved
            gx, gy = (2 * dout) * dx, (2 * dout) * dy
            grad[..., :, 1:] += gx
            grad[..., :, :-1] -= gx
            grad[..., 1:, :] += gy
            grad[..., :-1, :] -= gy
            return grad
        dx, dy, v = self.saved
        weight = (self.beta * dout) * v ** (self.beta / 2 - 1)  # d v^(beta/2) / d(dx) = weight * dx
        gx, gy = weight * dx, weight * dy
        grad[..., :-1, 1:] += gx
        grad[..., 1:, :-1] += gy
        grad[..., :-1, :-1] -= gx + gy
        return grad


class MeanSquaredError(Function):
    """mean((a - b)^2) over every element of two same-shaped arrays -> scalar."""
    name = "mse"

    def forward(self, a, b):
        if a.shape != b.shape:
            raise ValueError(f"mse needs two tensors of the same shape; got {a.shape} and "
                             f"{b.shape}")
        diff = a - b
        self.save_for_backward(diff)
        return (diff * diff).mean()

    def backward(self, dout):
        (diff,) = self.saved
        grad = (2 * dout / diff.size) * diff
        return (grad if self.needs_input_grad[0] else None,
                -grad if self.needs_input_grad[1] else None)


def gram_matrix(features):
    """(N, C, H, W) features -> (N, C, C) Gram matrices F F^T / (C * H * W)."""
    features = features if isinstance(features, Tensor) else Tensor(features)
    if features.ndim != 4:
        raise ValueError(f"gram_matrix needs (N, C, H, W) features; got shape {features.shape}")
    return GramMatrix.apply(features)


def total_variation(x, beta=2.0, eps=1e-8):
    """Total variation of images (N, C, H, W) (any array whose last two axes are H, W) -> scalar.

    beta=2: sum of squared differences of all horizontal and vertical neighbours; other beta:
    Mahendran & Vedaldi's sum of (dx^2 + dy^2 + eps) ** (beta / 2) over pixels with both neighbours.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim < 2:
        raise ValueError(f"total_variation needs an (N, C, H, W) image; got shape {x.shape}")
    if beta <= 0:
        raise ValueError(f"total_variation: beta must be positive, got {beta}")
    return TotalVariation.apply(x, beta=float(beta), eps=eps)


def mse(a, b):
    """Mean squared error mean((a - b)^2) of two tensors of the same shape -> scalar."""
    return MeanSquaredError.apply(a, b)


REDUCTIONS = ("mean", "sum", "none")


def cross_entropy(scores, labels, reduction="mean", label_smoothing=0.0):
    """-log softmax(scores)[n, labels[n]]: scores (N, K) raw class scores, labels (N,) integers in
    [0, K). reduction "mean" (scalar), "sum" (scalar) or "none" ((N,) per-example losses).

    label_smoothing e in [0, 1): the target is (1 - e) on the label plus e / K on every class,
    so the loss is (1 - e) * -log p[label] + e * mean over k of -log p[k] (PyTorch's rule)."""
    scores = scores if isinstance(scores, Tensor) else Tensor(scores)
    if scores.ndim != 2:
        raise ValueError(f"cross_entropy needs (N, K) scores; got shape {scores.shape}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    n, k = scores.shape
    labels = np.asarray(to_numpy(labels.data if isinstance(labels, Tensor) else labels))
    if labels.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: labels must be integers, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"cross_entropy: labels have shape {labels.shape}, expected ({n},) for "
                         f"scores of shape {scores.shape}")
    outside = (labels < 0) | (labels >= k)
    if outside.any():
        raise ValueError(f"cross_entropy: label {labels[outside][0]} is out of range for K={k} "
                         f"classes (valid: 0 .. {k - 1})")
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1), got "
                         f"{label_smoothing}")
    log_p = log_softmax(scores, axis=1)
    losses = -getitem(log_p, (np.arange(n), labels))  # (N,)
    if label_smoothing:
        losses = losses * (1 - label_smoothing) - log_p.mean(axis=1) * label_smoothing
    if reduction == "mean":
        return losses.mean()
    return losses.sum() if reduction == "sum" else losses


__all__ = ["gram_matrix", "total_variation", "mse", "cross_entropy"]
