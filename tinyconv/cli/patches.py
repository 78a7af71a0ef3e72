"""`tinyconv patches FOLDER --layer L --channel C...`: maximally activating patches, the receptive
fields of the top-N units of each channel over an image folder, beside each patch its guided
backprop (which pixels of the patch made that unit fire)."""
from ..image import find_images
from ..methods import features
from ..methods.objectives import check_channel
from ..methods.patches import hit_patches, patch_grid, top_activations
from .common import (add_parser, load_model_from_args, progress_printer, report_skipped,
                     save_array, save_picture, skip_unreadable)
from .folder_args import add_folder_args
from .types import non_negative_int, positive_int, side

EXAMPLE = """examples:
  tinyconv patches --weights squeezenet1_1.h5 --layer fire5 --channel 3 17 40 imagenet_samples/
  tinyconv patches --weights squeezenet1_1.h5 --layer fire3 --channel 0 1 2 3 --top 6 \\
      --no-guided photos/

One row per channel: its --top strongest images (each image's strongest position), the unit's
receptive field cut from the image (black where it reaches past the border), then the guided
backprop of the same units. Writes patches_LAYER.png."""


def register(subparsers):
    p = add_parser(subparsers, "patches", "maximally activating patches with guided backprop",
                   __doc__, EXAMPLE)
    p.add_argument("folder", nargs="+", help="image folder(s)")
    p.add_argument("--layer", required=True, help="convolutional layer (e.g. fire5, conv3)")
    p.add_argument("--channel", type=non_negative_int, nargs="+", default=list(range(8)),
                   help="channels, one row each [0..7]")
    p.add_argument("--top", type=positive_int, default=9, help="patches per channel [9]")
    p.add_argument("--no-guided", dest="guided", action="store_false",
                   help="leave out the guided backprop pictures")
    p.add_argument("--tile", type=side, help="resize every patch to this side (pixels)")
    add_folder_args(p, pooled_features=False)
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    layer = model.resolve(args.layer)
    for channel in args.channel:
        check_channel(model, layer, channel)
    field = model.receptive_field(layer)
    skip = skip_unreadable(args)
    found = features.image_features(model, find_images(args.folder), layer, "max",
                                    args.image_size, args.batch_size, args.cache_dir,
                                    progress_printer(f"{layer} maxima", "images"), skip)
    paths = found.paths
    rows = top_activations(found.values, found.positions, found.map_shape[2], args.channel,
                           n=min(args.top, len(paths)))
    for row in rows:
        print(f"channel {row[0].channel}: " + ", ".join(
            f"{paths[h.image].name} ({h.y},{h.x}) {h.value:.3g}" for h in row))
    needed = sorted({hit.image for row in rows for hit in row})
    images = dict(zip(needed, features.model_images(model, [paths[i] for i in needed],
                                                    args.image_size)))
    print(f"receptive field of {layer}: {field.size} px, stride {field.stride}")
    patches, gradients = hit_patches(model, images, layer, rows, guided=args.guided)
    name = f"patches_{layer.replace('/', '-')}"
    save_picture(args, name, patch_grid(patches, gradients, tile=args.tile))
    save_array(args, name, patches)
    if gradients is not None:
        save_array(args, f"{name}_guided", gradients)
    report_skipped(args, skip, len(paths))
