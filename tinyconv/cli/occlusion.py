"""`tinyconv occlusion IMAGE`: occlusion sensitivity (Zeiler & Fergus 2014), the probability of a
class as a grey square (the dataset mean) slides over the image, in batches."""
import numpy as np

from ..methods.grids import apply_colormap, overlay
from ..methods.objectives import class_index
from ..methods.occlusion import occlusion_map
from .common import (add_image_arg, add_model_args, add_output_args, add_parser, add_target_args,
                     class_name, image_stem, load_input, load_model_from_args, panel,
                     predicted_class, progress_printer, save_array, save_picture)

EXAMPLE = """examples:
  tinyconv occlusion --weights squeezenet1_1.h5 dog.png
  tinyconv occlusion --weights squeezenet1_1.h5 --class 243 --size 48 --stride 8 dog.png

Writes IMAGE_occlusion_cCLASS.png (P(class) per pixel, averaged over the squares covering it;
jet colours, blue = 0, red = 1) and ..._panel.png (image | map | the drop in probability over
the image). --save-npy saves the map on the grid of square positions."""


def register(subparsers):
    p = add_parser(subparsers, "occlusion", "class probability under a sliding grey square",
                   __doc__, EXAMPLE)
    add_image_arg(p)
    add_model_args(p)
    add_target_args(p, units=False)
    add_output_args(p)
    p.add_argument("--size", type=int, help="side of the square in pixels [1/8 of the image]")
    p.add_argument("--stride", type=int, help="step between positions [size / 2]")
    p.add_argument("--batch-size", type=int, default=32, help="occluded copies per pass [32]")
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    image, x = load_input(model, args)
    if args.target_class is None:
        target = predicted_class(model, x)
    else:
        target = class_index(model, args.target_class)
    print(f"target: P(class {target}) ({class_name(model, target)})")
    prob_map, heat = occlusion_map(model, x, target, size=args.size, stride=args.stride,
                                   batch_size=args.batch_size,
                                   progress=progress_printer("occlusion", "occluded images"))
    unoccluded = float(model.probabilities(x)[0, target])
    row, col = np.unravel_index(np.argmin(prob_map), prob_map.shape)
    print(f"P without occlusion {unoccluded:.4f}; lowest {prob_map.min():.4f} with the square "
          f"at grid position ({row}, {col}) of {prob_map.shape}; highest {prob_map.max():.4f}")
    name = f"{image_stem(args)}_occlusion_c{target}"
    heat_picture = apply_colormap(heat)
    save_picture(args, name, heat_picture)
    drop = np.maximum(unoccluded - heat, 0.0)
    save_picture(args, f"{name}_panel", panel(image, heat_picture, overlay(image, drop)))
    save_array(args, name, prob_map)
