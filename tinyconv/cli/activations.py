"""`tinyconv activations IMAGE --layer L`: every channel of a layer's activation map as a grid of
grayscale tiles, and optionally one channel over the image."""
from ..engine.backend import to_numpy
from ..methods.grids import activation_grid, overlay
from ..methods.objectives import check_channel
from ..engine.tensor import no_grad
from .common import (add_image_arg, add_model_args, add_output_args, add_parser, image_stem,
                     load_input, load_model_from_args, panel, save_array, save_picture)
from .types import non_negative_int, positive_int

EXAMPLE = """examples:
  tinyconv activations --weights squeezenet1_1.h5 --layer fire2 dog.png
  tinyconv activations --weights squeezenet1_1.h5 --layer fire9 --channel 11 dog.png
  tinyconv activations --weights vgg19_blocks1-3.h5 --layer relu2_1 dog.png

Writes IMAGE_LAYER_activations.png (one tile per channel, each min-max scaled; small maps are
enlarged) and with --channel IMAGE_LAYER_cN_overlay.png (image | channel over the image)."""


def register(subparsers):
    p = add_parser(subparsers, "activations", "activation maps of a layer as a grid", __doc__,
                   EXAMPLE)
    add_image_arg(p)
    add_model_args(p)
    add_output_args(p)
    p.add_argument("--layer", required=True, help="layer to show (e.g. conv1, fire5, relu3_1)")
    p.add_argument("--channel", type=non_negative_int,
                   help="also overlay this channel on the image")
    p.add_argument("--cols", type=positive_int, help="tiles per row (default: near square)")
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    layer = model.resolve(args.layer)
    if args.channel is not None:
        check_channel(model, layer, args.channel)
    image, x = load_input(model, args)
    with no_grad():
        act = to_numpy(model.forward(x, layers=[layer])[layer].data)[0]  # (C, h, w)
    if act.ndim != 3:
        raise ValueError(f"{layer} has no spatial map (its output is {act.shape}); choose a "
                         f"convolutional layer")
    print(f"{layer}: {act.shape[0]} channels of {act.shape[1]}x{act.shape[2]}, "
          f"{(act > 0).mean():.1%} of the values positive")
    tag = f"{image_stem(args)}_{layer.replace('/', '-')}"
    zoom = max(1, 32 // act.shape[1])
    save_picture(args, f"{tag}_activations", activation_grid(act, cols=args.cols, zoom=zoom))
    save_array(args, f"{tag}_activations", act)
    if args.channel is not None:
        save_picture(args, f"{tag}_c{args.channel}_overlay",
                     panel(image, overlay(image, act[args.channel])))
