"""Backward overrides: guided backprop and deconvnet equal the hand-masked backward, redirected ReLU
revives dead examples, overrides nest and are restored after exceptions."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import hooks, ops
from tinyconv.engine.backend import to_numpy


def rand(xp, *shape, seed=0):
    return xp.asarray(np.random.default_rng(seed).standard_normal(shape))


MASKS = {  # the ReLU backward of each method: (pre-activation a, upstream gradient g) -> da
    "plain": lambda a, g: g * (a > 0),
    "guided": lambda a, g: g * (a > 0) * (g > 0),
    "deconvnet": lambda a, g: g * (g > 0),
}
OVERRIDES = {"plain": {}, "guided": {"relu": hooks.guided_relu},
             "deconvnet": {"relu": hooks.deconvnet_relu}}


class ThreeLayerNet:
    """x (N, 5) -> relu(x W1) -> relu(. W2) -> . W3 = class scores (N, 3), plain matmuls."""

    def __init__(self, xp):
        self.w1 = rand(xp, 5, 6, seed=1)
        self.w2 = rand(xp, 6, 4, seed=2)
        self.w3 = rand(xp, 4, 3, seed=3)

    def __call__(self, x):
        h = ops.relu(x @ tc.Tensor(self.w1))
        h = ops.relu(h @ tc.Tensor(self.w2))
        return h @ tc.Tensor(self.w3)

    def hand_masked_input_gradient(self, x, dscores, mask):
        a1 = x @ self.w1
        a2 = (a1 * (a1 > 0)) @ self.w2
        da2 = mask(a2, dscores @ self.w3.T)
        da1 = mask(a1, da2 @ self.w2.T)
        return da1 @ self.w1.T


@pytest.mark.parametrize("method", list(MASKS))
def test_relu_overrides_equal_the_hand_masked_backward(xp, method):
    net = ThreeLayerNet(xp)
    x = tc.Tensor(rand(xp, 4, 5, seed=4), requires_grad=True)
    scores = net(x)
    dscores = xp.zeros((4, 3))
    dscores[:, 1] = 1  # the gradient of class 1's score for every example
    with tc.override(OVERRIDES[method]):
        scores.backward(dscores)
    expected = net.hand_masked_input_gradient(x.data, dscores, MASKS[method])
    np.testing.assert_allclose(to_numpy(x.grad), to_numpy(expected), rtol=1e-10, atol=1e-12)


def test_guided_and_deconvnet_differ_from_the_plain_gradient(xp):
    """Guards the test above: with these weights the three masks give three different answers."""
    net = ThreeLayerNet(xp)
    x = rand(xp, 4, 5, seed=4)
    dscores = xp.zeros((4, 3))
    dscores[:, 1] = 1
    grads = [to_numpy(net.hand_masked_input_gradient(x, dscores, m)) for m in MASKS.values()]
    assert not np.allclose(grads[0], grads[1]) and not np.allclose(grads[0], grads[2])
    assert not np.allclose(grads[1], grads[2])


def conv_vjp(x, w, dout, padding):
    """d(sum(dout * conv2d(x, w)))/dx through tinyconv's conv2d alone (no ReLU in the graph)."""
    t = tc.Tensor(x, requires_grad=True)
    ops.conv2d(t, tc.Tensor(w), padding=padding).backward(dout)
    return t.grad


@pytest.mark.parametrize("method", list(MASKS))
def test_relu_overrides_through_a_conv_net(xp, method):
    if not hasattr(ops, "conv2d"):
        pytest.skip("tinyconv.ops.conv2d is not there yet")
    x = rand(xp, 1, 2, 6, 6, seed=5)
    w1, w2 = rand(xp, 3, 2, 3, 3, seed=6), rand(xp, 2, 3, 3, 3, seed=7)
    xt = tc.Tensor(x, requires_grad=True)
    out = ops.relu(ops.conv2d(ops.relu(ops.conv2d(xt, tc.Tensor(w1), padding=1)), tc.Tensor(w2)))
    with tc.override(OVERRIDES[method]):
        out[0, 1, 2, 3].backward()  # one neuron
    a1 = ops.conv2d(tc.Tensor(x), tc.Tensor(w1), padding=1).data
    a2 = ops.conv2d(tc.Tensor(xp.maximum(a1, 0)), tc.Tensor(w2)).data
    dh2 = xp.zeros(a2.shape)
    dh2[0, 1, 2, 3] = 1
    da1 = MASKS[method](a1, conv_vjp(xp.maximum(a1, 0), w2, MASKS[method](a2, dh2), 0))
    expected = conv_vjp(x, w1, da1, 1)
    np.testing.assert_allclose(to_numpy(xt.grad), to_numpy(expected), rtol=1e-10, atol=1e-12)


