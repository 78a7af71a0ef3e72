"""Pictures made of many small pictures: grids of images, filters and activation maps, heat-map
overlays, the t-SNE image-grid embedding and labelled scatter plots.

Everything returns a uint8 array (the CLI saves it); nothing here reads or writes files. Colormaps
are small built-in lookup tables, so there is no matplotlib dependency.
"""
import colorsys

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy.optimize import linear_sum_assignment

from ..image import to_uint8

SCALES = (None, "each", "all")
# matplotlib's viridis (CC0) sampled at 17 evenly spaced points, 0..255, interpolated linearly
_VIRIDIS = np.array([
    [68, 1, 84], [72, 24, 106], [71, 45, 123], [66, 64, 134], [59, 82, 139], [51, 99, 141],
    [44, 114, 142], [38, 130, 142], [33, 145, 140], [31, 159, 136], [39, 173, 129],
    [61, 188, 116], [92, 200, 99], [129, 211, 77], [170, 220, 50], [213, 226, 26],
    [253, 231, 37]], dtype=np.float64)
# the first ten label colours are matplotlib's tab10 ("category10" of d3)
_TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf"]
_OPTIMAL_ASSIGNMENT_MAX = 4_000_000  # (points x cells) above which "auto" assigns greedily


def tile_images(images, rows=None, cols=None, padding=1, scale=None, pad_value=0, zoom=1):
    """Tile N images (N, H, W, C) or (N, H, W) into one uint8 grid, row by row.

    scale: None takes the images as they are (uint8, or floats in 0..1 or 0..255, see
    `tinyconv.image.to_uint8`); "each" min-max scales every tile to 0..255 on its own; "all" uses
    one min-max over all tiles. rows/cols: None gives a near-square layout. `padding` pixels of
    `pad_value` separate the tiles (none around the border); zoom > 1 enlarges every tile by pixel
    repetition (for 3x3 filters). Returns (rows*H*zoom + (rows-1)*padding, cols*W*zoom + ...) with
    the input's channel axis, if it had one.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"tile_images expects (N, H, W) or (N, H, W, C) with N >= 1, "
                         f"got {images.shape}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {SCALES}")
    if zoom < 1 or padding < 0:
        raise ValueError(f"tile_images needs zoom >= 1 and padding >= 0, got {zoom} and {padding}")
    N, H, W = images.shape[:3]
    rows, cols = grid_shape(N, rows, cols)
    tiles = _scaled_uint8(images, scale)
    if zoom > 1:
        tiles = tiles.repeat(zoom, axis=1).repeat(zoom, axis=2)
        H, W = H * zoom, W * zoom
    grid = np.empty((rows * H + (rows - 1) * padding, cols * W + (cols - 1) * padding)
                    + tiles.shape[3:], dtype=np.uint8)
    grid[...] = pad_value
    for n in range(N):
        top, left = (n // cols) * (H + padding), (n % cols) * (W + padding)
        grid[top:top + H, left:left + W] = tiles[n]
    return grid


def grid_shape(n, rows=None, cols=None):
    """(rows, cols) holding n tiles: near-square when both are None, else completes the other."""
    if rows is None and cols is None:
        cols = int(np.ceil(np.sqrt(n)))
    elif rows is None:  # one row never has more columns than there are tiles
        cols = min(cols, n)
    elif cols is None:
        rows = min(rows, n)
    if cols is None:
        cols = int(np.ceil(n / rows))
    if rows is None:
        rows = int(np.ceil(n / cols))
    if rows < 1 or cols < 1 or rows * cols < n:
        raise ValueError(f"a grid of {rows} x {cols} cannot hold {n} tiles")
    return rows, cols


def filter_grid(weights, max_filters=64, max_channels=64, colour=True, padding=1, zoom=1,
                scale="each", pad_value=0):
    """Picture of convolution weights (O, I, kh, kw) as a uint8 grid.

    With I == 3 and colour=True (a first layer) every filter is one RGB tile, in a near-square grid.
    Otherwise each input channel of each filter is a grayscale tile: one row per filter, one column
    per input channel, at most `max_filters` rows and `max_channels` columns (the first ones; None:
    all). scale: "each" min-max scales every tile, "all" the whole grid together.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 4:
        raise ValueError(f"filter_grid expects weights of shape (O, I, kh, kw), "
                         f"got {weights.shape}")
    O, I = weights.shape[:2]
    if colour and I == 3:
        return tile_images(weights[:max_filters].transpose(0, 2, 3, 1), padding=padding,
                           scale=scale, pad_value=pad_value, zoom=zoom)
    if I == 1:
        return tile_images(weights[:max_filters, 0], padding=padding, scale=scale,
                           pad_value=pad_value, zoom=zoom)
    shown = weights[:max_filters, :max_channels]  # (rows, cols, kh, kw)
    rows, cols = shown.shape[:2]
    return tile_images(shown.reshape((rows * cols,) + shown.shape[2:]), rows=rows, cols=cols,
                       padding=padding, scale=scale, pad_value=pad_value, zoom=zoom)


