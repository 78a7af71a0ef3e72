"""Read (and write) PyTorch state_dict files without PyTorch and without running pickled code.

A .pth file is a pickle that names Python callables for the loader to call: torch's
`_rebuild_tensor_v2` for each tensor, `collections.OrderedDict` for the dict, and whatever else
its author wrote, `os.system` included. `torch.load` (before weights_only) calls them all. Here the
pickle is read by an Unpickler whose `find_class` knows a short allow-list and returns tinyconv's
own stand-ins for it: tensors become numpy arrays built from the raw storage bytes, dicts stay
dicts. Any other global is refused with UnsafePickleError before anything is called.

Two container formats exist: the zip format (torch >= 1.6: <name>/data.pkl plus one raw file per
storage in <name>/data/) and the legacy stream (a magic number, protocol and sys-info pickles, the
main pickle, the list of storage keys, then each storage as an int64 element count and its bytes;
the official torchvision VGG and AlexNet files use it). `write_pth` writes the zip format, which
torch.load reads, so tinyconv weights can go back to PyTorch.
"""
import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16,  # widened to float32 when read
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """The pickle asked for something other than tensors and plain containers."""


class StorageRef:
    """A storage named by a persistent id; its array is attached once the bytes are read."""

    def __init__(self, kind, key, numel):
        self.kind, self.key, self.numel = kind, key, numel
        self.array = None


class LazyTensor:
    """A tensor whose storage bytes come later (legacy format): view parameters only."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)

    def materialize(self):
        """The tensor as a contiguous numpy array, with bounds checked against its storage."""
        flat = self.storage.array
        if any(s < 0 for s in self.size) or any(s < 0 for s in self.stride):
            raise ValueError(f"tensor with negative size/stride {self.size}/{self.stride}")
        if self.size and min(self.size) == 0:
            return np.zeros(self.size, dtype=flat.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if self.offset < 0 or last >= flat.size:
            raise ValueError(f"tensor of size {self.size}, stride {self.stride}, offset "
                             f"{self.offset} reaches past its storage of {flat.size} elements")
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], self.size,
                                               tuple(s * item for s in self.stride))
        if view.flags.c_contiguous and view.size == flat.size:
            return flat.reshape(self.size)  # the usual case: the tensor is its whole storage
        return np.array(view)  # a copy that owns its memory


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    """Stand-in for torch._utils._rebuild_tensor(_v2): records the view, reads nothing."""
    if not isinstance(storage, StorageRef):
        raise UnsafePickleError("a tensor was rebuilt from something that is not a storage")
    return LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks, *unused):
    return data


class _StorageType:
    """Stand-in for torch.FloatStorage & co: only its name is ever used."""

    def __init__(self, name):
        self.name = name


ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals in ALLOWED, to tinyconv's stand-ins."""

    def __init__(self, file, storages, source):
        super().__init__(file)
        self.storages = storages  # key -> StorageRef, shared by every tensor viewing it
        self.source = source

    def find_class(self, module, name):
        if (module, name) in ALLOWED:
            return ALLOWED[(module, name)]
        raise UnsafePickleError(
            f"refusing to load {self.source}: its pickle asks for {module}.{name}, which is not "
            f"a tensor or a plain container. A state_dict file needs nothing else; this file may "
            f"be malicious or hold a whole pickled model (save model.state_dict() instead)")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise UnsafePickleError(f"refusing to load {self.source}: unknown persistent id "
                                    f"{str(pid)[:80]}")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(storage_type, _StorageType) or not isinstance(numel, int):
            raise UnsafePickleError(f"refusing to load {self.source}: malformed storage id")
        if len(pid) > 5 and pid[5] is not None:
            raise ValueError(f"{self.source}: legacy storage views are not supported")
        if key not in self.storages:
            self.storages[key] = StorageRef(storage_type.name, key, numel)
        return self.storages[key]


