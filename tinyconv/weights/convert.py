"""From any supported weight source to a WeightFile: format detection, name mapping, labels.

    wf = convert("squeezenet1_1.pth", labels="imagenet_class_index.json")
    write_weights("squeezenet1_1.h5", wf)

Sources: torchvision state_dict .pth files (architecture found by matching key names and shapes),
Keras 2 VGG .h5 weight files, ml5 fast-style checkpoint folders, and tinyconv's own .h5 files.
A 1000-class network given no class names gets the ImageNet ones shipped in tinyconv/data.
"""
import json
import re
import sys
from pathlib import Path

import h5py
import numpy as np

from ..models import CLASSIFIERS, arch_spec, param_shapes
from . import keras, ml5, pth
from .format import (WeightFile, check_label_count, is_tinyconv_file, read_weights,
                     sha256_of)
from .hdf5 import MAX_CLASSES, MAX_LABEL, BadWeightFile, check_regular_file

IMAGENET_CLASS_INDEX = Path(__file__).resolve().parent.parent / "data" / "imagenet_class_index.json"
IMAGENET_CLASSES = 1000
MAX_LABELS_BYTES = 16 << 20      # a labels file; ImageNet's synset_words.txt is 32 KB
BACKGROUND_NAMES = ("background", "__background__", "dummy")
# the architectures a torchvision state_dict can hold: those whose table names torchvision modules
TORCHVISION_ARCHITECTURES = [arch for arch in CLASSIFIERS if arch_spec(arch).torch_names]


def read_labels(path):
    """Class names from imagenet_class_index.json ({"0": [wnid, name]}), synset_words.txt
    ("n01440764 tench, Tinca tinca" -> "tench, Tinca tinca"), or a text file, one per line.
    Raises FileNotFoundError or ValueError naming the file when it cannot be such a list."""
    path = Path(path)
    check_regular_file(path, "labels file")
    if path.stat().st_size > MAX_LABELS_BYTES:
        raise BadWeightFile(f"labels file {path} is over {MAX_LABELS_BYTES} bytes; not a list of "
                            f"class names")
    try:
        labels = _parse_labels(path, path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, RecursionError) as e:  # bad UTF-8 or JSON, keys not numbers
        raise BadWeightFile(f"cannot read class names from {path}: {str(e)[:200]}") from None
    if len(labels) > MAX_CLASSES or any(len(label) > MAX_LABEL for label in labels):
        raise BadWeightFile(f"labels file {path}: {len(labels)} names, or a name over "
                            f"{MAX_LABEL} characters; at most {MAX_CLASSES} names")
    return labels


def _parse_labels(path, text):
    if path.suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            items = sorted(data.items(), key=lambda kv: int(kv[0]))
            return [str(v[-1]) if isinstance(v, list) and v else str(v) for _, v in items]
        if isinstance(data, list):
            return [str(v) for v in data]
        raise ValueError("expected a JSON object or list")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if all(line[:1] == "n" and line[1:9].isdigit() and line[9:10] == " " for line in lines):
        return [line[10:] for line in lines]
    return lines


def match_labels(labels, num_classes, where):
    """`labels` for a `num_classes`-class model: the same list, or, by the ImageNet convention
    of a background class first (TensorFlow-slim's 1001-line files), the list without its first
    entry when there is exactly one name too many and that name is a background name (said on
    stderr). Any other count is an error naming both counts."""
    labels = list(labels)
    if (num_classes and len(labels) == num_classes + 1
            and labels[0].strip().lower() in BACKGROUND_NAMES):
        print(f"tinyconv: {where}: {len(labels)} labels for a {num_classes}-class model; the "
              f"first, {labels[0]!r}, is taken to be a background class and dropped",
              file=sys.stderr)
        labels = labels[1:]
    check_label_count(labels, num_classes, f"{where}: ")
    return labels


def attach_labels(wf, labels):
    """Set wf.labels from a labels file or a list of names, matched to its class count."""
    if isinstance(labels, (str, Path)):
        wf.labels = match_labels(read_labels(labels), wf.num_classes, labels)
    else:
        wf.labels = match_labels(labels, wf.num_classes, wf.path or wf.source_file or "labels")
    return wf


