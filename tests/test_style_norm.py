"""conditional_instance_norm and adain: forward against naive float64 loops, backward against
numerical gradients, the one-hot and blend rules, and the shape errors."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import ops
from tinyconv.engine.backend import to_numpy
from tinyconv.engine.testing import check_grad


def rand(xp, *shape, seed=0, low=-1.0, high=1.0):
    return xp.asarray(np.random.default_rng(seed).uniform(low, high, shape))


def naive_stats(plane, eps):
    """Mean and sqrt(biased variance + eps) of one 2-D plane, by loops."""
    values = [float(v) for v in plane.ravel()]
    mean = sum(values) / len(values)
    return mean, (sum((v - mean) ** 2 for v in values) / len(values) + eps) ** 0.5


def naive_cin(x, weight, bias, mix, eps):
    n, c = x.shape[:2]
    mix = np.broadcast_to(mix, (n, weight.shape[0]))
    out = np.empty_like(x)
    for i in range(n):
        for k in range(c):
            mean, std = naive_stats(x[i, k], eps)
            scale = sum(mix[i, s] * weight[s, k] for s in range(weight.shape[0]))
            shift = sum(mix[i, s] * bias[s, k] for s in range(weight.shape[0]))
            out[i, k] = (x[i, k] - mean) / std * scale + shift
    return out


def naive_adain(x, y, eps):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        for k in range(x.shape[1]):
            xm, xs = naive_stats(x[i, k], eps)
            ym, ys = naive_stats(y[i if len(y) > 1 else 0, k], eps)
            out[i, k] = ys * (x[i, k] - xm) / xs + ym
    return out


@pytest.mark.parametrize("mix_shape", [(3,), (2, 3)], ids=str)
def test_conditional_instance_norm_forward_and_gradients(xp, mix_shape):
    x, w, b = rand(xp, 2, 4, 5, 6), rand(xp, 3, 4, seed=1), rand(xp, 3, 4, seed=2)
    mix = rand(xp, *mix_shape, seed=3, low=0, high=1)
    out = ops.conditional_instance_norm(tc.Tensor(x), tc.Tensor(w), tc.Tensor(b), mix, eps=1e-3)
    expected = naive_cin(*(to_numpy(a) for a in (x, w, b, mix)), 1e-3)
    np.testing.assert_allclose(to_numpy(out.data), expected, rtol=1e-9, atol=1e-12)
    check_grad(lambda *t: ops.conditional_instance_norm(*t, eps=1e-3), x, w, b, mix)


def test_one_hot_picks_that_style_and_equals_instance_norm(xp):
    x, w, b = rand(xp, 2, 4, 5, 5), rand(xp, 3, 4, seed=1), rand(xp, 3, 4, seed=2)
    one_hot = xp.asarray([0.0, 1.0, 0.0])
    out = ops.conditional_instance_norm(x, tc.Tensor(w), tc.Tensor(b), one_hot)
    alone = ops.instance_norm(x, tc.Tensor(w[1]), tc.Tensor(b[1]))
    np.testing.assert_array_equal(to_numpy(out.data), to_numpy(alone.data))


def test_conditional_instance_norm_refuses_mismatched_shapes():
    x, w = np.zeros((2, 4, 3, 3)), tc.Tensor(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"style weights have shape \(2,\)"):
        ops.conditional_instance_norm(x, w, w, np.ones(2))
    with pytest.raises(ValueError, match=r"must be \(styles, 4\)"):
        ops.conditional_instance_norm(x, tc.Tensor(np.ones((3, 5))), w, np.ones(3))


@pytest.mark.parametrize("style_batch", [1, 2])
def test_adain_forward_and_gradients(xp, style_batch):
    x, y = rand(xp, 2, 3, 5, 4), rand(xp, style_batch, 3, 6, 7, seed=1, low=-2, high=3)
    out = ops.adain(tc.Tensor(x), tc.Tensor(y))
    expected = naive_adain(to_numpy(x), to_numpy(y), 1e-5)
    np.testing.assert_allclose(to_numpy(out.data), expected, rtol=1e-9, atol=1e-12)
    check_grad(ops.adain, x, y)


def test_adain_output_has_the_style_statistics():
    x, y = rand(np, 1, 3, 8, 8), rand(np, 1, 3, 9, 9, seed=1, low=2, high=7)
    out_mean, out_std = ops.channel_mean_std(ops.adain(x, y, eps=0), eps=0)
    y_mean, y_std = ops.channel_mean_std(y, eps=0)
    np.testing.assert_allclose(out_mean.data, y_mean.data, rtol=1e-12)
    np.testing.assert_allclose(out_std.data, y_std.data, rtol=1e-12)


def test_adain_refuses_other_channels():
    with pytest.raises(ValueError, match="do not fit"):
        ops.adain(np.zeros((1, 3, 4, 4)), np.ones((1, 4, 4, 4)))
