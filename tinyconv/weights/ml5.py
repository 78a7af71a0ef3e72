"""ml5 / deeplearn.js fast-style checkpoints (lengstrom/fast-style-transfer networks).

A checkpoint is a folder: manifest.json ({"Variable_k": {"filename", "shape"}}) and one raw
little-endian float32 file per variable. The variables come in TensorFlow creation order: for each
convolution of the network, kernel, shift (instance-norm beta), scale (gamma), which gives
Variable, Variable_1 ... Variable_47 for the 16 convolutions listed by
tinyconv.models.fast_style.conv_order(). Kernels are HWIO for convolutions, (kH, kW, out, in) for
the transposed ones; both become tinyconv layouts here.
"""
import json
from pathlib import Path

import numpy as np

from ..models.fast_style import conv_order
from ..errors import UnknownName


def variable_name(index):
    """TensorFlow's default variable names: Variable, Variable_1, Variable_2, ..."""
    return "Variable" if index == 0 else f"Variable_{index}"


def read_manifest(folder):
    folder = Path(folder)
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"{folder} is not an ml5 checkpoint folder (no manifest.json)")
    try:
        return json.loads(manifest.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{manifest} is not valid JSON ({e})") from None


def read_variable(folder, entry, name):
    """The float32 array of one manifest entry, its byte count checked against its shape."""
    shape = tuple(entry["shape"])
    path = Path(folder) / Path(entry["filename"]).name  # never leave the folder
    raw = path.read_bytes()
    count = int(np.prod(shape))
    if len(raw) != 4 * count:
        raise ValueError(f"{path}: {len(raw)} bytes for {name} of shape {shape} "
                         f"(needs {4 * count}): truncated or not float32")
    return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)


def convert_ml5(folder):
    """{"<layer>.<param>": array} of the fast_style architecture from checkpoint `folder`."""
    manifest = read_manifest(folder)
    convs = conv_order()
    expected = 3 * len(convs)
    if len(manifest) != expected:
        raise ValueError(f"{folder}: manifest lists {len(manifest)} variables; the fast-style "
                         f"network has {expected} (kernel, shift, scale for {len(convs)} convs)")
    params = {}
    for i, conv in enumerate(convs):
        names = [variable_name(3 * i + j) for j in range(3)]
        missing = [n for n in names if n not in manifest]
        if missing:
            raise UnknownName(f"{folder}: manifest has no {missing}")
        kernel, shift, scale = (read_variable(folder, manifest[n], n) for n in names)
        # conv (kH, kW, in, out) -> (out, in, kH, kW); transposed conv (kH, kW, out, in) ->
        # (in, out, kH, kW): the same axis permutation, as both layouts put the kernel last
        params[f"{conv}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
        params[f"{conv}/norm.weight"] = scale
        params[f"{conv}/norm.bias"] = shift
    return params
