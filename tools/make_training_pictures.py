"""Make the pictures of learning in docs/training/ from trained weight files (no PyTorch):

    python tools/make_training_pictures.py --snapshots SNAPS --linear LINEAR.h5 [--convnetjs W]

docs/training/convnetjs_conv1_during_training.png: the first layer's 16 filters before training
  and after the epochs given by --epochs, from `tinyconv train --filter-snapshots SNAPS`.
docs/training/convnetjs_conv{1,2,3}.png: the three layers' filters of the trained ConvNetJS net
  (default: the built-in model), as `tinyconv filters --layer convK` draws them.
docs/training/linear_templates.png: the linear classifier's class templates, named.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinyconv import load_model  # noqa: E402
from tinyconv.image import load_image, save_image  # noqa: E402
from tinyconv.methods.filters import layer_filters  # noqa: E402
from tinyconv.methods.grids import filter_grid, load_font, tile_images  # noqa: E402
from tinyconv.training.pictures import class_templates, labelled_grid  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "training"


def captioned(picture, text, height=16):
    """`picture` (H, W, 3) uint8 with `text` under it on white."""
    canvas = np.full((picture.shape[0] + height, picture.shape[1], 3), 255, np.uint8)
    canvas[:picture.shape[0]] = picture
    image = Image.fromarray(canvas)
    ImageDraw.Draw(image).text((2, picture.shape[0] + 2), text, fill=(0, 0, 0),
                               font=load_font(height - 4))
    return np.asarray(image)


def snapshots_strip(folder, epochs):
    """The saved first-layer grids after the given epochs, side by side and captioned."""
    tiles = []
    for epoch in epochs:
        path = Path(folder) / f"convnetjs_cifar_filters_epoch{epoch:03d}.png"
        tiles.append(captioned(load_image(path), "initial" if epoch == 0 else f"epoch {epoch}"))
    return tile_images(np.stack(tiles), rows=1, padding=8, pad_value=255)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshots", required=True, help="folder of --filter-snapshots")
    parser.add_argument("--epochs", type=int, nargs="+", default=[0, 1, 3, 10, 35])
    parser.add_argument("--linear", required=True, help="trained linear_cifar weight file")
    parser.add_argument("--convnetjs", default="builtin", help="trained convnetjs_cifar weights")
    args = parser.parse_args()
    print("wrote", save_image(OUT / "convnetjs_conv1_during_training.png",
                              snapshots_strip(args.snapshots, args.epochs)))
    net = load_model(args.convnetjs)
    for layer in ("conv1", "conv2", "conv3"):
        _, weight = layer_filters(net, layer)
        grid = filter_grid(weight, max_filters=None, max_channels=None, zoom=4, padding=1,
                           pad_value=255)
        print("wrote", save_image(OUT / f"convnetjs_{layer}.png", grid))
    linear = load_model(args.linear)
    print("wrote", save_image(OUT / "linear_templates.png",
                              labelled_grid(class_templates(linear), linear.labels)))


if __name__ == "__main__":
    main()
