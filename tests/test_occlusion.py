"""Occlusion maps: where the grey square goes, batching, and on the real SqueezeNet the drop in
P(bull mastiff) on dog.png happening over the dog's face, not over the ground."""
import numpy as np
import pytest

from tinyconv import models
from tinyconv.methods.features import model_images
from tinyconv.methods.objectives import class_probability
from tinyconv.methods.occlusion import occlusion_map, occlusion_positions

# dog.png as the model sees it (short side 256, centre crop 224), hand-drawn from that picture:
FACE_BOX = (20, 170, 20, 185)  # (top, bottom, left, right): eyes, nose and mouth
GROUND_SQUARE = (168, 0)       # top-left of a 56-px square over bare ground (bottom-left corner)


def test_positions_cover_the_image_edge_to_edge():
    assert occlusion_positions(10, 12, 4, 3) == ([0, 3, 6], [0, 3, 6, 8])
    with pytest.raises(ValueError, match="occluder size 11"):
        occlusion_positions(10, 12, 11, 3)


def test_occlusion_map_batches_agree_and_heat_averages_the_squares():
    model = models.build("squeezenet1_1", dtype="float64", seed=2)
    x = np.random.default_rng(0).normal(size=(1, 3, 40, 40))
    p5 = class_probability(model, 5)
    prob_map, heat = occlusion_map(model, x, p5, size=16, stride=12, batch_size=3)
    again, _ = occlusion_map(model, x, p5, size=16, stride=12, batch_size=64)
    assert prob_map.shape == (3, 3) and heat.shape == (40, 40)
    np.testing.assert_allclose(prob_map, again, rtol=1e-10)
    # pixel (0, 0) is covered by the first square only; pixel (13, 13) by the first four
    assert heat[0, 0] == pytest.approx(prob_map[0, 0], rel=1e-6)
    assert heat[13, 13] == pytest.approx(prob_map[:2, :2].mean(), rel=1e-6)


def test_lowest_probability_is_with_the_square_over_the_dog(squeezenet_real, assets):
    model = squeezenet_real
    image = model_images(model, [assets / "images" / "content" / "dog.png"])[0]
    x = model.preprocess(image, resize=False).data
    full = model.predict(image[None])[0, 243]
    size, stride = 56, 56  # a 4 x 4 grid of squares
    prob_map, _ = occlusion_map(model, x, class_probability(model, 243), size=size, stride=stride)
    assert prob_map.shape == (4, 4)
    row, col = np.unravel_index(prob_map.argmin(), prob_map.shape)
    centre_y, centre_x = row * stride + size // 2, col * stride + size // 2
    top, bottom, left, right = FACE_BOX
    assert top <= centre_y < bottom and left <= centre_x < right, (centre_y, centre_x)
    assert prob_map.min() < 0.5 * full  # measured: 0.11 against 0.88 without the square
    ground = prob_map[GROUND_SQUARE[0] // stride, GROUND_SQUARE[1] // stride]
    assert ground > 0.9 * full  # measured: 0.89