def test_redirected_relu_passes_gradient_through_a_dead_example(xp):
    x = tc.Tensor(xp.asarray([[-1.0, -2.0, -0.5, -3.0],    # example 0: every unit dead
                              [1.0, -2.0, 0.5, -3.0]]), requires_grad=True)
    dout = xp.asarray([[1.0, -1.0, 2.0, -2.0],
                       [1.0, -1.0, 2.0, -2.0]])
    y = ops.relu(x)
    with tc.override({"relu": hooks.redirected_relu}):
        y.backward(dout)
    np.testing.assert_array_equal(to_numpy(x.grad), [[1, 0, 2, 0],   # no push further down
                                                     [1, 0, 2, 0]])  # ordinary ReLU gradient
    x.grad = None
    y = ops.relu(x)
    y.backward(dout)
    np.testing.assert_array_equal(to_numpy(x.grad), [[0, 0, 0, 0], [1, 0, 2, 0]])


def test_redirected_relu_equals_relu_when_units_are_alive(xp):
    a = rand(xp, 3, 8, seed=8)
    a[:, 0] = 1.0  # one live unit per example
    dout = xp.ones((3, 8))
    grads = []
    for mapping in ({}, {"relu": hooks.redirected_relu}):
        x = tc.Tensor(a, requires_grad=True)
        with tc.override(mapping):
            ops.relu(x).backward(dout)
        grads.append(to_numpy(x.grad))
    np.testing.assert_array_equal(grads[0], grads[1])


def recorder(calls, label):
    def relu_backward(ctx, dout):
        calls.append(label)
        return dout
    return relu_backward


def relu_graph(xp):
    return ops.relu(tc.Tensor(rand(xp, 3), requires_grad=True)).sum()


def test_overrides_nest_inner_wins_outer_restored(xp):
    calls = []
    with tc.override({"relu": recorder(calls, "outer")}):
        relu_graph(xp).backward()
        with tc.override({"relu": recorder(calls, "inner"), "tanh": recorder(calls, "tanh")}):
            relu_graph(xp).backward()
        relu_graph(xp).backward()
    relu_graph(xp).backward()
    assert calls == ["outer", "inner", "outer"]


def test_override_applies_to_a_graph_built_before_the_block(xp):
    calls = []
    y = relu_graph(xp)
    with tc.override({"relu": recorder(calls, "late")}):
        y.backward()
    assert calls == ["late"]


def test_overrides_are_restored_after_an_exception(xp):
    calls = []
    with pytest.raises(ZeroDivisionError):
        with tc.override({"relu": recorder(calls, "outer")}):
            with tc.override({"relu": recorder(calls, "inner")}):
                1 / 0
    assert hooks._active == []
    x = tc.Tensor(xp.asarray([-1.0, 2.0]), requires_grad=True)
    ops.relu(x).sum().backward()
    assert calls == []
    np.testing.assert_array_equal(to_numpy(x.grad), [0, 1])


def test_any_op_can_be_overridden_by_name(xp):
    x = tc.Tensor(xp.asarray([0.0, 3.0]), requires_grad=True)
    with tc.override({"tanh": lambda ctx, dout: dout}):  # a straight-through tanh
        ops.tanh(x).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [1, 1])


def test_override_must_be_callable():
    with pytest.raises(TypeError, match="'relu' must be callable, got str"):
        with tc.override({"relu": "guided"}):
            pass
    assert hooks._active == []


@pytest.mark.parametrize("method", ["plain", "guided", "deconvnet"])
def test_relu6_rules_equal_the_hand_masked_backward(xp, method):
    """hooks.GUIDED / DECONVNET cover ReLU6: guided passes where 0 < input < 6 and dout > 0."""
    a = 4 * rand(xp, 3, 50, seed=5)
    g = rand(xp, 3, 50, seed=6)
    x = tc.Tensor(a, requires_grad=True)
    overrides = {"plain": {}, "guided": hooks.GUIDED, "deconvnet": hooks.DECONVNET}[method]
    with tc.override(overrides):
        ops.relu6(x).backward(g)
    inside = (a > 0) & (a < 6)
    expected = {"plain": g * inside, "guided": g * inside * (g > 0),
                "deconvnet": g * (g > 0)}[method]
    assert bool((a > 6).any()) and bool((g * inside != g * inside * (g > 0)).any())
    np.testing.assert_array_equal(to_numpy(x.grad), to_numpy(expected))
