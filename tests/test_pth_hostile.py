"""Hostile and broken .pth files (issue 15): refused with one clear PthError (a ValueError) before
anything large is allocated, nothing one load does changes a later one, and a fuzz test of byte
mutations and truncations run in a child process under a memory limit."""
import io
import pickle
import pickletools
import resource
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyconv.cli import main
from tinyconv.weights import UnsafePickleError, convert, read_pth, write_pth
from tinyconv.weights.pth import LEGACY_MAGIC, PthError, open_pth

HERE = Path(__file__).resolve().parent
LEGACY = HERE / "data" / "legacy_state_dict.pth"


# ----- pickles written opcode by opcode, as torch writes them (protocol 2)
def _global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _text(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value):
    data = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data  # LONG1: any size, any sign


def _ints(values):
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def _tensor(key, storage, numel, offset, size, stride, kind="FloatStorage"):
    return (_text(key) + _global("torch._utils", "_rebuild_tensor_v2") + b"((" + _text("storage")
            + _global("torch", kind) + _text(storage) + _text("cpu") + _int(numel) + b"tQ"
            + _int(offset) + _ints(size) + _ints(stride) + b"\x89"
            + _global("collections", "OrderedDict") + b")RtR")


def _state(*tensors):
    return (b"\x80\x02" + _global("collections", "OrderedDict") + b")R(" + b"".join(tensors)
            + b"u.")


def _zip(path, pkl, storages=(), compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        for key, data in storages:
            z.writestr(f"archive/data/{key}", data)
    return path


def _legacy(path, pkl, keys, storages):
    out = io.BytesIO()
    for head in (LEGACY_MAGIC, 1001, {"protocol_version": 1001}):
        pickle.dump(head, out, protocol=2)
    out.write(pkl)
    pickle.dump(keys, out, protocol=2)
    for numel, data in storages:
        out.write(struct.pack("<q", numel) + data)
    path.write_bytes(out.getvalue())
    return path


def _one_tensor(path, size, stride, offset=0, numel=4, data=b"\0" * 16):
    return _zip(path, _state(_tensor("w", "0", numel, offset, size, stride)), [("0", data)])


# ----- state between loads (issue 15, point 3)
BUILDS = {  # BUILD on each stand-in, then a harmless top-level object
    "storage type": _global("torch", "FloatStorage") + b"}" + _text("name")
    + _text("HalfStorage") + b"sb0}.",
    "rebuild function": _global("torch._utils", "_rebuild_tensor_v2") + b"(N}"
    + _text("__defaults__") + b"(Ntstb0}.",
    "OrderedDict class": _global("collections", "OrderedDict") + b"}" + _text("x") + b"K\x01sb0}.",
}


@pytest.mark.parametrize("target", list(BUILDS))
def test_build_on_a_stand_in_is_refused_and_changes_no_later_load(tmp_path, target):
    good = write_pth(tmp_path / "good.pth", {"w": np.arange(6, dtype=np.float32)})
    with pytest.raises(UnsafePickleError, match="tries to change"):
        read_pth(_zip(tmp_path / "build.pth", b"\x80\x02" + BUILDS[target]))
    back = read_pth(good)["w"]
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, np.arange(6, dtype=np.float32))


def test_real_squeezenet_reads_the_same_after_a_hostile_load(tmp_path, assets):
    source = assets / "weights" / "squeezenet1_1.pth"
    before = read_pth(source)
    with pytest.raises(UnsafePickleError):
        read_pth(_zip(tmp_path / "build.pth", b"\x80\x02" + BUILDS["storage type"]))
    after = read_pth(source)
    for key, array in before.items():
        assert after[key].dtype == array.dtype == np.float32
        np.testing.assert_array_equal(after[key], array)


def test_torch_metadata_on_the_state_dict_is_accepted(tmp_path):
    """torch >= 1.x pickles state_dict()._metadata through BUILD on the OrderedDict."""
    pkl = _state(_tensor("w", "0", 1, 0, (1,), (1,)))[:-1] + b"}" + _text("_metadata") + b"}sb."
    assert read_pth(_zip(tmp_path / "meta.pth", pkl, [("0", b"\0" * 4)]))["w"].shape == (1,)


