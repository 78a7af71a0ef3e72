"""Fooling images and adversarial examples: tiny image changes that change the prediction.

- fooling_images (CS231n, after Szegedy et al. 2014): targeted iterative ascent on the target
  class's log probability (or raw score) with normalized steps x += lr * g / ||g||_2, each image
  stopping as soon as the network predicts its target; a batch runs together and fooled images
  stop moving.
- fgsm (Goodfellow et al. 2015, fast gradient sign): one step of epsilon (in 0..255 pixel units)
  along the sign of the gradient of the cross-entropy, away from the true label (untargeted) or
  towards a target label (targeted).
Images are (N, 3, H, W) arrays in the model's input space; results are numpy.
"""
import numpy as np

from ..engine import backend
from ..engine.tensor import Tensor
from ..ops import cross_entropy
from .objectives import class_index, class_log_probability, class_score
from .optimize import optimize
from .transforms import clamp, snap_to_pixels

FOOLING_OBJECTIVES = {"score": class_score, "log_probability": class_log_probability}
FOOLING_LOOP_DEFAULTS = dict(steps=100, lr=1.0)  # steps: fooling_images' max_steps


class FoolingResult:
    """images: (N, 3, H, W) adversarial images; steps: (N,) updates each needed (-1: not fooled
    within the budget); fooled: (N,) bool; result: the optimization loop's Result."""

    def __init__(self, images, steps, result):
        self.images, self.steps, self.result = images, steps, result
        self.fooled = steps >= 0


def fooling_images(model, x, targets, lr=FOOLING_LOOP_DEFAULTS["lr"],
                   max_steps=FOOLING_LOOP_DEFAULTS["steps"], objective="log_probability", **loop):
    """Change each image of x (N, 3, H, W) until the model predicts its target class.

    targets: an int / class name for every image, or a sequence of N of them. lr: the L2 norm of
    each step in input units [1, CS231n]. max_steps: the update budget [100].
    objective: "log_probability" [default] ascends log softmax of the target, which also pushes
      the other classes down; "score" ascends the raw target score (CS231n), which on SqueezeNet
      needs larger changes and sometimes more than 100 steps.
    The network always sees the image rounded to 8-bit pixels (the gradient passes straight
    through the rounding), so an image counts as fooled only if its saved PNG fools the model.
    loop: more tinyconv.methods.optimize arguments (progress, save_every, on_snapshot).
    """
    if objective not in FOOLING_OBJECTIVES:
        raise ValueError(f"objective must be one of {tuple(FOOLING_OBJECTIVES)}, got "
                         f"{objective!r}")
    xp = backend.xp_for(model.device)
    x = xp.asarray(backend.to_numpy(x), dtype=model.dtype)
    n = len(x)
    targets = _per_example(model, targets, n)
    target_objective = FOOLING_OBJECTIVES[objective](model, targets)
    steps_taken = np.full(n, -1)
    evaluated = [0]  # forward passes so far = updates applied before this one

    def loss(image):
        acts = model.forward(image, layers=target_objective.layers)
        predicted = backend.to_numpy(acts[model.output_name].data.argmax(axis=1))
        steps_taken[(predicted == targets) & (steps_taken < 0)] = evaluated[0]
        evaluated[0] += 1
        values = target_objective.scores(acts)  # (N,)
        active = Tensor(xp.asarray(steps_taken < 0, dtype=values.dtype))
        return (values * active).sum(), {
            "fooled": int((steps_taken >= 0).sum()),
            "target score": float(backend.to_numpy(values.data).mean())}

    snap = snap_to_pixels(model.preprocessing)
    result = optimize(loss, x, max_steps, lr, step_rule="normalized_l2", maximize=True,
                      transforms=[snap], regularizers=[clamp(*model.preprocessing.input_range())],
                      stop=lambda step, image, terms: terms["fooled"] == n, **loop)
    images = snap(Tensor(result.image)).numpy()
    final = model.predicted_classes(images)
    steps_taken[(final == targets) & (steps_taken < 0)] = result.steps
    steps_taken[final != targets] = -1
    return FoolingResult(images, steps_taken, result)


def fgsm(model, x, epsilon, targets=None, labels=None):
    """Fast gradient sign: x + epsilon * sign(grad), clamped to valid pixels -> (N, 3, H, W) numpy.

    epsilon: step per pixel in 0..255 units. targets: None for the untargeted attack (increase the
    loss of `labels`, default: the model's own predictions), else the class(es) to move towards.
    """
    if not 0 <= epsilon < float("inf"):  # NaN fails every comparison
        raise ValueError(f"epsilon must be a finite number >= 0 (0..255 pixel units), got {epsilon}")
    xp = backend.xp_for(model.device)
    x = xp.asarray(backend.to_numpy(x), dtype=model.dtype)
    if targets is None:
        labels = model.predicted_classes(x) if labels is None else \
            _per_example(model, labels, len(x))
        direction = 1.0
    else:
        labels, direction = _per_example(model, targets, len(x)), -1.0
    image = Tensor(x, requires_grad=True)
    cross_entropy(model(image), labels, reduction="sum").backward()
    pre = model.preprocessing
    step = xp.asarray(epsilon * pre.pixel_size(), dtype=x.dtype).reshape(1, 3, 1, 1)
    adversarial = x + direction * step * xp.sign(image.grad)
    clamp(*pre.input_range())(adversarial, 0)
    return backend.to_numpy(adversarial)


def pixel_change(model, original, adversarial):
    """(L-infinity in 0..255 pixel units, relative L2 ||d|| / ||original||) per image, both in
    0..255 RGB space -> two (N,) numpy arrays."""
    a, b = (model.preprocessing.to_rgb(v) for v in (original, adversarial))
    d = (b - a).reshape(len(a), -1)
    linf = np.abs(d).max(axis=1)
    relative = np.linalg.norm(d, axis=1) / np.maximum(np.linalg.norm(a.reshape(len(a), -1),
                                                                      axis=1), 1e-12)
    return linf, relative


def difference_panel(original, adversarial, gap=4):
    """Side by side uint8 RGB (H, W, 3) images: original, adversarial, difference and 10 x
    difference (both drawn around mid-grey 128) -> (H, 4 W + 3 gap, 3) uint8."""
    a, b = original.astype(np.float64), adversarial.astype(np.float64)
    tiles = [original, adversarial] + [np.clip(128 + k * (b - a), 0, 255).astype(np.uint8)
                                       for k in (1, 10)]
    spacer = np.full((a.shape[0], gap, 3), 255, np.uint8)
    row = []
    for tile in tiles:
        row += [tile, spacer]
    return np.concatenate(row[:-1], axis=1)


def _per_example(model, classes, n):
    """(n,) int array of class indices from one class or a sequence of n classes."""
    if isinstance(classes, (str, int, np.integer)):
        classes = [classes] * n
    classes = [class_index(model, c) for c in classes]
    if len(classes) != n:
        raise ValueError(f"got {len(classes)} target classes for {n} images")
    return np.asarray(classes)
