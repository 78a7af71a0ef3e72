"""The rows style networks add: Upsample, ReflectionPad, ConditionalInstanceNorm (with style_mix),
and the fast_style_cin and AdaIN decoder tables."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import models
from tinyconv.engine.testing import check_grad
from tinyconv.models import layers as L


def rand(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape)


def test_upsample_row_repeats_pixels_and_sums_gradients_back():
    row, x = L.Upsample("up", 2), rand(1, 2, 3, 4)
    out = row({}, tc.Tensor(x))
    np.testing.assert_array_equal(out.data, x.repeat(2, axis=2).repeat(2, axis=3))
    assert row.output_shape(x.shape) == out.shape
    check_grad(lambda t: row({}, t), x)


def test_reflection_pad_row_mirrors_without_repeating_the_edge():
    row, x = L.ReflectionPad("pad", 1), rand(1, 2, 4, 5)
    out = row({}, tc.Tensor(x))
    np.testing.assert_array_equal(out.data, np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)),
                                                   mode="reflect"))
    assert out.data[0, 0, 0, 1] == x[0, 0, 1, 0]
    assert row.output_shape(x.shape) == out.shape
    check_grad(lambda t: row({}, t), x)


def test_cin_row_needs_style_weights_and_one_hot_equals_the_plain_row():
    row, plain = L.ConditionalInstanceNorm("n", 3, styles=2, eps=1e-3), L.InstanceNorm("n", 3, 1e-3)
    w, b = rand(2, 3, seed=1), rand(2, 3, seed=2)
    x = tc.Tensor(rand(2, 3, 4, 4))
    with pytest.raises(ValueError, match="style_mix"):
        row({"weight": tc.Tensor(w), "bias": tc.Tensor(b)}, x)
    with models.style_mix(np.array([0.0, 1.0])):
        out = row({"weight": tc.Tensor(w), "bias": tc.Tensor(b)}, x)
    expected = plain({"weight": tc.Tensor(w[1]), "bias": tc.Tensor(b[1])}, x)
    np.testing.assert_array_equal(out.data, expected.data)


def test_fast_style_cin_blend_of_one_hot_weights_is_that_style():
    net = models.build("fast_style_cin", num_classes=3, dtype="float64", seed=1)
    for key, p in net.named_parameters():  # distinct styles
        if "norm" in key:
            p.data = p.data + rand(*p.shape, seed=len(key))
    x = tc.Tensor(rand(1, 3, 16, 16) * 100 + 128)
    single = models.build("fast_style", dtype="float64")
    single.load_state_dict({k: (v[2] if "norm" in k else v) for k, v in net.state_dict().items()})
    with models.style_mix([0.0, 0.0, 1.0]):
        picked = net(x).data
    np.testing.assert_allclose(picked, single(x).data, rtol=0, atol=1e-9)
    with models.style_mix(np.array([[0.0, 0.0, 1.0]])):  # per-sample rows, same answer
        np.testing.assert_allclose(net(x).data, picked, rtol=0, atol=1e-9)


def test_adain_decoders_mirror_the_encoder():
    d3 = models.build("adain_decoder_relu3_1")
    assert d3.output_shapes((1, 256, 8, 8))[d3.output_name] == (1, 3, 32, 32)
    d4 = models.build("adain_decoder_relu4_1")
    assert d4.output_shapes((1, 512, 8, 8))[d4.output_name] == (1, 3, 64, 64)
    assert d4.params["dec_conv1_1.weight"].shape == (3, 64, 3, 3)