# ----- views, storages and sizes checked before anything is allocated (point 7)
HOSTILE_VIEWS = {
    "stride 0": ((20000, 20000), (0, 0), 0, r"repeats elements \(stride 0\)"),
    "stride 2**70": ((2, 2), (2 ** 70, 1), 0, "malformed size"),
    "negative stride": ((2, 2), (-2, 1), 0, "malformed size"),
    "negative size": ((-2, 2), (2, 1), 0, "malformed size"),
    "offset beyond the storage": ((2, 2), (2, 1), 100, "reaches past its storage of 4"),
    "view past the end": ((3, 2), (2, 1), 0, "reaches past its storage of 4"),
    "overlapping view": ((4, 4), (1, 1), 0, "reaches past its storage of 4"),
}


@pytest.mark.parametrize("case", list(HOSTILE_VIEWS))
def test_tensor_views_are_checked_against_their_storage(tmp_path, case):
    size, stride, offset, message = HOSTILE_VIEWS[case]
    with pytest.raises(PthError, match=message):
        read_pth(_one_tensor(tmp_path / "v.pth", size, stride, offset))


def _zip_bomb(path, numel):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", _state(_tensor("w", "0", numel, 0, (numel,), (1,))))
        z.writestr("archive/data/0", b"\0" * (numel * 4))
    return path


def test_zip_bomb_is_refused_before_decompressing(tmp_path):
    bomb = _zip_bomb(tmp_path / "bomb.pth", 16 << 20)  # 64 MB of zeros in 64 KB
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(PthError, match="possible zip bomb"):
        open_pth(bomb)
    small = _zip_bomb(tmp_path / "small.pth", 1000)  # a compressed member within the slack
    np.testing.assert_array_equal(read_pth(small)["w"], np.zeros(1000, np.float32))


DAMAGED = {
    "storage missing from the zip": (lambda p: _zip(p, _state(_tensor("w", "7", 4, 0, (4,), (1,)))),
                                     r"storage 7 is not in the zip"),
    "storage shorter than declared": (lambda p: _zip(p, _state(_tensor("w", "0", 4, 0, (4,), (1,))),
                                                     [("0", b"\0" * 12)]),
                                      "holds 12 bytes, its tensors say 16"),
    "key given twice": (lambda p: _zip(p, _state(_tensor("w", "0", 1, 0, (1,), (1,)),
                                                 _tensor("w", "0", 1, 0, (1,), (1,))),
                                       [("0", b"\0" * 4)]), "gives key 'w' twice"),
    "storage declared twice": (lambda p: _zip(p, _state(_tensor("a", "0", 1, 0, (1,), (1,)),
                                                        _tensor("b", "0", 2, 0, (1,), (1,))),
                                              [("0", b"\0" * 4)]), "declared twice"),
    "data.pkl over 4 MB": (lambda p: _zip(p, b"\x80\x02" + b"](" * (3 << 20) + b"."),
                           "data.pkl is 6291459 bytes, over the 4194304"),
    "nested 10**6 deep": (lambda p: _zip(p, b"\x80\x02)" + b"\x85" * 10 ** 6 + b"."),
                          "nests objects more than 32 deep"),
    "nested key hashed": (lambda p: _zip(p, b"\x80\x02}" + b")" + b"\x85" * 10 ** 6 + b"K\x01s."),
                          "nests objects more than 32 deep"),
    "garbage pickle": (lambda p: _zip(p, b"\x80\x02\xff\xfe"), "its pickle is malformed"),
    "REDUCE with bad arguments": (lambda p: _zip(p, b"\x80\x02" + _global(
        "torch._utils", "_rebuild_tensor_v2") + _text("x") + b"\x85R."), "not a storage"),
    "OrderedDict with arguments": (lambda p: _zip(p, b"\x80\x02" + _global(
        "collections", "OrderedDict") + b"K\x01\x85R."), "OrderedDict with arguments"),
    "non-string key": (lambda p: _zip(p, b"\x80\x02}K\x01K\x02s."), "key of type int"),
    "a list, not a state_dict": (lambda p: _zip(p, b"\x80\x02]."), "holds a list"),
    "legacy negative size": (lambda p: _legacy(p, _state(_tensor("w", "k", 4, 0, (4,), (1,))),
                                               ["k"], [(-1, b"\0" * 16)]),
                             "storage k holds -1 elements, its tensors say 4"),
    "legacy 64 GB declared, 16 bytes there": (
        lambda p: _legacy(p, _state(_tensor("w", "k", 1 << 34, 0, (1 << 34,), (1,))), ["k"],
                          [(1 << 34, b"\0" * 16)]), "truncated: storage k needs 68719476736"),
    "legacy BYTEARRAY8 of 2**60": (
        lambda p: p.write_bytes(pickle.dumps(LEGACY_MAGIC, protocol=2) + b"\x80\x05\x96"
                                + struct.pack("<Q", 1 << 60) + b"xx") and p,
        "pickles declare more than the 4194304 bytes"),
    "legacy storage list wrong": (lambda p: _legacy(p, _state(_tensor("w", "k", 4, 0, (4,), (1,))),
                                                    ["other"], [(4, b"\0" * 16)]),
                                  "list of storages does not match"),
    "truncated zip": (lambda p: p.write_bytes(write_pth(p.with_suffix(".ok"), {
        "w": np.ones(4096, np.float32)}).read_bytes()[:9000]) and p,
        "is a damaged or truncated zip file"),
    "old tar format": (lambda p: _tar(p), "tar archive, PyTorch's format before 0.4"),
    "empty": (lambda p: p.write_bytes(b"") or p, "is empty"),
    "text": (lambda p: p.write_bytes(b"hello") and p, "not a PyTorch file"),
    "pickle without the magic": (lambda p: p.write_bytes(b"\x80\x02K\x05.") and p,
                                 "not with torch's magic number"),
}


