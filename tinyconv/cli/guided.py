"""`tinyconv guided IMAGE`: guided backprop (Springenberg et al. 2015) or the deconvnet (Zeiler &
Fergus 2014) of a class score, a channel or one unit, by swapping the ReLU backward."""
from ..methods.attribution import input_gradient
from ..methods.display import gradient_image
from .common import (add_image_arg, add_model_args, add_output_args, add_parser, image_stem,
                     load_target_input, panel, save_array, save_picture)
from .targets import add_target_args, target_tag

EXAMPLE = """examples:
  tinyconv guided --weights squeezenet1_1.h5 dog.png
  tinyconv guided --weights squeezenet1_1.h5 --mode deconvnet --layer fire5 --channel 12 dog.png
  tinyconv guided --weights squeezenet1_1.h5 --layer fire9 --channel 7 --unit 6 6 dog.png

Writes IMAGE_MODE_TARGET.png (the gradient, 0 = grey, scaled by its 99.5th percentile) and
..._panel.png (image | gradient)."""


def register(subparsers):
    p = add_parser(subparsers, "guided", "guided backprop / deconvnet of a class, channel or unit",
                   __doc__, EXAMPLE)
    add_image_arg(p)
    add_model_args(p)
    add_target_args(p)
    add_output_args(p)
    p.add_argument("--mode", choices=("guided", "deconvnet", "plain"), default="guided",
                   help="ReLU backward: guided backprop, deconvnet, or the plain gradient "
                        "[guided]")
    p.set_defaults(func=run)


def run(args):
    model, image, x, objective = load_target_input(args)
    gradient = input_gradient(model, x, objective, relu_backward=args.mode)[0]  # (3, H, W)
    name = f"{image_stem(args)}_{args.mode}_{target_tag(args, objective)}"
    picture = gradient_image(gradient)
    save_picture(args, name, picture)
    save_picture(args, f"{name}_panel", panel(image, picture))
    save_array(args, name, gradient)
