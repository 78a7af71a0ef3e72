"""`tinyconv neighbors FOLDER --query IMAGE`: the nearest images of a folder to a query, by L2
distance in a layer's feature space (pooled when spatial) and, below, in raw pixel space."""
import numpy as np

from ..image import find_images
from ..methods import features
from ..methods.grids import tile_images
from ..methods.neighbours import nearest_neighbours, pixel_vectors
from .common import (add_model_args, add_output_args, add_parser, add_strict_arg,
                     load_model_from_args, progress_printer, report_skipped, save_array,
                     save_picture, skip_unreadable)

EXAMPLE = """examples:
  tinyconv neighbors --weights squeezenet1_1.h5 --query dog.jpg --k 8 imagenet_samples/
  tinyconv neighbors --weights squeezenet1_1.h5 --layer fire5 --pooling max \\
      --query cifar10/test/cat/0000.jpg --image-size 224 cifar10/test/cat

Writes QUERY_neighbors.png: the query then its k nearest images, the top row in feature space,
the bottom row in pixel space (images as the model sees them, shrunk to --pixel-size). The
folder's features are cached (see --cache-dir), so a second query costs one forward pass."""


def add_feature_args(parser):
    """--layer, --pooling, --image-size, --batch-size, --cache-dir (also used by embed)."""
    group = parser.add_argument_group("features")
    group.add_argument("--layer", help="feature layer (default: relu7, or the deepest spatial "
                                       "layer, fire9 for SqueezeNet)")
    group.add_argument("--pooling", choices=features.POOLINGS, default="avg",
                       help="pooling of a spatial layer [avg]")
    group.add_argument("--image-size", type=int,
                       help="resize every image to SxS (default: the model's resize and crop)")
    group.add_argument("--batch-size", type=int, default=32, help="images per pass [32]")
    group.add_argument("--cache-dir", help="feature cache (default: TINYCONV_CACHE or "
                                           "~/.cache/tinyconv, /features)")


def folder_features(model, args, paths, skip):
    """Features of `paths` under the feature arguments, with progress on stderr; unreadable
    files go to `skip` (a SkipUnreadable)."""
    layer = model.resolve(args.layer or model.default_feature_layer(spatial=False))
    found = features.image_features(model, paths, layer, args.pooling, args.image_size,
                                    args.batch_size, args.cache_dir,
                                    progress_printer(f"{layer} features", "images"), skip)
    cached = " (from the cache)" if found.from_cache else ""
    print(f"{len(found.paths)} images, {layer} {args.pooling} features of size "
          f"{found.values.shape[1]}{cached}")
    return found


def register(subparsers):
    p = add_parser(subparsers, "neighbors", "nearest images in feature space and pixel space",
                   __doc__, EXAMPLE)
    p.add_argument("folder", nargs="+", help="image folder(s) to search")
    p.add_argument("--query", action="append", required=True, metavar="IMAGE",
                   help="query image (repeat for several)")
    p.add_argument("--k", type=int, default=8, help="neighbours per query [8]")
    p.add_argument("--pixel-size", type=int, default=32,
                   help="side of the images compared in pixel space [32]")
    p.add_argument("--thumb", type=int, default=96, help="side of each picture [96]")
    add_model_args(p)
    add_feature_args(p)
    add_strict_arg(p)
    add_output_args(p)
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    folder = find_images(args.folder)
    queries = find_images(args.query)
    skip = skip_unreadable(args)
    found = folder_features(model, args, folder, skip)
    paths = found.paths
    asked = features.image_features(model, queries, found.layer, args.pooling, args.image_size,
                                    args.batch_size, cache_dir=False)
    pixels = pixel_vectors(features.model_images(model, paths, args.image_size,
                                                 args.pixel_size))
    query_pixels = pixel_vectors(features.model_images(model, queries, args.image_size,
                                                       args.pixel_size))
    where = {p.resolve(): i for i, p in enumerate(paths)}
    itself = np.array([where.get(q.resolve(), -1) for q in queries])  # a query in the folder
    k = min(args.k, len(paths) - 1)
    by_feature, feature_distance = nearest_neighbours(found.values, asked.values, k, itself)
    by_pixel, pixel_distance = nearest_neighbours(pixels, query_pixels, k, itself)
    for q, query in enumerate(queries):
        print(f"{query}:")
        for space, index, distance in (("features", by_feature[q], feature_distance[q]),
                                       ("pixels", by_pixel[q], pixel_distance[q])):
            print(f"  {space:8s} " + ", ".join(f"{paths[i].name} ({d:.3g})"
                                                for i, d in zip(index, distance)))
        rows = [[query] + [paths[i] for i in by_feature[q]],
                [query] + [paths[i] for i in by_pixel[q]]]
        thumbs = features.model_images(model, rows[0] + rows[1], args.image_size, args.thumb)
        save_picture(args, f"{query.stem}_neighbors",
                     tile_images(thumbs, rows=2, cols=k + 1, padding=3, pad_value=255))
    save_array(args, "neighbors_features", by_feature)
    save_array(args, "neighbors_pixels", by_pixel)
    save_array(args, "neighbors_paths", np.array([str(p) for p in paths]))
    report_skipped(args, skip, len(paths))
