"""`tinyconv neighbors FOLDER --query IMAGE`: the nearest images of a folder to a query, by L2
distance in a layer's feature space (pooled when spatial) and, below, in raw pixel space."""
import numpy as np

from ..image import find_images
from ..methods import features
from ..methods.grids import tile_images
from ..methods.neighbors import nearest_neighbors, pixel_vectors
from .common import (add_parser, load_model_from_args, output_stems, report_skipped, save_array,
                     save_picture, skip_unreadable)
from .folder_args import add_folder_args, folder_features
from .types import positive_int, side

EXAMPLE = """examples:
  tinyconv neighbors --weights squeezenet1_1.h5 --query dog.jpg --k 8 imagenet_samples/
  tinyconv neighbors --weights squeezenet1_1.h5 --layer fire5 --pooling max \\
      --query cifar10/test/cat/0000.jpg --image-size 224 cifar10/test/cat

Writes QUERY_neighbors.png: the query then its k nearest images, the top row in feature space,
the bottom row in pixel space (images as the model sees them, shrunk to --pixel-size). The
folder's features are cached (see --cache-dir), so a second query costs one forward pass."""


def register(subparsers):
    p = add_parser(subparsers, "neighbors", "nearest images in feature space and pixel space",
                   __doc__, EXAMPLE)
    p.add_argument("folder", nargs="+", help="image folder(s) to search")
    p.add_argument("--query", action="append", required=True, metavar="IMAGE",
                   help="query image (repeat for several)")
    p.add_argument("--k", type=positive_int, default=8, help="neighbours per query [8]")
    p.add_argument("--pixel-size", type=side, default=32,
                   help="side of the images compared in pixel space [32]")
    p.add_argument("--thumb", type=side, default=96, help="side of each picture [96]")
    add_folder_args(p)
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    folder = find_images(args.folder)
    queries = find_images(args.query)
    names = output_stems(queries)
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
    by_feature, feature_distance = nearest_neighbors(found.values, asked.values, k, itself)
    by_pixel, pixel_distance = nearest_neighbors(pixels, query_pixels, k, itself)
    for q, query in enumerate(queries):
        print(f"{query}:")
        for space, index, distance in (("features", by_feature[q], feature_distance[q]),
                                       ("pixels", by_pixel[q], pixel_distance[q])):
            print(f"  {space:8s} " + ", ".join(f"{paths[i].name} ({d:.3g})"
                                                for i, d in zip(index, distance)))
        rows = [[query] + [paths[i] for i in by_feature[q]],
                [query] + [paths[i] for i in by_pixel[q]]]
        thumbs = features.model_images(model, rows[0] + rows[1], args.image_size, args.thumb)
        save_picture(args, f"{names[query]}_neighbors",
                     tile_images(thumbs, rows=2, cols=k + 1, padding=3, pad_value=255))
    save_array(args, "neighbors_features", by_feature)
    save_array(args, "neighbors_pixels", by_pixel)
    save_array(args, "neighbors_paths", np.array([str(p) for p in paths]))
    report_skipped(args, skip, len(paths))
