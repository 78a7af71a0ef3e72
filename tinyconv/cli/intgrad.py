"""`tinyconv intgrad IMAGE`: integrated gradients (Sundararajan et al. 2017) from a baseline image,
with the completeness check: the attributions sum to score(image) - score(baseline)."""
import numpy as np

from ..methods.attribution import integrated_gradients, objective_values
from ..methods.display import map_image
from .common import (add_image_arg, add_model_args, add_output_args, add_parser, image_stem,
                     load_target_input, panel, save_array, save_picture)
from .targets import add_target_args, target_tag
from .types import batch_size, step_count

EXAMPLE = """examples:
  tinyconv intgrad --weights squeezenet1_1.h5 dog.png
  tinyconv intgrad --weights squeezenet1_1.h5 --baseline black --steps 100 --class 72 spider.png

Baselines: "mean" (the dataset-mean colour, 0 in the model's input space), "black", "white".
Writes IMAGE_intgrad_TARGET.png (sum over colours of |attribution|) and ..._panel.png."""

BASELINES = {"mean": None, "black": 0, "white": 255}


def register(subparsers):
    p = add_parser(subparsers, "intgrad", "integrated gradients of a class, channel or unit",
                   __doc__, EXAMPLE)
    add_image_arg(p)
    add_model_args(p)
    add_target_args(p)
    add_output_args(p)
    p.add_argument("--baseline", choices=sorted(BASELINES), default="mean",
                   help="image the path starts from [mean]")
    p.add_argument("--steps", type=step_count, default=50,
                   help="path intervals (trapezoid rule) [50]")
    p.add_argument("--batch-size", type=batch_size, default=10, help="path points per pass [10]")
    p.set_defaults(func=run)


def baseline_input(model, x, name):
    """The baseline as an input array like x (1, 3, H, W), or None for zeros."""
    value = BASELINES[name]
    if value is None:
        return None
    image = np.full(x.shape[2:] + (3,), value, dtype=np.uint8)
    return model.preprocess(image, resize=False).data


def run(args):
    model, image, x, objective = load_target_input(args)
    baseline = baseline_input(model, x, args.baseline)
    attributions = integrated_gradients(model, x, objective, baseline=baseline,
                                        steps=args.steps, batch_size=args.batch_size)[0]
    start = x * 0 if baseline is None else baseline
    difference = float(objective_values(model, x, objective)[0]
                       - objective_values(model, start, objective)[0])
    total = float(attributions.sum(dtype=np.float64))
    error = abs(total - difference) / max(abs(difference), 1e-12)
    print(f"completeness: attributions sum to {total:.4f}, score(image) - score(baseline) = "
          f"{difference:.4f} (relative error {error:.2%})")
    name = f"{image_stem(args)}_intgrad_{target_tag(args, objective)}"
    picture = map_image(np.abs(attributions).sum(axis=0))
    save_picture(args, name, picture)
    save_picture(args, f"{name}_panel", panel(image, picture))
    save_array(args, name, attributions)
