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

Nothing in the file is trusted (docs/weights-format.md lists the rules):
- every load makes its own stand-ins, which refuse pickle's BUILD (attribute setting), so no file
  can change what a later load reads;
- the pickles are at most MAX_PICKLE_BYTES and MAX_NESTING deep, checked before unpickling;
- `open_pth` reads only the pickle and the storages' sizes, and checks every tensor's size,
  stride and offset against its storage and every storage against the bytes really in the file,
  so that a caller (the torchvision converter) can check keys and shapes against an architecture
  before `read_arrays` allocates anything;
- every error caused by the file is a PthError (a ValueError) naming the file.
"""
import collections
import io
import os
import pickle
import pickletools
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..atomic import writing

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16,  # widened to float32 when read
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
# A state_dict's pickle takes about 200 bytes a tensor (SqueezeNet's: 5 KB for 52 tensors), so
# 4 MB is 20,000 tensors; a pickle can make ~64 bytes of objects per byte, so this bounds them too.
MAX_PICKLE_BYTES = 4 << 20
# A state_dict is a dict of tensors whose arguments are tuples of ints: depth 4. Deeper nesting
# only serves to crash CPython, whose hash() of a tuple nested 10**6 deep overflows the C stack.
MAX_NESTING = 32
# torch writes storages uncompressed (stored). A compressed one may expand at most this much
# (float weights hardly compress; small all-zero buffers such as BatchNorm's fit in the slack).
MAX_EXPANSION, EXPANSION_SLACK = 10, 1 << 20
MAX_DIMS = 16


class PthError(ValueError):
    """A .pth file that is damaged, malformed or not a state_dict; the message names the file."""


class UnsafePickleError(PthError, pickle.UnpicklingError):
    """The pickle asked for something other than tensors and plain containers."""


def _is_count(value, limit=1 << 62):
    """A plain int in [0, limit): sizes, strides, offsets and element counts (bool is not one)."""
    return type(value) is int and 0 <= value < limit


class StorageRef:
    """A storage named by a persistent id: its kind, element count, and where its bytes are
    (a zip member's name, or an offset in a legacy file), filled in once the container is read."""

    def __init__(self, kind, key, numel):
        self.kind, self.key, self.numel = kind, key, numel
        self.dtype = np.dtype(STORAGE_DTYPES[kind])
        self.where = None

    @property
    def nbytes(self):
        return self.numel * self.dtype.itemsize


class LazyTensor:
    """A tensor as the pickle declares it: a view (offset, size, stride) of a storage whose bytes
    are not read yet. The view is checked against the storage's element count when made."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride
        self.numel = int(np.prod(size, dtype=object)) if size else 1
        where = f"tensor of size {size}, stride {stride}, offset {offset}"
        if self.numel and any(n > 1 and s == 0 for n, s in zip(size, stride)):
            raise PthError(f"{where} repeats elements (stride 0); a state_dict never does")
        last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if self.numel else offset - 1
        if last >= storage.numel or self.numel > storage.numel - offset:
            raise PthError(f"{where} reaches past its storage of {storage.numel} elements")

    @property
    def shape(self):
        return self.size

    @property
    def kind(self):
        return self.storage.kind

    def is_whole_storage(self):
        """True when the tensor is its storage's elements in order (no copy is needed)."""
        contiguous = all(s == int(np.prod(self.size[i + 1:], dtype=object)) or n == 1
                         for i, (n, s) in enumerate(zip(self.size, self.stride)))
        return self.offset == 0 and self.numel == self.storage.numel and contiguous

    def materialize(self, flat):
        """The tensor as a numpy array from its storage's elements `flat` (a view when it is the
        whole storage, else a copy that owns its memory)."""
        if self.is_whole_storage():
            return flat.reshape(self.size)
        if not self.numel:
            return np.zeros(self.size, dtype=flat.dtype)
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], self.size,
                                               tuple(s * item for s in self.stride))
        return np.array(view)


class _StandIn:
    """One global the pickle may name, made fresh for every load. Calling it calls `function`;
    pickle's BUILD (which sets attributes) is refused, so a file cannot change a stand-in, and
    nothing a file does outlives its load."""
    __slots__ = ("name", "function")

    def __init__(self, name, function):
        self.name, self.function = name, function

    def __call__(self, *args):
        if self.function is None:
            raise UnsafePickleError(f"the pickle calls {self.name}, which a state_dict never does")
        return self.function(*args)

    def __setstate__(self, state):
        raise UnsafePickleError(f"the pickle tries to change {self.name}, which a weight file "
                                f"never needs")


