"""`tinyconv stylize --weights STYLE IMAGE...`: images through a fast style transfer network."""
from pathlib import Path

from ..engine.tensor import no_grad
from ..image import UnreadableImage, list_images, load_image
from .common import (add_device_arg, add_output_args, add_parser, add_strict_arg, load_weights,
                     output_stems, report_skipped, save_picture, skip_unreadable)
from .types import side

EXAMPLE = """examples:
  tinyconv convert fast_style_ml5/wave            # once: into the cache as "wave"
  tinyconv stylize --weights wave chicago.jpg tubingen.jpg --size 512 --out stylized

Writes IMAGE_STYLE.png for each image (STYLE: the weights' name). The network is fully
convolutional: an image keeps its size, or its short side becomes --size."""


def register(subparsers):
    p = add_parser(subparsers, "stylize", "restyle images with a fast style transfer network",
                   __doc__, EXAMPLE)
    p.add_argument("images", nargs="+", help="image files or folders of images")
    p.add_argument("--weights", required=True,
                   help="fast-style weights: a converted .h5 file, an ml5 checkpoint folder, or "
                        "their name in the cache")
    p.add_argument("--size", type=side, metavar="S",
                   help="resize each image's short side to S pixels first")
    add_output_args(p, arrays=False)
    add_device_arg(p)
    add_strict_arg(p)
    p.set_defaults(func=run)


def run(args):
    model = load_weights(args.weights, args.device)
    if model.arch != "fast_style":
        raise ValueError(f"{args.weights} holds {model.arch}, not a fast style transfer network "
                         f"(fast_style)")
    style = Path(args.weights).stem
    paths = list_images(args.images)
    if not paths:
        raise FileNotFoundError(f"no images found in {args.images}")
    skip, read, names = skip_unreadable(args), 0, output_stems(paths)
    for path in paths:
        try:
            picture = load_image(path, size=args.size)
        except UnreadableImage as error:
            skip(error)
            continue
        read += 1
        with no_grad():
            styled = model.deprocess(model(model.preprocess(picture)))[0]
        save_picture(args, f"{names[path]}_{style}", styled)
    skip.check_any_left(read, len(paths))
    report_skipped(args, skip, read)
