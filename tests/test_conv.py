"""conv2d and conv_transpose2d: forward against explicit loops, backward against check_grad.

Every case runs through the generic im2col kernels and through each strategy of the fast CPU
kernels, so every path is held to the same references.
"""
import numpy as np
import pytest

import tinyconv

from tinyconv import Tensor, ops
from tinyconv.kernels import algorithms as conv_algorithms, im2col
from tinyconv.kernels.cpu import conv as conv_cpu, parallel as cpu_parallel
from tinyconv.ops import conv, conv2d, conv_transpose2d
from tinyconv.ops.math import channel_sums
from tinyconv.engine.testing import check_grad


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def naive_conv2d(x, w, b, stride, padding, dilation, groups):
    """Cross-correlation by explicit loops over output positions (numpy, float64)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    y = np.zeros((n, o, oh, ow))
    for ni in range(n):
        for oi in range(o):
            g = oi // og
            for yi in range(oh):
                for xi in range(ow):
                    window = xpad[ni, g * cg:(g + 1) * cg,
                                  yi * sh:yi * sh + dh * (kh - 1) + 1:dh,
                                  xi * sw:xi * sw + dw * (kw - 1) + 1:dw]
                    y[ni, oi, yi, xi] = (window * w[oi]).sum() + (0 if b is None else b[oi])
    return y


def naive_conv_transpose2d(x, w, b, stride, padding, output_padding, dilation, groups):
    """Transposed convolution by scattering every input pixel times the kernel (numpy)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    oph, opw = _pair(output_padding)
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = c // groups
    full = np.zeros((n, og * groups, (h - 1) * sh + dh * (kh - 1) + 1 + oph,
                     (wd - 1) * sw + dw * (kw - 1) + 1 + opw))
    for ni in range(n):
        for ci in range(c):
            g = ci // cg
            for yi in range(h):
                for xi in range(wd):
                    full[ni, g * og:(g + 1) * og,
                         yi * sh:yi * sh + dh * (kh - 1) + 1:dh,
                         xi * sw:xi * sw + dw * (kw - 1) + 1:dw] += x[ni, ci, yi, xi] * w[ci]
    y = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


# (N, C, H, W), (O, kh, kw), stride, padding, dilation, groups
CONV_CASES = [
    ((1, 3, 6, 6), (4, 3, 3), 1, 1, 1, 1),           # the VGG layer shape
    ((2, 4, 7, 5), (6, 3, 3), 1, 1, 1, 1),           # batch, odd sizes
    ((2, 4, 7, 9), (6, 3, 3), 2, 1, 1, 2),           # stride, groups
    ((1, 3, 8, 7), (4, 3, 2), (1, 2), (1, 0), 1, 1),  # non-square kernel, stride, padding
    ((2, 2, 9, 8), (3, 3, 3), 1, 2, 2, 1),           # dilation
    ((1, 4, 6, 7), (4, 3, 3), 1, 1, 1, 4),           # depthwise
    ((2, 3, 5, 6), (5, 1, 1), 1, 0, 1, 1),           # 1x1
    ((1, 2, 11, 10), (3, 5, 5), 3, 2, 1, 1),         # AlexNet-like large kernel and stride
    ((2, 3, 4, 5), (2, 2, 3), 1, (0, 2), (1, 2), 1),  # uneven padding and dilation
    ((2, 3, 7, 6), (4, 3, 3), 1, 0, 1, 1),           # no padding, odd output (Winograd tiles)
    ((1, 2, 5, 8), (3, 3, 3), 1, (2, 0), 1, 1),       # padding 2 and 0
    ((3, 5, 6, 5), (4, 7, 7), 1, 3, 1, 1),           # 7x7 on a small image, three images
]


