"""Class, channel and neuron visualization by gradient ascent on the image (Simonyan et al. 2014,
Yosinski et al. 2015), and multifaceted visualization (Nguyen et al. 2016).

    I* = argmax_I  objective(I) - l2 * ||I||^2

in the model's input space, with the switchable regularizers of Yosinski et al.: jitter (a random
roll before each forward pass; the roll is inside the graph, so the gradient comes back
un-jittered), a Gaussian blur every k steps, zeroing pixels of small norm or small contribution,
and clamping to the range real pixels can take. The defaults are the CS231n ones (normalized
gradient step of 25, L2 1e-3, jitter 16, blur sigma 0.5 every 10 steps) with more steps, which
on SqueezeNet 1.1 give pictures the network itself classifies as the target with p > 0.9.
"""
import numpy as np

from ..engine import backend
from .features import array_features
from ..engine.tensor import Tensor
from . import objectives as obj
from . import transforms as tf
from .clustering import kmeans
from .optimize import optimize

STEP_RULES = ("normalized_l2", "adam", "sgd")  # the rules visualize's regularizers suit
DEFAULTS = dict(steps=200, lr=25.0, step_rule="normalized_l2", l2=1e-3, jitter=16, blur_every=10,
                blur_sigma=0.5, clip_norm=0.0, clip_contribution=0.0, clamp=True, init_std=1.0)


def visualize(model, objective, x0=None, size=None, seed=0, steps=DEFAULTS["steps"],
              lr=DEFAULTS["lr"], step_rule=DEFAULTS["step_rule"], l2=DEFAULTS["l2"],
              jitter=DEFAULTS["jitter"], blur_every=DEFAULTS["blur_every"],
              blur_sigma=DEFAULTS["blur_sigma"], clip_norm=DEFAULTS["clip_norm"],
              clip_contribution=DEFAULTS["clip_contribution"], clamp=DEFAULTS["clamp"],
              init_std=DEFAULTS["init_std"], centre_bias=0.0, **loop):
    """Ascend `objective` (an Objective) from x0 or from noise; returns the loop's Result.

    x0: (N, 3, H, W) start in the model's input space; None: Gaussian noise of std `init_std`
      (0 gives the all-mean image) of shape (1, 3, *size), size defaulting to the model's input.
    l2: weight of the L2 penalty; jitter: max roll in pixels (0: off); blur_every / blur_sigma:
      Gaussian blur every k steps (0: off); clip_norm / clip_contribution: percentiles (0..100)
      of pixels zeroed after each step (0: off); clamp: keep pixels in the valid range;
      centre_bias: starting side (0..1] of a centred window that alone is updated at first and
      grows to the whole image (0: off; Nguyen et al.'s multifaceted visualization uses ~0.5).
    loop: the rest of tinyconv.methods.optimize's arguments (progress, save_every, on_snapshot,
      stop).
    """
    _check_weights(l2=l2, jitter=jitter, blur_every=blur_every, blur_sigma=blur_sigma,
                   init_std=init_std)
    for name, value in (("clip_norm", clip_norm), ("clip_contribution", clip_contribution)):
        if not 0 <= value < 100:
            raise ValueError(f"{name} is a percentile and must be in [0, 100), got {value}")
    if not 0 <= centre_bias <= 1:
        raise ValueError(f"centre_bias is a fraction of the image side in [0, 1], got "
                         f"{centre_bias}")
    rng = np.random.default_rng(seed)
    x0 = start_image(model, x0, size, init_std, rng)

    def loss(x):
        score = objective(model, x).sum()
        if not l2:
            return score, {"objective": score.item()}
        penalty = (x * x).sum() * l2
        return score - penalty, {"objective": score.item(), "l2": penalty.item()}

    transforms = [tf.jitter(jitter, rng)] if jitter else []
    holder = {}
    regularizers = []
    if centre_bias:
        regularizers.append(tf.centre_bias(x0, centre_bias, steps))
    if blur_every:
        regularizers.append(tf.blur_every(blur_every, blur_sigma))
    if clip_norm:
        regularizers.append(tf.clip_small_norm(clip_norm))
    if clip_contribution:
        regularizers.append(tf.clip_small_contribution(clip_contribution, holder))
    if clamp:
        regularizers.append(tf.clamp(*model.preprocessing.input_range()))
    return optimize(loss, x0, steps, lr, step_rule=step_rule, maximize=True,
                    transforms=transforms, regularizers=regularizers,
                    gradient_holder=holder if clip_contribution else None, **loop)


