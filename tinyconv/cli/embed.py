"""`tinyconv embed FOLDER`: the features of an image folder mapped to 2-D by PCA or t-SNE, drawn
as a scatter plot coloured by label and as the image-grid embedding ("cnnembed")."""
import time

import numpy as np

from ..image import labelled_images
from ..methods import features
from ..methods.embedding import pca, tsne
from ..methods.grids import image_grid_embedding, scatter_plot
from .common import (add_parser, load_model_from_args, report_skipped, save_array, save_picture,
                     skip_unreadable)
from .folder_args import add_folder_args, folder_features
from .types import positive_float, positive_int, side, step_count

EXAMPLE = """examples:
  tinyconv embed --weights squeezenet1_1.h5 --method tsne --per-class 100 --image-size 224 \\
      cifar10/test
  tinyconv embed --weights squeezenet1_1.h5 --method pca imagenet_samples/

A FOLDER with one subfolder per class gives the labels (the scatter's colours); a flat folder is
one class. Writes embed_METHOD_scatter.png and embed_METHOD_grid.png; --save-npy saves the 2-D
points, labels and features."""


def register(subparsers):
    p = add_parser(subparsers, "embed", "PCA / t-SNE map of a folder: scatter and image grid",
                   __doc__, EXAMPLE)
    p.add_argument("folder", help="image folder (class subfolders give labels)")
    p.add_argument("--method", choices=("tsne", "pca"), default="tsne", help="[tsne]")
    p.add_argument("--per-class", type=positive_int, help="first N images of each class")
    p.add_argument("--perplexity", type=positive_float, default=30.0, help="t-SNE perplexity [30]")
    p.add_argument("--iters", type=step_count, default=1000, help="t-SNE iterations [1000]")
    p.add_argument("--thumb", type=side, default=32, help="side of each image in the grid [32]")
    p.add_argument("--size", type=side, default=800, help="side of the scatter plot [800]")
    add_folder_args(p)
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    paths, labels, class_names = labelled_images(args.folder, args.per_class)
    skip = skip_unreadable(args)
    found = folder_features(model, args, paths, skip)
    readable = set(found.paths)
    labels = labels[[path in readable for path in paths]]
    paths = found.paths
    start = time.perf_counter()
    if args.method == "pca":
        points = pca(found.values, 2)
    else:
        perplexity = min(args.perplexity, (len(paths) - 2) / 3)
        points = tsne(found.values, perplexity=perplexity, n_iter=args.iters, seed=args.seed,
                      verbose=True)
    print(f"{args.method} of {len(paths)} points in {time.perf_counter() - start:.1f} s")
    names = class_names if len(class_names) > 1 else None
    save_picture(args, f"embed_{args.method}_scatter",
                 scatter_plot(points, labels, size=args.size, class_names=names, seed=args.seed))
    thumbs = features.model_images(model, paths, args.image_size, args.thumb)
    save_picture(args, f"embed_{args.method}_grid",
                 image_grid_embedding(points, thumbs, seed=args.seed))
    save_array(args, f"embed_{args.method}_points", points)
    save_array(args, f"embed_{args.method}_labels", labels)
    save_array(args, f"embed_{args.method}_features", found.values)
    save_array(args, f"embed_{args.method}_paths", np.array([str(p) for p in paths]))
    report_skipped(args, skip, len(paths))
