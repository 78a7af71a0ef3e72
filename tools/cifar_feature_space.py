"""Feature space against pixel space on CIFAR-10, and t-SNE of the features (issue 4's numbers).

    python tools/cifar_feature_space.py --weights squeezenet1_1.h5 --out docs/gallery
    python tools/cifar_feature_space.py --weights squeezenet1_1.h5 --tsne-10k

Takes the first 200 test images of each CIFAR-10 class (2,000), upsampled to 224 x 224, and
reports the leave-one-out 1-nearest-neighbour label accuracy (L2) with SqueezeNet features
average-pooled from the last Fire module (fire9, 512-D) and with the raw 32 x 32 x 3 pixels.
Then t-SNE of the 2,000 feature vectors: a scatter coloured by class and the image-grid
embedding go to --out. --tsne-10k also computes features of all 10,000 test images (at their own
32 x 32 by default, to keep that affordable on a CPU) and times t-SNE on the 10,000 vectors.
Features are cached (tinyconv.methods.features), so a rerun costs only the t-SNE.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinyconv import load_model  # noqa: E402
from tinyconv.image import labelled_images  # noqa: E402
from tinyconv.methods import features  # noqa: E402
from tinyconv.cli.common import progress_printer  # noqa: E402
from tinyconv.image import save_image  # noqa: E402
from tinyconv.methods.embedding import tsne  # noqa: E402
from tinyconv.methods.grids import image_grid_embedding, scatter_plot  # noqa: E402
from tinyconv.methods.neighbors import leave_one_out_accuracy, pixel_vectors  # noqa: E402

ASSETS = Path(__file__).resolve().parent.parent.parent / "shared" / "assets"


def cifar_features(model, paths, layer, batch_size, what):
    start = time.perf_counter()
    found = features.image_features(model, paths, layer, "avg", image_size=224,
                                    batch_size=batch_size, progress=progress_printer(what))
    source = "cache" if found.from_cache else f"{time.perf_counter() - start:.0f} s"
    print(f"{what}: {found.values.shape} ({source})")
    return found.values


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="tinyconv SqueezeNet 1.1 .h5 file")
    parser.add_argument("--cifar", default=ASSETS / "images" / "cifar10" / "test", type=Path)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--layer", default="fire9")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--out", type=Path, help="folder for the t-SNE pictures")
    parser.add_argument("--tsne-10k", action="store_true", help="also time t-SNE on all 10,000")
    parser.add_argument("--tsne-10k-size", type=int, default=32,
                        help="image side for the 10,000 features [32: CIFAR's own size]")
    args = parser.parse_args()

    model = load_model(args.weights)
    paths, labels, names = labelled_images(args.cifar, args.per_class)
    X = cifar_features(model, paths, args.layer, args.batch_size,
                       f"{len(paths)} images, {args.layer}")
    pixels = pixel_vectors(features.model_images(model, paths, image_size=32))
    feature_accuracy = leave_one_out_accuracy(X, labels)
    pixel_accuracy = leave_one_out_accuracy(pixels, labels)
    print(f"leave-one-out 1-NN accuracy over {len(paths)} images ({args.per_class} per class): "
          f"{args.layer} features {feature_accuracy:.3f}, pixels {pixel_accuracy:.3f}, "
          f"difference {100 * (feature_accuracy - pixel_accuracy):.1f} points")

    start = time.perf_counter()
    Y = tsne(X, seed=0)
    print(f"t-SNE of {len(X)} points: {time.perf_counter() - start:.1f} s")
    if args.out:
        scatter = scatter_plot(Y, labels, size=(560, 720), class_names=names, radius=2)
        save_image(args.out / "cifar_tsne_scatter.png", scatter)
        thumbs = features.model_images(model, paths, image_size=16)
        grid = image_grid_embedding(Y, thumbs, grid=(40, 50))
        save_image(args.out / "cifar_tsne_grid.png", grid)
        print(f"wrote {args.out / 'cifar_tsne_scatter.png'} and {args.out / 'cifar_tsne_grid.png'}")

    if args.tsne_10k:
        everything, all_labels, _ = labelled_images(args.cifar)
        size = args.tsne_10k_size
        found = features.image_features(model, everything, args.layer, "avg", image_size=size,
                                        batch_size=args.batch_size,
                                        progress=progress_printer(f"all, at {size}x{size}"))
        start = time.perf_counter()
        Y_all = tsne(found.values, seed=0, verbose=True)
        seconds = time.perf_counter() - start
        print(f"t-SNE of {len(Y_all)} points ({found.values.shape[1]}-D {args.layer} features of "
              f"the images at {size}x{size}): {seconds:.1f} s")
        if args.out:
            scatter = scatter_plot(Y_all, all_labels, size=(560, 720), class_names=names,
                                   radius=1)
            save_image(args.out / "cifar_tsne_10k_scatter.png", scatter)


if __name__ == "__main__":
    main()
