"""`tinyconv classify --weights WEIGHTS IMAGE...`: top-k classes of images, batched."""
import sys

import numpy as np

from ..methods.features import read_images
from ..image import list_images
from .common import (add_images_arg, add_model_args, add_parser, add_strict_arg,
                     load_model_from_args, report_skipped, skip_unreadable)
from .types import batch_size, positive_int

EXAMPLE = """examples:
  tinyconv classify --weights squeezenet1_1 dog.png snake.png
  tinyconv classify --weights squeezenet1_1.h5 --top-k 1 --batch-size 64 photos/
  tinyconv classify --weights cifar_net.h5 --labels cifar10_classes.txt cat.png

Each image is resized (short side 256) and centre-cropped to the model's input size, as in
training; the output lists probability, class index and class name. 1000-class networks without
class names of their own use ImageNet's; --labels gives others."""


def register(subparsers):
    p = add_parser(subparsers, "classify", "top-k classes of images", __doc__, EXAMPLE)
    add_images_arg(p)
    add_model_args(p)
    p.add_argument("--top-k", type=positive_int, default=5, help="classes per image [5]")
    p.add_argument("--batch-size", type=batch_size, default=32,
                   help="images per forward pass [32]")
    add_strict_arg(p)
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    if model.preprocessing.input_size is None:
        raise ValueError(f"{args.weights or args.model} holds {model.arch} without its "
                         f"classifier; it cannot classify")
    paths = list_images(args.images)
    if not paths:
        raise FileNotFoundError(f"no images found in {args.images}")
    if not model.labels:
        print(f"({model.arch} has no class names: --labels FILE gives them)", file=sys.stderr)
    skip, read = skip_unreadable(args), 0
    for i in range(0, len(paths), args.batch_size):
        images, batch = read_images(paths[i:i + args.batch_size], skip)
        if not images:
            continue
        read += len(images)
        probs = model.predict(images, batch_size=args.batch_size)
        for path, p in zip(batch, probs):
            print(path)
            for c in np.argsort(-p)[:args.top_k]:
                name = model.labels[c] if model.labels else ""
                print(f"  {p[c]:.4f}  {c:4d}  {name}")
    skip.check_any_left(read, len(paths))
    report_skipped(args, skip, read)
