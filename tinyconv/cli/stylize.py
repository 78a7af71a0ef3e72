"""`tinyconv stylize --weights STYLE IMAGE...`: images through a fast style transfer network."""
from pathlib import Path

from ..image import list_images, load_image
from ..engine.tensor import no_grad
from .common import add_device_arg, add_parser, load_weights, save_picture

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
    p.add_argument("--size", type=int, metavar="S",
                   help="resize each image's short side to S pixels first")
    p.add_argument("--out", default="tinyconv-out", help="folder for the pictures [tinyconv-out]")
    add_device_arg(p)
    p.set_defaults(func=run)


def run(args):
    model = load_weights(args.weights, args.device)
    if model.arch != "fast_style":
        raise ValueError(f"{args.weights} holds {model.arch}, not a fast style transfer network "
                         f"(fast_style)")
    style = Path(args.weights).stem
    for path in list_images(args.images):
        picture = load_image(path, size=args.size)
        with no_grad():
            styled = model.deprocess(model(model.preprocess(picture)))[0]
        save_picture(args, f"{path.stem}_{style}", styled)
