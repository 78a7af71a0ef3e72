"""`tinyconv filters --layer L`: the weights of a convolutional layer as pictures: a first layer
as one colour tile per filter, a higher layer as one grayscale tile per (filter, input channel).
A linear classifier (no convolution, one linear layer reading the image) shows its class
templates instead."""
from ..methods.filters import conv_layers, layer_filters
from ..methods.grids import filter_grid
from .common import (add_model_args, add_output_args, add_parser, load_model_from_args,
                     save_array, save_picture)
from .types import positive_int, zoom

EXAMPLE = """examples:
  tinyconv filters --weights squeezenet1_1.h5
  tinyconv filters --weights vgg19_blocks1-3.h5 --layer conv1_1
  tinyconv filters --weights squeezenet1_1.h5 --layer fire2/expand3x3 --max-filters 16

Writes filters_LAYER.png: each tile min-max scaled on its own, small kernels enlarged. --layer
defaults to the first convolution. For a linear classifier (linear_cifar), templates_LAYER.png:
each class's weight row as an image, named."""


def register(subparsers):
    p = add_parser(subparsers, "filters", "convolution weights as a grid of tiles", __doc__,
                   EXAMPLE)
    add_model_args(p)
    add_output_args(p)
    p.add_argument("--layer", help="convolutional layer (default: the first)")
    p.add_argument("--max-filters", type=positive_int, default=64, help="filters (rows) shown [64]")
    p.add_argument("--max-channels", type=positive_int, default=32,
                   help="input channels (columns) shown for higher layers [32]")
    p.add_argument("--zoom", type=zoom, help="pixels per weight (default: tiles of ~24 px)")
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    if not conv_layers(model) and not args.layer:
        return run_templates(args, model)
    layer, weight = layer_filters(model, args.layer)  # (O, I, k, k)
    zoom = args.zoom or max(1, 24 // weight.shape[2])
    print(f"{layer}: {weight.shape[0]} filters of {weight.shape[1]}x{weight.shape[2]}x"
          f"{weight.shape[3]}")
    grid = filter_grid(weight, max_filters=args.max_filters, max_channels=args.max_channels,
                       zoom=zoom, pad_value=255)
    save_picture(args, f"filters_{layer.replace('/', '-')}", grid)
    save_array(args, f"filters_{layer.replace('/', '-')}", weight)


def run_templates(args, model):
    """The class templates of a network without convolutions whose first layer is linear."""
    from ..training.pictures import class_templates, labelled_grid
    layer = next(iter(model.layers))
    templates = class_templates(model, layer)
    print(f"{layer}: {len(templates)} class templates of {templates.shape[1]}x"
          f"{templates.shape[2]}")
    names = model.labels or [str(k) for k in range(len(templates))]
    save_picture(args, f"templates_{layer}", labelled_grid(templates, names))
    save_array(args, f"templates_{layer}", model.params[f"{layer}.weight"].numpy())