class _StateDict(collections.OrderedDict):
    """The OrderedDict a pickle makes: refuses a key given twice (which would hide a tensor) and
    takes, through BUILD, only torch's `_metadata` attribute (ignored)."""

    def __setitem__(self, key, value):
        if key in self:
            raise PthError(f"the state_dict gives key {str(key)[:80]!r} twice")
        super().__setitem__(key, value)

    def __setstate__(self, state):
        if not isinstance(state, dict) or set(state) - {"_metadata"}:
            raise UnsafePickleError("the pickle sets attributes other than _metadata on a dict")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only a short allow-list of globals, to stand-ins made for this load.

    storages: key -> StorageRef, filled from the persistent ids, shared by every tensor viewing it.
    """

    def __init__(self, file, storages, source):
        super().__init__(file)
        self.storages, self.source = storages, source
        self.stand_ins = {
            ("collections", "OrderedDict"): self._ordered_dict,
            ("torch._utils", "_rebuild_tensor"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_tensor_v2"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): self._rebuild_parameter,
            **{("torch", name): None for name in STORAGE_DTYPES}}

    def find_class(self, module, name):
        if (module, name) in self.stand_ins:
            return _StandIn(f"{module}.{name}", self.stand_ins[(module, name)])
        raise UnsafePickleError(
            f"refused: its pickle calls {module}.{name}, which a weight file never needs (only "
            f"tensors in dicts are read; save model.state_dict(), not the model, to load it here)")

    @staticmethod
    def _ordered_dict(*args):
        if args:
            raise PthError("the pickle calls collections.OrderedDict with arguments")
        return _StateDict()

    def _rebuild_tensor(self, *args):
        """Stand-in for torch._utils._rebuild_tensor(_v2): the checked view; reads nothing."""
        if len(args) < 4 or not isinstance(args[0], StorageRef):
            raise PthError("a tensor is rebuilt from something that is not a storage")
        storage, offset, size, stride = args[:4]
        if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
                and len(size) <= MAX_DIMS and _is_count(offset)
                and all(_is_count(v, 1 << 40) for v in size + stride)):
            raise PthError(f"a tensor has a malformed size {str(size)[:80]}, stride "
                           f"{str(stride)[:80]} or offset {str(offset)[:40]}")
        return LazyTensor(storage, offset, size, stride)

    @staticmethod
    def _rebuild_parameter(*args):
        if not args or not isinstance(args[0], LazyTensor):
            raise PthError("a parameter is rebuilt from something that is not a tensor")
        return args[0]

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StandIn) and pid[1].name.startswith("torch.")
                and pid[1].name[6:] in STORAGE_DTYPES and isinstance(pid[2], (str, int))
                and len(str(pid[2])) <= 100 and _is_count(pid[4], 1 << 40)):
            raise UnsafePickleError("the pickle has a malformed storage reference (persistent id)")
        if len(pid) > 5 and pid[5] is not None:
            raise PthError("legacy storage views are not supported")
        kind, key, numel = pid[1].name[6:], str(pid[2]), pid[4]
        ref = self.storages.setdefault(key, StorageRef(kind, key, numel))
        if (ref.kind, ref.numel) != (kind, numel):
            raise PthError(f"storage {key} is declared twice, as {ref.kind} of {ref.numel} "
                           f"elements and as {kind} of {numel}")
        return ref


_INPLACE = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"}


def _check_nesting(data, limit=MAX_NESTING):
    """Raise PthError when the pickle `data` would build objects nested deeper than `limit`,
    by following the depth of each stack item through pickletools' opcode table, unpickling
    nothing. Also refuses a stream pickletools cannot decode."""
    stack, memo = [], {}
    for op, arg, _ in pickletools.genops(data):
        if op.name == "MEMOIZE" or op.name.endswith("PUT"):
            memo[len(memo) if op.name == "MEMOIZE" else arg] = stack[-1] or 0 if stack else 0
            continue
        if op.name.endswith("GET") or op.name == "DUP":
            stack.append(memo.get(arg, 0) if op.name != "DUP" else stack[-1] or 0 if stack else 0)
            continue
        popped, before = [], op.stack_before
        if pickletools.markobject in before:
            while stack and stack[-1] is not None:
                popped.append(stack.pop())
            stack[-1:] = []  # the mark
            below = before.index(pickletools.markobject)
        else:
            below = len(before)
        for _ in range(min(below, len(stack))):
            popped.append(stack.pop() or 0)  # a mark for an object: refused by the unpickler
        if op.name in _INPLACE and popped:  # the container (deepest popped) stays, items go in
            depth = max([popped[-1]] + [d + 1 for d in popped[:-1]])
        else:
            depth = 1 + max(popped, default=0)
        if depth > limit:
            raise PthError(f"its pickle nests objects more than {limit} deep; a state_dict's "
                           f"nests 4")
        stack += [None if a is pickletools.markobject else depth for a in op.stack_after]


def _unpickle(data, path, storages=None):
    """The object the pickle `data` (bytes) holds, through RestrictedUnpickler; PthError (naming
    the file) for anything wrong with it. Its opcodes are checked first (_check_nesting): the
    unpickler allocates what a length opcode declares before reading it, pickletools does not."""
    try:
        _check_nesting(data)
        return RestrictedUnpickler(io.BytesIO(data), {} if storages is None else storages,
                                   path).load()
    except PthError as e:
        raise type(e)(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, OverflowError, RecursionError, struct.error) as e:
        # what the unpickler itself raises on a malformed stream (REDUCE on a non-callable,
        # APPEND to a non-list, a truncated opcode, ...)
        raise PthError(f"{path}: damaged PyTorch file: its pickle is malformed "
                       f"({type(e).__name__}: {str(e)[:100]})") from None


class _BoundedReader:
    """A legacy file's pickles, read exactly (one must not be read past) and at most `budget`
    bytes in all, so that no length a pickle declares makes us read or allocate more."""

    def __init__(self, raw, budget, path):
        self.raw, self.budget, self.path = raw, budget, path

    def _take(self, n):
        if n < 0 or n > self.budget:
            raise PthError(f"{self.path}: its pickles declare more than the {MAX_PICKLE_BYTES} "
                           f"bytes a state_dict's need")
        self.budget -= n
        return n

    def read(self, n):
        data = self.raw.read(self._take(n))
        self.budget += n - len(data)  # what the file did not have is not spent
        return data

    def readline(self):
        line = self.raw.readline(self.budget)
        self._take(len(line))
        return line

    def tell(self):
        return self.raw.tell()

    def next_pickle(self):
        """The bytes of the pickle that starts here; the file is left just after it. Its
        opcodes are walked by pickletools (which reads what each declares, no more) to find its
        end, so that no declared length is allocated before it is known to be in the file."""
        start = self.raw.tell()
        try:
            _check_nesting(self)
        except PthError:
            raise
        except (ValueError, EOFError) as e:
            raise PthError(f"{self.path}: damaged PyTorch file: its pickle is malformed "
                           f"({str(e)[:100]})") from None
        end = self.raw.tell()
        self.raw.seek(start)
        return self.raw.read(end - start)


def _load_legacy_pickles(f, path):
    """(state, storages, storage keys) from the legacy stream's five pickles (f: _BoundedReader)."""
    magic = _unpickle(f.next_pickle(), path)
    if magic != LEGACY_MAGIC:
        raise PthError(f"{path} is not a PyTorch file: it starts with a pickle, but not with "
                       f"torch's magic number")
    _unpickle(f.next_pickle(), path)  # protocol version
    _unpickle(f.next_pickle(), path)  # sys info: a dict of plain values
    storages = {}
    state = _unpickle(f.next_pickle(), path, storages)
    keys = _unpickle(f.next_pickle(), path)
    if not (isinstance(keys, list) and all(isinstance(k, (str, int)) for k in keys)
            and sorted(map(str, keys)) == sorted(storages)):
        raise PthError(f"{path}: damaged PyTorch file: its list of storages does not match the "
                       f"storages its tensors use")
    return state, storages, [str(k) for k in keys]


