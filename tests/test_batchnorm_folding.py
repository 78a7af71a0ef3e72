"""Batch normalization folded into the convolution before it (tinyconv/models/folding.py): which
pairs fold, the folded network equal to the unfused one in float64 (outputs and input
gradients), the cache kept across passes and dropped when the weights change, and the rows run
unfused where the pre-norm output or parameter gradients are asked for, or in training."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv.engine.testing import check_grad
from tinyconv.models import Model, layers as L
from tinyconv.models.folding import fold, foldable_pairs
from tinyconv.models.preprocessing import CIFAR10


def rows():
    """conv+bn (bias), grouped conv+bn, a conv read twice (not folded), a bn after a ReLU and
    a bn after an Add (not folded), a 'same'-padded conv+bn without bias."""
    return [
        L.Conv2d("c1", 3, 8, 3, padding=1), L.BatchNorm2d("b1", 8), L.ReLU("r1"),
        L.Conv2d("dw", 8, 8, 3, stride=2, padding=1, groups=8, bias=False),
        L.BatchNorm2d("b2", 8, eps=1e-3), L.ReLU("r2"),
        L.Conv2d("c3", 8, 8, 1), L.BatchNorm2d("b3", 8), L.ReLU("r3", inputs=["c3"]),
        L.Add("add", inputs=["b3", "r3"]), L.BatchNorm2d("b4", 8),
        L.ReLU("r4"), L.BatchNorm2d("b5", 8),
        L.Conv2d("c6", 8, 4, 3, stride=2, padding="same", bias=False), L.BatchNorm2d("b6", 4),
        L.GlobalAvgPool("pool"), L.Linear("fc", 4, 5)]


def model(dtype="float64", seed=0):
    """The table with random weights and random batch-norm statistics (not the identity)."""
    m = Model("fold_test", rows(), CIFAR10, dtype=dtype).init_weights(seed)
    rng = np.random.default_rng(seed + 1)
    state = {}
    for key, p in m.params.items():
        if key.split(".")[0].startswith("b"):
            kind = key.split(".")[1]
            state[key] = rng.uniform(0.5, 2.0, p.shape) if kind in ("weight", "running_var") \
                else rng.normal(0, 0.5, p.shape)
        elif key.endswith("bias"):
            state[key] = rng.normal(0, 0.5, p.shape)
    return m.load_state_dict(state, strict=False)


CONVS = ["c1", "dw", "c3", "c6"]
X = np.random.default_rng(7).standard_normal((2, 3, 12, 12))


def test_which_pairs_fold():
    assert model()._fold_pairs == {"b1": "c1", "b2": "dw", "b6": "c6"}
    assert foldable_pairs(model().layers) == {"b1": "c1", "b2": "dw", "b6": "c6"}


def test_fold_is_the_batch_norm_of_the_convolution_by_formula():
    rng = np.random.default_rng(3)
    w, b = rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)
    gamma, beta, mean, var = (rng.uniform(0.5, 2, 4) for _ in range(4))
    out = fold({"weight": w, "bias": b}, {"weight": gamma, "bias": beta, "running_mean": mean,
                                          "running_var": var}, 1e-3)
    s = gamma / np.sqrt(var + 1e-3)
    np.testing.assert_allclose(out["weight"], w * s[:, None, None, None], rtol=1e-15)
    np.testing.assert_allclose(out["bias"], (b - mean) * s + beta, rtol=1e-15)


def unfused(m, x):
    """The output with every convolution's own output requested: nothing folds."""
    return m.forward(x, layers=CONVS + ["fc"])["fc"]


def test_folded_equals_unfused_in_float64_outputs_and_input_gradients():
    m = model()
    folded, plain = m(tc.Tensor(X)).numpy(), unfused(m, tc.Tensor(X)).numpy()
    assert len(m._folds._entries) == 3
    np.testing.assert_allclose(folded, plain, rtol=1e-13, atol=1e-13 * np.abs(plain).max())
    grads = []
    for run in (lambda x: m(x), lambda x: unfused(m, x)):
        x = tc.Tensor(X, requires_grad=True)
        run(x)[:, 2].sum().backward()
        grads.append(x.grad)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-13 * np.abs(grads[1]).max())
    check_grad(lambda x: m(x), X[:1, :, :6, :6])  # the folded graph's own backward


def test_float32_folding_is_as_accurate_as_the_unfused_rows():
    m64 = model()
    reference = m64(tc.Tensor(X)).numpy()
    m32 = Model("fold_test", rows(), CIFAR10, dtype="float32").load_state_dict(m64.state_dict())
    x32 = tc.Tensor(X.astype(np.float32))
    scale = np.abs(reference).max()
    folded_error = np.abs(m32(x32).numpy() - reference).max() / scale
    unfused_error = np.abs(unfused(m32, x32).numpy() - reference).max() / scale
    assert folded_error < 1e-5 and folded_error <= 4 * unfused_error + 1e-7


def test_the_cache_is_kept_and_dropped_when_the_weights_change():
    m = model()
    first = m(tc.Tensor(X)).numpy()
    cached = m._folds._entries["b1"][1]["weight"]
    m(tc.Tensor(X))
    assert m._folds._entries["b1"][1]["weight"] is cached  # not folded again
    m.params["b1.running_mean"].data = m.params["b1.running_mean"].data + 1.0  # a new array
    moved = m(tc.Tensor(X)).numpy()
    assert m._folds._entries["b1"][1]["weight"] is not cached
    np.testing.assert_allclose(moved, unfused(m, tc.Tensor(X)).numpy(), rtol=1e-12, atol=1e-12)
    assert not np.allclose(moved, first)
    m.load_state_dict(model(seed=5).state_dict())
    assert not m._folds._entries
    m(tc.Tensor(X))
    m.params["c6.weight"].data *= 2  # in place, by hand: weights_changed() says so
    m.weights_changed()
    np.testing.assert_allclose(m(tc.Tensor(X)).numpy(), unfused(m, tc.Tensor(X)).numpy(),
                               rtol=1e-12, atol=1e-12)


def test_training_mode_and_parameter_gradients_run_the_rows_unfused():
    m = model().requires_grad_(True)
    m(tc.Tensor(X))[:, 0].sum().backward()  # inference, but gradients wanted for weights
    assert not m._folds._entries
    assert m.params["c1.weight"].grad is not None and m.params["b1.weight"].grad is not None
    with tc.no_grad():
        m(tc.Tensor(X))  # no gradients: folds even with trainable weights
    assert len(m._folds._entries) == 3
    m.train()
    assert not m._folds._entries
    before = m.state_dict()["b1.running_mean"]
    m(tc.Tensor(X))
    assert not m._folds._entries and not np.array_equal(before, m.state_dict()["b1.running_mean"])


@pytest.mark.parametrize("start", ["c1", "b1", "dw"])
def test_starting_inside_a_pair(start):
    m = model()
    names = m.layer_names
    before = names[names.index(start) - 1] if start != "c1" else None
    x = tc.Tensor(X) if before is None else unfused_upto(m, before)
    np.testing.assert_allclose(m.forward(x, start=start)["fc"].numpy(),
                               unfused(m, tc.Tensor(X)).numpy(), rtol=1e-12, atol=1e-12)


def unfused_upto(m, layer):
    return m.forward(tc.Tensor(X), layers=CONVS[:1] + [layer])[layer]
