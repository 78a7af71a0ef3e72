"""The real weights in ../shared/assets: Keras VGG19 blocks 1-3 against a naive float64
reference, an ml5 fast-style network against a naive float64 TensorFlow-semantics reference
computed from the raw checkpoint files, and a stylization that carries the style."""
import json

import h5py
import numpy as np

import tinyconv
from tinyconv import image
from tinyconv.methods.grids import filter_grid
from tinyconv.weights import convert, write_weights

VGG19_KERAS = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_blocks1-3.h5"


def naive_conv(x, kernel, bias=None, stride=1, pads=(0, 0, 0, 0)):
    """Cross-correlation of x (C, H, W) with a TensorFlow kernel (kH, kW, C, F), explicit loops
    over kernel taps, zero padding (top, bottom, left, right). Returns (F, H', W')."""
    top, bottom, left, right = pads
    x = np.pad(x, ((0, 0), (top, bottom), (left, right)))
    kh, kw, _, f = kernel.shape
    out_h = (x.shape[1] - kh) // stride + 1
    out_w = (x.shape[2] - kw) // stride + 1
    out = np.zeros((f, out_h, out_w))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride]
            out += np.einsum("chw,cf->fhw", patch, kernel[i, j])
    return out if bias is None else out + bias[:, None, None]


