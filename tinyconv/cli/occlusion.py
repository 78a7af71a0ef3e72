"""`tinyconv occlusion IMAGE`: occlusion sensitivity (Zeiler & Fergus 2014), the probability of a
class (or a channel's mean activation) as a grey square (the dataset mean) slides over the image,
in batches."""
import numpy as np

from ..methods.attribution import objective_values
from ..methods.grids import apply_colormap, overlay
from ..methods.objectives import class_probability
from ..methods.occlusion import occlusion_map
from .common import (add_image_arg, add_model_args, add_output_args, add_parser, image_name,
                     image_stem, load_input, load_model_from_args, panel, progress_printer,
                     save_array, save_picture)
from .targets import add_target_args, class_name, describe, resolve_target, target_tag
from .types import batch_size, positive_int, side

EXAMPLE = """examples:
  tinyconv occlusion --weights squeezenet1_1.h5 dog.png
  tinyconv occlusion --weights squeezenet1_1.h5 --class 243 --size 48 --stride 8 dog.png
  tinyconv occlusion --weights vgg19_blocks1-3.h5 --layer relu3_1 --channel 37 dog.png

Writes IMAGE_occlusion_TARGET.png (P(class) per pixel, averaged over the squares covering it;
jet colours, blue = 0, red = 1; for a channel target its mean activation, red = the largest of
the map and the unoccluded value) and ..._panel.png (image | map | the drop over the image).
--save-npy saves the map on the grid of square positions. Without a target: the predicted
class, or on a network without class scores the strongest channel of its deepest feature map
(Zeiler & Fergus's "strongest feature map")."""


def register(subparsers):
    p = add_parser(subparsers, "occlusion", "class probability under a sliding grey square",
                   __doc__, EXAMPLE)
    add_image_arg(p)
    add_model_args(p)
    add_target_args(p)
    add_output_args(p)
    p.add_argument("--size", type=side, help="side of the square in pixels [1/8 of the image]")
    p.add_argument("--stride", type=positive_int, help="step between positions [size / 2]")
    p.add_argument("--batch-size", type=batch_size, default=32,
                   help="occluded copies per pass [32]")
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    image, x = load_input(model, args)
    objective = resolve_target(model, args, x)
    # a class target maps its probability (the paper's), any other target its own value
    target = objective.target_class
    if target is not None:
        objective = class_probability(model, target)
    print("target: " + (describe(model, objective, args, image_name(args)) if target is None
                        else f"P(class {target}) ({class_name(model, target)})"))
    prob_map, heat = occlusion_map(model, x, objective, size=args.size, stride=args.stride,
                                   batch_size=args.batch_size,
                                   progress=progress_printer("occlusion", "occluded images"))
    what = "value" if target is None else "P"
    unoccluded = float(objective_values(model, x, objective)[0])
    row, col = np.unravel_index(np.argmin(prob_map), prob_map.shape)
    print(f"{what} without occlusion {unoccluded:.4f}; lowest {prob_map.min():.4f} with the "
          f"square at grid position ({row}, {col}) of {prob_map.shape}; highest "
          f"{prob_map.max():.4f}")
    name = f"{image_stem(args)}_occlusion_{target_tag(args, objective)}"
    top = 1.0 if what == "P" else max(unoccluded, float(heat.max()), 1e-20)
    heat_picture = apply_colormap(heat / top)
    save_picture(args, name, heat_picture)
    drop = np.maximum(unoccluded - heat, 0.0)
    save_picture(args, f"{name}_panel", panel(image, heat_picture, overlay(image, drop)))
    save_array(args, name, prob_map)
