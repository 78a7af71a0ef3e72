"""Make the pictures in docs/ from the shared assets (no PyTorch needed):

    python tools/make_docs_images.py [ASSETS]      # default ../shared/assets

docs/vgg19_conv1_1_filters.png: the 64 first-layer filters of Keras' VGG19 (converted from the
  blocks 1-3 file), per-filter min-max scaled, shown in RGB.
docs/fast_style_chicago.png: chicago.jpg and its stylizations by three ml5 fast-style networks.
"""
import sys
from pathlib import Path

import numpy as np

from tinyconv import load_model
from tinyconv.image import load_image, save_image
from tinyconv.methods.grids import filter_grid, tile_images

DOCS = Path(__file__).resolve().parent.parent / "docs"


def main(assets):
    weights = assets / "weights"
    vgg = load_model(weights / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_blocks1-3.h5")
    filters = vgg.params["conv1_1.weight"].numpy()
    if vgg.preprocessing.colour_order == "BGR":  # Keras' VGG came from Caffe: BGR filters
        filters = filters[:, ::-1]
    grid = filter_grid(filters, zoom=12, padding=2, pad_value=255)
    print("wrote", save_image(DOCS / "vgg19_conv1_1_filters.png", grid))

    content = load_image(assets / "images" / "content" / "chicago.jpg", size=240)
    tiles = [content]
    for style in ("wave", "udnie", "scream"):
        net = load_model(weights / "fast_style_ml5" / style)
        tiles.append(net.deprocess(net(net.preprocess(content)))[0])
    picture = tile_images(np.stack(tiles), cols=2, padding=4, pad_value=255)
    print("wrote", save_image(DOCS / "fast_style_chicago.png", picture))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS.parent.parent / "shared" / "assets")
