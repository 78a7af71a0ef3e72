"""gram_matrix, total_variation, mse, cross_entropy: forward against naive references, backward in
float64, and errors that name the problem."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import ops
from tinyconv.engine.backend import to_numpy
from tinyconv.engine.testing import check_grad


def rand(xp, *shape, seed=0):
    return xp.asarray(np.random.default_rng(seed).uniform(-1, 1, shape))


def assert_close(tensor, expected, rtol=1e-7, atol=1e-10):
    np.testing.assert_allclose(to_numpy(tensor.data), expected, rtol=rtol, atol=atol)


# ----- Gram matrix

def test_gram_matrix(xp):
    x = rand(xp, 2, 3, 4, 5)
    xn = to_numpy(x)
    expected = np.zeros((2, 3, 3))
    for n in range(2):
        for i in range(3):
            for j in range(3):
                expected[n, i, j] = (xn[n, i] * xn[n, j]).sum() / (3 * 4 * 5)
    assert_close(ops.gram_matrix(tc.Tensor(x)), expected)
    check_grad(ops.gram_matrix, x[:, :, :3, :2])


def test_gram_matrix_needs_four_axes(xp):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(3, 4, 5\)"):
        ops.gram_matrix(tc.Tensor(rand(xp, 3, 4, 5)))


# ----- total variation

def naive_total_variation(x, beta, eps=1e-8):
    n, c, h, w = x.shape
    total = 0.0
    if beta == 2:
        for i in range(h):
            for j in range(w):
                if j + 1 < w:
                    total += ((x[:, :, i, j + 1] - x[:, :, i, j]) ** 2).sum()
                if i + 1 < h:
                    total += ((x[:, :, i + 1, j] - x[:, :, i, j]) ** 2).sum()
        return total
    for i in range(h - 1):
        for j in range(w - 1):
            dx = x[:, :, i, j + 1] - x[:, :, i, j]
            dy = x[:, :, i + 1, j] - x[:, :, i, j]
            total += ((dx ** 2 + dy ** 2 + eps) ** (beta / 2)).sum()
    return total


@pytest.mark.parametrize("beta", [2.0, 1.0, 1.5, 3.0])
def test_total_variation(xp, beta):
    x = rand(xp, 2, 3, 5, 4)
    out = ops.total_variation(tc.Tensor(x), beta=beta)
    assert out.shape == ()
    assert_close(out, naive_total_variation(to_numpy(x), beta))
    check_grad(lambda t: ops.total_variation(t, beta=beta), x[:, :2, :3, :4], rtol=1e-5)


def test_total_variation_of_a_constant_image_is_zero(xp):
    x = tc.Tensor(xp.full((1, 3, 4, 4), 0.7), requires_grad=True)
    ops.total_variation(x).backward()
    assert not to_numpy(x.grad).any()


def test_total_variation_rejects_bad_beta(xp):
    with pytest.raises(ValueError, match="beta must be positive.*-1"):
        ops.total_variation(tc.Tensor(rand(xp, 1, 1, 3, 3)), beta=-1)


# ----- mean squared error

def test_mse(xp):
    a, b = rand(xp, 2, 3, 4, seed=1), rand(xp, 2, 3, 4, seed=2)
    assert_close(ops.mse(tc.Tensor(a), tc.Tensor(b)), ((to_numpy(a) - to_numpy(b)) ** 2).mean())
    check_grad(ops.mse, a, b)


def test_mse_target_array_gets_no_gradient(xp):
    a = tc.Tensor(rand(xp, 3, 4, seed=1), requires_grad=True)
    b = rand(xp, 3, 4, seed=2)
    ops.mse(a, b).backward()
    assert_close(tc.Tensor(a.grad), 2 * (to_numpy(a.data) - to_numpy(b)) / 12)


def test_mse_shape_mismatch_names_both_shapes(xp):
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(3, 2\)"):
        ops.mse(tc.Tensor(rand(xp, 2, 3)), tc.Tensor(rand(xp, 3, 2)))


# ----- cross entropy

def naive_cross_entropy(scores, labels):
    losses = []
    for row, label in zip(scores, labels):
        losses.append(-row[label] + np.log(np.exp(row).sum()))
    return np.array(losses)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(xp, reduction):
    scores = rand(xp, 4, 5) * 3
    labels = np.array([0, 4, 2, 2])
    out = ops.cross_entropy(tc.Tensor(scores), labels, reduction=reduction)
    losses = naive_cross_entropy(to_numpy(scores), labels)
    expected = {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]
    assert out.shape == np.shape(expected)
    assert_close(out, expected)
    check_grad(lambda t: ops.cross_entropy(t, labels, reduction=reduction), scores)


def test_cross_entropy_accepts_labels_on_the_device_and_lists(xp):
    scores = tc.Tensor(rand(xp, 3, 4))
    a = ops.cross_entropy(scores, xp.asarray([1, 3, 0]))
    b = ops.cross_entropy(scores, [1, 3, 0])
    assert_close(a, float(to_numpy(b.data)))


def test_cross_entropy_errors(xp):
    scores = tc.Tensor(rand(xp, 3, 4))
    with pytest.raises(ValueError, match="label 4 is out of range for K=4"):
        ops.cross_entropy(scores, [0, 4, 1])
    with pytest.raises(ValueError, match="label -1 is out of range for K=4"):
        ops.cross_entropy(scores, [0, -1, 1])
    with pytest.raises(ValueError, match=r"labels have shape \(2,\), expected \(3,\)"):
        ops.cross_entropy(scores, [0, 1])
    with pytest.raises(TypeError, match="labels must be integers.*float"):
        ops.cross_entropy(scores, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"\(N, K\).*\(3, 4, 1\)"):
        ops.cross_entropy(tc.Tensor(rand(xp, 3, 4, 1)), [0, 1, 2])
    with pytest.raises(ValueError, match="reduction.*'avg'"):
        ops.cross_entropy(scores, [0, 1, 2], reduction="avg")
