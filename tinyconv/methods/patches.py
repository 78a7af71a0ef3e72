"""Maximally activating patches (Zeiler & Fergus 2014; Girshick et al. 2014), with guided backprop.

A unit of a convolutional layer sees a square of the input, its receptive field, computed from the
architecture (Model.receptive_field). Over a folder of images, the top-N activations of a channel
are found (one per image: each image's strongest position, so one photo cannot fill the row), and
the receptive field of each is cropped from its image. Beside each crop goes the guided backprop
of that one neuron, which shows which pixels inside the crop made it fire.

The per-image maxima and their positions come from tinyconv.methods.features (pooling="max"), so a folder
is run through the network once for any number of channels.
"""
from typing import NamedTuple

import numpy as np

from ..image import resize
from .attribution import input_gradient
from .display import gradient_image
from .grids import tile_images
from .objectives import Objective, check_channel


class Hit(NamedTuple):
    image: int    # index of the image in the folder's list
    channel: int
    y: int        # position of the unit in the layer's map
    x: int
    value: float  # the activation


def top_activations(values, positions, map_width, channels, n=9):
    """The n strongest images of each channel -> [[Hit, ...] strongest first, per channel].

    values (N, C): each image's maximum of each channel; positions (N, C): the flat index
    (y * map_width + x) of that maximum (tinyconv.methods.features with pooling="max").
    """
    values, positions = np.asarray(values), np.asarray(positions)
    if values.shape != positions.shape or values.ndim != 2:
        raise ValueError(f"values and positions must both be (N, C), got {values.shape} and "
                         f"{positions.shape}")
    rows = []
    for c in channels:
        if not 0 <= c < values.shape[1]:
            raise ValueError(f"channel {c} is out of range 0..{values.shape[1] - 1}")
        order = np.argsort(-values[:, c], kind="stable")[:n]
        rows.append([Hit(int(i), int(c), int(positions[i, c] // map_width),
                         int(positions[i, c] % map_width), float(values[i, c])) for i in order])
    return rows


def receptive_box(field, y, x, height, width):
    """(top, left, bottom, right) of unit (y, x)'s receptive field clipped to an image of
    (height, width); field = (size, stride, offset) from Model.receptive_field."""
    size, stride, offset = field
    top, left = offset + y * stride, offset + x * stride
    return max(top, 0), max(left, 0), min(top + size, height), min(left + size, width)


def crop_patch(image, field, y, x, fill=0):
    """The receptive field of unit (y, x) cut from image (H, W, ...) -> (size, size, ...).

    The field is placed whole: where it reaches past the image border the patch holds `fill`,
    so the unit's centre stays at the patch centre.
    """
    size, stride, offset = field
    height, width = image.shape[:2]
    top, left, bottom, right = receptive_box(field, y, x, height, width)
    patch = np.full((size, size) + image.shape[2:], fill, dtype=image.dtype)
    row, col = top - (offset + y * stride), left - (offset + x * stride)
    patch[row:row + bottom - top, col:col + right - left] = image[top:bottom, left:right]
    return patch


def neuron_objective(model, layer, hits):
    """An Objective whose example b is the activation of unit hits[b] of `layer` (one per image
    of a batch, each at its own channel and position)."""
    layer = model.resolve(layer)
    for hit in hits:
        check_channel(model, layer, hit.channel)
    batch = np.arange(len(hits))
    channels, ys, xs = (np.array([getattr(h, k) for h in hits]) for k in ("channel", "y", "x"))
    return Objective([layer], lambda acts: acts[layer][batch, channels, ys, xs],
                     f"{layer} units of {len(hits)} patches")


def patch_gradients(model, x, layer, hits, relu_backward="guided"):
    """d unit / d image for each hit, image b of x (B, 3, H, W) for hits[b] -> (B, 3, H, W)."""
    if len(hits) != len(x):
        raise ValueError(f"{len(hits)} hits for a batch of {len(x)} images")
    return input_gradient(model, x, neuron_objective(model, layer, hits), relu_backward)


def hit_patches(model, images, layer, rows, guided=True, batch_size=9):
    """Receptive-field crops of every hit (and their guided backprop) as arrays.

    images: indexable by Hit.image, each uint8 (H, W, 3) as the model sees it (same size);
    rows: [[Hit, ...] per channel], as top_activations returns, all of one length n.
    Returns (patches (channels, n, s, s, 3) uint8, gradients (channels, n, s, s, 3) float32 of
    the guided backprop of each hit's unit, cropped the same way; None when guided=False).
    """
    field = model.receptive_field(layer)
    hits = [hit for row in rows for hit in row]
    shape = (len(rows), len(rows[0]), field.size, field.size, 3)
    patches = np.stack([crop_patch(images[h.image], field, h.y, h.x) for h in hits])
    if not guided:
        return patches.reshape(shape), None
    gradients = []
    for start in range(0, len(hits), batch_size):
        batch = hits[start:start + batch_size]
        x = model.preprocess([images[h.image] for h in batch], resize=False).data
        g = patch_gradients(model, x, layer, batch)  # (B, 3, H, W)
        gradients += [crop_patch(gi.transpose(1, 2, 0), field, h.y, h.x)
                      for gi, h in zip(g, batch)]
    return patches.reshape(shape), np.stack(gradients).astype(np.float32).reshape(shape)


def patch_grid(patches, gradients=None, tile=None, gap=6, padding=1, pad_value=255):
    """Rows of patches (channels, n, s, s, 3) uint8 as one picture; with gradients (same shape,
    signed floats, one per patch) each row continues, after a gap, with the gradient pictures.
    tile: resize every picture to (tile, tile) pixels (None: keep s)."""
    patches = np.asarray(patches)
    rows, n = patches.shape[:2]
    pictures = list(patches.reshape((rows * n,) + patches.shape[2:]))
    if gradients is not None:
        flat = np.asarray(gradients).reshape((rows * n,) + patches.shape[2:])
        pictures += [gradient_image(g.transpose(2, 0, 1)) for g in flat]
    if tile:
        pictures = [resize(p, (tile, tile)) for p in pictures]
    halves = [tile_images(np.stack(pictures[i:i + rows * n]), rows=rows, cols=n,
                          padding=padding, pad_value=pad_value)
              for i in range(0, len(pictures), rows * n)]
    if len(halves) == 1:
        return halves[0]
    spacer = np.full((halves[0].shape[0], gap, 3), pad_value, dtype=np.uint8)
    return np.concatenate([halves[0], spacer, halves[1]], axis=1)