def class_visualization(model, target, **kwargs):
    """Simonyan et al.: the image maximizing the raw score of class `target` (index or name).

    kwargs: see `visualize`. Returns the loop's Result; result.image is (1, 3, H, W).
    """
    return visualize(model, obj.class_score(model, target), **kwargs)


def feature_visualization(model, layer, channel, y=None, x=None, neuron=False, **kwargs):
    """The image maximizing one channel's mean activation of `layer`, or with neuron=True the
    single unit (channel, y, x) (default: the centre unit). kwargs: see `visualize`."""
    objective = (obj.neuron(model, layer, channel, y, x) if neuron
                 else obj.channel(model, layer, channel))
    return visualize(model, objective, **kwargs)


MULTIFACETED_DEFAULTS = dict(steps=100, lr=8.0, centre_bias=0.5)


def multifaceted_visualization(model, target, images, facets=4, feature_layer=None, seed=0,
                               steps=MULTIFACETED_DEFAULTS["steps"],
                               lr=MULTIFACETED_DEFAULTS["lr"],
                               centre_bias=MULTIFACETED_DEFAULTS["centre_bias"],
                               snapshots=None, progress="multifaceted", on_facet=None,
                               **kwargs):
    """Nguyen et al. 2016: one visualization of class `target` (index or name, or any Objective
    such as a channel) per facet of its training images.

    images: preprocessed (N, 3, H, W) array of the class's (or a group of classes') images;
    their features at `feature_layer` (default: the layer before the classifier, spatially
    averaged) are clustered by k-means into `facets` groups, and gradient ascent on the class
    score (the objective) starts from each cluster's mean image, with a centre bias (see
    `visualize`). The ascent is gentler than `visualize`'s (100 steps of 8), so each facet
    keeps its cluster's colours and layout. Returns (results: list of Results, one per facet
    (fewer when Ctrl-C stopped one: the run ends with it), labels: (N,) facet of each image).
    snapshots: optional snapshots(facet) -> the on_snapshot(step, x) callback of that facet's
    ascent (see tinyconv.methods.optimize; used with save_every).
    progress: as in tinyconv.methods.optimize; a name is followed by the facet ("multifaceted
    facet 0 (of 4, 12 images)"). on_facet(facet, result, members): called as each facet's ascent
    ends, members the (N,) bool mask of its images.
    """
    images = backend.to_numpy(images.data if isinstance(images, Tensor) else images)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be a preprocessed (N, 3, H, W) batch, got {images.shape}")
    if not 1 <= facets <= len(images):
        raise ValueError(f"facets must be in 1..{len(images)} (the number of images), got "
                         f"{facets}")
    layer = feature_layer or model.default_feature_layer(spatial=False)
    features = array_features(model, images, layer, batch_size=16)
    _, labels = kmeans(features, facets, seed=seed)
    objective = target if isinstance(target, obj.Objective) else \
        obj.class_score(model, target)
    results = []
    for facet in range(facets):
        members = labels == facet
        named = f"{progress} facet {facet} (of {facets}, {members.sum()} images)" \
            if isinstance(progress, str) else progress
        start = images[members].mean(axis=0, keepdims=True)
        results.append(visualize(model, objective, x0=start, seed=seed + facet, steps=steps,
                                 lr=lr, centre_bias=centre_bias,
                                 on_snapshot=snapshots and snapshots(facet), progress=named,
                                 **kwargs))
        if on_facet:
            on_facet(facet, results[-1], members)
        if results[-1].interrupted:
            break
    return results, labels


def start_image(model, x0, size, init_std, rng):
    """x0 checked and moved to the model's device, or Gaussian noise (1, 3, *size) from rng."""
    xp = backend.xp_for(model.device)
    if x0 is None:
        size = size or model.preprocessing.input_size or (224, 224)
        height, width = (size, size) if np.isscalar(size) else size
        x0 = rng.standard_normal((1, 3, height, width)) * init_std
    x0 = backend.to_numpy(x0.data if isinstance(x0, Tensor) else x0)
    if x0.ndim != 4 or x0.shape[1] != 3:
        raise ValueError(f"the start image must be (N, 3, H, W), got {x0.shape}")
    return xp.asarray(x0, dtype=model.dtype)


def _check_weights(**values):
    for name, value in values.items():
        if not 0 <= value < float("inf"):  # NaN fails every comparison
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
