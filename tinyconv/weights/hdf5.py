"""Reading HDF5 weight files (tinyconv's own and Keras') without trusting them.

A weight file may only supply its own bytes, and only as many as the architecture needs. So every
HDF5 reader opens files with `open_h5`, which refuses before any data is read:

- anything but a regular, readable file (a FIFO would block, /dev/zero never ends);
- soft links and external links (they point elsewhere in or outside the file: /etc/passwd,
  loops), user-defined links, and objects that are neither groups nor datasets;
- datasets with external storage (`external=[("/etc/passwd", 0, 256)]`) or virtual datasets
  (their bytes come from other files).

and reads a dataset with `read_dataset`, which first compares its declared shape with the shape
the architecture expects, its dtype (float16/32/64), its filters (gzip, lzf, shuffle, fletcher32)
and the storage actually present (every byte or chunk written, inside the file): a dataset never
written would read as its fill value, and one declared larger than the file cannot be honest.
Attributes are read with `attr_*`, which check the declared size and the type first.
Every refusal is a `BadWeightFile` (a ValueError) naming the file and the object.
"""
import math
import os
import signal
import stat
import time
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

MAX_OBJECTS = 100_000           # links in one file; VGG16's has 40, Keras whole-model files ~200
MAX_ATTR_BYTES = 16 << 20       # one attribute: 100,000 labels of 100 characters fit
MAX_TEXT = 4096                 # one string attribute (architecture, a source URL)
MAX_LABEL = 1000                # one class name
MAX_CLASSES = 100_000           # ImageNet-21k has 21,843
PROBE_SECONDS = 60             # reading a weight file's metadata takes milliseconds
FLOAT_SIZES = (2, 4, 8)         # float16, float32, float64
FILTERS = {h5py.h5z.FILTER_DEFLATE: "gzip", h5py.h5z.FILTER_SHUFFLE: "shuffle",
           h5py.h5z.FILTER_FLETCHER32: "fletcher32", 32000: "lzf"}


class BadWeightFile(ValueError):
    """A weight file that is malformed or asks for something a weight file may not."""


class WeightMismatch(BadWeightFile, KeyError):
    """Parameters missing from, or unexpected in, a weight file: a KeyError (a name not found)
    that is also a BadWeightFile, so every bad weight file is a ValueError."""
    __str__ = ValueError.__str__  # the message as is, not KeyError's quoted repr


def check_regular_file(path, what="weight file"):
    """Raise FileNotFoundError / BadWeightFile / PermissionError unless `path` is a readable
    regular file (after following symlinks: a link to a weight file is fine, to /dev/zero not)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    if not stat.S_ISREG(mode):
        raise BadWeightFile(f"{what} {path} is not a regular file (a device, FIFO, socket or "
                            f"folder)")
    if not os.access(path, os.R_OK):
        raise PermissionError(f"cannot read {path}: permission denied")


@contextmanager
def open_h5(path):
    """`with open_h5(path) as f`: the h5py.File for reading, its whole tree checked by
    `check_tree`; a clear error for missing, unreadable, non-HDF5, truncated or corrupt files."""
    path = Path(path)
    check_regular_file(path)
    probe_metadata(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        size = path.stat().st_size
        raise BadWeightFile(f"cannot read {path} ({size} bytes) as HDF5: the file is truncated "
                            f"or corrupt, or not an HDF5 file (h5py: {e})") from None
    with f, h5py_errors(path):
        check_tree(f, path)
        yield f


@contextmanager
def h5py_errors(path):
    """Raise BadWeightFile for what h5py raises on a corrupt file (RuntimeError, KeyError, ...
    from a damaged header or B-tree); exceptions raised by tinyconv's own code pass unchanged,
    so a bug keeps its traceback."""
    try:
        yield
    except BadWeightFile:
        raise
    except (RuntimeError, KeyError, TypeError, ValueError, OSError, IndexError) as e:
        if not _raised_in_h5py(e):
            raise
        raise BadWeightFile(f"cannot read {path}: the HDF5 file is corrupt ({e})") from None


def _raised_in_h5py(error):
    """Whether the innermost frame of `error`'s traceback is h5py's."""
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"h5py{os.sep}" in tb.tb_frame.f_code.co_filename


def probe_metadata(path, timeout=PROBE_SECONDS):
    """Read the metadata of HDF5 file `path` (its tree, every attribute, every dataset header)
    in a forked child process first, and raise BadWeightFile if the child is killed by a signal
    or does not finish: libhdf5, written in C, is not memory-safe on damaged metadata (a corrupt
    global heap entry crashes it with SIGSEGV, seen by the fuzz tests) and may loop, and a
    hostile file must give an error, not end or hang the process. Errors the child meets are
    left to the parent's own reading to report. Where there is no fork (Windows), a no-op."""
    if not hasattr(os, "fork"):
        return
    pid = os.fork()
    if pid == 0:  # the child: touch everything, report only by dying or not
        try:
            with h5py.File(path, "r") as f:
                _touch_metadata(f)
        finally:
            os._exit(0)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise BadWeightFile(f"{path}: the HDF5 library did not finish reading the file's "
                                f"metadata in {timeout} s: the file is corrupt")
        time.sleep(0.002)
    if os.WIFSIGNALED(status):
        raise BadWeightFile(f"{path}: the HDF5 library crashed (signal {os.WTERMSIG(status)}) "
                            f"reading the file's metadata: the file is corrupt")


