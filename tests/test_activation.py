"""Activations, softmax and dropout: forward against numpy formulas, backward in float64."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import ops
from tinyconv.engine.backend import to_numpy
from tinyconv.engine.testing import check_grad


def off_kink(xp, *shape, seed=0):
    """float64 values in [-2, 2] at least 0.05 away from 0 (ReLU's kink)."""
    values = np.random.default_rng(seed).uniform(0.05, 2.0, shape)
    signs = np.random.default_rng(seed + 1).choice([-1.0, 1.0], shape)
    return xp.asarray(values * signs)


def assert_close(tensor, expected, rtol=1e-7, atol=1e-12):
    np.testing.assert_allclose(to_numpy(tensor.data), expected, rtol=rtol, atol=atol)


def np_softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


POINTWISE = {
    "relu": (ops.relu, lambda a: np.maximum(a, 0)),
    "leaky_relu": (ops.leaky_relu, lambda a: np.where(a > 0, a, 0.01 * a)),
    "leaky_relu 0.2": (lambda t: ops.leaky_relu(t, 0.2), lambda a: np.where(a > 0, a, 0.2 * a)),
    # in place on a fresh product, as Model runs a ReLU after a convolution
    "relu in place": (lambda t: ops.relu(t * 1.0, inplace=True), lambda a: np.maximum(a, 0)),
    "tanh": (ops.tanh, np.tanh),
    "sigmoid": (ops.sigmoid, lambda a: 1 / (1 + np.exp(-a))),
}


@pytest.mark.parametrize("name", list(POINTWISE))
def test_pointwise(xp, name):
    op, reference = POINTWISE[name]
    a = off_kink(xp, 2, 3, 4, 5)
    assert_close(op(tc.Tensor(a)), reference(to_numpy(a)))
    check_grad(op, off_kink(xp, 2, 3, 2, 2))


def test_relu_gradient_is_zero_for_negative_inputs(xp):
    x = tc.Tensor(xp.asarray([-1.0, 0.0, 2.0]), requires_grad=True)
    ops.relu(x).backward(xp.asarray([5.0, 5.0, 5.0]))
    assert_close(tc.Tensor(x.grad), [0, 0, 5])


def test_relu_in_place_writes_over_its_input_in_any_memory_layout(xp):
    a = off_kink(xp, 2, 5, 6, 3).transpose(0, 3, 1, 2)  # a (N, C, H, W) view of NHWC memory
    expected = np.maximum(to_numpy(a), 0)
    y = ops.relu(tc.Tensor(a), inplace=True)
    assert y.data is a
    np.testing.assert_array_equal(to_numpy(a), expected)
    big = xp.asarray(np.random.default_rng(4).standard_normal((2, 64, 40, 40)))  # split in parts
    assert_close(ops.relu(tc.Tensor(big)), np.maximum(to_numpy(big), 0))


def test_sigmoid_and_tanh_do_not_overflow(xp):
    x = tc.Tensor(xp.asarray([-1000.0, 0.0, 1000.0], dtype=xp.float32))
    with np.errstate(all="raise"):
        assert_close(ops.sigmoid(x), [0, 0.5, 1])
        assert_close(ops.tanh(x), [-1, 0, 1])


def test_activations_keep_float32(xp):
    x = tc.Tensor(xp.ones((2, 3), dtype=xp.float32))
    for op in (ops.relu, ops.leaky_relu, ops.tanh, ops.sigmoid, ops.softmax, ops.log_softmax):
        assert op(x).dtype == np.float32


@pytest.mark.parametrize("axis", [1, -1, 0])
def test_softmax_and_log_softmax(xp, axis):
    a = off_kink(xp, 3, 5, 2) * 3
    expected = np_softmax(to_numpy(a), axis)
    assert_close(ops.softmax(tc.Tensor(a), axis=axis), expected)
    assert_close(ops.log_softmax(tc.Tensor(a), axis=axis), np.log(expected))
    check_grad(lambda t: ops.softmax(t, axis=axis), a)
    check_grad(lambda t: ops.log_softmax(t, axis=axis), a)


def test_softmax_is_stable_for_large_scores(xp):
    scores = tc.Tensor(xp.asarray([[1000.0, 1001.0, 990.0]]))
    with np.errstate(all="raise"):
        p = ops.softmax(scores)
        logp = ops.log_softmax(scores)
    assert_close(p, np_softmax(np.array([[0.0, 1.0, -10.0]]), 1))
    assert np.isfinite(to_numpy(logp.data)).all()
    assert float(to_numpy(p.data).sum()) == pytest.approx(1.0)


def test_dropout_is_identity_unless_training(xp):
    x = tc.Tensor(off_kink(xp, 4, 5))
    assert ops.dropout(x, 0.5) is x
    assert ops.dropout(x, 0.5, training=False) is x
    assert ops.dropout(x, 0.0, training=True) is x


def test_dropout_training_zeroes_and_rescales(xp):
    x = tc.Tensor(xp.ones((200, 100)), requires_grad=True)
    y = ops.dropout(x, 0.25, training=True, rng=xp.random.RandomState(0))
    values = to_numpy(y.data)
    kept = values != 0
    assert abs(1 - kept.mean() - 0.25) < 0.02
    np.testing.assert_allclose(values[kept], 1 / 0.75)
    y.backward(xp.ones(y.shape))
    np.testing.assert_array_equal(to_numpy(x.grad), values)  # the same mask in backward


def test_dropout_rejects_bad_probability(xp):
    with pytest.raises(ValueError, match=r"\[0, 1\).*1.5"):
        ops.dropout(tc.Tensor(xp.ones(3)), 1.5, training=True)


def off_relu6_kinks(xp, *shape, seed=0):
    """float64 values in [-8, 8] at least 0.05 away from ReLU6's kinks at 0 and 6."""
    a = 4 * to_numpy(off_kink(np, *shape, seed=seed))
    a = np.where(np.abs(a - 6) < 0.05, a + 0.1, a)
    return xp.asarray(a)


@pytest.mark.parametrize("inplace", [False, True])
def test_relu6_forward_and_float64_gradient(xp, inplace):
    def reference(a):
        return np.array([[min(max(v, 0.0), 6.0) for v in row] for row in a.reshape(-1, a.shape[-1])]
                        ).reshape(a.shape)  # plain loops: the definition

    def op(t):
        return ops.relu6(t * 1.0, inplace=True) if inplace else ops.relu6(t)
    a = off_relu6_kinks(xp, 2, 3, 4, 5)
    assert (to_numpy(a) > 6).any() and (to_numpy(a) < 0).any()
    assert_close(op(tc.Tensor(a)), reference(to_numpy(a)))
    check_grad(op, off_relu6_kinks(xp, 2, 3, 3, 3, seed=3))


def test_relu6_in_place_overwrites_and_float32_stays(xp):
    a = xp.asarray(np.linspace(-9, 9, 40, dtype=np.float32).reshape(2, 4, 5))
    y = ops.relu6(tc.Tensor(a), inplace=True)
    assert y.data is a and y.dtype == np.float32
    assert float(a.min()) == 0 and float(a.max()) == 6


def test_relu6_gradient_of_a_large_channels_last_array_split_over_threads():
    """The numpy backward runs in parallel slices (parallel.for_each_slice) and keeps dout's
    channels-last layout; every slice gets dout where 0 < y < 6 and zero elsewhere."""
    a = np.ascontiguousarray(off_relu6_kinks(np, 2, 9, 8, 16, 64).reshape(2, 72, 16, 64)
                             .transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # (N, C, H, W) view
    x = tc.Tensor(a, requires_grad=True)
    dout = np.ascontiguousarray(np.random.default_rng(1).standard_normal(a.shape)
                                .transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    ops.relu6(x).backward(dout)
    np.testing.assert_array_equal(x.grad, np.where((a > 0) & (a < 6), dout, 0.0))
    assert x.grad.strides[1] == 8  # channels-last like dout
