"""Maximally activating patches: receptive-field boxes and crops at the border, top-N selection,
the batched per-patch neuron gradient (against one neuron at a time, and zero outside the
receptive field), and the whole pipeline on a tiny folder."""
import numpy as np
import pytest

from tinyconv import models
from tinyconv.image import find_images
from tinyconv.methods import features
from tinyconv.image import save_image
from tinyconv.methods import attribution, objectives
from tinyconv.methods.patches import (Hit, crop_patch, hit_patches, patch_grid, patch_gradients,
                                      receptive_box, top_activations)
from tinyconv.models.layers import ReceptiveField


@pytest.fixture(scope="module")
def model():
    return models.build("squeezenet1_1", dtype="float64", seed=4)


def test_receptive_box_and_crop_clip_at_the_border():
    field = ReceptiveField(size=5, stride=2, offset=-2)
    image = np.arange(10 * 12).reshape(10, 12)
    assert receptive_box(field, 3, 4, 10, 12) == (4, 6, 9, 11)
    np.testing.assert_array_equal(crop_patch(image, field, 3, 4), image[4:9, 6:11])
    corner = crop_patch(image, field, 0, 0, fill=-1)
    assert receptive_box(field, 0, 0, 10, 12) == (0, 0, 3, 3)
    assert (corner[:2] == -1).all() and (corner[:, :2] == -1).all()
    np.testing.assert_array_equal(corner[2:, 2:], image[:3, :3])
    assert corner[2, 2] == image[0, 0]  # the unit's centre stays at the patch centre


def test_top_activations_one_per_image_strongest_first():
    values = np.array([[1.0, 9.0], [5.0, 2.0], [3.0, 4.0]])
    positions = np.array([[0, 7], [6, 1], [5, 2]])
    rows = top_activations(values, positions, map_width=3, channels=[0, 1], n=2)
    assert rows[0] == [Hit(1, 0, 2, 0, 5.0), Hit(2, 0, 1, 2, 3.0)]
    assert rows[1] == [Hit(0, 1, 2, 1, 9.0), Hit(2, 1, 0, 2, 4.0)]
    with pytest.raises(ValueError, match=r"channel 2 is out of range 0\.\.1"):
        top_activations(values, positions, 3, [2])


def test_batched_patch_gradients_match_single_neurons_and_stay_in_the_field(model):
    x = np.random.default_rng(0).normal(size=(2, 3, 64, 64))
    hits = [Hit(0, 3, 5, 6, 0.0), Hit(1, 10, 2, 9, 0.0)]
    batched = patch_gradients(model, x, "fire3", hits, relu_backward="plain")
    field = model.receptive_field("fire3")
    for b, hit in enumerate(hits):
        single = attribution.input_gradient(
            model, x[b:b + 1], objectives.neuron(model, "fire3", hit.channel, hit.y, hit.x))
        np.testing.assert_allclose(batched[b], single[0], rtol=1e-10, atol=1e-14)
        top, left, bottom, right = receptive_box(field, hit.y, hit.x, 64, 64)
        outside = np.ones((64, 64), bool)
        outside[top:bottom, left:right] = False
        assert np.abs(batched[b]).sum() > 0 and not batched[b][:, outside].any()
    with pytest.raises(ValueError, match="channel 128 is out of range"):
        patch_gradients(model, x[:1], "fire3", [Hit(0, 128, 0, 0, 0.0)])


def test_patches_over_a_folder(model, tmp_path):
    rng = np.random.default_rng(1)
    for i in range(4):
        save_image(tmp_path / f"{i}.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    paths = find_images(tmp_path)
    found = features.image_features(model, paths, "fire3", "max", 64, cache_dir=False)
    rows = top_activations(found.values, found.positions, found.map_shape[2], [0, 5], n=3)
    images = features.model_images(model, paths, 64)
    patches, gradients = hit_patches(model, images, "fire3", rows)
    size = model.receptive_field("fire3").size
    assert patches.shape == gradients.shape == (2, 3, size, size, 3)
    assert patches.dtype == np.uint8 and np.abs(gradients).sum() > 0
    # the strongest hit is the largest activation of the channel over all images and positions
    x = model.preprocess(list(images), resize=False)
    act = model.forward(x, layers=["fire3"])["fire3"].numpy()
    assert rows[1][0].value == pytest.approx(act[:, 5].max())
    grid = patch_grid(patches, gradients, tile=16)
    assert grid.shape == (2 * 16 + 1, 2 * (3 * 16 + 2) + 6, 3)