def activation_grid(activations, cols=None, padding=1, scale="each", pad_value=0, zoom=1):
    """Every channel of one image's activations (C, H, W) (or (1, C, H, W)) as grayscale tiles."""
    activations = np.asarray(activations)
    if activations.ndim == 4 and activations.shape[0] == 1:
        activations = activations[0]
    if activations.ndim != 3:
        raise ValueError(f"activation_grid expects one image's activations (C, H, W), "
                         f"got {activations.shape}")
    return tile_images(activations, cols=cols, padding=padding, scale=scale, pad_value=pad_value,
                       zoom=zoom)


def apply_colormap(values, name="jet"):
    """Colour values in [0, 1] (any shape, clipped) with a colormap -> (..., 3) uint8.

    name: "jet", "viridis", "hot" or "gray".
    """
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0)
    if name == "jet":
        rgb = np.clip(1.5 - np.abs(4.0 * v[..., None] - np.array([3.0, 2.0, 1.0])), 0.0, 1.0)
    elif name == "hot":
        rgb = np.clip(3.0 * v[..., None] - np.array([0.0, 1.0, 2.0]), 0.0, 1.0)
    elif name == "gray":
        rgb = np.repeat(v[..., None], 3, axis=-1)
    elif name == "viridis":
        knots = np.linspace(0.0, 1.0, len(_VIRIDIS))
        rgb = np.stack([np.interp(v, knots, _VIRIDIS[:, c]) for c in range(3)], -1) / 255.0
    else:
        raise ValueError(f"unknown colormap {name!r}; choose 'jet', 'viridis', 'hot' or 'gray'")
    return np.rint(rgb * 255.0).astype(np.uint8)


def overlay(image, heatmap, alpha=0.5, colormap="jet", value_range=None):
    """Blend a coloured heat map over an image -> (H, W, 3) uint8.

    image (H, W, 3) or (H, W), uint8 or float (see `to_uint8`); heatmap (h, w) of any range, min-max
    scaled (or scaled from value_range = (low, high)) and resized bilinearly to (H, W).
    alpha is the weight of the heat map colour.
    """
    image = to_uint8(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or heatmap.ndim != 2:
        raise ValueError(f"overlay expects an image (H, W, 3) and a map (h, w), "
                         f"got {image.shape} and {heatmap.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay alpha must be in [0, 1], got {alpha}")
    low, high = value_range if value_range is not None else (heatmap.min(), heatmap.max())
    normalized = (heatmap - low) / max(float(high - low), 1e-12)
    height, width = image.shape[:2]
    resized = np.asarray(Image.fromarray(normalized, mode="F").resize((width, height),
                                                                      Image.BILINEAR))
    colour = apply_colormap(resized, colormap).astype(np.float64)
    return np.rint((1.0 - alpha) * image + alpha * colour).astype(np.uint8)


def image_grid_embedding(points, images, grid=None, assignment="auto", background=255, seed=0):
    """Paste images at their 2-D positions snapped to a grid of cells (the "cnnembed" pictures).

    points (N, 2), e.g. a t-SNE embedding (x right, y up); images (N, h, w, 3) or (N, h, w), uint8
    or floats (see `to_uint8`); grid = (rows, cols), None for the smallest square holding all N.
    Both axes are min-max scaled to the grid. Every cell takes at most one image, so with more
    images than cells some are left out. assignment: "optimal" minimizes the total squared
    displacement (scipy's linear_sum_assignment), "greedy" walks the smaller set in a random order
    (seeded) and takes the nearest free member of the other, "auto" is optimal unless N x cells is
    above 4 million. Returns (rows * h, cols * w, 3) uint8.
    """
    points = np.asarray(points, dtype=np.float64)
    images = to_uint8(images)
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=3)
    if points.ndim != 2 or points.shape[1] != 2 or images.ndim != 4 or len(images) != len(points):
        raise ValueError(f"image_grid_embedding expects points (N, 2) and images (N, h, w, 3), "
                         f"got {points.shape} and {images.shape}")
    if assignment not in ("auto", "optimal", "greedy"):
        raise ValueError(f"unknown assignment {assignment!r}; choose 'auto', 'optimal' or 'greedy'")
    N, h, w = images.shape[:3]
    rows, cols = grid if grid is not None else grid_shape(N)
    span = np.maximum(points.max(0) - points.min(0), 1e-12)
    unit = (points - points.min(0)) / span  # (N, 2) in [0, 1]
    position = np.column_stack([(1.0 - unit[:, 1]) * (rows - 1), unit[:, 0] * (cols - 1)])
    cells = np.stack(np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij"), -1)
    cells = cells.reshape(-1, 2).astype(np.float64)  # (rows * cols, 2) as (row, col)
    if assignment == "auto":
        assignment = "optimal" if N * len(cells) <= _OPTIMAL_ASSIGNMENT_MAX else "greedy"
    if assignment == "optimal":
        cost = ((position[:, None, :] - cells[None, :, :]) ** 2).sum(-1)  # (N, cells)
        chosen, cell_of = linear_sum_assignment(cost)
    else:
        chosen, cell_of = _greedy_assignment(position, cells, np.random.default_rng(seed))
    canvas = np.full((rows * h, cols * w, 3), background, dtype=np.uint8)
    for n, c in zip(chosen, cell_of):
        r, col = int(cells[c, 0]), int(cells[c, 1])
        canvas[r * h:(r + 1) * h, col * w:(col + 1) * w] = images[n]
    return canvas


def _greedy_assignment(position, cells, rng):
    """Match points (N, 2) and cells (M, 2): each member of the smaller set, in random order, takes
    its nearest unused member of the larger set. Returns (point indices, cell indices)."""
    swap = len(position) > len(cells)
    walkers, targets = (cells, position) if swap else (position, cells)
    free = np.ones(len(targets), dtype=bool)
    pairs = []
    for i in rng.permutation(len(walkers)):
        d2 = ((targets - walkers[i]) ** 2).sum(1)
        d2[~free] = np.inf
        j = int(d2.argmin())
        free[j] = False
        pairs.append((j, i) if swap else (i, j))
    points, cell_of = np.array(pairs, dtype=np.int64).T
    return points, cell_of


def label_colours(n):
    """n distinct RGB colours (n, 3) uint8: tab10 first, then hues in golden-ratio steps."""
    colours = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in _TAB10[:n]]
    for k in range(n - len(colours)):
        rgb = colorsys.hsv_to_rgb((0.1 + 0.618034 * k) % 1.0, 0.7, 0.85)
        colours.append(tuple(int(round(255 * c)) for c in rgb))
    return np.array(colours, dtype=np.uint8).reshape(n, 3)