def read_pth(path):
    """{key: numpy array} from a PyTorch state_dict file (zip or legacy format).

    Raises UnsafePickleError for anything but tensors in (ordered) dicts, ValueError for damaged
    files. A file holding {"state_dict": {...}} or {"model": {...}} is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    if zipfile.is_zipfile(path):
        state = _read_zip(path)
    else:
        with open(path, "rb") as f:
            state = _read_legacy(f, path)
    return _flatten_state(state, path)


def _read_zip(path):
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            pkl = [n for n in names if n.endswith("data.pkl")]
            if len(pkl) != 1:
                raise ValueError(f"{path} is a zip file but not a PyTorch one (no single "
                                 f"data.pkl among {names[:5]}...)")
            prefix = pkl[0][:-len("data.pkl")]
            big_endian = (z.read(prefix + "byteorder").strip() == b"big"
                          if prefix + "byteorder" in names else False)
            storages = {}
            state = RestrictedUnpickler(io.BytesIO(z.read(pkl[0])), storages, path).load()
            for key, ref in storages.items():
                with z.open(f"{prefix}data/{key}") as f:
                    ref.array = _read_storage(ref, f, big_endian, path)
    except (zipfile.BadZipFile, EOFError, KeyError, struct.error) as e:
        raise ValueError(f"cannot read {path}: damaged or truncated PyTorch zip file ({e})") \
            from None
    return state


def _read_legacy(f, path):
    try:
        magic = RestrictedUnpickler(f, {}, path).load() if _starts_like_pickle(f) else None
        if magic != LEGACY_MAGIC:
            raise ValueError(f"{path} is neither a PyTorch zip file nor a legacy PyTorch file")
        RestrictedUnpickler(f, {}, path).load()  # protocol version
        RestrictedUnpickler(f, {}, path).load()  # sys info: a dict of plain values
        storages = {}
        state = RestrictedUnpickler(f, storages, path).load()
        keys = RestrictedUnpickler(f, {}, path).load()
        for key in keys:
            ref = storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            if numel != ref.numel:
                raise ValueError(f"{path}: storage {key} holds {numel} elements, its tensors "
                                 f"say {ref.numel}")
            ref.array = _read_storage(ref, f, False, path)
    except (EOFError, struct.error, KeyError, pickle.UnpicklingError) as e:
        if isinstance(e, UnsafePickleError):
            raise
        raise ValueError(f"cannot read {path}: damaged or truncated PyTorch file ({e})") from None
    return state


def _starts_like_pickle(f):
    """True when the stream starts with a pickle protocol opcode; the stream is not consumed."""
    head = f.read(2)
    f.seek(0)
    return len(head) == 2 and head[0] == 0x80


def _read_storage(ref, f, big_endian, path):
    """The ref.numel elements of storage `ref` read from file object `f` into a new array."""
    dtype = np.dtype(STORAGE_DTYPES[ref.kind])
    if big_endian:
        dtype = dtype.newbyteorder(">")
    array = np.empty(ref.numel, dtype=dtype)
    got = f.readinto(memoryview(array).cast("B")) if array.nbytes else 0
    if got != array.nbytes:
        raise ValueError(f"{path} is truncated: storage {ref.key} has {got} of "
                         f"{array.nbytes} bytes")
    array = array.astype(dtype.newbyteorder("="), copy=False)
    if ref.kind == "BFloat16Storage":  # bfloat16 = the top half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def _flatten_state(state, path):
    """The {name: array} dict inside `state`, unwrapping one {"state_dict"/"model": ...} level."""
    if isinstance(state, dict):
        for wrapper in ("state_dict", "model"):
            if wrapper in state and isinstance(state[wrapper], dict) and len(state) <= 3:
                state = state[wrapper]
                break
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state_dict")
    arrays = collections.OrderedDict()
    for key, value in state.items():
        if isinstance(value, LazyTensor):
            arrays[str(key)] = value.materialize()
        elif not isinstance(value, (int, float, str, type(None))):
            raise ValueError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor")
    return arrays


# ----- writing the zip format (tests make torchvision-shaped files with this; torch reads it)
def write_pth(path, state, name="archive"):
    """Write {key: numpy float array} as a PyTorch zip-format state_dict file."""
    arrays = collections.OrderedDict((k, np.ascontiguousarray(v)) for k, v in state.items())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}/data.pkl", _state_pickle(arrays))
        z.writestr(f"{name}/byteorder", "little")
        z.writestr(f"{name}/version", "3\n")
        for i, array in enumerate(arrays.values()):
            with z.open(f"{name}/data/{i}", "w", force_zip64=True) as f:
                f.write(memoryview(array.astype(array.dtype.newbyteorder("<"), copy=False)))
    return path


_STORAGE_NAMES = {np.dtype(v): k for k, v in STORAGE_DTYPES.items() if k != "BFloat16Storage"}


def _state_pickle(arrays):
    """Protocol-2 pickle of an OrderedDict of torch tensors, written opcode by opcode."""
    out = bytearray(b"\x80\x02")
    out += _global("collections", "OrderedDict") + b")R"  # OrderedDict() on the stack
    out += b"("  # MARK for SETITEMS
    for i, (key, array) in enumerate(arrays.items()):
        storage = _STORAGE_NAMES.get(array.dtype)
        if storage is None:
            raise TypeError(f"{key}: dtype {array.dtype} has no PyTorch storage type")
        strides = [s // array.itemsize for s in array.strides] if array.size else [1] * array.ndim
        out += _unicode(key) + _global("torch._utils", "_rebuild_tensor_v2")
        out += b"(" + b"(" + _unicode("storage") + _global("torch", storage)
        out += _unicode(str(i)) + _unicode("cpu") + _int(array.size) + b"tQ"  # BINPERSID
        # storage offset, size, stride, requires_grad=False
        out += _int(0) + _tuple(array.shape) + _tuple(strides) + b"\x89"
        out += _global("collections", "OrderedDict") + b")R"  # backward_hooks
        out += b"tR"
    out += b"u."  # SETITEMS, STOP
    return bytes(out)


def _global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _unicode(text):
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value):
    return b"J" + struct.pack("<i", value)


def _tuple(values):
    return b"(" + b"".join(_int(v) for v in values) + b"t"
