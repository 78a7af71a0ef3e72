"""ml5 / deeplearn.js fast-style checkpoints (lengstrom/fast-style-transfer networks).

A checkpoint is a folder: manifest.json ({"Variable_k": {"filename", "shape"}}) and one raw
little-endian float32 file per variable. The variables come in TensorFlow creation order: for each
convolution of the network, kernel, shift (instance-norm beta), scale (gamma), which gives
Variable, Variable_1 ... Variable_47 for the 16 convolutions listed by
tinyconv.models.fast_style.conv_order(). Kernels are HWIO for convolutions, (kH, kW, out, in) for
the transposed ones; both become tinyconv layouts here.

A checkpoint is input from anyone: the manifest is size-limited and its entries type-checked, a
variable's file name must name a file of the folder itself, its declared shape must be the
network's, and its file must be a regular file (not a symlink) of exactly that many bytes, all
checked before a byte of it is read.
"""
import errno
import json
import os
import stat
from pathlib import Path

import numpy as np

from ..models import param_shapes
from ..models.fast_style import conv_order
from .hdf5 import BadWeightFile, WeightMismatch

MAX_MANIFEST = 1 << 20   # bytes; the fast-style manifest.json is about 3 KB


def variable_name(index):
    """TensorFlow's default variable names: Variable, Variable_1, Variable_2, ..."""
    return "Variable" if index == 0 else f"Variable_{index}"


def read_manifest(folder):
    """manifest.json of checkpoint `folder`: {name: {"filename": str, "shape": [int, ...]}},
    its size checked before it is read and every entry's types after."""
    manifest = Path(folder) / "manifest.json"
    if not manifest.exists():
        raise FileNotFoundError(f"{folder} is not an ml5 checkpoint folder (no manifest.json)")
    with _open_regular(manifest, MAX_MANIFEST, "at most") as f:
        raw = f.read(MAX_MANIFEST)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # bad JSON or UTF-8, or nested too deep
        raise BadWeightFile(f"{manifest} is not valid JSON ({str(e)[:200]})") from None
    if not isinstance(data, dict):
        raise BadWeightFile(f"{manifest}: expected an object {{variable name: entry}}")
    for name, entry in data.items():
        problem = _entry_problem(entry)
        if problem:
            raise BadWeightFile(f"{manifest}: {name}: {problem}")
    return data


def _entry_problem(entry):
    """What is wrong with one manifest entry, or None. The file name must name a file of the
    folder itself (no folders, no ..), so a checkpoint supplies only its own bytes."""
    if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
        return 'expected {"filename": "...", "shape": [...]}'
    name, shape = entry["filename"], entry.get("shape")
    if Path(name).name != name or name in ("", ".", ".."):
        return f"filename {name[:100]!r} is not the name of a file in the checkpoint folder"
    if not (isinstance(shape, list) and len(shape) <= 4
            and all(type(n) is int and n >= 0 for n in shape)):
        return f"shape {str(shape)[:100]} is not a list of at most 4 non-negative integers"
    return None


def _open_regular(path, size, rule, note=""):
    """The open binary file `path`, refused unless it is a regular file (not a symlink: its
    bytes must be the checkpoint's own) whose size is `size` (rule "exactly") or at most it."""
    try:  # O_NOFOLLOW: a symlink is refused; O_NONBLOCK: opening a FIFO does not wait
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise BadWeightFile(f"{path} is a symbolic link; an ml5 checkpoint's files must be "
                                f"its own regular files") from None
        raise type(e)(e.errno, f"cannot open {path}: {e.strerror}") from None
    info = os.fstat(fd)
    actual = info.st_size
    if not stat.S_ISREG(info.st_mode) or actual > size or (rule == "exactly" and actual != size):
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(info.st_mode) else f"{actual} bytes"
        raise BadWeightFile(f"{path}: {what}; expected a regular file of {rule} {size} bytes"
                            f"{note}")
    return os.fdopen(fd, "rb")


def ml5_shape(shape):
    """A tinyconv parameter shape in the checkpoint's layout: conv OIHW -> HWIO, transposed
    conv (in, out, kH, kW) -> (kH, kW, out, in): the same permutation; vectors unchanged."""
    return (shape[2], shape[3], shape[1], shape[0]) if len(shape) == 4 else tuple(shape)


def read_variable(folder, entry, name, expected):
    """The float32 array of one manifest entry: its declared shape checked against `expected`
    and its file's size against that shape before a byte is read."""
    shape = tuple(entry["shape"])
    if shape != tuple(expected):
        raise BadWeightFile(f"{folder}: manifest.json gives {name} the shape {shape}; the "
                            f"fast-style network needs {tuple(expected)}")
    path = Path(folder) / entry["filename"]
    nbytes = 4 * int(np.prod(shape))
    with _open_regular(path, nbytes, "exactly",
                       f" for {name} of shape {shape}: truncated or not float32") as f:
        raw = f.read(nbytes)
    return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)


def convert_ml5(folder):
    """{"<layer>.<param>": array} of the fast_style architecture from checkpoint `folder`."""
    manifest = read_manifest(folder)
    convs = conv_order()
    expected = 3 * len(convs)
    if len(manifest) != expected:
        raise BadWeightFile(f"{folder}: manifest lists {len(manifest)} variables; the fast-style "
                            f"network has {expected} (kernel, shift, scale for {len(convs)} "
                            f"convs)")
    shapes = param_shapes("fast_style")
    params = {}
    for i, conv in enumerate(convs):
        names = [variable_name(3 * i + j) for j in range(3)]
        missing = [n for n in names if n not in manifest]
        if missing:
            raise WeightMismatch(f"{folder}: manifest has no {missing}")
        keys = (f"{conv}.weight", f"{conv}/norm.bias", f"{conv}/norm.weight")  # kernel, shift,
        for n, key in zip(names, keys):                                       # scale
            params[key] = read_variable(folder, manifest[n], n, ml5_shape(shapes[key]))
        # conv (kH, kW, in, out) -> (out, in, kH, kW); transposed conv (kH, kW, out, in) ->
        # (in, out, kH, kW): the same axis permutation, as both layouts put the kernel last
        params[f"{conv}.weight"] = np.ascontiguousarray(params[f"{conv}.weight"]
                                                        .transpose(3, 2, 0, 1))
    return params
