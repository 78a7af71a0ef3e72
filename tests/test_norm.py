"""batch_norm, instance_norm, local_response_norm: forward against naive references, backward in
float64, running statistics, and errors."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import ops
from tinyconv.engine.backend import to_numpy
from tinyconv.engine.testing import check_grad


def rand(xp, *shape, seed=0, low=-1.0, high=1.0):
    return xp.asarray(np.random.default_rng(seed).uniform(low, high, shape))


def assert_close(tensor, expected, rtol=1e-7, atol=1e-10):
    np.testing.assert_allclose(to_numpy(tensor.data), expected, rtol=rtol, atol=atol)


def channel_stats(xp, c):
    """running_mean, running_var, weight, bias: (C,) float64 arrays on xp's device."""
    return (rand(xp, c, seed=3), rand(xp, c, seed=4, low=0.5, high=2.0),
            rand(xp, c, seed=5, low=0.5, high=1.5), rand(xp, c, seed=6))


def per_channel(v, ndim):
    return np.asarray(v).reshape((1, -1) + (1,) * (ndim - 2))


# ----- batch norm

@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (4, 3)], ids=str)
def test_batch_norm_inference(xp, shape):
    x = rand(xp, *shape)
    mean, var, w, b = channel_stats(xp, shape[1])
    out = ops.batch_norm(tc.Tensor(x), mean, var, tc.Tensor(w), tc.Tensor(b), eps=1e-3)
    m, v, wn, bn = (per_channel(to_numpy(a), len(shape)) for a in (mean, var, w, b))
    assert_close(out, (to_numpy(x) - m) / np.sqrt(v + 1e-3) * wn + bn)
    check_grad(lambda t, wt, bt: ops.batch_norm(t, mean, var, wt, bt), x, w, b)


def test_batch_norm_inference_without_affine_and_float32_stats(xp):
    x = rand(xp, 2, 3, 2, 2).astype(xp.float32)
    mean, var, _, _ = channel_stats(xp, 3)
    out = ops.batch_norm(tc.Tensor(x), tc.Tensor(mean), var)  # float64 stats, float32 input
    assert out.dtype == np.float32
    expected = (to_numpy(x) - per_channel(to_numpy(mean), 4)) / np.sqrt(
        per_channel(to_numpy(var), 4) + 1e-5)
    assert_close(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(4, 3, 2, 3), (5, 2)], ids=str)
def test_batch_norm_training_uses_batch_stats_and_updates_running_stats(xp, shape):
    x = rand(xp, *shape) * 2 + 0.5
    running_mean, running_var, w, b = channel_stats(xp, shape[1])
    rm0, rv0 = to_numpy(running_mean).copy(), to_numpy(running_var).copy()
    out = ops.batch_norm(tc.Tensor(x), running_mean, running_var, w, b, training=True,
                         momentum=0.2)
    xn = to_numpy(x)
    axes = (0,) + tuple(range(2, len(shape)))
    count = xn.size // shape[1]
    mu, var = xn.mean(axis=axes), xn.var(axis=axes)
    expected = ((xn - per_channel(mu, len(shape))) / np.sqrt(per_channel(var, len(shape)) + 1e-5)
                * per_channel(to_numpy(w), len(shape)) + per_channel(to_numpy(b), len(shape)))
    assert_close(out, expected)
    np.testing.assert_allclose(to_numpy(running_mean), 0.8 * rm0 + 0.2 * mu)
    np.testing.assert_allclose(to_numpy(running_var), 0.8 * rv0 + 0.2 * var * count / (count - 1))


def test_batch_norm_training_backward(xp):
    x = rand(xp, 3, 2, 2, 3)
    mean, var, w, b = channel_stats(xp, 2)
    check_grad(lambda t, wt, bt: ops.batch_norm(t, None, None, wt, bt, training=True), x, w, b)
    check_grad(lambda t: ops.batch_norm(t, mean.copy(), var.copy(), training=True), x)


def test_batch_norm_updates_running_stats_held_in_tensors(xp):
    running_mean, running_var = tc.Tensor(xp.zeros(2)), tc.Tensor(xp.ones(2))
    x = tc.Tensor(rand(xp, 4, 2, 3, 3) + 1.0)
    ops.batch_norm(x, running_mean, running_var, training=True)
    assert float(to_numpy(running_mean.data).min()) > 0.05


def test_batch_norm_errors(xp):
    x = tc.Tensor(rand(xp, 2, 3, 4, 4))
    mean, var, w, _ = channel_stats(xp, 3)
    with pytest.raises(ValueError, match=r"running_mean has shape \(4,\), expected \(3,\)"):
        ops.batch_norm(x, xp.zeros(4), var)
    with pytest.raises(ValueError, match=r"weight has shape \(2,\).*\(2, 3, 4, 4\)"):
        ops.batch_norm(x, mean, var, weight=w[:2])
    with pytest.raises(ValueError, match="needs running_mean and running_var"):
        ops.batch_norm(x, None, None)
    with pytest.raises(ValueError, match=r"\(N, C, \.\.\.\).*\(3,\)"):
        ops.batch_norm(tc.Tensor(rand(xp, 3)), mean, var)
    with pytest.raises(ValueError, match="more than one value per channel"):
        ops.batch_norm(tc.Tensor(rand(xp, 1, 3)), None, None, training=True)


