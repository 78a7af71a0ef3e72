"""Gradients with respect to the image: saliency, guided backprop, deconvnet, Grad-CAM,
guided Grad-CAM, SmoothGrad and integrated gradients.

Every function takes a preprocessed image batch x (N, 3, H, W) as an array (numpy, or CuPy on the
GPU) and an Objective (see objectives.py: a class score, a channel, a neuron) and returns numpy
arrays. Guided backprop and deconvnet never edit the model: they run the ordinary backward with
the ReLU backward swapped by name through tinyconv.override.
"""
import contextlib

import numpy as np
from scipy import ndimage

from ..engine import hooks
from ..engine.backend import to_numpy
from ..engine.tensor import Tensor, no_grad

# relu_backward -> the backward overrides of every activation (ReLU and ReLU6)
RELU_BACKWARDS = {"plain": None, "guided": hooks.GUIDED, "deconvnet": hooks.DECONVNET}


def input_gradient(model, x, objective, relu_backward="plain"):
    """d objective / d x for each example -> (N, 3, H, W) numpy array.

    relu_backward: "plain", "guided" (Springenberg) or "deconvnet" (Zeiler & Fergus).
    """
    if relu_backward not in RELU_BACKWARDS:
        raise ValueError(f"relu_backward must be one of {list(RELU_BACKWARDS)}, got {relu_backward!r}")
    image = _input_tensor(model, x)
    scores = objective(model, image)
    override = RELU_BACKWARDS[relu_backward]
    with hooks.override(override) if override else contextlib.nullcontext():
        scores.backward(scores.xp.ones_like(scores.data))
    return to_numpy(image.grad)


def saliency_map(model, x, objective):
    """Simonyan et al. 2014: max over colour channels of |d score / d x| -> (N, H, W)."""
    return np.abs(input_gradient(model, x, objective)).max(axis=1)


def guided_backprop(model, x, objective):
    """Guided backpropagation of the objective to the image -> (N, 3, H, W)."""
    return input_gradient(model, x, objective, relu_backward="guided")


def deconvnet(model, x, objective):
    """Deconvnet reconstruction of the objective in image space -> (N, 3, H, W)."""
    return input_gradient(model, x, objective, relu_backward="deconvnet")


def grad_cam(model, x, layer, objective):
    """Selvaraju et al. 2017: relu(sum_k alpha_k A_k), alpha_k = spatial mean of d score / d A_k.

    layer: a convolutional layer name. Returns the map upsampled (bilinear) to the input size,
    (N, H, W), non-negative and unnormalized.
    """
    image = _input_tensor(model, x)
    acts = model.forward(image, layers=[layer] + objective.layers)
    activation = acts[layer]
    if activation.ndim != 4:
        raise ValueError(f"Grad-CAM needs a convolutional layer with (N, C, h, w) output; {layer} "
                         f"has shape {activation.shape}")
    activation.retain_grad()
    scores = objective.scores(acts)
    scores.backward(scores.xp.ones_like(scores.data))
    a, g = to_numpy(activation.data), to_numpy(activation.grad)  # (N, C, h, w) both
    weights = g.mean(axis=(2, 3), keepdims=True)  # (N, C, 1, 1)
    cam = np.maximum((weights * a).sum(axis=1), 0)  # (N, h, w)
    return upsample_map(cam, x.shape[2:])


def guided_grad_cam(model, x, layer, objective, cam=None):
    """Guided backprop times the Grad-CAM map -> (N, 3, H, W). cam: that map (N, H, W) when
    grad_cam(model, x, layer, objective) has computed it already."""
    cam = grad_cam(model, x, layer, objective) if cam is None else cam
    return guided_backprop(model, x, objective) * cam[:, None]


def smoothgrad(model, x, objective, n_samples=50, noise_level=0.15, batch_size=16, seed=0,
               relu_backward="plain"):
    """Smilkov et al. 2017: mean gradient over copies of x with Gaussian noise -> (N, 3, H, W).

    noise_level: the noise standard deviation as a fraction of each image's value range (max-min).
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if not 0 <= noise_level < float("inf"):  # NaN fails every comparison
        raise ValueError(f"noise_level must be a finite number >= 0, got {noise_level}")
    x = np.asarray(to_numpy(x))
    rng = np.random.default_rng(seed)
    total = np.zeros(x.shape, dtype=np.float64)
    for i, image in enumerate(x):
        sigma = noise_level * float(image.max() - image.min())
        for start in range(0, n_samples, batch_size):
            count = min(batch_size, n_samples - start)
            noisy = image[None] + rng.normal(0, sigma, (count,) + image.shape).astype(x.dtype)
            total[i] += input_gradient(model, noisy, objective, relu_backward).sum(axis=0)
    return (total / n_samples).astype(x.dtype)


def integrated_gradients(model, x, objective, baseline=None, steps=50, batch_size=16):
    """Sundararajan et al. 2017: (x - x0) * mean gradient along the straight path x0 -> x.

    baseline: same shape as one image or the batch (default zeros, i.e. the dataset mean after
    mean subtraction). The path integral uses the trapezoid rule over steps + 1 points, so
    attributions sum to score(x) - score(baseline) up to the discretisation error (completeness).
    Returns (N, 3, H, W).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x = np.asarray(to_numpy(x))
    baseline = np.zeros_like(x) if baseline is None else np.broadcast_to(to_numpy(baseline), x.shape)
    alphas = np.linspace(0.0, 1.0, steps + 1)
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] = 0.5 / steps  # trapezoid rule
    attributions = np.zeros(x.shape, dtype=np.float64)
    for i in range(len(x)):
        delta = x[i] - baseline[i]
        for start in range(0, steps + 1, batch_size):
            a = alphas[start:start + batch_size].astype(x.dtype)
            path = baseline[i][None] + a[:, None, None, None] * delta[None]  # (B, 3, H, W)
            grads = input_gradient(model, path, objective)
            w = weights[start:start + batch_size][:, None, None, None]
            attributions[i] += (grads * w).sum(axis=0)
        attributions[i] *= delta
    return attributions.astype(x.dtype)


def objective_values(model, x, objective):
    """The objective per example without gradients -> (N,) numpy array."""
    with no_grad():
        return to_numpy(objective(model, _input_tensor(model, x, requires_grad=False)).data)


def upsample_map(maps, size):
    """Bilinear resize of (N, h, w) maps to (N, H, W) = size, as float32."""
    maps = np.asarray(maps, dtype=np.float32)
    h, w = maps.shape[1:]
    zoom = (1, size[0] / h, size[1] / w)
    return ndimage.zoom(maps, zoom, order=1, mode="nearest", grid_mode=True)


def _input_tensor(model, x, requires_grad=True):
    data = x.data if isinstance(x, Tensor) else x
    if data.ndim != 4 or data.shape[1] != 3:
        raise ValueError(f"expected a preprocessed image batch of shape (N, 3, H, W), got {data.shape}")
    return Tensor(data, requires_grad=requires_grad, device=model.device)