def imagenet_labels():
    """The 1000 ImageNet class names shipped with tinyconv (Keras / torchvision class order)."""
    return read_labels(IMAGENET_CLASS_INDEX)


def torchvision_key_map(arch, num_classes=None):
    """{torchvision state_dict key: tinyconv parameter key} for a torchvision architecture."""
    spec = arch_spec(arch, num_classes)
    mapping = {}
    for row in spec.rows:
        for param in row.param_shapes():
            mapping[f"{spec.torch_names[row.name]}.{param}"] = f"{row.name}.{param}"
    return mapping


# DenseNet files from before module names could hold dots name a dense layer's parts `norm.1`,
# `conv.2`, ...; torchvision's own loader renames them with this rule (densenet.py,
# _load_state_dict), and so does the converter
LEGACY_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def modern_torchvision_key(key):
    """`key` under today's torchvision module names (old DenseNet keys renamed)."""
    match = LEGACY_DENSENET_KEY.match(key)
    return match.group(1) + match.group(2) if match else key


def used_keys(state, arch):
    """The keys of `state` that `arch` reads: without those torchvision keeps for training only
    (batch norm's num_batches_tracked, the ArchSpec's torch_ignored prefixes)."""
    ignored = arch_spec(arch).torch_ignored
    return {k for k in state if not k.endswith("num_batches_tracked") and not k.startswith(ignored)}


def detect_torchvision_arch(state, path):
    """The architecture whose torchvision keys match `state`; ValueError naming the nearest."""
    best = None
    for arch in TORCHVISION_ARCHITECTURES:
        keys, used = torchvision_key_map(arch), used_keys(state, arch)
        missing = sorted(set(keys) - used)
        unexpected = sorted(used - set(keys))
        if not missing and not unexpected:
            return arch
        score = len(missing) + len(unexpected)
        if best is None or score < best[0]:
            best = (score, arch, missing, unexpected)
    _, arch, missing, unexpected = best
    raise ValueError(f"{path}: keys match no supported torchvision architecture "
                     f"({', '.join(TORCHVISION_ARCHITECTURES)}); nearest is {arch}, with missing keys "
                     f"{missing[:6]} and unexpected keys {unexpected[:6]}")


# A torchvision weight becomes float32 by a stated rule: float16 and bfloat16 widen exactly,
# float64 rounds to the nearest float32 (as torch's model.float() does) and is refused where that
# overflows. Integer and bool storages are refused: a float network's weights are never integers,
# and casting them (say a quantized file's int8 without its scales) would give another network.
FLOAT_STORAGES = ("FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage")


def convert_torchvision(path, arch=None):
    """(architecture, params, num_classes) from a torchvision .pth state_dict file.

    The keys, shapes and dtypes the file declares are checked against the architecture before
    any storage is read, so a file cannot make this allocate more than the architecture needs.
    """
    pth_file = pth.open_pth(path)
    names = {modern_torchvision_key(k): k for k in pth_file.tensors}  # today's key -> file's
    tensors = {k: pth_file.tensors[names[k]] for k in names}
    arch = arch or detect_torchvision_arch(tensors, path)
    tensors = {k: tensors[k] for k in used_keys(tensors, arch)}
    mapping, num_classes = _check_torchvision_tensors(tensors, arch, path)
    arrays = pth.read_arrays(pth_file, [names[k] for k in mapping])
    return arch, {mapping[k]: _as_float32(k, arrays[names[k]], path) for k in mapping}, \
        num_classes


