"""The BatchNorm2d row: running statistics updated as PyTorch updates them (by hand), kept as
buffers (state and weight files, not trained), training vs inference mode, and float64
gradient checks of a conv-BN-ReLU model with a residual addition in training mode."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv.engine.testing import check_grad
from tinyconv.models import Model, layers as L
from tinyconv.models.preprocessing import CIFAR10
from tinyconv.weights.format import WeightFile, read_weights, write_weights

# two images, one channel, 1x2 pixels: values 1, 2 | 3, 6
X = np.array([1.0, 2.0, 3.0, 6.0]).reshape(2, 1, 1, 2)


def bn_model(dtype="float64"):
    return Model("bn_only", [L.BatchNorm2d("bn", 1)], CIFAR10, dtype=dtype).init_weights()


def test_running_statistics_follow_pytorch_by_hand():
    model = bn_model().train()
    model(tc.Tensor(X))
    # batch mean 3; squared deviations 4, 1, 0, 9: biased variance 14 / 4, unbiased 14 / 3
    # running_mean = 0.9 * 0 + 0.1 * 3; running_var = 0.9 * 1 + 0.1 * 14 / 3
    state = model.state_dict()
    np.testing.assert_allclose(state["bn.running_mean"], [0.3], rtol=1e-14)
    np.testing.assert_allclose(state["bn.running_var"], [0.9 + 1.4 / 3], rtol=1e-14)
    out = model(tc.Tensor(X)).numpy()
    # training mode normalizes by the batch: (x - 3) / sqrt(3.5 + 1e-5)
    np.testing.assert_allclose(out.reshape(-1), (np.array([1, 2, 3, 6]) - 3) / np.sqrt(3.5 + 1e-5))
    # the second step: 0.9 * 0.3 + 0.3 and 0.9 * (0.9 + 1.4 / 3) + 1.4 / 3
    state = model.state_dict()
    np.testing.assert_allclose(state["bn.running_mean"], [0.57], rtol=1e-14)
    np.testing.assert_allclose(state["bn.running_var"], [0.81 + 1.9 * 1.4 / 3], rtol=1e-14)


def test_inference_uses_the_running_statistics_and_changes_nothing():
    model = bn_model()
    model.load_state_dict({"bn.weight": np.array([2.0]), "bn.bias": np.array([0.5]),
                           "bn.running_mean": np.array([1.0]), "bn.running_var": np.array([4.0])})
    out = model.eval()(tc.Tensor(X)).numpy()
    np.testing.assert_allclose(out.reshape(-1),
                               (np.array([1, 2, 3, 6]) - 1) / np.sqrt(4 + 1e-5) * 2 + 0.5)
    assert model.state_dict()["bn.running_var"] == [4.0]


def test_buffers_are_state_but_not_parameters(tmp_path):
    model = bn_model("float32").requires_grad_(True)
    assert [k for k, _ in model.named_parameters()] == ["bn.weight", "bn.bias"]
    assert [k for k, _ in model.named_buffers()] == ["bn.running_mean", "bn.running_var"]
    assert list(model.state_dict()) == ["bn.weight", "bn.bias", "bn.running_mean",
                                        "bn.running_var"]
    assert all(not b.requires_grad for _, b in model.named_buffers())
    assert model.summary((32, 32))[0][3] == 2  # the parameter count leaves the buffers out
    model.train()(tc.Tensor(X.astype(np.float32))).sum().backward()
    assert all(b.grad is None for _, b in model.named_buffers())
    # a weight file holds the buffers as /layers/bn/running_mean and running_var
    path = tmp_path / "resnet.h5"
    net = tc.models.build("resnet_cifar").train()
    net(tc.Tensor(np.random.default_rng(0).standard_normal((4, 3, 32, 32), dtype=np.float32)))
    state = net.state_dict()
    assert state["prep/bn.running_mean"].any()
    write_weights(path, WeightFile("resnet_cifar", state, CIFAR10, num_classes=10))
    loaded = tc.load_model(str(path))
    for key, value in state.items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value)


def _residual_net(channels=3):
    """conv-BN-ReLU twice, the second added to the first (Add row), max pool, linear."""
    rows = [L.Conv2d("conv1", 2, channels, 3, padding=1), L.BatchNorm2d("bn1", channels),
            L.ReLU("relu1"), L.Conv2d("conv2", channels, channels, 3, padding=1, bias=False),
            L.BatchNorm2d("bn2", channels), L.ReLU("relu2"),
            L.Add("add", inputs=("relu1", "relu2")), L.MaxPool2d("pool", 2),
            L.Linear("fc", channels * 2 * 2, 2)]
    return Model("residual", rows, CIFAR10, dtype="float64").init_weights(seed=3)


def test_training_mode_gradients_match_central_differences():
    model = _residual_net().train()
    keys = [k for k, _ in model.named_parameters()]
    rng = np.random.default_rng(1)
    arrays = [model.params[k].data.copy() for k in keys]
    arrays = [a + 0.1 * rng.standard_normal(a.shape) for a in arrays]  # BN scale, shift not 1, 0
    x = rng.standard_normal((4, 2, 4, 4))

    def f(x, *params):
        for key, p in zip(keys, params):
            model.params[key] = p
        return model(x)

    check_grad(f, x, *arrays, rtol=1e-5, atol=1e-8)
    assert model.training


def test_in_place_relu_and_freeing_keep_training_gradients_exact(monkeypatch):
    """The in-place ReLU after each batch norm (and the freed activations) in training mode
    give the same gradients as a pass that keeps every activation (no in-place writes)."""
    model = _residual_net().train().requires_grad_(True)
    x = np.random.default_rng(2).standard_normal((4, 2, 4, 4))
    in_place = []
    relu = L.ReLU.__call__
    monkeypatch.setattr(L.ReLU, "__call__", lambda self, params, x, training=False,
                        inplace=False: in_place.append(inplace) or relu(self, params, x,
                                                                        training, inplace))

    def grads(layers):
        for p in model.parameters():
            p.grad = None
        xt = tc.Tensor(x, requires_grad=True)
        out = model.forward(xt, layers=layers)["fc"]
        (out * out).sum().backward()
        return [xt.grad] + [p.grad.copy() for p in model.parameters()]

    fast = grads(["fc"])
    assert in_place == [True, True]  # both ReLUs wrote over their batch norm's output
    kept = grads(model.layer_names)  # every activation asked for: nothing is written over
    assert in_place[2:] == [False, False]
    for a, b in zip(fast, kept):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_a_residual_block_by_hand():
    """x + relu(bn(conv1x1(x))) on one channel, training mode: conv weight 2 doubles x = 1..8;
    batch mean 9, biased variance 21; the ReLU keeps (2x - 9) / sqrt(21 + eps) where x > 4.5."""
    rows = [L.Conv2d("conv", 1, 1, 1, bias=False), L.BatchNorm2d("bn", 1), L.ReLU("relu"),
            L.Add("add", inputs=("input", "relu"))]
    model = Model("block", rows, CIFAR10, dtype="float64").init_weights()
    model.params["conv.weight"].data[...] = 2.0
    x = np.arange(1.0, 9.0).reshape(2, 1, 2, 2)
    out = model.train()(tc.Tensor(x)).numpy().reshape(-1)
    expected = np.arange(1.0, 9.0) + np.maximum(2 * np.arange(1.0, 9.0) - 9, 0) / np.sqrt(21 + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    np.testing.assert_allclose(out[4:], [5 + 1 / 4.58257678, 6 + 3 / 4.58257678,
                                         7 + 5 / 4.58257678, 8 + 7 / 4.58257678], rtol=1e-8)
    state = model.state_dict()
    np.testing.assert_allclose(state["bn.running_mean"], [0.9])  # 0.1 * 9
    np.testing.assert_allclose(state["bn.running_var"], [0.9 + 0.1 * 21 * 8 / 7])


def test_batch_norm_row_refuses_a_single_value_per_channel_in_training():
    model = bn_model().train()
    with pytest.raises(ValueError, match="more than one value per channel"):
        model(tc.Tensor(np.ones((1, 1, 1, 1))))
