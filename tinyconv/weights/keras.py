"""Keras 2 HDF5 weight files (VGG16/VGG19 from keras.applications) to tinyconv parameters.

Keras stores, per layer group, the attribute weight_names and datasets "<layer>/kernel:0" (HWIO
for convolutions, (in, out) for dense layers) and "<layer>/bias:0"; the root attribute
layer_names gives the order (under /model_weights in whole-model files). Keras' VGG weights came
from Caffe, so they expect BGR pixels in 0..255 minus the ImageNet mean: that preprocessing is
recorded. Partial files (only some blocks, such as the VGG19 blocks 1-3 file) convert to a model
cut after the last layer that can still be computed.

Transposes, explicitly: conv kernel (kH, kW, in, out) -> (out, in, kH, kW); dense kernel
(in, out) -> (out, in); the first dense layer after Keras' Flatten also reorders its inputs from
(H, W, C) to tinyconv's (C, H, W) flattening.
"""
import re
from dataclasses import replace

import numpy as np

from ..models import arch_spec
from ..models.preprocessing import CAFFE_VGG
from ..models.vgg import BLOCKS
from .format import open_h5, _text

DENSE_NAMES = {"fc1": "fc6", "fc2": "fc7", "predictions": "fc8"}
CONV_NAME = re.compile(r"block(\d)_conv(\d)$")


def read_keras_layers(path):
    """{keras layer name: [arrays in weight_names order]} in file order, layers without weights
    skipped. Raises ValueError when the file is not a Keras weight file."""
    with open_h5(path) as f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in root.attrs:
            raise ValueError(f"{path} is HDF5 but not a Keras weight file (no layer_names "
                             f"attribute)")
        layers = {}
        for name in (_text(n) for n in root.attrs["layer_names"]):
            group = root[name]
            weight_names = [_text(w) for w in group.attrs.get("weight_names", [])]
            if weight_names:
                try:
                    layers[name] = [np.asarray(group[w][()], dtype=np.float32)
                                    for w in weight_names]
                except (OSError, KeyError) as e:
                    raise ValueError(f"cannot read layer {name} of {path}: truncated or "
                                     f"corrupt file ({e})") from None
    return layers


def detect_vgg(names, path):
    """"vgg16" or "vgg19" from the conv layer names present (block sizes 3 vs 4)."""
    counts = {}
    for name in names:
        m = CONV_NAME.match(name)
        if m:
            block, index = int(m.group(1)), int(m.group(2))
            counts[block] = max(counts.get(block, 0), index)
    if not counts:
        raise ValueError(f"{path}: no blockN_convM layers; only Keras VGG16/VGG19 files are "
                         f"supported (pass --arch to force one)")
    for arch in ("vgg16", "vgg19"):
        if all(BLOCKS[arch][b - 1] == n for b, n in counts.items()):
            return arch
    raise ValueError(f"{path}: convolutions per block {counts} match neither vgg16 "
                     f"{BLOCKS['vgg16']} nor vgg19 {BLOCKS['vgg19']}; pass --arch")


def convert_keras(path, arch=None):
    """(architecture, {"<layer>.<param>": array}, Preprocessing, last_layer, num_classes)."""
    layers = read_keras_layers(path)
    arch = arch or detect_vgg(layers, path)
    spec = arch_spec(arch)
    row_names = [row.name for row in spec.rows]
    params = {}
    for keras_name, arrays in layers.items():
        m = CONV_NAME.match(keras_name)
        if m:
            name = f"conv{m.group(1)}_{m.group(2)}"
        elif keras_name in DENSE_NAMES:
            name = DENSE_NAMES[keras_name]
        else:
            raise ValueError(f"{path}: Keras layer {keras_name!r} has no counterpart in {arch}")
        if name not in row_names:
            raise ValueError(f"{path}: Keras layer {keras_name!r} ({name}) is not in {arch}")
        if len(arrays) != 2:
            raise ValueError(f"{path}: Keras layer {keras_name!r} has {len(arrays)} arrays; "
                             f"expected kernel and bias")
        kernel, bias = arrays
        params[f"{name}.weight"] = _to_tinyconv_kernel(name, kernel, path)
        params[f"{name}.bias"] = bias
    num_classes = params["fc8.bias"].shape[0] if "fc8.bias" in params else None
    last = _last_computable(spec.rows, params)
    preprocessing = CAFFE_VGG if last == row_names[-1] else replace(CAFFE_VGG, input_size=None,
                                                                    resize_size=None)
    return arch, params, preprocessing, (None if last == row_names[-1] else last), num_classes


def _to_tinyconv_kernel(name, kernel, path):
    if kernel.ndim == 4:
        return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))  # (kH, kW, in, out) -> OIHW
    if kernel.ndim != 2:
        raise ValueError(f"{path}: kernel of {name} has shape {kernel.shape}")
    weight = kernel.T  # (in, out) -> (out, in)
    if name == "fc6":
        # Keras flattened pool5 as (7, 7, 512); tinyconv flattens (512, 7, 7)
        out = weight.shape[0]
        side = int(round((weight.shape[1] / 512) ** 0.5))
        weight = weight.reshape(out, side, side, 512).transpose(0, 3, 1, 2).reshape(out, -1)
    return np.ascontiguousarray(weight)


def _last_computable(rows, params):
    """Name of the last row before the first row whose parameters are missing."""
    last = None
    for row in rows:
        if any(f"{row.name}.{k}" not in params for k in row.param_shapes()):
            break
        last = row.name
    if last is None:
        raise ValueError("the file has no weights for the first layer")
    return last
