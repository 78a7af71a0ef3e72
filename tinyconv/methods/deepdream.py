"""DeepDream (Mordvintsev, Olah & Tyka 2015): amplify whatever a layer already sees.

The objective is a layer's energy sum(a^2) / 2, whose gradient at the layer is the activation
itself. Each step is the gradient divided by its mean absolute value times `lr` [1.5] pixel units
(0..255, as in the original Caffe notebook, whose network took 0..255 pixels); a random
roll of up to `jitter` [32] pixels precedes each forward pass (the roll is part of the graph, so
the gradient arrives un-rolled); pixels are clamped to the valid range. Octaves: the image is
processed from the smallest of `octaves` [4] scales (each 1/`octave_scale` [1.4] of the next) to
full size, carrying the added detail up each time, so the patterns grow at several sizes and big
images (1024 px) cost about twice their full-size passes.
"""
import numpy as np
from scipy import ndimage

from ..engine import backend
from ..engine.tensor import Tensor, no_grad
from . import objectives as obj
from .optimize import Result, optimize
from .transforms import clamp, jitter as jitter_transform
from .visualization import start_image


LOOP_DEFAULTS = dict(steps=10, lr=1.5)


def deepdream(model, x, layer, steps=LOOP_DEFAULTS["steps"], lr=LOOP_DEFAULTS["lr"], octaves=4,
              octave_scale=1.4, jitter=32, guide=None, seed=0, save_every=0, on_snapshot=None,
              progress="deepdream", **loop):
    """Dream on image x (1, 3, H, W), input space; returns a Result with the full-size image.

    layer: the layer name to amplify. steps: gradient steps per octave. lr: mean step size in
    0..255 pixel units (converted to the model's input units). guide: None, or a guide
    image (1, 3, h, w) in input space whose features at `layer` the dream should grow.
    save_every / on_snapshot(step, image): snapshots at full size, steps counted across octaves.
    progress: as in tinyconv.methods.optimize; a name is followed by the octave ("deepdream octave
    2/4 (102x154)"), the smallest first.
    """
    obj.check_layer(model, layer)
    if octaves < 1 or octave_scale < 1:
        raise ValueError(f"need octaves >= 1 and octave_scale >= 1, got {octaves} and "
                         f"{octave_scale}")
    if jitter < 0:
        raise ValueError(f"jitter must be >= 0 pixels, got {jitter}")
    rng = np.random.default_rng(seed)
    step = lr * float(np.mean(model.preprocessing.pixel_size()))
    base = backend.to_numpy(start_image(model, x, None, 0.0, rng)).astype(np.float64)
    objective = obj.layer_energy(model, layer)
    if guide is not None:
        objective = obj.guided_energy(model, layer, _features(model, guide, layer))
    pyramid = _pyramid(base, octaves, octave_scale)
    xp = backend.xp_for(model.device)
    transforms = [jitter_transform(jitter, rng)] if jitter else []
    regularizers = [clamp(*model.preprocessing.input_range())]
    detail = np.zeros_like(pyramid[-1])
    history, seconds, done = [], 0.0, 0

    def loss(image):
        energy = objective(model, image).sum()
        return energy, {"energy": energy.item()}

    def snapshot(step, image):
        full = base + resize(backend.to_numpy(image) - octave_base, base.shape[2:])
        on_snapshot(done + step, full.astype(model.dtype))

    for octave, octave_base in enumerate(reversed(pyramid), 1):
        detail = resize(detail, octave_base.shape[2:])
        start = xp.asarray(octave_base + detail, dtype=model.dtype)
        height, width = octave_base.shape[2:]
        named = f"{progress} octave {octave}/{octaves} ({width}x{height})" \
            if isinstance(progress, str) else progress
        result = optimize(loss, start, steps, step, step_rule="normalized_mean_abs", maximize=True,
                          transforms=transforms, regularizers=regularizers,
                          save_every=save_every, progress=named,
                          on_snapshot=snapshot if on_snapshot and save_every else None, **loop)
        detail = result.image.astype(np.float64) - octave_base
        history += result.history
        seconds += result.seconds
        done += result.steps
        if result.interrupted:
            break
    image = (base + resize(detail, base.shape[2:])).astype(model.dtype)
    if on_snapshot:
        on_snapshot(done, image)
    return Result(image, history, result.interrupted, seconds)


def _pyramid(base, octaves, octave_scale):
    """[base, base / octave_scale, ...]: `octaves` (N, C, H, W) arrays, each from the last."""
    pyramid = [base]
    for _ in range(octaves - 1):
        pyramid.append(resize(pyramid[-1], [round(s / octave_scale) for s in
                                            pyramid[-1].shape[2:]]))
    return pyramid


def resize(x, size):
    """Bilinear resize of an (N, C, H, W) numpy array to (N, C, *size)."""
    if tuple(x.shape[2:]) == tuple(size):
        return x
    zoom = (1, 1, size[0] / x.shape[2], size[1] / x.shape[3])
    return ndimage.zoom(x, zoom, order=1, mode="nearest", grid_mode=True)


def _features(model, image, layer):
    with no_grad():
        xp = backend.xp_for(model.device)
        data = backend.to_numpy(image.data if isinstance(image, Tensor) else image)
        return model.forward(Tensor(xp.asarray(data, dtype=model.dtype)), layers=[layer])[layer]
