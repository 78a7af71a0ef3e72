"""tinyconv's weight file: one HDF5 file per network (layout in docs/weights-format.md).

    /                     attrs: format, format_version, architecture, num_classes, last_layer,
                          labels, colour_order, scale, mean, std, input_size, resize_size,
                          source_file, source_sha256, converted_by, encoder (an AdaIN
                          decoder's encoder: "ARCH:LAYER:SHA256 of its weights"; else absent)
    /layers/<layer>/      one group per layer with parameters ("fire2/squeeze" nests)
        weight, bias      float32 datasets, tinyconv layouts (conv OIHW, linear (out, in))

Reading uses h5py on plain numeric datasets and string attributes only, so a weight file can
never run code, and goes through tinyconv.weights.hdf5, so it reads only the file's own bytes and
only as many as the architecture needs. Every failure names the file and the problem: not HDF5 or
truncated, not a tinyconv file, an unknown architecture, a missing or unexpected layer, a wrong
shape (with both shapes), links or outside storage, NaN or infinite weights, bad preprocessing.
"""
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..atomic import writing
from ..models import param_shapes
from ..models.preprocessing import Preprocessing
from .hdf5 import (MAX_CLASSES, BadWeightFile, WeightMismatch, attr_numbers, attr_text,
                   attr_texts, check_regular_file, h5py_errors, open_h5, probe_metadata,
                   read_dataset)

FORMAT = "tinyconv-weights"
FORMAT_VERSION = 1
PREPROCESSING_KEYS = ("colour_order", "scale", "mean", "std", "input_size", "resize_size")


@dataclass
class WeightFile:
    """Everything a weight file holds. params: {"<layer>.<param>": numpy array}."""
    architecture: str
    params: dict
    preprocessing: Preprocessing
    labels: list = None
    num_classes: int = None
    last_layer: str = None       # the table is cut after this layer (partial weights)
    source_file: str = ""
    source_sha256: str = ""
    encoder: str = ""            # what an AdaIN decoder decodes: "ARCH:LAYER:weights SHA256"
    path: str = field(default=None, compare=False)  # where it was read from

    def check_against_model(self):
        """Raise ValueError (WeightMismatch, also a KeyError, for missing or unexpected parameters)
        unless params fit the architecture exactly, are finite, and labels match the classes."""
        where = f"{self.path}: " if self.path else ""
        expected = expected_shapes(self.architecture, self.num_classes, self.last_layer, where)
        check_shapes(expected, {k: v.shape for k, v in self.params.items()}, self.architecture,
                     where)
        check_finite(self.params, where)
        check_label_count(self.labels, self.num_classes, where)


def expected_shapes(architecture, num_classes, last_layer, where=""):
    """{"<layer>.<param>": shape} the architecture needs, with a bounded class count."""
    if num_classes is not None and not 0 < num_classes <= MAX_CLASSES:
        raise BadWeightFile(f"{where}num_classes {num_classes} is not between 1 and "
                            f"{MAX_CLASSES}")
    return param_shapes(architecture, num_classes, last_layer)


def check_shapes(expected, shapes, architecture, where=""):
    """Raise WeightMismatch for missing or unexpected parameters, ValueError for a wrong shape.
    shapes: {"<layer>.<param>": declared shape}, so this runs before any array is read."""
    missing = [k for k in expected if k not in shapes]
    unexpected = [k for k in shapes if k not in expected]
    if missing or unexpected:
        raise WeightMismatch(f"{where}{architecture} weights do not match the architecture: "
                             f"missing {missing or 'none'}, unexpected {unexpected or 'none'}")
    for key, shape in expected.items():
        if tuple(shapes[key]) != shape:
            layer, _, param = key.rpartition(".")
            raise BadWeightFile(f"{where}layer {layer!r} {param} has shape {tuple(shapes[key])} "
                                f"but {architecture} expects {shape}")


def check_label_count(labels, num_classes, where=""):
    """Raise ValueError unless there is one label per class (or no labels)."""
    if labels is not None and len(labels) != (num_classes or 0):
        classes = f"{num_classes}-class model" if num_classes else "model without classes"
        raise BadWeightFile(f"{where}{len(labels)} labels for a {classes}; give one name per "
                            f"class")


def check_finite(params, where=""):
    """Raise ValueError naming the first parameter that holds NaN or infinite values: such
    weights turn every output into NaN, a silent wrong result."""
    for key, value in params.items():
        # a float64 sum of float32 values cannot overflow, so it is finite iff every value is;
        # the full count (which allocates a mask) is only made for a bad array
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: the NaN looked for
            total = np.sum(value, dtype=np.float64)
        if not np.isfinite(total):
            nan = int(np.count_nonzero(np.isnan(value)))
            inf = int(np.count_nonzero(np.isinf(value)))
            raise BadWeightFile(f"{where}{key} holds {nan} NaN and {inf} infinite values "
                                f"(float32); weights must be finite")