def _tar(path):
    import tarfile
    with tarfile.open(path, "w") as t:
        info = tarfile.TarInfo("pickle")
        info.size = 4
        t.addfile(info, io.BytesIO(b"\0" * 4))
    return path


@pytest.mark.parametrize("case", list(DAMAGED))
def test_damaged_and_hostile_files_give_one_pth_error(tmp_path, case):
    make, message = DAMAGED[case]
    path = make(tmp_path / "x.pth")
    with pytest.raises(PthError, match=message) as caught:
        read_pth(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_folder_is_named_as_one(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        read_pth(tmp_path)


def test_strided_views_cannot_multiply_memory(tmp_path):
    many = b"".join(_tensor(f"w{i}", "0", 1 << 16, 0, (256, 256), (1, 256)) for i in range(40))
    path = _zip(tmp_path / "share.pth", _state(many), [("0", b"\0" * (4 << 16))])
    with pytest.raises(PthError, match="bytes of copies, more than its storages hold"):
        open_pth(path)
    one = _zip(tmp_path / "one.pth", _state(_tensor("t", "0", 6, 0, (3, 2), (1, 3))),
               [("0", np.arange(6, dtype=np.float32).tobytes())])
    np.testing.assert_array_equal(read_pth(one)["t"], np.arange(6).reshape(2, 3).T)


# ----- the torchvision converter: architecture first, dtypes by a stated rule (points 6, 9)
def _squeezenet_state(dtype=np.float32):
    from tinyconv import models
    from tinyconv.weights.convert import torchvision_key_map
    ours = models.build("squeezenet1_1", seed=3).state_dict()
    return OrderedDict((theirs, ours[mine].astype(dtype))
                       for theirs, mine in torchvision_key_map("squeezenet1_1").items())


def test_integer_weights_are_refused_not_cast(tmp_path):
    path = write_pth(tmp_path / "int8.pth", _squeezenet_state(np.int8))
    with pytest.raises(ValueError, match=r"'features.0.weight' is a torch CharStorage; weights "
                                         r"must be floating point"):
        convert(path)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_half_widens_exactly_and_double_rounds(tmp_path, dtype):
    state = _squeezenet_state(dtype)
    wf = convert(write_pth(tmp_path / "w.pth", state))
    got = wf.params["conv1.weight"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, state["features.0.weight"].astype(np.float32))


def test_float64_beyond_float32_is_refused(tmp_path):
    state = _squeezenet_state(np.float64)
    state["features.0.bias"][0] = 1e300
    with pytest.raises(ValueError, match="'features.0.bias' holds float64 values beyond"):
        convert(write_pth(tmp_path / "big.pth", state))


def test_wrong_architecture_names_both(tmp_path):
    path = write_pth(tmp_path / "squeezenet.pth", _squeezenet_state())
    with pytest.raises(ValueError, match=r"squeezenet.pth does not hold vgg16: 30 missing keys "
                                         r"\['classifier.0.bias'.*unexpected keys.*; it holds "
                                         r"squeezenet1_1"):
        convert(path, arch="vgg16")


def test_wrong_shape_and_zero_d_bias_name_the_key(tmp_path):
    state = _squeezenet_state()
    state["features.3.squeeze.weight"] = np.zeros((16, 64, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"'features.3.squeeze.weight' \(layer 'fire2/squeeze'\) "
                                         r"has shape \(16, 64, 3, 3\) but squeezenet1_1 expects "
                                         r"\(16, 64, 1, 1\)"):
        convert(write_pth(tmp_path / "shape.pth", state))
    state = _squeezenet_state()
    state["classifier.1.bias"] = np.array(1.0, np.float32)
    with pytest.raises(ValueError, match=r"'classifier.1.bias' has shape \(\); the classifier"):
        convert(write_pth(tmp_path / "zero_d.pth", state))


def test_cli_prints_a_refused_pickle_as_one_line(tmp_path, capsys):
    payload = b"\x80\x02" + _global("os", "system") + _text("touch pwned") + b"\x85R."
    path = _zip(tmp_path / "evil.pth", payload)
    assert main(["convert", str(path), "-o", str(tmp_path / "out.h5")]) == 1
    err = capsys.readouterr().err
    assert err == (f"tinyconv convert: error: {path}: refused: its pickle calls os.system, which "
                   f"a weight file never needs (only tensors in dicts are read; save "
                   f"model.state_dict(), not the model, to load it here)\n")


# ----- fuzz: mutations and truncations of small valid files (run in a child, memory-limited)
def _valid_zip():
    buffer = io.BytesIO()
    write_pth(buffer, OrderedDict(a=np.arange(12, dtype=np.float32).reshape(3, 4),
                                  b=np.array([1.5, -2.0], np.float16)))
    return buffer.getvalue()


def _check_outcome(data, tmp):
    """Reading `data` gives arrays of the declared shapes, within the file's bytes, or a
    ValueError/OSError."""
    tmp.write_bytes(data)
    try:
        arrays = read_pth(tmp)
    except (ValueError, OSError):
        return
    declared = open_pth(tmp).tensors
    assert list(arrays) == list(declared)
    for key, array in arrays.items():
        assert isinstance(array, np.ndarray) and array.shape == tuple(declared[key].shape)
    assert sum(a.nbytes for a in arrays.values()) <= 2 * len(data)


FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck), database=None)
_edit = st.tuples(st.integers(0, 1 << 20), st.integers(0, 255))


@FUZZ
@given(edits=st.lists(_edit, max_size=4), cut=st.one_of(st.none(), st.integers(0, 1 << 20)),
       legacy=st.booleans())
def fuzz_file_bytes(tmp, edits, cut, legacy):
    data = bytearray(LEGACY.read_bytes() if legacy else _valid_zip())
    for position, value in edits:
        data[position % len(data)] = value
    _check_outcome(bytes(data[:None if cut is None else cut % (len(data) + 1)]), tmp)


_OPCODES = sorted(ord(op.code) for op in pickletools.opcodes)
# an edit: overwrite a byte with any value or with an opcode, or delete a byte
_pickle_edit = st.tuples(st.integers(0, 1 << 20),
                         st.one_of(st.integers(0, 255), st.sampled_from(_OPCODES), st.none()))


@settings(FUZZ, max_examples=300)
@given(edits=st.lists(_pickle_edit, min_size=1, max_size=4), cut=st.integers(0, 1 << 20))
def fuzz_pickle_rezipped(tmp, edits, cut):
    """Mutations inside data.pkl, re-zipped with a valid CRC: the unpickler itself is fuzzed."""
    with zipfile.ZipFile(io.BytesIO(_valid_zip())) as z:
        members = {n: z.read(n) for n in z.namelist()}
    pkl = bytearray(members["archive/data.pkl"])
    for position, value in edits:
        if value is None:
            del pkl[position % len(pkl)]
        else:
            pkl[position % len(pkl)] = value
    members["archive/data.pkl"] = bytes(pkl[:cut % (len(pkl) + 1) or None])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)
    _check_outcome(buffer.getvalue(), tmp)


def run_fuzz(folder):
    """Both fuzz tests (the child's body); an exception of another type fails the test."""
    fuzz_file_bytes(Path(folder) / "fuzz.pth")
    fuzz_pickle_rezipped(Path(folder) / "fuzz.pth")


FUZZ_MEMORY_LIMIT = 2 << 30  # address space: Python, numpy and the fuzz's small files


def test_fuzz_mutations_and_truncations_under_a_memory_limit(tmp_path):
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (FUZZ_MEMORY_LIMIT, FUZZ_MEMORY_LIMIT))
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import test_pth_hostile as t; "
            f"t.run_fuzz({str(tmp_path)!r})")
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], preexec_fn=limit, capture_output=True,
                          text=True, timeout=120, cwd=HERE.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    assert time.monotonic() - start < 60
