"""`tinyconv curves`: the loss curves of a training run from its step log (`--step-log` of
`tinyconv train` and `tinyconv train-style`), as a picture."""
from ..image import save_image
from ..training.curves import loss_curves
from .common import add_parser
from .types import positive_int

EXAMPLE = """examples:
  tinyconv train --model convnetjs_cifar --train cifar10/train --step-log run.csv -o run.h5
  tinyconv curves run.csv -o run_curves.png
  tinyconv curves style.csv --columns loss style content --smooth 10 -o style_curves.png"""


def register(subparsers):
    p = add_parser(subparsers, "curves", "loss curves of a training run's step log",
                   __doc__, EXAMPLE)
    p.add_argument("log", help="the CSV of --step-log")
    p.add_argument("-o", "--output", required=True, help="PNG to write")
    p.add_argument("--columns", nargs="+", metavar="NAME",
                   help="which columns (default: all but epoch, step, global_step, lr)")
    p.add_argument("--smooth", type=positive_int, default=20,
                   help="steps in the moving average line [20]")
    p.set_defaults(func=run)


def run(args):
    path = save_image(args.output, loss_curves(args.log, args.columns, args.smooth,
                                               title=args.log))
    print(f"wrote {path}")
