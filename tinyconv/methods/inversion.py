"""Feature inversion (Mahendran & Vedaldi 2015): which images does a layer take for this one?

    x* = argmin_x  ||phi(x) - phi0||^2 / ||phi0||^2  +  tv * V_beta(x / B)  +  alpha_weight *
                   N_alpha(x / B)

with phi the activation of one layer, phi0 that of the original image, V_beta the total
variation (beta = 2: squared neighbour differences; beta < 2 allows sharper edges), N_alpha the
alpha-norm sum |x|^alpha [alpha 6], both per pixel (divided by H * W) and measured in units of
B = the per-channel pixel range of the model's input, so the weights do not depend on image size
or preprocessing. Shallow layers give back the picture almost exactly; deeper ones keep the
objects' parts and lose colour, texture and position.
"""
import numpy as np

from .. import ops
from ..engine import backend
from ..engine.tensor import Tensor, no_grad
from . import objectives as obj
from .optimize import optimize
from .transforms import clamp
from .visualization import start_image


class Inversion:
    """layer; image: (1, 3, H, W) reconstruction; relative_error: ||phi(x) - phi0|| / ||phi0||;
    result: the loop's Result."""

    def __init__(self, layer, image, relative_error, result):
        self.layer, self.image, self.relative_error = layer, image, relative_error
        self.result = result


STEP_RULES = ("lbfgs", "adam")  # the step rules that pixel_range keeps inside valid pixels
LOOP_DEFAULTS = dict(steps=200, step_rule="lbfgs", lr=0.05)


def invert_features(model, x, layer, steps=LOOP_DEFAULTS["steps"],
                    step_rule=LOOP_DEFAULTS["step_rule"], lr=LOOP_DEFAULTS["lr"], tv=1e-3,
                    beta=2.0, alpha=6.0, alpha_weight=0.0, init_std=0.1, seed=0,
                    progress="invert", **loop):
    """Reconstruct image x (1, 3, H, W) (input space) from its activation at `layer`.

    step_rule: "lbfgs" (with the valid pixel range as bounds) or "adam" (lr = step size, pixels
    clamped after each step). tv, alpha_weight: regularizer weights (>= 0). init_std: the start
    is Gaussian noise of this std (input units) from `seed`. progress: as in
    tinyconv.methods.optimize; a name is followed by the layer ("invert fire3"). Returns an
    Inversion.
    """
    obj.check_layer(model, layer)
    for name, value in (("tv", tv), ("alpha_weight", alpha_weight), ("init_std", init_std)):
        if not 0 <= value < float("inf"):  # NaN fails every comparison
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    if not (0 < beta < float("inf") and 0 < alpha < float("inf")):
        raise ValueError(f"beta and alpha must be positive, got {beta} and {alpha}")
    xp = backend.xp_for(model.device)
    x = start_image(model, x, None, 0.0, None)
    with no_grad():
        target = model.forward(Tensor(x), layers=[layer])[layer]
    target_norm = float((target.data * target.data).sum())
    if target_norm == 0:
        raise ValueError(f"the image's activation at {layer} is all zeros; nothing to invert")
    low, high = model.preprocessing.input_range()
    unit = Tensor(xp.asarray(high - low, dtype=model.dtype).reshape(1, 3, 1, 1))
    pixels = x.shape[2] * x.shape[3]

    def loss(image):
        diff = model.forward(image, layers=[layer])[layer] - target
        feature = (diff * diff).sum() * (1.0 / target_norm)
        terms = {"feature": feature.item()}
        total = feature
        if tv:
            smooth = ops.total_variation(image / unit, beta=beta) * (tv / pixels)
            terms["tv"] = smooth.item()
            total = total + smooth
        if alpha_weight:
            norm = ((image / unit).abs() ** alpha).sum() * (alpha_weight / pixels)
            terms["alpha"] = norm.item()
            total = total + norm
        return total, terms

    x0 = start_image(model, None, x.shape[2:], init_std, np.random.default_rng(seed))
    result = optimize(loss, x0, steps, lr, step_rule=step_rule, **pixel_range(model, step_rule),
                      progress=f"{progress} {layer}" if isinstance(progress, str) else progress,
                      **loop)
    error = relative_feature_error(model, result.image, layer, target)
    return Inversion(layer, result.image, error, result)


def pixel_range(model, step_rule):
    """The loop arguments keeping pixels valid: bounds for L-BFGS, a clamp after other steps."""
    low, high = model.preprocessing.input_range()
    if step_rule == "lbfgs":
        return {"bounds": (low.reshape(1, 3, 1, 1), high.reshape(1, 3, 1, 1))}
    return {"regularizers": [clamp(low, high)]}


def relative_feature_error(model, x, layer, target):
    """||phi(x) - target|| / ||target|| at `layer` for image x (1, 3, H, W)."""
    xp = backend.xp_for(model.device)
    with no_grad():
        act = model.forward(Tensor(xp.asarray(x, dtype=model.dtype)), layers=[layer])[layer]
    t = target.data if isinstance(target, Tensor) else target
    return float(xp.sqrt(((act.data - t) ** 2).sum() / (t * t).sum()))