def _open_legacy(path):
    """(state, storages) of a legacy file, each storage's offset found and its size checked
    against the bytes left in the file; no storage is read."""
    with open(path, "rb") as raw:
        state, storages, keys = _load_legacy_pickles(_BoundedReader(raw, MAX_PICKLE_BYTES, path),
                                                     path)
        size, pos = os.fstat(raw.fileno()).st_size, raw.tell()
        for key in keys:
            ref = storages[key]
            raw.seek(pos)
            head = raw.read(8)
            numel = struct.unpack("<q", head)[0] if len(head) == 8 else None
            if numel != ref.numel:
                raise PthError(f"{path}: damaged PyTorch file: storage {key} holds {numel} "
                               f"elements, its tensors say {ref.numel}")
            if pos + 8 + ref.nbytes > size:
                raise PthError(f"{path} is truncated: storage {key} needs {ref.nbytes} bytes, "
                               f"{max(size - pos - 8, 0)} are left")
            ref.where, pos = pos + 8, pos + 8 + ref.nbytes
    return state, storages


def _zip_member_check(info, ref, file_size, path):
    """Refuse a zip member that is not the storage's size, reaches past the file, or is a
    compressed member that expands more than a weight file's can (a zip bomb)."""
    where = f"{path}: storage {ref.key} ({info.filename})"
    if info.file_size != ref.nbytes:
        raise PthError(f"{where} holds {info.file_size} bytes, its tensors say {ref.nbytes}")
    if info.header_offset + info.compress_size > file_size:
        raise PthError(f"{path} is truncated: {where} reaches past the end of the file")
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise PthError(f"{where} is damaged: stored, but {info.compress_size} bytes in the zip")
    if info.file_size > MAX_EXPANSION * info.compress_size + EXPANSION_SLACK:
        raise PthError(f"{where} is compressed {info.compress_size} -> {info.file_size} bytes; "
                       f"refusing it as a possible zip bomb (torch writes storages uncompressed)")