def naive_max_pool2(x):
    c, h, w = x.shape
    return x[:, :h // 2 * 2, :w // 2 * 2].reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))


def test_keras_vgg19_relu3_1_matches_naive_float64(assets, tmp_path):
    source = assets / "weights" / VGG19_KERAS
    wf = convert(source)
    assert (wf.architecture, wf.last_layer) == ("vgg19", "pool3")
    model = tinyconv.load_model(write_weights(tmp_path / "vgg19.h5", wf))
    assert model.layer_names[-1] == "pool3" and model.preprocessing.colour_order == "BGR"

    picture = image.load_image(assets / "images" / "content" / "dog.png", size=(28, 30))
    x = model.preprocess(picture)                      # (1, 3, 28, 30) BGR, mean subtracted
    ours = model.forward(x, layers=["relu3_1"])["relu3_1"].numpy()[0]

    with h5py.File(source, "r") as f:                 # the raw HWIO kernels, float64 below
        keras = {name: [f[name][w][()] for w in f[name].attrs["weight_names"]]
                 for name in f.attrs["layer_names"].astype(str)}
    a = x.numpy()[0].astype(np.float64)
    for block, convs in ((1, 2), (2, 2), (3, 1)):
        for i in range(1, convs + 1):
            kernel, bias = (v.astype(np.float64) for v in keras[f"block{block}_conv{i}"])
            a = np.maximum(naive_conv(a, kernel, bias, pads=(1, 1, 1, 1)), 0)
        if block < 3:
            a = naive_max_pool2(a)
    assert ours.shape == a.shape == (256, 7, 7)
    assert np.abs(ours - a).max() / np.abs(a).max() < 1e-4


def test_keras_vgg19_conv1_1_filters_render_in_colour(assets):
    model = tinyconv.load_model(assets / "weights" / VGG19_KERAS)
    weights = model.params["conv1_1.weight"].numpy()[:, ::-1]  # the Keras/Caffe BGR -> RGB
    assert model.preprocessing.colour_order == "BGR"
    grid = filter_grid(weights, zoom=4)
    assert grid.shape == (8 * 12 + 7, 8 * 12 + 7, 3) and grid.dtype == np.uint8
    tiles = grid.astype(float)
    chroma = np.abs(tiles - tiles.mean(axis=2, keepdims=True)).mean()
    assert chroma > 10  # coloured, not grey: the first layer responds to colour blobs


def _tf_same(size, kernel, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _tf_conv_same(x, kernel, stride):
    pads = _tf_same(x.shape[1], kernel.shape[0], stride) + _tf_same(x.shape[2], kernel.shape[1],
                                                                     stride)
    return naive_conv(x, kernel, stride=stride, pads=pads)


def _tf_conv_transpose_same(x, kernel, stride):
    """tf.nn.conv2d_transpose(padding='SAME') of x (C, H, W), kernel (kH, kW, F, C): every
    input pixel scatters kernel-weighted copies onto the stride-spaced output grid."""
    c, h, w = x.shape
    kh, kw, f, _ = kernel.shape
    full = np.zeros((f, (h - 1) * stride + kh, (w - 1) * stride + kw))
    for i in range(kh):
        for j in range(kw):
            full[:, i:i + stride * h:stride, j:j + stride * w:stride] += \
                np.einsum("chw,fc->fhw", x, kernel[i, j])
    top = _tf_same(h * stride, kh, stride)[0]
    left = _tf_same(w * stride, kw, stride)[0]
    return full[:, top:top + h * stride, left:left + w * stride]


def _instance_norm(x, scale, shift):
    mu = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    return scale[:, None, None] * (x - mu) / np.sqrt(var + 1e-3) + shift[:, None, None]


def engstrom_reference(folder, picture):
    """lengstrom/fast-style-transfer's net(), in float64 numpy, straight from the checkpoint."""
    manifest = json.loads((folder / "manifest.json").read_text())
    variables = iter(
        np.fromfile(folder / manifest[n]["filename"], "<f4").reshape(manifest[n]["shape"])
        .astype(np.float64)
        for n in ["Variable"] + [f"Variable_{i}" for i in range(1, 48)])

    def layer(a, stride, relu=True, transpose=False):
        kernel, shift, scale = next(variables), next(variables), next(variables)
        a = (_tf_conv_transpose_same if transpose else _tf_conv_same)(a, kernel, stride)
        a = _instance_norm(a, scale, shift)
        return np.maximum(a, 0) if relu else a

    a = picture.transpose(2, 0, 1).astype(np.float64)
    a = layer(layer(layer(a, 1), 2), 2)
    for _ in range(5):
        a = a + layer(layer(a, 1), 1, relu=False)
    a = layer(layer(a, 2, transpose=True), 2, transpose=True)
    return np.tanh(layer(a, 1, relu=False)) * 150 + 255.0 / 2


def test_ml5_network_matches_naive_tensorflow_reference(assets):
    folder = assets / "weights" / "fast_style_ml5" / "udnie"
    model = tinyconv.load_model(folder)
    picture = image.load_image(assets / "images" / "content" / "chicago.jpg", size=(18, 22))
    ours = model(model.preprocess(picture)).numpy()[0]
    ref = engstrom_reference(folder, picture)
    assert ours.shape == ref.shape == (3, 20, 24)  # 18 -> 9 -> 5 -> 10 -> 20: TF's SAME sizes
    assert np.abs(ours - ref).max() < 0.01  # output in 0..255; float32 against float64


def _colour_histogram_distance(a, b, bins=8):
    def hist(img):
        q = (img // (256 // bins)).reshape(-1, 3)
        h = np.zeros((bins,) * 3)
        np.add.at(h, tuple(q.T), 1)
        return h.ravel() / len(q)
    return 0.5 * np.abs(hist(a) - hist(b)).sum()


def test_ml5_wave_stylizes_chicago(assets):
    model = tinyconv.load_model(assets / "weights" / "fast_style_ml5" / "wave")
    content = image.load_image(assets / "images" / "content" / "chicago.jpg", size=128)
    styled = model.deprocess(model(model.preprocess(content)))[0]
    assert styled.shape == content.shape and styled.dtype == np.uint8
    painting = image.load_image(assets / "images" / "styles" / "wave.jpg", size=128)
    # its colours move most of the way to the painting's ...
    before = _colour_histogram_distance(content, painting)
    after = _colour_histogram_distance(styled, painting)
    assert after < 0.6 * before, (after, before)
    # ... while the city's layout stays
    corr = np.corrcoef(styled.mean(-1).ravel(), content.mean(-1).ravel())[0, 1]
    assert corr > 0.6