def scatter_plot(points, labels=None, size=800, class_names=None, radius=3, margin=20,
                 background=(255, 255, 255), seed=0):
    """Scatter plot of points (N, 2) (x right, y up) coloured by integer labels (N,) -> RGB uint8.

    size: an int (square) or (height, width) in pixels. class_names (one per label value) adds a
    legend on the right. Points are drawn in a random order (seeded) so that no class hides the
    others.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"scatter_plot expects points of shape (N, 2), got {points.shape}")
    labels = np.zeros(len(points), np.int64) if labels is None else np.asarray(labels)
    if labels.shape != (len(points),) or labels.dtype.kind not in "iu" or labels.min() < 0:
        raise ValueError(f"scatter_plot expects non-negative integer labels of shape "
                         f"({len(points)},), got {labels.dtype} {labels.shape}")
    n_classes = int(labels.max()) + 1
    if class_names is not None and len(class_names) < n_classes:
        raise ValueError(f"{len(class_names)} class names for labels up to {n_classes - 1}")
    height, width = (size, size) if np.isscalar(size) else size
    canvas = Image.new("RGB", (width, height), tuple(background))
    draw = ImageDraw.Draw(canvas)
    font_size = max(10, height // 60)
    font = load_font(font_size)
    legend_width = 0
    if class_names is not None:
        text_width = max(draw.textlength(str(name), font=font) for name in class_names[:n_classes])
        legend_width = int(text_width) + 4 * radius + 3 * margin // 2
    plot_width = max(width - legend_width, 2 * margin + 1)
    span = np.maximum(points.max(0) - points.min(0), 1e-12)
    unit = (points - points.min(0)) / span
    px = margin + unit[:, 0] * (plot_width - 2 * margin - 1)
    py = margin + (1.0 - unit[:, 1]) * (height - 2 * margin - 1)
    colours = [tuple(int(v) for v in c) for c in label_colours(n_classes)]
    for i in np.random.default_rng(seed).permutation(len(points)):
        draw.ellipse([px[i] - radius, py[i] - radius, px[i] + radius, py[i] + radius],
                     fill=colours[labels[i]])
    if class_names is not None:
        x0 = plot_width + margin // 2
        for k in range(n_classes):
            y = margin + k * int(font_size * 1.5)
            draw.rectangle([x0, y, x0 + 2 * radius + 2, y + 2 * radius + 2], fill=colours[k])
            draw.text((x0 + 3 * radius + 6, y + radius + 1 - font_size // 2), str(class_names[k]),
                      fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


def _scaled_uint8(images, scale):
    """images (N, ...) as uint8 under a tile_images scale mode."""
    if scale is None:
        return to_uint8(images)
    x = images.astype(np.float64)
    axes = tuple(range(1, x.ndim)) if scale == "each" else None
    low, high = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
    return np.rint((x - low) / np.maximum(high - low, 1e-12) * 255.0).astype(np.uint8)


def load_font(size):
    """Pillow's built-in font at `size` px (scalable from Pillow 10.1; the fixed bitmap before)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()
