"""`tinyconv stylize --weights NET IMAGE...`: images through a feed-forward style network: a
transformer (one style: ml5 or `tinyconv train-style`), a conditional-instance-norm transformer
(--style-index or --blend of its styles), or an AdaIN decoder (--encoder, --style paintings,
--alpha, --blend). Any image size; images of one size go through the network in batches."""
import numpy as np

from ..image import UnreadableImage, list_images, load_image
from ..loading import load_model, model_from_weights
from ..methods.fast_style import (adain_stylize, check_encoder, encoder_layer, mix_weights,
                                  transform)
from ..methods.style import keep_colours
from ..weights.convert import read_any
from . import types
from .common import (add_device_arg, add_output_args, add_parser, add_strict_arg, load_weights,
                     output_stems, report_skipped, save_picture, skip_unreadable, stem)

EXAMPLE = """examples:
  tinyconv convert fast_style_ml5/wave            # once: into the cache as "wave"
  tinyconv stylize --weights wave chicago.jpg tubingen.jpg --size 512 --out stylized
  tinyconv stylize --weights four.h5 --style-index 2 photos/
  tinyconv stylize --weights four.h5 --blend 0.5 0 0.5 0 photos/ --preserve-colour
  tinyconv stylize --weights decoder.h5 --encoder vgg19_blocks1-3.h5 --style a.jpg b.jpg \\
      --blend 0.3 0.7 --alpha 0.5 photos/

Writes IMAGE_STYLE.png for each image (STYLE: the weights' name, the CIN style's name or
"blend", the AdaIN paintings' names). An image keeps its size, or its short side becomes --size
(AdaIN crops it to a multiple of the encoder's stride)."""


def register(subparsers):
    p = add_parser(subparsers, "stylize", "restyle images with a feed-forward style network",
                   __doc__, EXAMPLE)
    p.add_argument("images", nargs="+", help="image files or folders of images")
    p.add_argument("--weights", required=True,
                   help="a transformer (.h5, ml5 folder, or a name in the cache) or an AdaIN "
                        "decoder (.h5)")
    p.add_argument("--size", type=types.side, metavar="S",
                   help="resize each image's short side to S pixels first")
    p.add_argument("--batch-size", type=types.batch_size, default=4,
                   help="images of one size per forward pass [4]")
    p.add_argument("--preserve-colour", action="store_true",
                   help="keep each image's colours (luminance-only transfer)")
    g = p.add_argument_group("several styles")
    which = g.add_mutually_exclusive_group()
    which.add_argument("--style-index", type=types.non_negative_int, help="CIN: the style [0]")
    which.add_argument("--blend", type=types.non_negative_float, nargs="+",
                       help="CIN: a weight per style; AdaIN: a weight per --style painting")
    g.add_argument("--encoder", help="AdaIN: the VGG19 weights the decoder was trained with")
    g.add_argument("--style", nargs="+", help="AdaIN: painting(s)")
    g.add_argument("--style-size", type=types.side, default=256,
                   help="AdaIN: the paintings' short side [256]")
    g.add_argument("--alpha", type=types.fraction, default=1.0,
                   help="AdaIN: 0 = the content, 1 = full style [1]")
    add_output_args(p, arrays=False)
    add_device_arg(p)
    add_strict_arg(p)
    p.set_defaults(func=run)


def run(args):
    network, name = _network(args)
    paths = list_images(args.images)
    if not paths:
        raise FileNotFoundError(f"no images found in {args.images}")
    skip, names, read = skip_unreadable(args), output_stems(paths), 0
    for group in _same_size_batches(args, paths, skip):
        read += len(group)
        pictures = np.stack([picture for _, picture in group])
        for (path, _), styled in zip(group, network(pictures)):
            save_picture(args, f"{names[path]}_{name}", styled)
    skip.check_any_left(read, len(paths))
    report_skipped(args, skip, read)


def _same_size_batches(args, paths, skip):
    """Lists of (path, uint8 picture) of one size, at most --batch-size, in the paths' order.
    The batch before an unreadable file goes out first, so --strict stops after writing the
    results of every image before it."""
    batch = []
    for path in paths:
        try:
            picture = load_image(path, size=args.size)
        except UnreadableImage as error:
            if batch:
                yield batch
                batch = []
            skip(error)
            continue
        if batch and (len(batch) == args.batch_size or batch[0][1].shape != picture.shape):
            yield batch
            batch = []
        batch.append((path, picture))
    if batch:
        yield batch


def _network(args):
    """(function: uint8 (N, H, W, 3) pictures -> uint8 pictures, style name) of the options."""
    if args.encoder or args.style:
        return _adain(args)
    model = load_weights(args.weights, args.device)
    if model.arch not in ("fast_style", "fast_style_cin"):
        raise ValueError(f"{args.weights} holds {model.arch}, not a fast style transfer network "
                         f"(fast_style, fast_style_cin); an AdaIN decoder needs --encoder and "
                         f"--style")
    mix, name = None, stem(args.weights)
    if model.arch == "fast_style_cin":
        styles = model.labels or [str(k) for k in range(model.params["conv1/norm.weight"].shape[0])]
        mix = mix_weights(len(styles), args.style_index or 0, args.blend)
        name = "blend" if args.blend else styles[args.style_index or 0]
    elif args.blend or args.style_index is not None:
        raise ValueError(f"{args.weights} has one style: --style-index and --blend are for "
                         f"networks with several (fast_style_cin)")

    def network(pictures):
        x = model.preprocessing.to_input(pictures, model.device, model.dtype)
        return _finish(args, model.deprocess(transform(model, x, mix)), pictures)
    return network, name


def _adain(args):
    if not (args.encoder and args.style):
        raise ValueError("AdaIN needs both --encoder (VGG19 weights) and --style (paintings)")
    wf = read_any(args.weights)
    decoder = model_from_weights(wf, args.device)
    if not decoder.arch.startswith("adain_decoder"):
        raise ValueError(f"{args.weights} holds {decoder.arch}, not an AdaIN decoder")
    encoder, layer = load_model(args.encoder, device=args.device), encoder_layer(decoder)
    if layer not in encoder.layer_names:
        raise ValueError(f"--encoder {args.encoder} has no layer {layer}, which {args.weights} "
                         f"decodes")
    check_encoder(wf.encoder, encoder, layer, args.weights)
    encoder = encoder.truncated(layer)
    styles = [encoder.preprocess(load_image(p, size=args.style_size), resize=False).data
              for p in args.style]

    def network(pictures):
        x = encoder.preprocessing.to_input(pictures, encoder.device, encoder.dtype)
        out = adain_stylize(encoder, decoder, x, styles, args.alpha, args.blend)
        return _finish(args, decoder.deprocess(out), pictures)
    return network, "+".join(stem(p) for p in args.style)


def _finish(args, styled, pictures):
    """--preserve-colour applied to uint8 (N, H, W, 3) results of uint8 `pictures` (the two
    cropped to their common size: a transformer rounds sides up to a multiple of 4)."""
    if not args.preserve_colour:
        return styled
    h, w = (min(a, b) for a, b in zip(styled.shape[1:3], pictures.shape[1:3]))
    styled, pictures = styled[:, :h, :w], pictures[:, :h, :w]
    mixed = keep_colours(np.moveaxis(styled, -1, 1), np.moveaxis(pictures, -1, 1))
    return np.round(np.moveaxis(mixed, 1, -1)).astype(np.uint8)
