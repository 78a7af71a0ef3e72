"""Grids, overlays, colormaps, the image-grid embedding and scatter plots: shapes, placement,
scaling."""
import numpy as np
import pytest

from tinyconv.methods.grids import (activation_grid, apply_colormap, filter_grid, grid_shape,
                                    image_grid_embedding, label_colours, overlay, scatter_plot,
                                    tile_images)


def test_tile_images_layout_padding_and_placement():
    images = np.stack([np.full((4, 5, 3), 10 * (n + 1), np.uint8) for n in range(7)])
    grid = tile_images(images, padding=2, pad_value=255)
    assert grid.shape == (3 * 4 + 2 * 2, 3 * 5 + 2 * 2, 3) and grid.dtype == np.uint8
    for n in range(7):  # row-major, near-square: 3 columns
        top, left = (n // 3) * 6, (n % 3) * 7
        assert np.all(grid[top:top + 4, left:left + 5] == 10 * (n + 1))
    assert np.all(grid[4:6] == 255) and np.all(grid[:, 5:7] == 255)  # the padding
    assert np.all(grid[12:, 7:] == 255)  # the two empty cells of the last row


def test_tile_images_rows_cols_and_zoom():
    images = np.arange(6 * 2 * 2, dtype=np.uint8).reshape(6, 2, 2)
    grid = tile_images(images, rows=1, padding=0, zoom=3)
    assert grid.shape == (6, 36)  # grayscale in, 2-D out
    np.testing.assert_array_equal(grid[:3, :3], images[0, 0, 0])
    assert tile_images(images, cols=4).shape == (2 * 2 + 1, 4 * 2 + 3)
    with pytest.raises(ValueError, match="cannot hold"):
        tile_images(images, rows=2, cols=2)


def test_tile_images_scaling_modes():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(4, 3, 3)) * np.array([1, 10, 100, 1000])[:, None, None]
    each = tile_images(images, padding=0, scale="each", cols=4)
    for n in range(4):  # every tile spans 0..255 on its own
        tile = each[:, 3 * n:3 * n + 3]
        assert tile.min() == 0 and tile.max() == 255
    together = tile_images(images, padding=0, scale="all", cols=4)
    assert together.min() == 0 and together.max() == 255
    assert np.ptp(together[:, :3]) < 5  # the small tile is flat next to the big one
    floats = tile_images(np.full((1, 2, 2), 0.5), scale=None)
    assert np.all(floats == 128)  # floats in 0..1 are taken as they are


def test_filter_grid_first_layer_in_colour():
    weights = np.zeros((5, 3, 4, 4))
    weights[:, 0] = 1.0  # every filter pure red after per-filter scaling
    grid = filter_grid(weights, padding=1)
    assert grid.shape == (2 * 4 + 1, 3 * 4 + 2, 3)
    np.testing.assert_array_equal(grid[:4, :4], [[[255, 0, 0]] * 4] * 4)


def test_filter_grid_higher_layer_rows_are_filters():
    rng = np.random.default_rng(1)
    weights = rng.normal(size=(20, 16, 7, 7))
    grid = filter_grid(weights, padding=1)
    assert grid.shape == (20 * 8 - 1, 16 * 8 - 1)  # 20 rows (filters) x 16 columns (inputs)
    capped = filter_grid(weights, max_filters=4, max_channels=5, padding=0, zoom=2)
    assert capped.shape == (4 * 14, 5 * 14)
    tile = capped[14:28, 28:42][::2, ::2]  # filter 1, input channel 2
    w = weights[1, 2]
    np.testing.assert_array_equal(tile, np.rint((w - w.min()) / np.ptp(w) * 255))
    assert filter_grid(weights, colour=True).ndim == 2  # I != 3: per-channel tiles regardless


def test_activation_grid():
    act = np.random.default_rng(2).random((1, 10, 6, 6))
    grid = activation_grid(act, padding=1)
    assert grid.shape == (3 * 7 - 1, 4 * 7 - 1)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        activation_grid(np.zeros((2, 3, 4, 4)))


def test_colormaps():
    ramp = np.linspace(0, 1, 5)
    jet = apply_colormap(ramp, "jet")
    assert jet.shape == (5, 3) and jet.dtype == np.uint8
    assert tuple(jet[0]) == (0, 0, 128) and tuple(jet[-1]) == (128, 0, 0)  # dark blue .. dark red
    viridis = apply_colormap(ramp, "viridis")
    assert tuple(viridis[0]) == (68, 1, 84) and tuple(viridis[-1]) == (253, 231, 37)
    gray = apply_colormap(np.array([[0.0, 1.0]]), "gray")
    np.testing.assert_array_equal(gray, [[[0, 0, 0], [255, 255, 255]]])
    with pytest.raises(ValueError, match="colormap"):
        apply_colormap(ramp, "rainbow")


