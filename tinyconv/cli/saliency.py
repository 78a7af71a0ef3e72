"""`tinyconv saliency IMAGE`: Simonyan et al.'s saliency map, the largest |d score / d pixel| over
the colour channels, and optionally an unsupervised segmentation from it with GrabCut."""
from ..methods.attribution import saliency_map
from ..methods.display import map_image
from ..methods.segmentation import cutout, saliency_grabcut
from .common import (add_image_arg, add_model_args, add_output_args, add_parser, image_stem,
                     load_target_input, panel, save_array, save_picture)
from .targets import add_target_args, target_tag
from .types import fraction, non_negative_float

EXAMPLE = """examples:
  tinyconv saliency --weights squeezenet1_1.h5 dog.png
  tinyconv saliency --weights squeezenet1_1.h5 --class "tiger cat" --grabcut cat_dog.png

Writes IMAGE_saliency_TARGET.png (the map) and ..._panel.png (image | map); with --grabcut also
..._mask.png and ..._cutout.png: GrabCut seeded by the top --fg and bottom --bg fractions of
pixels by saliency."""


def register(subparsers):
    p = add_parser(subparsers, "saliency", "saliency map, optionally GrabCut segmentation",
                   __doc__, EXAMPLE)
    add_image_arg(p)
    add_model_args(p)
    add_target_args(p)
    add_output_args(p)
    group = p.add_argument_group("GrabCut")
    group.add_argument("--grabcut", action="store_true", help="segment the image from the map")
    group.add_argument("--fg", type=fraction, default=0.05,
                       help="fraction of most salient pixels seeding the foreground [0.05]")
    group.add_argument("--bg", type=fraction, default=0.30,
                       help="fraction of least salient pixels seeding the background [0.30]")
    group.add_argument("--blur", type=non_negative_float, default=3.0,
                       help="Gaussian blur (pixels) of the map before seeding [3]")
    p.set_defaults(func=run)


def run(args):
    model, image, x, objective = load_target_input(args)
    saliency = saliency_map(model, x, objective)[0]  # (H, W)
    name = f"{image_stem(args)}_saliency_{target_tag(args, objective)}"
    picture = map_image(saliency)
    save_picture(args, name, picture)
    save_array(args, name, saliency)
    if not args.grabcut:
        save_picture(args, f"{name}_panel", panel(image, picture))
        return
    mask = saliency_grabcut(image, saliency, args.fg, args.bg, blur_sigma=args.blur,
                            seed=args.seed)
    print(f"GrabCut foreground: {mask.mean():.1%} of the pixels")
    save_picture(args, f"{name}_mask", mask.astype("uint8") * 255)
    save_picture(args, f"{name}_cutout", cutout(image, mask))
    save_picture(args, f"{name}_panel", panel(image, picture, mask.astype("uint8") * 255,
                                              cutout(image, mask)))
    save_array(args, f"{name}_mask", mask)
