"""GrabCut: GMM fitting, the min-cut on tiny graphs, segmentation of a synthetic disc from a noisy
saliency map, and a smoke test on a real photo."""
import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from tinyconv.methods.segmentation import (_min_cut, cutout, fit_gmm, gmm_log_likelihood,
                                          grabcut, saliency_grabcut)


def disc_scene(size=96, seed=0):
    """A red disc on a green/beige checkerboard with pixel noise, and a noisy saliency map."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - 0.45 * size) ** 2 + (xx - 0.55 * size) ** 2 < (0.25 * size) ** 2
    squares = ((yy // 8 + xx // 8) % 2 == 0)[..., None]
    background = np.where(squares, [40.0, 120.0, 60.0], [200.0, 190.0, 150.0])
    image = np.where(disc[..., None], [200.0, 40.0, 40.0], background)
    image = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
    saliency = np.abs(gaussian_filter(disc.astype(float), 3) + rng.normal(0, 0.3, disc.shape))
    return image, disc, saliency


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_saliency_grabcut_segments_the_disc():
    image, disc, saliency = disc_scene()
    fg_seeds = saliency >= np.quantile(saliency, 0.95)
    assert (fg_seeds & ~disc).any()  # the seeds are noisy: some foreground seeds are wrong...
    mask = saliency_grabcut(image, saliency)
    assert mask.shape == disc.shape and mask.dtype == bool
    assert iou(mask, disc) > 0.9
    assert iou(fg_seeds, disc) < 0.5  # ...and cover a small part of the disc


def test_seeds_are_hard_constraints():
    image, disc, _ = disc_scene(48, seed=1)
    fg = np.zeros_like(disc)
    fg[20:24, 24:28] = True
    bg = np.zeros_like(disc)
    bg[:3] = True
    bg[40:44, 40:44] = True  # background seeds on the background
    wrong = np.zeros_like(disc)
    wrong[10, 2] = True  # a foreground seed far out in the background
    mask = grabcut(image, fg | wrong, bg, n_iter=3)
    assert mask[fg].all() and mask[wrong].all() and not mask[bg].any()


def test_min_cut_on_a_chain():
    # 4 pixels in a row: the ends are pulled to fg/bg, the middle pair follows the stronger side
    edges = np.array([[0, 1, 2], [1, 2, 3]])
    data = np.array([10.0, 0.5, -0.2, -10.0])
    np.testing.assert_array_equal(_min_cut(data, edges, np.array([5.0, 0.1, 5.0])),
                                  [True, True, False, False])
    np.testing.assert_array_equal(_min_cut(data, edges, np.array([0.1, 5.0, 0.1])),
                                  [True, True, True, False])  # cutting 2-3 is cheaper


def test_fit_gmm_recovers_two_modes():
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal([0, 0, 0], 1.0, (500, 3)),
                        rng.normal([20, 5, -10], 2.0, (1500, 3))])
    weights, means, covariances = fit_gmm(X, 2, seed=0)
    order = np.argsort(weights)
    np.testing.assert_allclose(weights[order], [0.25, 0.75], atol=0.01)
    np.testing.assert_allclose(means[order], [[0, 0, 0], [20, 5, -10]], atol=0.3)
    np.testing.assert_allclose(np.diagonal(covariances[order], axis1=1, axis2=2),
                               [[1] * 3, [4] * 3], rtol=0.2)
    log_p = gmm_log_likelihood(np.array([[0.0, 0, 0], [100.0, 100, 100]]),
                                  (weights, means, covariances))
    assert log_p[0] > log_p[1]


def test_cutout_and_errors():
    image = np.full((4, 4, 3), 7, np.uint8)
    mask = np.zeros((4, 4), bool)
    mask[1, 1] = True
    out = cutout(image, mask)
    assert out[1, 1, 0] == 7 and out[0, 0, 0] == 255
    with pytest.raises(ValueError, match="seeds"):
        grabcut(image, mask, np.zeros_like(mask))
    with pytest.raises(ValueError, match="both"):
        grabcut(image, mask, mask)
    with pytest.raises(ValueError, match="constant"):
        saliency_grabcut(image, np.ones((4, 4)))
    with pytest.raises(ValueError, match="fg_fraction"):
        saliency_grabcut(image, np.zeros((4, 4)), fg_fraction=0.8, bg_fraction=0.5)


def test_real_photo_smoke(assets):
    photo = Image.open(assets / "images" / "content" / "dog.png").convert("RGB")
    image = np.asarray(photo.resize((128, 128), Image.BILINEAR))
    yy, xx = np.mgrid[:128, :128]
    saliency = np.exp(-((yy - 64) ** 2 + (xx - 64) ** 2) / (2 * 32.0 ** 2))  # centre-weighted
    mask = saliency_grabcut(image, saliency, n_iter=3)
    assert 0.1 < mask.mean() < 0.9
    assert mask[64, 64] and not mask[0, 0]