def _touch_metadata(f):
    """Read every link, attribute and dataset header of open file `f` (within the limits)."""
    names = []
    f.id.links.visit(lambda name, info: names.append((name, info.type)) or (
        True if len(names) > MAX_OBJECTS else None), info=True)
    for obj in [f] + [f[name] for name, kind in names if kind == h5py.h5l.TYPE_HARD]:
        for i, name in enumerate(obj.attrs):
            if i < MAX_OBJECTS:
                attr(obj, name, f.filename)
        if isinstance(obj, h5py.Dataset):
            plist = obj.id.get_create_plist()
            obj.dtype, obj.shape, obj.id.get_storage_size(), plist.get_nfilters()


def check_tree(f, path):
    """Refuse soft, external and user-defined links, objects other than groups and datasets,
    and datasets whose bytes live outside the file (external storage, virtual datasets)."""
    links = []

    def visit(name, info):  # h5py mishandles exceptions raised here: a value stops the walk
        links.append((name.decode("utf-8", "replace"), info.type))
        return True if len(links) > MAX_OBJECTS else None

    f.id.links.visit(visit, info=True)  # HDF5's own walk: each object once, even in cycles
    if len(links) > MAX_OBJECTS:
        raise BadWeightFile(f"{path}: more than {MAX_OBJECTS} HDF5 objects; not a weight file")
    for name, kind in links:
        _check_link(f, name, kind, path)


def _check_link(f, name, kind, path):
    if kind != h5py.h5l.TYPE_HARD:
        link = f.get(name, getlink=True)
        target = (f"an external link to {link.filename}:{link.path}"
                  if isinstance(link, h5py.ExternalLink) else
                  f"a soft link to {link.path}" if isinstance(link, h5py.SoftLink) else
                  "a user-defined link")
        raise BadWeightFile(f"{path}: /{name} is {target}; a weight file may hold only its own "
                            f"groups and datasets, no links, and supply only its own bytes")
    obj = f[name]
    if isinstance(obj, h5py.Dataset):
        check_local_storage(obj, path)
    elif not isinstance(obj, h5py.Group):
        raise BadWeightFile(f"{path}: /{name} is a {type(obj).__name__}, not a group or a "
                            f"dataset")


def check_local_storage(ds, path):
    """Refuse a dataset whose bytes would come from another file."""
    if ds.is_virtual:
        raise BadWeightFile(f"{path}: dataset {ds.name} is a virtual dataset (its data comes "
                            f"from other files); a weight file may only supply its own bytes")
    if ds.id.get_create_plist().get_external_count() > 0:
        raise BadWeightFile(f"{path}: dataset {ds.name} has external storage (its data lies in "
                            f"another file); a weight file may only supply its own bytes")


def read_dataset(ds, expected_shape, path):
    """float32 array of dataset `ds` after checking shape, dtype, filters and storage."""
    if tuple(ds.shape) != tuple(expected_shape):
        raise BadWeightFile(f"{path}: dataset {ds.name} has shape {tuple(ds.shape)}; "
                            f"expected {tuple(expected_shape)}")
    check_readable(ds, path)
    try:
        return np.ascontiguousarray(ds.astype(np.float32)[()])
    except (OSError, TypeError, ValueError) as e:  # bytes past the end, a corrupt chunk
        raise BadWeightFile(f"cannot read dataset {ds.name} of {path}: the file is truncated or "
                            f"corrupt (h5py: {e})") from None


