"""Depthwise convolution kernels (tinyconv/kernels/cpu/depthwise.py): forward against explicit
loops and against the generic im2col path, backward against check_grad, float32 within bounds
derived from float32 rounding, and the dispatcher's choice."""
import numpy as np
import pytest

from tinyconv import Tensor
from tinyconv.engine.testing import check_grad
from tinyconv.kernels import algorithms as conv_algorithms, im2col
from tinyconv.kernels.cpu import depthwise
from tinyconv.kernels.cpu.channels_last import channels_last
from tinyconv.ops import conv, conv2d, conv_transpose2d

# (N, C, H, W), (kh, kw), stride, padding, dilation
CASES = [
    ((2, 3, 5, 6), (3, 3), 1, 1, 1),
    ((1, 4, 7, 7), (3, 3), 2, 1, 1),           # MobileNetV2's strided layers
    ((2, 2, 9, 8), (5, 5), 2, 2, 1),
    ((1, 3, 8, 7), (3, 3), 1, 2, 2),           # dilation
    ((1, 2, 7, 9), (3, 5), (1, 2), (0, 2), 1),  # non-square kernel, stride, padding
    ((1, 3, 7, 8), (3, 3), 3, 0, 1),           # stride past the kernel's reach: rows skipped
    ((2, 2, 4, 5), (1, 1), 1, 0, 1),
    ((1, 2, 5, 5), (3, 3), 2, 3, 1),           # padding wider than the kernel
]


def naive_depthwise(x, w, b, stride, padding, dilation):
    """out[n, c, y, x] = b[c] + sum over i, j of w[c, 0, i, j] * xpad[n, c, s*y + d*i, s*x + d*j]."""
    (sh, sw), (ph, pw), (dh, dw) = (im2col.pair(v, "") for v in (stride, padding, dilation))
    n, c, h, wd = x.shape
    kh, kw = w.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c, oh, ow)) + (0 if b is None else b.reshape(1, -1, 1, 1))
    for y in range(oh):
        for xi in range(ow):
            window = xpad[:, :, y * sh:y * sh + dh * (kh - 1) + 1:dh,
                          xi * sw:xi * sw + dw * (kw - 1) + 1:dw]
            out[:, :, y, xi] += (window * w[:, 0]).sum(axis=(2, 3))
    return out


def _arrays(case, rng, dtype=np.float64):
    x_shape, k, stride, padding, dilation = case
    c = x_shape[1]
    x, w, b = (rng.standard_normal(shape).astype(dtype) for shape in (x_shape, (c, 1, *k), (c,)))
    return x, w, b, dict(stride=stride, padding=padding, dilation=dilation, groups=c)


@pytest.fixture
def depthwise_kernels():
    with conv_algorithms.algorithm("cpu_depthwise"):
        yield