# ----- instance norm

def test_instance_norm(xp):
    x = rand(xp, 2, 3, 4, 5) * 3 + 1
    _, _, w, b = channel_stats(xp, 3)
    out = ops.instance_norm(tc.Tensor(x), w, b, eps=1e-3)
    xn = to_numpy(x)
    mu, var = xn.mean(axis=(2, 3), keepdims=True), xn.var(axis=(2, 3), keepdims=True)
    expected = (xn - mu) / np.sqrt(var + 1e-3) * per_channel(to_numpy(w), 4) + \
        per_channel(to_numpy(b), 4)
    assert_close(out, expected)
    check_grad(lambda t, wt, bt: ops.instance_norm(t, wt, bt, eps=1e-3), x[:, :, :3, :3], w, b)


def test_instance_norm_per_sample_scale_and_shift(xp):
    x = rand(xp, 2, 3, 3, 3)
    w, b = rand(xp, 2, 3, seed=7, low=0.5, high=1.5), rand(xp, 2, 3, seed=8)
    plain = to_numpy(ops.instance_norm(tc.Tensor(x)).data)
    out = ops.instance_norm(tc.Tensor(x), w, b)
    expected = plain * to_numpy(w)[:, :, None, None] + to_numpy(b)[:, :, None, None]
    assert_close(out, expected)
    check_grad(ops.instance_norm, x, w, b)


def test_instance_norm_errors(xp):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(2, 3\)"):
        ops.instance_norm(tc.Tensor(rand(xp, 2, 3)))
    with pytest.raises(ValueError, match=r"weight has shape \(4,\).*\(3,\) or \(2, 3\)"):
        ops.instance_norm(tc.Tensor(rand(xp, 2, 3, 2, 2)), rand(xp, 4))


# ----- local response norm

def naive_local_response_norm(x, size, alpha, beta, k):
    """The textbook loop: b_c = a_c / (k + alpha / n * sum_{j in window(c)} a_j^2) ** beta."""
    out = np.empty_like(x)
    channels = x.shape[1]
    for c in range(channels):
        lo, hi = max(0, c - size // 2), min(channels - 1, c + (size - 1) // 2)
        window = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, c] = x[:, c] / (k + alpha / size * window) ** beta
    return out


@pytest.mark.parametrize("size, alpha, beta, k", [(5, 1e-4, 0.75, 2.0), (4, 0.1, 0.75, 1.0),
                                                  (3, 0.5, 0.6, 1.5), (1, 0.2, 0.75, 1.0),
                                                  (9, 0.3, 0.75, 1.0)])
def test_local_response_norm(xp, size, alpha, beta, k):
    x = rand(xp, 2, 6, 3, 4) * 2
    out = ops.local_response_norm(tc.Tensor(x), size, alpha, beta, k)
    assert_close(out, naive_local_response_norm(to_numpy(x), size, alpha, beta, k))
    check_grad(lambda t: ops.local_response_norm(t, size, alpha, beta, k), x[:, :, :2, :2])


def test_local_response_norm_errors(xp):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(4, 5\)"):
        ops.local_response_norm(tc.Tensor(rand(xp, 4, 5)), 5)
    with pytest.raises(ValueError, match="positive integer.*0"):
        ops.local_response_norm(tc.Tensor(rand(xp, 1, 4, 5)), 0)


def test_batch_norm_training_with_scale_and_shift_matches_the_separate_ops(xp):
    """Training with weight and bias runs as one op (AffineBatchNorm); on a channels-last input
    its output, running statistics and gradients match batch_norm followed by * weight + bias."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 3, 5)).astype(np.float32)
    x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # channels-last
    w, b, dout = (rng.standard_normal(s).astype(np.float32) for s in (6, 6, x.shape))
    results = []
    for fused in (True, False):
        xt, wt, bt = (tc.Tensor(xp.asarray(a), requires_grad=True) for a in (x, w, b))
        stats = [xp.zeros(6, dtype=np.float32), xp.ones(6, dtype=np.float32)]
        if fused:
            y = ops.batch_norm(xt, *stats, wt, bt, training=True)
        else:
            y = ops.batch_norm(xt, *stats, training=True) * wt.reshape(1, 6, 1, 1) \
                + bt.reshape(1, 6, 1, 1)
        (y * tc.Tensor(xp.asarray(dout))).sum().backward()
        results.append([y.data, *stats, xt.grad, wt.grad, bt.grad])
    for fused, separate in zip(*results):
        np.testing.assert_allclose(to_numpy(fused), to_numpy(separate), rtol=1e-4,
                                   atol=1e-5)