def test_overlay_resizes_and_blends():
    image = np.full((40, 60, 3), 100, np.uint8)
    heat = np.zeros((4, 6))
    heat[0, 0] = 1.0
    out = overlay(image, heat, alpha=0.5, colormap="jet")
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    hot, cold = out[0, 0].astype(int), out[-1, -1].astype(int)
    assert hot[0] > hot[2] and cold[2] > cold[0]  # red where the map is high, blue where low
    np.testing.assert_array_equal(overlay(image, heat, alpha=0.0), image)
    with pytest.raises(ValueError, match="alpha"):
        overlay(image, heat, alpha=2.0)


@pytest.mark.parametrize("assignment", ["optimal", "greedy"])
def test_image_grid_embedding_places_images_at_their_positions(assignment):
    # 4 images at the corners of the plane: top-left, top-right, bottom-left, bottom-right
    points = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    images = np.stack([np.full((2, 3, 3), 50 * (n + 1), np.uint8) for n in range(4)])
    canvas = image_grid_embedding(points, images, grid=(3, 3), assignment=assignment)
    assert canvas.shape == (6, 9, 3)
    assert np.all(canvas[:2, :3] == 50) and np.all(canvas[:2, 6:] == 100)
    assert np.all(canvas[4:, :3] == 150) and np.all(canvas[4:, 6:] == 200)
    assert np.all(canvas[2:4] == 255)  # the middle row stays background


@pytest.mark.parametrize("assignment", ["optimal", "greedy"])
def test_image_grid_embedding_one_image_per_cell(assignment):
    rng = np.random.default_rng(3)
    points = rng.normal(size=(30, 2))
    images = np.stack([np.full((1, 1, 3), n, np.uint8) for n in range(30)])
    full = image_grid_embedding(points, images, grid=(5, 6), assignment=assignment)
    assert sorted(full.reshape(-1, 3)[:, 0]) == list(range(30))  # every image exactly once
    fewer = image_grid_embedding(points, images, grid=(4, 4), assignment=assignment)
    assert len(set(fewer.reshape(-1, 3)[:, 0])) == 16  # 16 cells, 16 distinct images
    leftmost = int(np.argmin(points[:, 0]))  # the optimal map keeps the extreme point at the edge
    if assignment == "optimal":
        assert leftmost in full[:, 0, 0]


def test_image_grid_embedding_optimal_beats_greedy():
    rng = np.random.default_rng(4)
    points = rng.normal(size=(64, 2))
    images = np.arange(64, dtype=np.uint8).reshape(64, 1, 1).repeat(3, 2)[:, :, None, :]

    def displacement(canvas):
        unit = (points - points.min(0)) / np.ptp(points, 0)
        target = np.column_stack([(1 - unit[:, 1]) * 7, unit[:, 0] * 7])
        where = {int(v): divmod(i, 8) for i, v in enumerate(canvas[:, :, 0].ravel())}
        return sum(((target[n] - where[n]) ** 2).sum() for n in range(64))

    optimal = image_grid_embedding(points, images, grid=(8, 8), assignment="optimal")
    greedy = image_grid_embedding(points, images, grid=(8, 8), assignment="greedy")
    assert displacement(optimal) <= displacement(greedy)


def test_scatter_plot_draws_points_in_label_colours():
    points = np.array([[0.0, 0.0], [1.0, 1.0]])
    plot = scatter_plot(points, np.array([0, 1]), size=(100, 120), radius=3, margin=10)
    assert plot.shape == (100, 120, 3) and plot.dtype == np.uint8
    colours = label_colours(2)
    np.testing.assert_array_equal(plot[89, 10], colours[0])  # (0, 0): bottom-left
    np.testing.assert_array_equal(plot[10, 109], colours[1])  # (1, 1): top-right
    np.testing.assert_array_equal(plot[50, 60], [255, 255, 255])


def test_scatter_plot_legend_and_errors():
    rng = np.random.default_rng(5)
    points, labels = rng.normal(size=(50, 2)), rng.integers(0, 12, 50)
    names = [f"class {k}" for k in range(12)]
    plot = scatter_plot(points, labels, size=300, class_names=names)
    legend = plot[:, 230:]
    assert (legend != 255).any()  # names and swatches
    assert len(label_colours(12)) == len({tuple(c) for c in label_colours(12)}) == 12
    with pytest.raises(ValueError, match="class names"):
        scatter_plot(points, labels, class_names=names[:3])
    with pytest.raises(ValueError, match="integer labels"):
        scatter_plot(points, labels.astype(float))


def test_grid_shape():
    assert grid_shape(10) == (3, 4)
    assert grid_shape(10, rows=2) == (2, 5)
    assert grid_shape(10, cols=3) == (4, 3)


def test_more_columns_than_tiles_gives_one_row():
    """activations --cols 10**9 once allocated a grid 10**9 tiles wide (issue 15)."""
    from tinyconv.methods.grids import grid_shape
    assert grid_shape(5, cols=10 ** 9) == (1, 5)
    assert grid_shape(5, rows=10 ** 9) == (5, 1)