def _open_zip(path):
    """(state, storages, byte order) of a zip-format file; storage members are checked, not read."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        if len(set(names)) != len(names):
            raise PthError(f"{path}: damaged PyTorch file: the zip holds a name twice")
        pkl = [n for n in names if n.endswith("data.pkl")]
        if len(pkl) != 1:
            raise PthError(f"{path} is a zip file but not a PyTorch one (no single data.pkl among "
                           f"{names[:5]})")
        prefix = pkl[0][:-len("data.pkl")]
        if z.getinfo(pkl[0]).file_size > MAX_PICKLE_BYTES:
            raise PthError(f"{path}: its data.pkl is {z.getinfo(pkl[0]).file_size} bytes, over "
                           f"the {MAX_PICKLE_BYTES} a state_dict's pickle needs")
        storages = {}
        state = _unpickle(z.read(pkl[0]), path, storages)
        file_size = os.path.getsize(path)
        for ref in storages.values():
            ref.where = f"{prefix}data/{ref.key}"
            if ref.where not in names:
                raise PthError(f"{path}: damaged PyTorch file: storage {ref.key} is not in the "
                               f"zip ({ref.where} missing)")
            _zip_member_check(z.getinfo(ref.where), ref, file_size, path)
        order = z.read(prefix + "byteorder").strip() if prefix + "byteorder" in names else b""
    return state, storages, order == b"big"


class PthFile:
    """What `open_pth` found: the state_dict's tensors ({key: LazyTensor}, views checked, bytes
    not read) and where their storages' bytes are."""

    def __init__(self, path, tensors, legacy, big_endian=False):
        self.path, self.tensors, self.legacy, self.big_endian = path, tensors, legacy, big_endian


def read_pth(path):
    """{key: numpy array} from a PyTorch state_dict file (zip or legacy format).

    Raises UnsafePickleError for anything but tensors in (ordered) dicts, PthError (a ValueError)
    for damaged or malformed files. A file holding {"state_dict": {...}} or {"model": {...}} is
    unwrapped. Arrays keep the storage's dtype (bfloat16 is widened to float32).
    """
    return read_arrays(open_pth(path))


