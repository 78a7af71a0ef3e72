"""`tinyconv classify --weights FILE.h5 IMAGE...`: top-k classes of images, batched."""
import argparse

import numpy as np

from ..features import read_images
from ..image import list_images
from ..models import load_model
from .common import add_strict_arg, report_skipped, skip_unreadable

EXAMPLE = """examples:
  tinyconv classify --weights squeezenet1_1.h5 dog.png snake.png
  tinyconv classify --weights squeezenet1_1.h5 --top-k 1 --batch-size 64 photos/

Each image is resized (short side 256) and centre-cropped to the model's input size, as in
training; the output lists probability, class index and class name."""


def register(subparsers):
    p = subparsers.add_parser("classify", help="top-k ImageNet classes of images",
                              description=__doc__, epilog=EXAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", help="image files or folders of images")
    p.add_argument("--weights", required=True, help="tinyconv weight file (or any convertible)")
    p.add_argument("--top-k", type=int, default=5, help="classes per image [5]")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass [32]")
    p.add_argument("--device", choices=("cpu", "gpu"), help="default: TINYCONV_DEVICE or auto")
    add_strict_arg(p)
    p.set_defaults(func=run)


def run(args):
    model = load_model(args.weights, device=args.device)
    if model.preprocessing.input_size is None:
        raise ValueError(f"{args.weights} holds {model.arch} without its classifier; it cannot "
                         f"classify")
    paths = list_images(args.images)
    if not paths:
        raise FileNotFoundError(f"no images found in {args.images}")
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