def _check_torchvision_tensors(tensors, arch, path):
    """({torchvision key: tinyconv key}, num_classes) once `tensors` ({key: LazyTensor}) are
    exactly `arch`'s keys with its shapes and float dtypes; ValueError naming what differs."""
    spec = arch_spec(arch)
    keys = torchvision_key_map(arch)  # the names do not depend on the number of classes
    missing, unexpected = sorted(set(keys) - set(tensors)), sorted(set(tensors) - set(keys))
    if missing or unexpected:
        raise ValueError(_key_mismatch(path, arch, missing, unexpected, tensors))
    final = [row for row in spec.rows if row.param_shapes()][-1]  # fc8, or conv10
    bias_key = f"{spec.torch_names[final.name]}.bias"
    if len(tensors[bias_key].shape) != 1 or tensors[bias_key].shape[0] < 1:
        raise ValueError(f"{path}: {bias_key!r} has shape {tensors[bias_key].shape}; the "
                         f"classifier's bias must have one value per class")
    num_classes = tensors[bias_key].shape[0]
    mapping = torchvision_key_map(arch, num_classes)
    expected = param_shapes(arch, num_classes)
    for key, mine in mapping.items():
        shape, kind = tuple(tensors[key].shape), tensors[key].kind
        if shape != expected[mine]:
            raise ValueError(f"{path}: {key!r} (layer {mine.rpartition('.')[0]!r}) has shape "
                             f"{shape} but {arch} expects {expected[mine]}")
        if kind not in FLOAT_STORAGES:
            raise ValueError(f"{path}: {key!r} is a torch {kind}; weights must be floating point "
                             f"(float32, float16, bfloat16 or float64)")
    return mapping, num_classes


def _key_mismatch(path, arch, missing, unexpected, tensors):
    """The message for a file whose keys are not `arch`'s, naming the architecture it holds."""
    try:
        holds = f"; it holds {detect_torchvision_arch(tensors, path)}"
    except ValueError:
        holds = ""
    return (f"{Path(path).name} does not hold {arch}: {len(missing)} missing keys "
            f"{missing[:4]}, {len(unexpected)} unexpected keys {unexpected[:4]}{holds}")


def _as_float32(key, array, path):
    """`array` as float32 by the rule above FLOAT_STORAGES."""
    with np.errstate(over="ignore"):
        out = array.astype(np.float32, copy=False)
    if array.dtype == np.float64 and np.isinf(out).sum() != np.isinf(array).sum():
        raise ValueError(f"{path}: {key!r} holds float64 values beyond float32's range")
    return out


def source_kind(path):
    """"tinyconv", "keras", "pth" or "ml5" for a weight source, by content, not by name."""
    path = Path(path)
    if path.is_dir():
        return "ml5"
    check_regular_file(path)  # a FIFO would block, /dev/zero never end
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        raise ValueError(f"{path} is empty")
    if h5py.is_hdf5(path):  # the signature at 0, 512, 1024, ... (after a user block)
        return "tinyconv" if is_tinyconv_file(path) else "keras"
    if head[:2] == b"PK" or head[:1] == b"\x80" or head[257:262] == b"ustar":
        return "pth"  # zip, legacy stream, or the tar of torch < 0.4 (the reader explains)
    if path.suffix == ".h5":
        return "keras"  # let the HDF5 reader explain what is wrong with it
    raise ValueError(f"{path}: unknown weight format (expected a tinyconv or Keras .h5, a "
                     f"PyTorch .pth, or an ml5 checkpoint folder)")


def convert(source, arch=None, labels=None):
    """A WeightFile (checked against its architecture) from any supported source.

    arch: force an architecture (otherwise detected); labels: a labels file or a list of names.
    """
    kind = source_kind(source)
    if kind == "tinyconv":
        wf = read_weights(source)
    else:
        last_layer = None
        if kind == "pth":
            arch, params, num_classes = convert_torchvision(source, arch)
            preprocessing = arch_spec(arch).preprocessing  # torchvision's, or GoogLeNet's
        elif kind == "keras":
            arch, params, preprocessing, last_layer, num_classes = keras.convert_keras(source,
                                                                                       arch)
        else:
            arch, params, num_classes = "fast_style", ml5.convert_ml5(source), None
            preprocessing = arch_spec(arch).preprocessing
        wf = WeightFile(arch, params, preprocessing, num_classes=num_classes,
                        last_layer=last_layer, source_file=Path(source).name,
                        source_sha256=sha256_of(source), path=str(source))
    if labels is not None:
        attach_labels(wf, labels)
    elif wf.labels is None and wf.num_classes == IMAGENET_CLASSES:
        wf.labels = imagenet_labels()  # a 1000-class network is taken to be an ImageNet one
    wf.check_against_model()
    return wf


def read_any(source, arch=None):
    """WeightFile from a tinyconv file or, converted in memory, from any other source."""
    wf = convert(source, arch)
    if arch is not None and wf.architecture != arch:
        raise ValueError(f"{source} holds {wf.architecture} weights, not {arch}")
    return wf