CPU_STRATEGIES = {  # thresholds that force one strategy of conv_cpu wherever it can run (and
    # its own backward kernels even for the few-channel inputs of these small cases)
    "cpu_winograd4": dict(WINOGRAD_MIN_CHANNELS={4: 1, 2: 1},
                          WINOGRAD_MIN_OUT_CHANNELS={4: 1, 2: 1},
                          WINOGRAD_MIN_TILES_PER_CHANNEL={4: 0, 2: 0},
                          GENERIC_BACKWARD_MAX_CHANNELS=0),
    "cpu_winograd2": dict(WINOGRAD_MIN_CHANNELS={4: 1, 2: 1},
                          WINOGRAD_MIN_OUT_CHANNELS={4: 1, 2: 1},
                          WINOGRAD_MIN_TILES_PER_CHANNEL={4: float("inf"), 2: 0},
                          GENERIC_BACKWARD_MAX_CHANNELS=0),
    "cpu_shifted": dict(WINOGRAD_MIN_CHANNELS={4: 10 ** 9, 2: 10 ** 9}, SHIFTED_MIN_CHANNELS=1,
                        SHIFTED_MIN_ROWS_PER_CHANNEL=0, GENERIC_BACKWARD_MAX_CHANNELS=0),
    "cpu_im2col": dict(WINOGRAD_MIN_CHANNELS={4: 10 ** 9, 2: 10 ** 9},
                       SHIFTED_MIN_CHANNELS=10 ** 9, GENERIC_BACKWARD_MAX_CHANNELS=0),
    # the defaults: few-channel backward passes through the generic NCHW kernels
    "cpu_im2col_generic_backward": dict(WINOGRAD_MIN_CHANNELS={4: 10 ** 9, 2: 10 ** 9},
                                        SHIFTED_MIN_CHANNELS=10 ** 9),
    # batches over two threads, one image per chunk (several chunks per part with 3 images):
    # im2col forward, input gradient as the flipped convolution, per-part weight-gradient sums
    "cpu_im2col_batched": dict(WINOGRAD_MIN_CHANNELS={4: 10 ** 9, 2: 10 ** 9},
                               SHIFTED_MIN_CHANNELS=10 ** 9, GENERIC_BACKWARD_MAX_CHANNELS=0,
                               IM2COL_CHUNK_BYTES=1),
    # the same with kernel-row runs (_RowRuns) for every stride-1 layer of a batch
    "cpu_rows_batched": dict(WINOGRAD_MIN_CHANNELS={4: 10 ** 9, 2: 10 ** 9},
                             SHIFTED_MIN_CHANNELS=10 ** 9, GENERIC_BACKWARD_MAX_CHANNELS=0,
                             IM2COL_CHUNK_BYTES=1, ROW_GEMM_MIN_PIXELS=1,
                             ROW_GEMM_MIN_MULTIPLY_ADDS=0),
    "cpu_shifted_batched": dict(WINOGRAD_MIN_CHANNELS={4: 10 ** 9, 2: 10 ** 9},
                                SHIFTED_MIN_CHANNELS=1, SHIFTED_MIN_ROWS_PER_CHANNEL=0,
                                GENERIC_BACKWARD_MAX_CHANNELS=0, IM2COL_CHUNK_BYTES=1),
}
BATCHED = dict(WORKERS=2, MIN_ELEMENTS_PER_PART=1)  # cpu/parallel.py: every batch in two parts


@pytest.fixture(params=["generic", *CPU_STRATEGIES])
def kernels(request, monkeypatch, xp):
    """Which kernels conv2d uses: the generic im2col ones (any device), or on numpy the fast CPU
    kernels with one strategy (Winograd F(4x4) or F(2x2), shifted GEMMs, im2col) forced wherever
    it applies."""
    if request.param == "generic":
        monkeypatch.setattr(conv, "select_kernels", lambda x, geom: im2col)
    elif xp is not np:
        pytest.skip("the CPU kernels take numpy arrays only")
    else:
        for name, value in CPU_STRATEGIES[request.param].items():
            monkeypatch.setattr(conv_cpu, name, value)
        if request.param.endswith("_batched"):
            for name, value in BATCHED.items():
                monkeypatch.setattr(cpu_parallel, name, value)
            if request.param == "cpu_shifted_batched":  # shifted although batched
                monkeypatch.setattr(conv_cpu, "strategy", lambda geom: "shifted"
                                    if "shifted" in conv_cpu.strategies(geom) else "im2col")
    return request.param


