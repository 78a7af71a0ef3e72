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

The file is read through tinyconv.weights.hdf5 (only its own bytes; no links or outside storage),
and every declared shape is compared with the architecture's, in Keras' layout, before any array
is read.
"""
import re
from dataclasses import replace

import h5py
import numpy as np

from ..models import arch_spec
from ..models.preprocessing import CAFFE_VGG
from ..models.vgg import BLOCKS
from .format import expected_shapes
from .hdf5 import BadWeightFile, attr_texts, open_h5, read_dataset

DENSE_NAMES = {"fc1": "fc6", "fc2": "fc7", "predictions": "fc8"}
CONV_NAME = re.compile(r"block(\d)_conv(\d)$")
MAX_LAYERS = 10_000      # layer_names of one file; a whole Keras VGG16 model lists 23
MAX_WEIGHTS = 16         # weight_names of one layer; a convolution has 2


def keras_datasets(f, path):
    """{keras layer name: [h5py datasets in weight_names order]} in file order, layers without
    weights skipped, nothing read yet. Raises BadWeightFile when the file is not a Keras weight
    file or names groups or datasets it does not hold."""
    root = f.get("model_weights", f)
    if not isinstance(root, h5py.Group) or "layer_names" not in root.attrs:
        raise BadWeightFile(f"{path} is HDF5 but not a Keras weight file (no layer_names "
                            f"attribute)")
    layers = {}
    for name in attr_texts(root, "layer_names", path, limit=MAX_LAYERS):
        group = root.get(name) if name else None
        if not isinstance(group, h5py.Group):
            raise BadWeightFile(f"{path}: layer_names lists {name!r}, which is not a group of "
                                f"the file")
        weight_names = attr_texts(group, "weight_names", path, limit=MAX_WEIGHTS)
        datasets = [group.get(w) if w else None for w in weight_names]
        absent = [w for w, d in zip(weight_names, datasets) if not isinstance(d, h5py.Dataset)]
        if absent:
            raise BadWeightFile(f"{path}: layer {name!r} lists weights {absent} that are not "
                                f"datasets of the file")
        if datasets:
            layers[name] = datasets
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
    """(architecture, {"<layer>.<param>": array}, Preprocessing, last_layer, num_classes).
    Every declared shape is checked against the architecture before any array is read."""
    with open_h5(path) as f:
        layers = keras_datasets(f, path)
        arch = arch or detect_vgg(layers, path)
        plan = _read_plan(layers, arch, path)
        params = {key: read_dataset(ds, shape, path) for key, (ds, shape) in plan.items()}
    for key in params:
        if key.endswith(".weight"):
            params[key] = _to_tinyconv_kernel(key[:-len(".weight")], params[key], path)
    spec = arch_spec(arch)
    row_names = [row.name for row in spec.rows]
    num_classes = params["fc8.bias"].shape[0] if "fc8.bias" in params else None
    last = _last_computable(spec.rows, params)
    preprocessing = CAFFE_VGG if last == row_names[-1] else replace(CAFFE_VGG, input_size=None,
                                                                    resize_size=None)
    return arch, params, preprocessing, (None if last == row_names[-1] else last), num_classes


def _read_plan(layers, arch, path):
    """{"<layer>.<param>": (dataset, shape in Keras layout)}, each declared shape checked."""
    row_names = [row.name for row in arch_spec(arch).rows]
    predictions = layers.get("predictions", [])
    num_classes = predictions[1].shape[0] if len(predictions) == 2 and \
        len(predictions[1].shape) == 1 else None
    expected = expected_shapes(arch, num_classes, None, f"{path}: ")
    plan = {}
    for keras_name, datasets in layers.items():
        m = CONV_NAME.match(keras_name)
        name = f"conv{m.group(1)}_{m.group(2)}" if m else DENSE_NAMES.get(keras_name)
        if name is None:
            raise BadWeightFile(f"{path}: Keras layer {keras_name!r} has no counterpart in {arch}")
        if name not in row_names:
            raise BadWeightFile(f"{path}: Keras layer {keras_name!r} ({name}) is not in {arch}")
        if len(datasets) != 2:
            raise BadWeightFile(f"{path}: Keras layer {keras_name!r} has {len(datasets)} arrays; "
                                f"expected kernel and bias")
        for ds, param in zip(datasets, ("weight", "bias")):
            shape = expected[f"{name}.{param}"]
            keras_shape = _keras_layout(shape)
            if tuple(ds.shape) != keras_shape:
                raise BadWeightFile(f"{path}: Keras layer {keras_name!r} {ds.name} has shape "
                                    f"{tuple(ds.shape)} but {arch} expects {keras_shape} "
                                    f"({name}.{param} {shape} in tinyconv's layout)")
            plan[f"{name}.{param}"] = (ds, keras_shape)
    return plan


def _keras_layout(shape):
    """A tinyconv parameter shape in Keras' layout: OIHW -> HWIO, (out, in) -> (in, out)."""
    if len(shape) == 4:
        return (shape[2], shape[3], shape[1], shape[0])
    return tuple(reversed(shape))


def _to_tinyconv_kernel(name, kernel, path):
    """A Keras kernel in tinyconv's layout (conv OIHW, dense (out, in) in (C, H, W) order)."""
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
