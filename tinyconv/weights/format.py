"""tinyconv's weight file: one HDF5 file per network (layout in docs/weights-format.md).

    /                     attrs: format, format_version, architecture, num_classes, last_layer,
                          labels, colour_order, scale, mean, std, input_size, resize_size,
                          source_file, source_sha256, converted_by
    /layers/<layer>/      one group per layer with parameters ("fire2/squeeze" nests)
        weight, bias      float32 datasets, tinyconv layouts (conv OIHW, linear (out, in))

Reading uses h5py on plain numeric datasets and string attributes only, so a weight file can
never run code. Every failure names the file and the problem: not HDF5 or truncated, not a tinyconv
file, an unknown architecture, a missing or unexpected layer, a wrong shape (with both shapes).
"""
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..atomic import writing
from ..models import param_shapes
from ..models.preprocessing import Preprocessing
from ..errors import UnknownName

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
    path: str = field(default=None, compare=False)  # where it was read from

    def check_against_model(self):
        """Raise KeyError/ValueError unless params fit the architecture exactly."""
        expected = param_shapes(self.architecture, self.num_classes, self.last_layer)
        where = f"{self.path}: " if self.path else ""
        missing = [k for k in expected if k not in self.params]
        unexpected = [k for k in self.params if k not in expected]
        if missing or unexpected:
            raise UnknownName(f"{where}{self.architecture} weights do not match the architecture: "
                           f"missing {missing or 'none'}, unexpected {unexpected or 'none'}")
        for key, shape in expected.items():
            if tuple(self.params[key].shape) != shape:
                layer, _, param = key.rpartition(".")
                raise ValueError(f"{where}layer {layer!r} {param} has shape "
                                 f"{tuple(self.params[key].shape)} but {self.architecture} "
                                 f"expects {shape}")


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


def write_weights(path, wf):
    """Write WeightFile `wf` to `path` through tinyconv.atomic.writing (the old file stays
    whole until the new one is complete; only a regular file is replaced)."""
    wf.check_against_model()
    path = Path(path)
    with writing(path) as tmp, h5py.File(tmp, "w") as f:
        _write_attrs(f, wf)
        layers = f.create_group("layers")
        for key, value in wf.params.items():
            layer, _, param = key.rpartition(".")
            group = layers.require_group(layer)
            group.create_dataset(param, data=np.asarray(value, dtype=np.float32))
    return path


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
    from ..version import __version__
    a["converted_by"] = f"tinyconv {__version__}"


def is_tinyconv_file(path):
    """True when `path` is an HDF5 file with format = tinyconv-weights."""
    try:
        with h5py.File(path, "r") as f:
            return _text(f.attrs.get("format")) == FORMAT
    except OSError:
        return False


def open_h5(path):
    """h5py.File for reading, with a clear error for missing, non-HDF5 or truncated files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        size = path.stat().st_size
        raise ValueError(f"cannot read {path} ({size} bytes) as HDF5: the file is truncated or "
                         f"corrupt, or not an HDF5 file (h5py: {e})") from None


def read_weights(path):
    """WeightFile from a tinyconv .h5 file, checked against its architecture."""
    with open_h5(path) as f:
        a = f.attrs
        if _text(a.get("format")) != FORMAT:
            raise ValueError(f"{path} is an HDF5 file but not a tinyconv weight file (no "
                             f"format={FORMAT!r} attribute); convert it with `tinyconv convert`")
        version = int(a.get("format_version", 0))
        if version > FORMAT_VERSION:
            raise ValueError(f"{path} has format_version {version}; this tinyconv reads up to "
                             f"{FORMAT_VERSION}: upgrade tinyconv")
        try:
            params = _read_params(f)
        except OSError as e:  # a dataset whose bytes lie past the end of a truncated file
            raise ValueError(f"cannot read the arrays of {path}: the file is truncated or "
                             f"corrupt (h5py: {e})") from None
        input_size = tuple(int(v) for v in a["input_size"])
        preprocessing = Preprocessing(
            colour_order=_text(a["colour_order"]), scale=float(a["scale"]),
            mean=tuple(a["mean"]), std=tuple(a["std"]),
            input_size=input_size if min(input_size) > 0 else None,
            resize_size=int(a["resize_size"]) or None)
        labels = [_text(s) for s in a.get("labels", [])] or None
        num_classes = int(a.get("num_classes", -1))
        wf = WeightFile(
            architecture=_text(a["architecture"]), params=params, preprocessing=preprocessing,
            labels=labels, num_classes=num_classes if num_classes > 0 else None,
            last_layer=_text(a.get("last_layer", "")) or None,
            source_file=_text(a.get("source_file", "")),
            source_sha256=_text(a.get("source_sha256", "")), path=str(path))
    wf.check_against_model()
    return wf


def read_source(path):
    """(source_file, source_sha256) of a tinyconv weight file, without reading its arrays."""
    with open_h5(path) as f:
        return _text(f.attrs.get("source_file", "")), _text(f.attrs.get("source_sha256", ""))


def _read_params(f):
    """{"<layer>.<param>": float32 array} of every dataset under /layers."""
    if "layers" not in f:
        raise ValueError(f"{f.filename} has no /layers group")
    params = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            if obj.dtype.kind != "f":
                raise ValueError(f"{f.filename}: dataset layers/{name} has dtype {obj.dtype}; "
                                 f"weights must be floating point")
            layer, _, param = name.rpartition("/")
            params[f"{layer}.{param}"] = np.asarray(obj[()], dtype=np.float32)

    f["layers"].visititems(visit)
    return params


def _text(value):
    """An HDF5 string attribute as str (h5py gives bytes or str depending on how it was made)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    return str(value)