def _case_arrays(xp, case, rng, dtype=np.float64):
    x_shape, (o, kh, kw), stride, padding, dilation, groups = case
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((o, x_shape[1] // groups, kh, kw))
    b = rng.standard_normal(o)
    to = lambda a: xp.asarray(a.astype(dtype))  # noqa: E731
    return x, w, b, to(x), to(w), to(b), dict(stride=stride, padding=padding, dilation=dilation,
                                               groups=groups)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_matches_loops(xp, kernels, case):
    rng = np.random.default_rng(0)
    x, w, b, xa, wa, ba, params = _case_arrays(xp, case, rng)
    expected = naive_conv2d(x, w, b, **params)
    got = conv2d(Tensor(xa), Tensor(wa), Tensor(ba), **params).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    got_no_bias = conv2d(Tensor(xa), Tensor(wa), **params).numpy()
    np.testing.assert_allclose(got_no_bias, naive_conv2d(x, w, None, **params), atol=1e-10)


@pytest.mark.parametrize("case", CONV_CASES[:4])
def test_conv2d_float32_forward(xp, kernels, case):
    rng = np.random.default_rng(1)
    x, w, b, xa, wa, ba, params = _case_arrays(xp, case, rng, np.float32)
    got = conv2d(Tensor(xa), Tensor(wa), Tensor(ba), **params)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), naive_conv2d(x, w, b, **params), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_gradients(xp, kernels, case):
    rng = np.random.default_rng(2)
    _, _, _, xa, wa, ba, params = _case_arrays(xp, case, rng)
    check_grad(lambda x, w, b: conv2d(x, w, b, **params), xa, wa, ba)


def test_conv2d_channels_last_input_gives_same_result(xp, kernels):
    rng = np.random.default_rng(3)
    x = xp.asarray(rng.standard_normal((2, 5, 6, 7)))
    w = xp.asarray(rng.standard_normal((3, 5, 3, 3)))
    x_last = xp.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    a = conv2d(Tensor(x), Tensor(w), padding=1).numpy()
    np.testing.assert_allclose(conv2d(Tensor(x_last), Tensor(w), padding=1).numpy(), a,
                               atol=1e-12)


def test_conv2d_skips_weight_gradient_when_frozen(xp, kernels):
    rng = np.random.default_rng(4)
    x = Tensor(xp.asarray(rng.standard_normal((1, 2, 5, 5))), requires_grad=True)
    w = Tensor(xp.asarray(rng.standard_normal((3, 2, 3, 3))))
    conv2d(x, w, padding=1).sum().backward()
    assert x.grad is not None and w.grad is None


# (N, C, H, W), (O, kh, kw), stride, padding, output_padding, dilation, groups
TRANSPOSE_CASES = [
    ((1, 3, 4, 4), (2, 3, 3), 1, 1, 0, 1, 1),
    ((2, 4, 3, 5), (4, 3, 3), 2, 1, 1, 1, 2),
    ((1, 2, 4, 3), (3, 4, 2), (2, 1), (1, 0), (1, 0), 1, 1),
    ((2, 2, 3, 3), (2, 3, 3), 1, 0, 0, 2, 1),
    ((1, 3, 5, 4), (3, 2, 2), 2, 0, 0, 1, 1),       # the usual 2x upsampling
]


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose2d_matches_loops_and_gradients(xp, kernels, case):
    x_shape, (o, kh, kw), stride, padding, output_padding, dilation, groups = case
    rng = np.random.default_rng(5)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((x_shape[1], o // groups, kh, kw))
    b = rng.standard_normal(o)
    params = dict(stride=stride, padding=padding, output_padding=output_padding,
                  dilation=dilation, groups=groups)
    got = conv_transpose2d(Tensor(xp.asarray(x)), Tensor(xp.asarray(w)), Tensor(xp.asarray(b)),
                           **params).numpy()
    np.testing.assert_allclose(got, naive_conv_transpose2d(x, w, b, **params), atol=1e-10)
    check_grad(lambda x, w, b: conv_transpose2d(x, w, b, **params), xp.asarray(x), xp.asarray(w),
               xp.asarray(b))


def test_conv2d_errors_name_the_problem():
    x = Tensor(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="channels") as e:
        conv2d(x, Tensor(np.zeros((4, 5, 3, 3), np.float32)))
    assert "(1, 3, 8, 8)" in str(e.value) and "(4, 5, 3, 3)" in str(e.value)
    with pytest.raises(ValueError, match="4-D"):
        conv2d(Tensor(np.zeros((3, 8, 8), np.float32)), Tensor(np.zeros((4, 3, 3, 3), np.float32)))
    with pytest.raises(ValueError, match="groups=2 must divide"):
        conv2d(x, Tensor(np.zeros((4, 1, 3, 3), np.float32)), groups=2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(x, Tensor(np.zeros((4, 3, 11, 11), np.float32)), padding=1)
    with pytest.raises(ValueError, match="bias shape"):
        conv2d(x, Tensor(np.zeros((4, 3, 3, 3), np.float32)), Tensor(np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose2d(x, Tensor(np.zeros((3, 2, 3, 3), np.float32)), output_padding=1)


def test_dispatch_picks_the_cpu_kernels_for_numpy_and_returns_channels_last():
    x = np.zeros((1, 16, 24, 24), np.float32)
    assert conv.select_kernels(x, conv.conv_geometry(x.shape, (4, 16, 3, 3), 1, 1, 1, 1)) \
        is conv_algorithms.ALGORITHMS["cpu_shifted"]
    assert conv.select_kernels(x, conv.conv_geometry(x.shape, (4, 8, 3, 3), 1, 1, 1, 2)) is im2col
    y = conv2d(Tensor(x), Tensor(np.zeros((4, 16, 3, 3), np.float32)), padding=1)
    assert y.shape == (1, 4, 24, 24) and y.data.strides[1] == 4  # (N, H, W, C) in memory


@pytest.mark.parametrize("x_shape, w_shape, expected", [
    ((1, 3, 224, 224), (64, 3, 3, 3), "cpu_im2col"),     # an image
    ((1, 64, 224, 224), (64, 64, 3, 3), "cpu_shifted"),
    ((1, 256, 56, 56), (256, 256, 3, 3), "cpu_winograd4"),
    ((1, 128, 112, 112), (128, 128, 3, 3), "cpu_winograd4"),  # BLAS transforms: from 128 out
    ((1, 128, 256, 256), (128, 128, 3, 3), "cpu_shifted"),    # chunked transforms: no F(4x4)
    ((1, 512, 28, 28), (512, 512, 3, 3), "cpu_winograd2"),  # 49 tiles: F(4x4) weights cost
    ((1, 256, 128, 128), (256, 256, 3, 3), "cpu_winograd2"),  # chunked transforms: F(2x2)
])
def test_heuristic_per_layer(x_shape, w_shape, expected):
    x = np.zeros(x_shape, np.float32)
    if x_shape[1] > 3:  # as the CPU layers hand activations on
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    geom = conv.conv_geometry(x_shape, w_shape, 1, 1, 1, 1)
    assert conv_algorithms.heuristic(x, geom) is conv_algorithms.ALGORITHMS[expected]


@pytest.mark.parametrize("gemm_transforms", [True, False])
@pytest.mark.parametrize("m", [2, 4])
def test_winograd_float32_error_at_network_size(m, gemm_transforms, monkeypatch):
    """float32 Winograd on a VGG-like layer (64 channels, He weights) against float64 loops:
    F(2x2) stays at the direct method's level, F(4x4) within 5e-5 of the largest output; with
    the transforms as BLAS products over gathered tiles and as chunked ufuncs."""
    from tinyconv.kernels.cpu import winograd as winograd_cpu
    monkeypatch.setattr(winograd_cpu, "GEMM_TRANSFORM_MAX_ELEMENTS",
                        2 ** 30 if gemm_transforms else 0)
    rng = np.random.default_rng(4)
    x = np.maximum(rng.standard_normal((1, 64, 13, 14)), 0)
    w = rng.standard_normal((32, 64, 3, 3)) * np.sqrt(2 / (9 * 64))
    tile = winograd_cpu.TILES[m]
    u = winograd_cpu.transform_weights(w.astype(np.float32), tile).transpose(0, 2, 1)
    got = winograd_cpu.conv3x3(x.astype(np.float32), u, (1, 1), 32, tile)
    expected = naive_conv2d(x, w, None, stride=1, padding=1, dilation=1, groups=1)
    error = np.abs(got - expected).max() / np.abs(expected).max()
    assert error < {2: 2e-6, 4: 5e-5}[m]


@pytest.mark.parametrize("m", [2, 4])
def test_winograd_weights_of_the_flipped_kernel(m):
    """The input gradient's transformed weights (kernel rotated 180 degrees): for F(2x2) rows of
    the forward's transform, for F(4x4) a transform of its own; both equal the direct one."""
    from tinyconv.kernels.cpu import winograd as winograd_cpu
    rng = np.random.default_rng(6)
    w = rng.standard_normal((5, 7, 3, 3))
    tile = winograd_cpu.TILES[m]
    u = winograd_cpu.transform_weights(w, tile)
    flipped = np.stack(winograd_cpu.flipped_weights(u, w, tile))
    direct = winograd_cpu.transform_weights(np.ascontiguousarray(w[:, :, ::-1, ::-1]), tile)
    np.testing.assert_allclose(flipped, direct, rtol=1e-12, atol=1e-12)
    assert (winograd_cpu.FLIPPED_ROWS[m] is None) == (m == 4)


@pytest.mark.parametrize("shape, expected", [
    ((1, 256, 128, 128, 256), "winograd2"),   # VGG19 conv3 at 512x512
    ((8, 256, 56, 56, 256), "winograd4"),     # VGG16 conv3 at batch 8: chunked, wide calls
    ((1, 512, 32, 32, 512), "winograd2"),     # too few 4x4 tiles for F(4x4)'s weight transform
    ((1, 64, 224, 224, 64), "shifted"),       # thin layer
    ((1, 3, 224, 224, 64), "im2col"),         # first layer
    ((1, 512, 14, 14, 512), "im2col"),        # VGG conv5: fewer pixels than output channels
    ((128, 128, 16, 16, 128), "im2col"),      # a CIFAR batch: chunked im2col, not shifted
    ((128, 256, 8, 8, 256), "im2col"),        # a CIFAR batch: chunked im2col, not Winograd
    ((8, 64, 224, 224, 64), "shifted"),       # a batch whose image's columns outgrow the cache
])
def test_cpu_strategy_per_layer(shape, expected, monkeypatch):
    monkeypatch.setattr(cpu_parallel, "WORKERS", 2)  # the rules of a two-core machine
    n, c, h, w, o = shape
    geom = conv.conv_geometry((n, c, h, w), (o, c, 3, 3), 1, 1, 1, 1)
    assert conv_cpu.strategy(geom) == expected


@pytest.mark.parametrize("shape, expected", [
    ((1, 512, 7, 7, 2048, 1), "shifted"),     # ResNet-50 layer4 conv3: 1x1, 49 rows, 2048 out
    ((1, 1024, 14, 14, 256, 1), "shifted"),   # ResNet-50 layer3 conv1
    ((1, 256, 56, 56, 64, 1), "shifted"),     # ResNet-50 layer1 conv1
    ((1, 320, 7, 7, 1280, 1), "shifted"),     # MobileNetV2's last 1x1
    ((1, 8, 56, 56, 64, 1), "im2col"),        # too few input channels for shifted GEMMs
    ((8, 256, 14, 14, 1024, 1), "im2col"),    # a batch: chunked im2col
    ((1, 128, 28, 28, 128, 3), "winograd4"),  # ResNet-50 layer2 conv2: F(4x4), BLAS transforms
    ((1, 256, 14, 14, 256, 3), "shifted"),    # ResNet-50 layer3 conv2: 14x14, no Winograd
    ((1, 512, 7, 7, 512, 3), "im2col"),       # ResNet-50 layer4 conv2: fewer pixels than outputs
])
def test_cpu_strategy_of_resnet_layers(shape, expected, monkeypatch):
    """A 1x1 kernel's taps are the weight itself, so shifted GEMMs take 1x1 layers at any size."""
    monkeypatch.setattr(cpu_parallel, "WORKERS", 2)
    n, c, h, w, o, k = shape
    geom = conv.conv_geometry((n, c, h, w), (o, c, k, k), 1, k // 2, 1, 1)
    assert conv_cpu.strategy(geom) == expected


def test_one_by_one_taps_are_the_weight_itself():
    w = np.random.default_rng(0).standard_normal((6, 5, 1, 1)).astype(np.float32)
    taps = conv_cpu.taps_first(w)
    assert taps.shape == (1, 6, 5) and np.shares_memory(taps, w)
    np.testing.assert_array_equal(taps[0], w[:, :, 0, 0])


@pytest.mark.parametrize("gemm_transforms", [True, False])
def test_every_algorithm_by_name_gives_the_same_convolution_and_gradient(gemm_transforms,
                                                                        monkeypatch):
    from tinyconv.kernels.cpu import winograd as winograd_cpu
    monkeypatch.setattr(winograd_cpu, "GEMM_TRANSFORM_MAX_ELEMENTS",
                        2 ** 30 if gemm_transforms else 0)
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 6, 9, 8)), rng.standard_normal((5, 6, 3, 3))
    b = rng.standard_normal(5)
    expected = naive_conv2d(x, w, b, stride=1, padding=1, dilation=1, groups=1)
    geom = conv.conv_geometry(x.shape, w.shape, 1, 1, 1, 1)
    assert conv_algorithms.available(x, geom) == ["im2col", "cpu_im2col", "cpu_shifted",
                                                  "cpu_winograd2", "cpu_winograd4"]
    gradients = []
    for name in conv_algorithms.available(x, geom):
        with conv_algorithms.algorithm(name):
            assert conv.select_kernels(x, geom) is conv_algorithms.ALGORITHMS[name]
            xt = Tensor(x, requires_grad=True)
            y = conv2d(xt, Tensor(w), Tensor(b), padding=1)
            (y * y).sum().backward()
        np.testing.assert_allclose(y.numpy(), expected, atol=1e-10)
        gradients.append(xt.grad)
    for grad in gradients[1:]:
        np.testing.assert_allclose(grad, gradients[0], atol=1e-9)


@pytest.mark.parametrize("padding", [1, 0])
def test_conv_then_relu_gradients_with_every_algorithm(xp, padding):
    """conv -> ReLU, the pair every network repeats: input, weight and bias gradients against
    numerical ones with each algorithm, frozen weights (input gradient only) and trainable."""
    rng = np.random.default_rng(6)
    x = xp.asarray(rng.standard_normal((2, 4, 9, 8)))
    w, b = rng.standard_normal((5, 4, 3, 3)), rng.standard_normal(5)
    geom = conv.conv_geometry(x.shape, w.shape, 1, padding, 1, 1)
    for name in conv_algorithms.available(x, geom):
        with conv_algorithms.algorithm(name):
            check_grad(lambda t: ops.relu(conv2d(t, Tensor(xp.asarray(w)), padding=padding)), x)
            check_grad(lambda t, wt, bt: ops.relu(conv2d(t, wt, bt, padding=padding)), x,
                       xp.asarray(w), xp.asarray(b))


def test_overrides_of_relu_still_apply_after_a_convolution():
    """guided backprop through conv -> ReLU -> conv equals the hand-masked backward."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 3, 8, 8))
    w1, w2 = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((2, 4, 3, 3))
    xt = Tensor(x, requires_grad=True)
    h = ops.relu(conv2d(xt, Tensor(w1), padding=1))
    seed = rng.standard_normal((1, 2, 8, 8))
    with tinyconv.override({"relu": tinyconv.hooks.guided_relu}):
        conv2d(h, Tensor(w2), padding=1).backward(seed)
    # by hand: the gradient at h, masked by (h > 0) and (gradient > 0), through conv1
    dh = conv_transpose2d(Tensor(seed), Tensor(w2), padding=1).numpy()
    masked = dh * ((h.numpy() > 0) & (dh > 0))
    expected = conv_transpose2d(Tensor(masked), Tensor(w1), padding=1).numpy()
    np.testing.assert_allclose(xt.grad, expected, rtol=1e-10, atol=1e-12)


def test_named_algorithm_falls_back_where_it_cannot_run_and_choice_is_restored():
    x = np.zeros((1, 4, 9, 9), np.float32)
    strided = conv.conv_geometry(x.shape, (2, 4, 3, 3), 2, 1, 1, 1)
    before = conv_algorithms.current()
    with pytest.raises(RuntimeError):
        with conv_algorithms.algorithm("cpu_winograd4"):
            # Winograd cannot take stride 2: the rule-of-thumb kernels run instead
            assert conv.select_kernels(x, strided) is conv_algorithms.heuristic(x, strided)
            raise RuntimeError("leave the block")
    assert conv_algorithms.current() == before
    with pytest.raises(ValueError, match="cpu_winograd4"):
        conv_algorithms.set_algorithm("winograd")


def test_autotune_times_each_algorithm_once_per_shape_and_uses_the_fastest(monkeypatch):
    calls = []

    def fake_time(names, x, w, dout, geom):
        calls.extend(names)
        return {name: {"cpu_shifted": 1.0}.get(name, 2.0) for name in names}
    monkeypatch.setattr(conv_algorithms, "time_algorithms", fake_time)
    monkeypatch.setattr(conv_algorithms, "_tuned", {})
    x = np.random.default_rng(6).standard_normal((1, 4, 6, 6))
    w = np.random.default_rng(7).standard_normal((3, 4, 3, 3))
    with conv_algorithms.algorithm("autotune"):
        y1 = conv2d(Tensor(x), Tensor(w), padding=1)
        y2 = conv2d(Tensor(x), Tensor(w), padding=1)
    assert sorted(calls) == sorted(["cpu_im2col", "cpu_shifted", "cpu_winograd2",
                                    "cpu_winograd4"])  # timed once, not twice
    (times,) = conv_algorithms.tuned().values()
    assert min(times, key=times.get) == "cpu_shifted"
    np.testing.assert_allclose(y1.numpy(), naive_conv2d(x, w, None, 1, 1, 1, 1), atol=1e-10)
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())


def test_autotune_really_times_the_algorithms(monkeypatch):
    monkeypatch.setattr(conv_algorithms, "_tuned", {})
    x = np.zeros((1, 8, 10, 10), np.float32)
    geom = conv.conv_geometry(x.shape, (8, 8, 3, 3), 1, 1, 1, 1)
    name = conv_algorithms.autotune(x, geom)
    (times,) = conv_algorithms.tuned().values()
    assert set(times) == set(conv_algorithms.available(x, geom)) - {"im2col"} and name in times
    assert all(0 < t < 10 for t in times.values())


def test_autotune_times_the_algorithms_in_turns(monkeypatch):
    order = []

    class Recording:  # kernels that only note when they run
        def __init__(self, name):
            self.name = name

        def prepare_weight(self, w, geom):
            order.append(self.name)

        def conv_forward(self, x, wk, geom):
            pass

        def conv_backward_input(self, dout, wk, geom):
            pass
    monkeypatch.setattr(conv_algorithms, "ALGORITHMS", {"a": Recording("a"), "b": Recording("b")})
    x = np.zeros((1, 1, 1, 1))
    times = conv_algorithms.time_algorithms(["a", "b"], x, None, None, None, rounds=3)
    assert order == ["a", "b"] * 4  # one untimed run each, then three timed rounds
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())


def test_autotune_skips_im2col_whose_columns_would_be_huge():
    x = np.zeros((1, 1, 1, 1), np.float32)  # gives the device and dtype only
    big = conv.conv_geometry((1, 64, 512, 512), (64, 64, 3, 3), 1, 1, 1, 1)   # 604 MB columns
    small = conv.conv_geometry((1, 64, 32, 32), (64, 64, 3, 3), 1, 1, 1, 1)
    assert conv_algorithms._tuning_candidates(x, big) == ["cpu_shifted", "cpu_winograd2",
                                                          "cpu_winograd4"]
    assert "cpu_im2col" in conv_algorithms._tuning_candidates(x, small)


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (4, 16, 8, 8), (3, 20, 16, 16)])
def test_channel_sums_match_numpy_for_both_layouts(shape):
    rng = np.random.default_rng(6)
    a = rng.standard_normal(shape)
    expected = a.sum(axis=(0, 2, 3))
    last = np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(channel_sums(last), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(channel_sums(a), expected, rtol=1e-12, atol=1e-12)
    a32 = last.astype(np.float32)  # float32: within the bound of any summation order
    exact = a32.astype(np.float64).sum(axis=(0, 2, 3))
    count = a.size // a.shape[1]
    bound = count * np.finfo(np.float32).eps * np.abs(a32).astype(np.float64).sum(axis=(0, 2, 3))
    assert np.all(np.abs(channel_sums(a32) - exact) <= bound)
