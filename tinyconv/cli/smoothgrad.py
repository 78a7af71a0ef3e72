"""`tinyconv smoothgrad IMAGE`: SmoothGrad (Smilkov et al. 2017), the gradient averaged over
noisy copies of the image, shown beside the plain gradient."""
import numpy as np

from ..methods.attribution import input_gradient, smoothgrad
from ..methods.display import map_image
from .common import (add_image_arg, add_model_args, add_output_args, add_parser, image_stem,
                     load_target_input, panel, save_array, save_picture)
from .targets import add_target_args, target_tag
from .types import batch_size, non_negative_float, step_count

EXAMPLE = """examples:
  tinyconv smoothgrad --weights squeezenet1_1.h5 dog.png
  tinyconv smoothgrad --weights squeezenet1_1.h5 --samples 25 --noise 0.2 --class 56 snake.png

Writes IMAGE_smoothgrad_TARGET.png (max over colours of |mean gradient|) and ..._panel.png
(image | plain gradient | SmoothGrad)."""


def register(subparsers):
    p = add_parser(subparsers, "smoothgrad", "SmoothGrad map of a class, channel or unit",
                   __doc__, EXAMPLE)
    add_image_arg(p)
    add_model_args(p)
    add_target_args(p)
    add_output_args(p)
    p.add_argument("--samples", type=step_count, default=50, help="noisy copies [50]")
    p.add_argument("--noise", type=non_negative_float, default=0.15,
                   help="noise std as a fraction of the image's value range [0.15]")
    p.add_argument("--mode", choices=("plain", "guided"), default="plain",
                   help="gradient averaged: plain or guided backprop [plain]")
    p.add_argument("--batch-size", type=batch_size, default=10, help="noisy copies per pass [10]")
    p.set_defaults(func=run)


def run(args):
    model, image, x, objective = load_target_input(args)
    plain = input_gradient(model, x, objective, args.mode)[0]
    smooth = smoothgrad(model, x, objective, n_samples=args.samples, noise_level=args.noise,
                        batch_size=args.batch_size, seed=args.seed, relu_backward=args.mode)[0]
    name = f"{image_stem(args)}_smoothgrad_{target_tag(args, objective)}"
    picture = map_image(np.abs(smooth).max(axis=0))
    save_picture(args, name, picture)
    save_picture(args, f"{name}_panel", panel(image, map_image(np.abs(plain).max(axis=0)),
                                              picture))
    save_array(args, name, smooth)
