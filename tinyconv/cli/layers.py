"""`tinyconv layers`: the names every --layer option takes, with what each layer computes, its
output shape and its parameter count."""
from .common import add_model_args, add_parser, load_model_from_args
from .types import positive_int

EXAMPLE = """examples:
  tinyconv layers --weights squeezenet1_1
  tinyconv layers --model vgg16 --image-size 64

Shapes are for one image of the network's input size (224x224 when it has none), or of
--image-size. Aliases (SqueezeNet's fire2 = fire2/concat) follow the table."""


def register(subparsers):
    p = add_parser(subparsers, "layers", "the layers of a network: names, shapes, parameters",
                   __doc__, EXAMPLE)
    add_model_args(p)
    p.add_argument("--image-size", type=positive_int, metavar="S",
                   help="shapes for an SxS input (computed, not allocated: no pixel limit)")
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    size = (args.image_size,) * 2 if args.image_size else None
    rows = model.summary(size)
    width = max(len(name) for name, *_ in rows)
    for name, description, shape, count in rows:
        print(f"{name:{width}s}  {description:32s}  {str(shape[1:]):16s}  {count:>11,}")
    for alias, row in model.aliases.items():
        print(f"{alias} = {row}")