def check_readable(ds, path):
    """Refuse non-float dtypes, unknown filters, and storage not all present in the file."""
    dtype = ds.dtype
    if dtype.kind != "f" or dtype.itemsize not in FLOAT_SIZES:
        raise BadWeightFile(f"{path}: dataset {ds.name} has dtype {dtype}; weights must be "
                            f"float16, float32 or float64")
    plist = ds.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code, _, _, name = plist.get_filter(i)
        if code not in FILTERS:
            raise BadWeightFile(f"{path}: dataset {ds.name} uses the HDF5 filter "
                                f"{name.decode(errors='replace')!r} ({code}); weight files may "
                                f"use only {', '.join(sorted(FILTERS.values()))}")
    declared = ds.size * dtype.itemsize
    stored = ds.id.get_storage_size()
    file_size = os.path.getsize(ds.file.filename)
    layout = plist.get_layout()
    if layout == h5py.h5d.CHUNKED:
        chunks = math.prod(math.ceil(n / c) for n, c in zip(ds.shape, ds.chunks))
        complete = ds.id.get_num_chunks() == chunks and stored <= file_size
    elif layout == h5py.h5d.CONTIGUOUS:
        offset = ds.id.get_offset()
        complete = offset is not None and stored == declared and offset + stored <= file_size
    else:  # compact: the data is in the object header, which was read on open
        complete = layout == h5py.h5d.COMPACT
    if declared and not complete:
        raise BadWeightFile(f"{path}: dataset {ds.name} declares {declared} bytes but the file "
                            f"holds {stored} of them ({file_size}-byte file): data missing, "
                            f"never written, or truncated")


def attr(obj, name, path, default=None):
    """Attribute `name` of `obj` (default when absent), its declared size checked first."""
    if name not in obj.attrs:
        return default
    try:
        aid = obj.attrs.get_id(name)
        nbytes = math.prod(aid.shape or ()) * aid.dtype.itemsize
        if nbytes > MAX_ATTR_BYTES:
            raise BadWeightFile(f"{path}: attribute {name!r} of {obj.name} declares {nbytes} "
                                f"bytes; at most {MAX_ATTR_BYTES} are allowed")
        return obj.attrs[name]
    except (OSError, RuntimeError, TypeError, KeyError) as e:  # a type h5py cannot read,
        # or a damaged header
        raise BadWeightFile(f"{path}: cannot read attribute {name!r} of {obj.name} ({e})") \
            from None


def _scalar(value):
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.reshape(())[()]
    return value


def attr_text(obj, name, path, default=None, limit=MAX_TEXT):
    """A string attribute as str (h5py gives bytes or str depending on how it was written)."""
    value = _scalar(attr(obj, name, path))
    if value is None:
        return default
    return _as_text(value, f"{path}: attribute {name!r}", limit)


def _as_text(value, what, limit):
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise BadWeightFile(f"{what} is not UTF-8 text") from None
    if not isinstance(value, str):
        raise BadWeightFile(f"{what} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise BadWeightFile(f"{what} is {len(value)} characters long; at most {limit}")
    return value


def attr_texts(obj, name, path, limit=MAX_CLASSES, default=()):
    """A 1-D array (or list) of strings attribute as a list of str, at most `limit` of them."""
    value = attr(obj, name, path)
    if value is None:
        return list(default)
    value = np.asarray(value)
    if value.ndim != 1 or value.dtype.kind not in "OSU":
        raise BadWeightFile(f"{path}: attribute {name!r} must be a list of strings, got "
                            f"{value.dtype} of shape {value.shape}")
    if len(value) > limit:
        raise BadWeightFile(f"{path}: attribute {name!r} has {len(value)} entries; at most "
                            f"{limit}")
    return [_as_text(v, f"{path}: an entry of attribute {name!r}", MAX_LABEL) for v in value]


def attr_numbers(obj, name, path, count=None, kind="f", default=None):
    """A numeric attribute: a float (kind "f") or int (kind "i") when count is None, else a
    tuple of exactly `count` of them. Integers are accepted for floats, not the reverse."""
    value = attr(obj, name, path)
    if value is None:
        return default
    value = np.asarray(value)
    kinds = "iu" if kind == "i" else "iuf"
    if value.dtype.kind not in kinds or value.ndim > 1 or value.size != (count or 1):
        want = "an integer" if kind == "i" else "a number"
        raise BadWeightFile(f"{path}: attribute {name!r} must be {want}"
                            f"{'' if count is None else f' array of {count}'}, got "
                            f"{value.dtype} of shape {value.shape}")
    cast = int if kind == "i" else float
    values = tuple(cast(v) for v in value.reshape(-1))
    return values[0] if count is None else values