@pytest.mark.parametrize("case", CASES)
def test_forward_matches_loops_and_the_generic_path(case, depthwise_kernels):
    x, w, b, params = _arrays(case, np.random.default_rng(0))
    geom = conv.conv_geometry(x.shape, w.shape, params["stride"], params["padding"],
                              params["dilation"], params["groups"])
    assert conv.select_kernels(x, geom) is depthwise
    expected = naive_depthwise(x, w, b, params["stride"], params["padding"], params["dilation"])
    got = conv2d(Tensor(x), Tensor(w), Tensor(b), **params).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv2d(Tensor(x), Tensor(w), **params).numpy(), expected - b.reshape(
        1, -1, 1, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, im2col.conv_forward(x, w, geom, b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_gradients(case, depthwise_kernels):
    x, w, b, params = _arrays(case, np.random.default_rng(1))
    check_grad(lambda x, w, b: conv2d(x, w, b, **params), x, w, b)


def test_transposed_depthwise_convolution_matches_the_generic_path():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((3, 1, 3, 3))
    params = dict(stride=2, padding=1, output_padding=1, groups=3)
    with conv_algorithms.algorithm("im2col"):
        expected = conv_transpose2d(Tensor(x), Tensor(w), **params).numpy()
    with conv_algorithms.algorithm("cpu_depthwise"):
        np.testing.assert_allclose(conv_transpose2d(Tensor(x), Tensor(w), **params).numpy(),
                                   expected, atol=1e-12)
        check_grad(lambda x, w: conv_transpose2d(x, w, **params), x, w)


@pytest.mark.parametrize("shape, stride", [((2, 24, 41, 37), 1), ((1, 40, 45, 45), 2)])
def test_large_layers_split_over_threads_and_blocks(shape, stride, monkeypatch):
    """Layers large enough for several row blocks and parallel parts give the generic result
    (channels-last input, as the CPU layers hand activations on)."""
    monkeypatch.setattr(depthwise, "BLOCK_ELEMENTS", 2 ** 12)
    rng = np.random.default_rng(3)
    x = channels_last(rng.standard_normal(shape))
    w = rng.standard_normal((shape[1], 1, 3, 3))
    geom = conv.conv_geometry(x.shape, w.shape, stride, 1, 1, shape[1])
    dout = channels_last(rng.standard_normal(geom.out_shape))
    wk = depthwise.prepare_weight(w, geom)
    for got, expected in [
            (depthwise.conv_forward(x, wk, geom), im2col.conv_forward(x, w, geom)),
            (depthwise.conv_backward_input(dout, wk, geom),
             im2col.conv_backward_input(dout, w, geom)),
            (depthwise.conv_backward_weight(dout, x, geom),
             im2col.conv_backward_weight(dout, x, geom))]:
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-11)


def _float32_bound(op, geom, terms, *arrays):
    """Worst-case float32 error of a sum of `terms` rounded products: (terms + 1) * eps32 times
    the same op on the absolute values (in float64)."""
    return (terms + 1) * np.finfo(np.float32).eps * np.abs(op(*(np.abs(a) for a in arrays), geom))


def test_float32_within_rounding_bounds():
    rng = np.random.default_rng(4)
    x, w, _, params = _arrays(((2, 16, 30, 30), (3, 3), 2, 1, 1), rng, np.float32)
    geom = conv.conv_geometry(x.shape, w.shape, 2, 1, 1, 16)
    dout = rng.standard_normal(geom.out_shape).astype(np.float32)
    x64, w64, d64 = (a.astype(np.float64) for a in (x, w, dout))
    wk, wk64 = depthwise.prepare_weight(w, geom), depthwise.prepare_weight(w64, geom)
    taps = w.shape[2] * w.shape[3]
    positions = dout.shape[0] * dout.shape[2] * dout.shape[3]
    for got, exact, op, terms, args in [
            (depthwise.conv_forward(x, wk, geom), depthwise.conv_forward(x64, wk64, geom),
             im2col.conv_forward, taps, (x64, w64)),
            (depthwise.conv_backward_input(dout, wk, geom),
             depthwise.conv_backward_input(d64, wk64, geom), im2col.conv_backward_input, taps,
             (d64, w64)),
            (depthwise.conv_backward_weight(dout, x, geom),
             depthwise.conv_backward_weight(d64, x64, geom),
             lambda d, x, g: im2col.conv_backward_weight(d, x, g), positions, (d64, x64))]:
        assert got.dtype == np.float32
        assert np.all(np.abs(got - exact) <= _float32_bound(op, geom, terms, *args))


def test_heuristic_picks_depthwise_for_depthwise_layers_on_numpy_only():
    x = channels_last(np.zeros((1, 32, 14, 14), np.float32))
    depthwise_geom = conv.conv_geometry(x.shape, (32, 1, 3, 3), 2, 1, 1, 32)
    grouped_geom = conv.conv_geometry(x.shape, (32, 8, 3, 3), 1, 1, 1, 4)
    multiplier_geom = conv.conv_geometry(x.shape, (64, 1, 3, 3), 1, 1, 1, 32)  # 2 per channel
    assert conv_algorithms.heuristic(x, depthwise_geom) is depthwise
    assert "cpu_depthwise" in conv_algorithms.available(x, depthwise_geom)
    for geom in (grouped_geom, multiplier_geom):
        assert conv_algorithms.heuristic(x, geom) is im2col
        assert "cpu_depthwise" not in conv_algorithms.available(x, geom)
    assert conv_algorithms.heuristic(x.astype(np.int64), depthwise_geom) is im2col
    y = conv2d(Tensor(x), Tensor(np.zeros((32, 1, 3, 3), np.float32)), stride=2, padding=1,
               groups=32)
    assert y.shape == (1, 32, 7, 7) and y.data.strides[1] == 4  # (N, H, W, C) in memory