def sha256_of(path, chunk=1 << 20):
    """Hex SHA-256 of a file (of manifest.json for a folder checkpoint)."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def write_weights(path, wf, dtype="float32"):
    """Write WeightFile `wf` to `path` through tinyconv.atomic.writing (the old file stays
    whole until the new one is complete; only a regular file is replaced).

    dtype: "float32", or "float16" for half the size (values are rounded to float16; one
    beyond its range is an error, not an infinity)."""
    wf.check_against_model()
    dtype = np.dtype(dtype)
    if dtype not in (np.float16, np.float32):
        raise ValueError(f"weights are written as float32 or float16, not {dtype}")
    if dtype == np.float16:
        check_half_range(wf.params)
    path = Path(path)
    with writing(path) as tmp, h5py.File(tmp, "w") as f:
        _write_attrs(f, wf)
        layers = f.create_group("layers")
        for key, value in wf.params.items():
            layer, _, param = key.rpartition(".")
            group = layers.require_group(layer)
            group.create_dataset(param, data=np.asarray(value, dtype=dtype))
    return path


def check_half_range(params):
    """Raise ValueError naming the first parameter with a value beyond float16's range."""
    limit = float(np.finfo(np.float16).max)
    for key, value in params.items():
        largest = float(np.max(np.abs(value))) if np.size(value) else 0.0
        if largest > limit:
            raise ValueError(f"{key} holds {largest:g}, beyond float16's range (+-{limit:g}); "
                             f"write it as float32")


def _write_attrs(f, wf):
    a = f.attrs
    a["format"] = FORMAT
    a["format_version"] = FORMAT_VERSION
    a["architecture"] = wf.architecture
    a["num_classes"] = wf.num_classes if wf.num_classes is not None else -1
    a["last_layer"] = wf.last_layer or ""
    a["labels"] = np.array(wf.labels or [], dtype=h5py.string_dtype())
    p = wf.preprocessing
    a["colour_order"] = p.colour_order
    a["scale"] = float(p.scale)
    a["mean"] = np.array(p.mean, dtype=np.float64)
    a["std"] = np.array(p.std, dtype=np.float64)
    a["input_size"] = np.array(p.input_size or (0, 0), dtype=np.int64)
    a["resize_size"] = int(p.resize_size or 0)
    a["source_file"] = wf.source_file
    a["source_sha256"] = wf.source_sha256
    if wf.encoder:
        a["encoder"] = wf.encoder
    from ..version import __version__
    a["converted_by"] = f"tinyconv {__version__}"


def is_tinyconv_file(path):
    """True when `path` is a regular HDF5 file with format = tinyconv-weights."""
    try:
        check_regular_file(path)
        probe_metadata(path)
        with h5py.File(path, "r") as f, h5py_errors(path):
            return attr_text(f, "format", path) == FORMAT
    except (OSError, ValueError):
        return False


def read_weights(path):
    """WeightFile from a tinyconv .h5 file, checked against its architecture: every declared
    shape before any array is read, then the values."""
    with open_h5(path) as f:
        if attr_text(f, "format", path) != FORMAT:
            raise BadWeightFile(f"{path} is an HDF5 file but not a tinyconv weight file (no "
                                f"format={FORMAT!r} attribute); convert it with `tinyconv "
                                f"convert`")
        version = attr_numbers(f, "format_version", path, kind="i", default=0)
        if version > FORMAT_VERSION:
            raise BadWeightFile(f"{path} has format_version {version}; this tinyconv reads up "
                                f"to {FORMAT_VERSION}: upgrade tinyconv")
        wf = WeightFile(architecture=attr_text(f, "architecture", path, ""), params={},
                        preprocessing=read_preprocessing(f, path), path=str(path),
                        labels=attr_texts(f, "labels", path) or None,
                        num_classes=attr_numbers(f, "num_classes", path, kind="i", default=-1),
                        last_layer=attr_text(f, "last_layer", path) or None,
                        source_file=attr_text(f, "source_file", path, ""),
                        source_sha256=attr_text(f, "source_sha256", path, ""),
                        encoder=attr_text(f, "encoder", path, ""))
        if wf.num_classes <= 0:
            wf.num_classes = None
        try:
            expected = expected_shapes(wf.architecture, wf.num_classes, wf.last_layer,
                                       f"{path}: ")
        except KeyError as e:  # unknown architecture or last layer
            raise WeightMismatch(f"{path}: {e.args[0]}") from None
        datasets = _datasets(f, path)
        check_shapes(expected, {k: ds.shape for k, ds in datasets.items()}, wf.architecture,
                     f"{path}: ")
        wf.params = {k: read_dataset(ds, expected[k], path) for k, ds in datasets.items()}
    wf.check_against_model()
    return wf


def read_preprocessing(f, path):
    """The Preprocessing of the root attributes, each checked (Preprocessing's own rules)."""
    input_size = attr_numbers(f, "input_size", path, 2, kind="i", default=(0, 0))
    values = dict(colour_order=attr_text(f, "colour_order", path, "RGB"),
                  scale=attr_numbers(f, "scale", path, default=1.0),
                  mean=attr_numbers(f, "mean", path, 3, default=(0.0, 0.0, 0.0)),
                  std=attr_numbers(f, "std", path, 3, default=(1.0, 1.0, 1.0)),
                  input_size=input_size if min(input_size) > 0 else None,
                  resize_size=attr_numbers(f, "resize_size", path, kind="i", default=0) or None)
    try:
        return Preprocessing(**values)
    except ValueError as e:
        raise BadWeightFile(f"{path}: {e}") from None


def read_source(path):
    """(source_file, source_sha256) of a tinyconv weight file, without reading its arrays."""
    with open_h5(path) as f:
        return attr_text(f, "source_file", path, ""), attr_text(f, "source_sha256", path, "")


def _datasets(f, path):
    """{"<layer>.<param>": h5py.Dataset} of every dataset under /layers, none read yet."""
    layers = f.get("layers")
    if not isinstance(layers, h5py.Group):
        raise BadWeightFile(f"{path} has no /layers group")
    datasets = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            layer, _, param = name.rpartition("/")
            datasets[f"{layer}.{param}"] = obj

    layers.visititems(visit)
    return datasets