def open_pth(path):
    """A PthFile: the pickle read and every tensor and storage checked, no storage read."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a PyTorch .pth file")
    with open(path, "rb") as f:  # FileNotFoundError / PermissionError name the path
        head = f.read(512)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        try:
            state, storages, big_endian = _open_zip(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
                zlib.error) as e:
            raise PthError(f"{path} is a damaged or truncated zip file ({e}); download it "
                           f"again") from None
        return PthFile(path, _state_tensors(state, storages, path), False, big_endian)
    if head[:1] == b"\x80":
        state, storages = _open_legacy(path)
        return PthFile(path, _state_tensors(state, storages, path), True)
    if head[257:262] == b"ustar":
        raise PthError(f"{path} is a tar archive, PyTorch's format before 0.4, which tinyconv "
                       f"does not read; re-save it with a current torch: "
                       f"torch.save(torch.load(OLD), NEW)")
    raise PthError(f"{path} is empty" if not head else
                   f"{path} is not a PyTorch file (it starts with neither a zip header nor a "
                   f"pickle)")


def _state_tensors(state, storages, path):
    """{key: LazyTensor} inside `state`, unwrapping one {"state_dict"/"model": ...} level; the
    copies that strided views need may not add up to more than the storages hold."""
    if isinstance(state, dict):
        for wrapper in ("state_dict", "model"):
            if wrapper in state and isinstance(state[wrapper], dict) and len(state) <= 3:
                state = state[wrapper]
                break
    if not isinstance(state, dict):
        raise PthError(f"{path} holds a {type(state).__name__}, not a state_dict")
    tensors = collections.OrderedDict()
    for key, value in state.items():
        if not isinstance(key, str):
            raise PthError(f"{path}: the state_dict has a key of type {type(key).__name__}")
        if isinstance(value, LazyTensor):
            tensors[key] = value
        elif not isinstance(value, (int, float, str, type(None))):
            raise PthError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor")
    copied = sum(t.numel * t.storage.dtype.itemsize for t in tensors.values()
                 if not t.is_whole_storage())
    if copied > sum(ref.nbytes for ref in storages.values()):
        raise PthError(f"{path}: its strided tensors need {copied} bytes of copies, more than "
                       f"its storages hold; a state_dict's tensors do not overlap")
    return tensors


def read_arrays(pth, keys=None):
    """{key: numpy array} of PthFile `pth`'s tensors `keys` (all when None): only their
    storages are read, each once."""
    keys = list(pth.tensors) if keys is None else list(keys)
    refs = {pth.tensors[k].storage.key: pth.tensors[k].storage for k in keys}
    flats = {}
    try:
        if pth.legacy:
            with open(pth.path, "rb") as f:
                for key, ref in refs.items():
                    f.seek(ref.where)
                    flats[key] = _read_storage(ref, f, False, pth.path)
        else:
            with zipfile.ZipFile(pth.path) as z:
                for key, ref in refs.items():
                    with z.open(ref.where) as f:
                        flats[key] = _read_storage(ref, f, pth.big_endian, pth.path)
                        f.read(1)  # at the end of a member, zipfile checks its CRC-32
    except (zipfile.BadZipFile, NotImplementedError, EOFError, zlib.error) as e:
        raise PthError(f"{pth.path} is damaged ({e}); download it again") from None
    tensors = {k: pth.tensors[k] for k in keys}
    return collections.OrderedDict((k, t.materialize(flats[t.storage.key]))
                                   for k, t in tensors.items())


def _read_storage(ref, f, big_endian, path):
    """The ref.numel elements of storage `ref` read from file object `f` into a new array."""
    dtype = ref.dtype.newbyteorder(">") if big_endian else ref.dtype
    array = np.empty(ref.numel, dtype=dtype)
    got = f.readinto(memoryview(array).cast("B")) if array.nbytes else 0
    if got != array.nbytes:
        raise PthError(f"{path} is truncated: storage {ref.key} has {got} of "
                       f"{array.nbytes} bytes")
    array = array.astype(dtype.newbyteorder("="), copy=False)
    if ref.kind == "BFloat16Storage":  # bfloat16 = the top half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


# ----- writing the zip format (tests make torchvision-shaped files with this; torch reads it)
def write_pth(path, state, name="archive"):
    """Write {key: numpy float array} as a PyTorch zip-format state_dict file (a path, written
    atomically, or a binary file object)."""
    arrays = collections.OrderedDict((k, np.asarray(v, order="C")) for k, v in state.items())
    if hasattr(path, "write"):
        _write_zip(path, arrays, name)
    else:
        with writing(path) as tmp:
            _write_zip(tmp, arrays, name)
    return path


def _write_zip(file, arrays, name):
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}/data.pkl", _state_pickle(arrays))
        z.writestr(f"{name}/byteorder", "little")
        z.writestr(f"{name}/version", "3\n")
        for i, array in enumerate(arrays.values()):
            with z.open(f"{name}/data/{i}", "w", force_zip64=True) as f:
                f.write(memoryview(array.astype(array.dtype.newbyteorder("<"), copy=False)))


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
