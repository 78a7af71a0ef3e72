"""Pictures of what a network learned: the linear classifier's class templates, labelled, and
the first convolution's filters.

A linear classifier's score for class k is w_k . x + b_k, so the weight row w_k, reshaped to the
image's (3, H, W), is the picture that class scores highest per unit of norm: its template. Each
is min-max scaled on its own to 0..255 (weights have no pixel scale), as the lecture shows them.
"""
import numpy as np
from PIL import Image, ImageDraw

from ..methods.filters import layer_filters
from ..methods.grids import filter_grid, load_font, tile_images


def class_templates(model, layer="fc"):
    """uint8 (classes, H, W, 3): the rows of linear layer `layer`'s weight as RGB images, each
    scaled to 0..255 on its own. The layer must read the (3, H, W) input directly."""
    weight = model.params[f"{layer}.weight"].numpy()
    height, width = model.preprocessing.input_size
    if weight.shape[1] != 3 * height * width:
        raise ValueError(f"{model.arch} layer {layer!r} reads {weight.shape[1]} values, not a "
                         f"3x{height}x{width} image: it has no class templates")
    rgb = weight.reshape(-1, 3, height, width).transpose(0, 2, 3, 1)
    if model.preprocessing.colour_order == "BGR":
        rgb = rgb[..., ::-1]
    low = rgb.min(axis=(1, 2, 3), keepdims=True)
    high = rgb.max(axis=(1, 2, 3), keepdims=True)
    return np.rint((rgb - low) / np.maximum(high - low, 1e-12) * 255).astype(np.uint8)


def first_layer_filters(model, zoom=4):
    """uint8 (H, W, 3) grid of the first convolution's filters, one RGB tile per filter, each
    min-max scaled on its own (the lecture's filter pictures)."""
    _, weight = layer_filters(model)
    return filter_grid(weight, zoom=zoom, pad_value=255)


def labelled_grid(tiles, names, cols=5, zoom=4, caption=14):
    """The tiles (N, H, W, 3) enlarged `zoom` times in a grid of `cols` columns on white, each
    with its name (of `names`) under it, `caption` pixels high."""
    h, w = tiles.shape[1] * zoom, tiles.shape[2] * zoom
    blank = np.full((len(tiles), h + caption, w, 3), 255, np.uint8)
    blank[:, :h] = tiles.repeat(zoom, axis=1).repeat(zoom, axis=2)
    for tile, name in zip(blank, names):
        picture = Image.fromarray(tile)
        ImageDraw.Draw(picture).text((2, h + 1), str(name)[:w // 6], fill=(0, 0, 0),
                                     font=load_font(caption - 3))
        tile[:] = np.asarray(picture)
    return tile_images(blank, cols=cols, padding=4, pad_value=255)
