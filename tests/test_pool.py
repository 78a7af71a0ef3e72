"""max_pool2d, avg_pool2d, adaptive_avg_pool2d: forward against explicit loops, check_grad."""
import numpy as np
import pytest

from tinyconv import Tensor
from tinyconv.engine.backend import to_numpy
from tinyconv.ops import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from tinyconv.ops.pool import pool_output_size
from tinyconv.engine.testing import check_grad


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def naive_pool2d(x, kernel_size, stride, padding, ceil_mode, mode):
    """PyTorch's pooling by loops: windows start at o*s - p; max ignores padding, avg divides by
    the window clipped to the padded border (count_include_pad=True)."""
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    n, c, h, w = x.shape
    oh = pool_output_size(h, kh, sh, ph, ceil_mode)
    ow = pool_output_size(w, kw, sw, pw, ceil_mode)
    y = np.zeros((n, c, oh, ow))
    for yi in range(oh):
        for xi in range(ow):
            y0, x0 = yi * sh - ph, xi * sw - pw
            y1, x1 = min(y0 + kh, h + ph), min(x0 + kw, w + pw)
            window = x[:, :, max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
            if mode == "max":
                y[:, :, yi, xi] = window.max(axis=(2, 3))
            else:
                y[:, :, yi, xi] = window.sum(axis=(2, 3)) / ((y1 - y0) * (x1 - x0))
    return y


def naive_adaptive_avg_pool2d(x, out_hw):
    n, c, h, w = x.shape
    y = np.zeros((n, c) + tuple(out_hw))
    for yi in range(out_hw[0]):
        for xi in range(out_hw[1]):
            y0, y1 = yi * h // out_hw[0], -(-(yi + 1) * h // out_hw[0])
            x0, x1 = xi * w // out_hw[1], -(-(xi + 1) * w // out_hw[1])
            y[:, :, yi, xi] = x[:, :, y0:y1, x0:x1].mean(axis=(2, 3))
    return y


def test_pool_output_size_follows_pytorch_ceil_rule():
    assert pool_output_size(7, 2, 2, 0, False) == 3
    assert pool_output_size(7, 2, 2, 0, True) == 4
    # the last window would start in the right padding only: dropped
    assert pool_output_size(5, 2, 2, 1, True) == 3
    assert pool_output_size(112, 2, 2, 0, True) == 56


@pytest.mark.parametrize("size, kernel, stride, padding, ceil_mode", [
    (7, 2, 2, 0, True), (5, 2, 2, 1, True), (13, 3, 2, 0, True), (9, 3, 2, 1, False)])
def test_max_pool_layer_output_shape_is_the_forward_shape(size, kernel, stride, padding,
                                                          ceil_mode):
    from tinyconv.models.layers import MaxPool2d
    layer = MaxPool2d("pool", kernel, stride, padding, ceil_mode)
    x = Tensor(np.zeros((1, 2, size, size + 1)))
    assert layer.output_shape(x.shape) == layer({}, x).shape


def test_tap_slices_index_the_same_pixels_in_both_layouts():
    from tinyconv.kernels.im2col import tap_slices
    x = np.arange(2 * 3 * 9 * 8).reshape(2, 3, 9, 8)
    args = (1, 2, (3, 2), (2, 3), (2, 1), (1, 0))
    nhwc = x.transpose(0, 2, 3, 1)[tap_slices(*args, channels_last=True)]
    np.testing.assert_array_equal(nhwc.transpose(0, 3, 1, 2), x[tap_slices(*args)])
    # rows 1 + 1 * 2 + (0, 2, 4), columns 0 + 2 * 1 + (0, 3) of an 8-wide map
    assert x[tap_slices(*args)][0, 0].tolist() == [[26, 29], [42, 45], [58, 61]]


# (N, C, H, W), kernel_size, stride, padding, ceil_mode
POOL_CASES = [
    ((1, 3, 8, 8), 2, None, 0, False),       # VGG
    ((2, 2, 13, 13), 3, 2, 0, False),        # AlexNet (overlapping windows)
    ((2, 2, 7, 9), 3, 2, 1, True),           # odd sizes, padding, ceil_mode
    ((1, 3, 7, 7), 2, 2, 0, True),           # ceil_mode adds a partial window
    ((2, 1, 6, 7), (3, 2), (2, 3), (1, 1), True),
    ((1, 2, 6, 6), 4, 3, 2, True),           # window past the padded border (divisor clipped)
    ((1, 2, 5, 5), 2, 2, 1, True),           # last window would start in the padding: dropped
    ((2, 2, 5, 4), (1, 2), 1, (0, 1), False),
]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_forward_matches_loops(xp, case, mode):
    shape, k, s, p, ceil_mode = case
    x = np.random.default_rng(0).standard_normal(shape)
    pool = max_pool2d if mode == "max" else avg_pool2d
    got = pool(Tensor(xp.asarray(x)), k, s, p, ceil_mode).numpy()
    np.testing.assert_allclose(got, naive_pool2d(x, k, s, p, ceil_mode, mode), atol=1e-12)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_gradients(xp, case, mode):
    shape, k, s, p, ceil_mode = case
    x = xp.asarray(np.random.default_rng(1).standard_normal(shape))
    pool = max_pool2d if mode == "max" else avg_pool2d
    check_grad(lambda t: pool(t, k, s, p, ceil_mode), x)


def test_max_pool_gradient_goes_to_the_first_maximum_on_ties(xp):
    x = Tensor(xp.ones((1, 1, 2, 2)), requires_grad=True)
    max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [[[[1, 0], [0, 0]]]])


def test_pool_keeps_channels_last_layout():
    x = np.random.default_rng(2).standard_normal((1, 4, 6, 6)).astype(np.float32)
    x_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    t = Tensor(x_last, requires_grad=True)
    y = max_pool2d(t, 2)
    assert y.data.strides[1] == 4  # channels adjacent in memory
    dx = y._ctx.backward(np.ones(y.shape, np.float32))
    assert dx.strides[1] == 4
    np.testing.assert_array_equal(y.numpy(), max_pool2d(Tensor(x), 2).numpy())


@pytest.mark.parametrize("shape, out", [((2, 3, 7, 9), (3, 4)), ((1, 2, 10, 10), 7),
                                        ((1, 2, 5, 6), (None, 4)), ((1, 1, 3, 2), (5, 3))])
def test_adaptive_avg_pool2d(xp, shape, out):
    x = np.random.default_rng(3).standard_normal(shape)
    out_hw = (out, out) if isinstance(out, int) else tuple(shape[2 + i] if o is None else o
                                                           for i, o in enumerate(out))
    got = adaptive_avg_pool2d(Tensor(xp.asarray(x)), out).numpy()
    np.testing.assert_allclose(got, naive_adaptive_avg_pool2d(x, out_hw), atol=1e-12)
    check_grad(lambda t: adaptive_avg_pool2d(t, out), xp.asarray(x))


def test_pool_errors_name_the_problem():
    x = Tensor(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="at most half"):
        max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        avg_pool2d(x, 5)
    with pytest.raises(ValueError, match="4-D"):
        max_pool2d(Tensor(np.zeros((4, 4), np.float32)), 2)
    with pytest.raises(ValueError, match="output_size"):
        adaptive_avg_pool2d(x, 0)
