"""Issue 15, weight files: an HDF5 or ml5 file supplies only its own bytes, only as many as the
architecture needs (checked before anything is read), only finite weights and sane
preprocessing; labels match the class count; every refusal is one ValueError/OSError naming the
file. Property tests over mutated files are in test_weights_fuzz.py."""
import json
import os
import shutil
import tracemalloc

import h5py
import numpy as np
import pytest

import tinyconv
from tinyconv.cli import main
from tinyconv.models.preprocessing import TORCHVISION, Preprocessing
from tinyconv.weights import WeightFile, convert, read_weights, write_weights
from tinyconv.weights.convert import match_labels, read_labels
from tinyconv.weights.hdf5 import BadWeightFile, check_regular_file
from tinyconv.weights.ml5 import convert_ml5, read_manifest

CONV1 = {"conv1.weight": (64, 3, 3, 3), "conv1.bias": (64,)}


def tiny_weights(path, **attrs):
    """A tinyconv file of SqueezeNet 1.1 cut after conv1 (7 KB), root attributes overridden."""
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s).astype(np.float32) for k, s in CONV1.items()}
    write_weights(path, WeightFile("squeezenet1_1", params, TORCHVISION, last_layer="conv1"))
    with h5py.File(path, "r+") as f:
        for key, value in attrs.items():
            f.attrs[key] = value
    return path


def tiny_keras(path):
    """A Keras file holding block1_conv1 only (read as vgg16 cut after relu1_1)."""
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"block1_conv1"])
        group = f.create_group("block1_conv1")
        group.attrs["weight_names"] = np.array([b"block1_conv1/kernel:0", b"block1_conv1/bias:0"])
        group["block1_conv1/kernel:0"] = rng.standard_normal((3, 3, 3, 64)).astype(np.float32)
        group["block1_conv1/bias:0"] = rng.standard_normal(64).astype(np.float32)
    return path


def replace_dataset(path, name, **kwargs):
    with h5py.File(path, "r+") as f:
        del f[name]
        if kwargs:
            f.create_dataset(name, **kwargs)
    return path


def load_tc(path):
    return read_weights(path)


def load_keras(path):
    return convert(path, arch="vgg16")


READERS = {"tinyconv": (tiny_weights, "layers/conv1/bias", load_tc),
           "keras": (tiny_keras, "block1_conv1/block1_conv1/bias:0", load_keras)}


def test_the_small_files_load(tmp_path):
    assert load_tc(tiny_weights(tmp_path / "t.h5")).last_layer == "conv1"
    assert load_keras(tiny_keras(tmp_path / "k.h5")).last_layer == "relu1_1"


# ----- point 1: a weight file may only supply its own bytes
@pytest.mark.parametrize("kind", READERS)
def test_external_storage_is_refused(tmp_path, kind):
    make, bias, load = READERS[kind]
    path = replace_dataset(make(tmp_path / "x.h5"), bias, shape=(64,), dtype="f4",
                           external=[("/etc/passwd", 0, 256)])
    with pytest.raises(BadWeightFile, match="external storage .*only supply its own bytes"):
        load(path)


def _external_link(f, name, tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as other:
        other["b"] = np.zeros(64, np.float32)
    f[name] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/b")


def _soft_link_loop(f, name, tmp_path):
    f[name] = h5py.SoftLink("/" + name)


def _virtual(f, name, tmp_path):
    with h5py.File(tmp_path / "source.h5", "w") as other:
        other["b"] = np.zeros(64, np.float32)
    layout = h5py.VirtualLayout(shape=(64,), dtype="f4")
    layout[:] = h5py.VirtualSource(str(tmp_path / "source.h5"), "b", shape=(64,))
    f.create_virtual_dataset(name, layout)


def _named_datatype(f, name, tmp_path):
    f[name] = np.zeros(64, np.float32)
    f[name.rsplit("/", 1)[0] + "/type"] = np.dtype("f4")


@pytest.mark.parametrize("kind", READERS)
@pytest.mark.parametrize("make_link, error", [
    (_external_link, "external link to .*other.h5"), (_soft_link_loop, "soft link"),
    (_virtual, "virtual dataset"), (_named_datatype, "is a Datatype, not a group or a dataset")])
def test_links_and_virtual_datasets_are_refused(tmp_path, kind, make_link, error):
    make, bias, load = READERS[kind]
    path = replace_dataset(make(tmp_path / "x.h5"), bias)
    with h5py.File(path, "r+") as f:
        make_link(f, bias, tmp_path)
    with pytest.raises(BadWeightFile, match=error):
        load(path)


# ----- point 7: declared sizes are checked before anything is read
@pytest.mark.parametrize("kind", READERS)
def test_a_huge_dataset_without_data_is_refused_before_reading(tmp_path, kind):
    make, bias, load = READERS[kind]
    weight = bias.replace("bias", "kernel" if kind == "keras" else "weight")
    path = replace_dataset(make(tmp_path / "x.h5"), weight, shape=(20000, 20000), dtype="f4")
    tracemalloc.start()
    try:
        with pytest.raises(BadWeightFile, match=r"\(20000, 20000\) but .* expects"):
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6  # not the 1.6 GB declared


@pytest.mark.parametrize("kwargs, error", [
    (dict(shape=(64,), dtype="f4", fillvalue=np.nan), "declares 256 bytes but the file holds 0"),
    (dict(shape=(64,), dtype="f4", chunks=(8,)), "declares 256 bytes but the file holds 0"),
    (dict(data=np.zeros(64, "f4"), scaleoffset=2), "filter 'scaleoffset'"),
    (dict(data=np.zeros(64, "i4")), "dtype int32; weights must be float16, float32 or float64"),
    (dict(data=np.zeros(64, np.longdouble)), "dtype float128"),
    (dict(data=np.zeros(64, [("a", "f4"), ("b", "i4")])), r"dtype \[\('a'"),
    (dict(data=np.array([b"x"] * 64)), r"dtype \|S1"),
    (dict(data=np.float32(1)), r"has shape \(\) but squeezenet1_1 expects \(64,\)"),
])
def test_datasets_that_are_not_plain_stored_floats_are_refused(tmp_path, kwargs, error):
    path = replace_dataset(tiny_weights(tmp_path / "x.h5"), "layers/conv1/bias", **kwargs)
    with pytest.raises(BadWeightFile, match=error):
        read_weights(path)


def test_compressed_and_user_block_files_load(tmp_path):
    path = tiny_weights(tmp_path / "x.h5")
    expected = read_weights(path).params["conv1.weight"]
    with h5py.File(path, "r+") as f:
        data = f["layers/conv1/weight"][()]
        del f["layers/conv1/weight"]
        f.create_dataset("layers/conv1/weight", data=data, compression="gzip", shuffle=True)
    np.testing.assert_array_equal(read_weights(path).params["conv1.weight"], expected)
    user_block = tmp_path / "user_block.h5"
    with h5py.File(path) as src, h5py.File(user_block, "w", userblock_size=512) as dst:
        dst.attrs.update(src.attrs)
        src.copy("layers", dst)
    assert convert(user_block).last_layer == "conv1"  # HDF5 after a 512-byte user block


# ----- point 6: NaN/Inf weights, preprocessing attributes, labels
def test_nan_and_infinite_weights_are_refused_naming_the_layer_and_the_count(tmp_path):
    path = tiny_weights(tmp_path / "x.h5")
    with h5py.File(path, "r+") as f:
        weight = f["layers/conv1/weight"][()]
        weight.flat[:3] = np.nan
        f["layers/conv1/weight"][...] = weight
    with pytest.raises(BadWeightFile, match="conv1.weight holds 3 NaN and 0 infinite values"):
        tinyconv.load_model(path)
    replace_dataset(path, "layers/conv1/weight", data=weight)
    replace_dataset(path, "layers/conv1/bias", data=np.full(64, 1e300))  # float64: inf in float32
    with pytest.raises(BadWeightFile, match="conv1.bias holds 0 NaN and 64 infinite"):
        convert(path)


@pytest.mark.parametrize("attrs, error", [
    ({"mean": np.array([np.nan, 0.4, 0.4])}, "mean must be finite"),
    ({"std": np.array([np.inf, 0.2, 0.2])}, "std must be finite"),
    ({"std": np.array([1e-300, 0.2, 0.2])}, "std must be finite and between"),
    ({"scale": 1e-300}, "scale must be finite and between"),
    ({"scale": np.ones(7)}, "attribute 'scale' must be a number"),
    ({"mean": np.ones(2)}, "attribute 'mean' must be a number array of 3"),
    ({"input_size": np.array([100000, 100000])}, "input_size must be"),
    ({"colour_order": "XYZ"}, "colour_order must be 'RGB' or 'BGR'"),
    ({"format_version": "abc"}, "attribute 'format_version' must be an integer"),
    ({"architecture": np.array([b"squeezenet1_1", b"x"])}, "'architecture' must be a string"),
    ({"num_classes": 10**9}, "num_classes 1000000000 is not between 1 and 100000"),
    ({"architecture": "resnet1000"}, "unknown architecture 'resnet1000'"),
])
def test_bad_attributes_are_refused_naming_the_file(tmp_path, attrs, error):
    path = tiny_weights(tmp_path / "x.h5", **attrs)
    with pytest.raises(BadWeightFile, match=error) as caught:
        read_weights(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_huge_attributes_are_refused_before_use(tmp_path):
    path = tmp_path / "x.h5"
    tiny_weights(path)
    big = tmp_path / "big.h5"
    with h5py.File(path) as src, h5py.File(big, "w", libver="latest") as dst:  # dense attrs
        dst.attrs.update(src.attrs)
        src.copy("layers", dst)
        dst.attrs["labels"] = np.array([b"x"] * 10**6)
    with pytest.raises(BadWeightFile, match="'labels' has 1000000 entries; at most 100000"):
        read_weights(big)
    with h5py.File(big, "r+") as f:
        del f.attrs["labels"]
        f.attrs["architecture"] = "squeezenet1_1" * 400_000
    with pytest.raises(BadWeightFile, match="5200000 characters long"):
        read_weights(big)


def test_preprocessing_refuses_values_that_make_inputs_nan():
    with pytest.raises(ValueError, match="std must be finite"):
        Preprocessing(std=(1e-300, 1, 1))
    with pytest.raises(ValueError, match="resize_size must be between"):
        Preprocessing(input_size=(224, 224), resize_size=100)


def test_a_1001_line_labels_file_with_background_first_is_shifted(tmp_path, capsys):
    names = [f"class{i}" for i in range(1000)]
    assert match_labels(["background"] + names, 1000, "l.txt") == names
    assert "'background', is taken to be a background class and dropped" in \
        capsys.readouterr().err
    with pytest.raises(BadWeightFile, match="l.txt: 1001 labels for a 1000-class model"):
        match_labels(["cat"] + names, 1000, "l.txt")
    with pytest.raises(BadWeightFile, match="999 labels for a 1000-class model"):
        match_labels(names[1:], 1000, "l.txt")
    with pytest.raises(BadWeightFile, match="3 labels for a model without classes"):
        match_labels(["a", "b", "c"], None, "l.txt")


def test_classify_labels_must_match_the_classes(tmp_path, capsys):
    path = tiny_weights(tmp_path / "x.h5")
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    picture = tmp_path / "p.png"
    from PIL import Image
    Image.new("RGB", (32, 32)).save(picture)
    assert main(["activations", "--weights", str(path), "--labels", str(labels), "--layer",
                 "conv1", "--out", str(tmp_path / "out"), str(picture)]) == 1
    assert "2 labels for a model without classes" in capsys.readouterr().err


@pytest.mark.parametrize("content, error", [
    (b'{"a": [1, "x"]}', "cannot read class names from"), (b"caf\xe9\n", "utf-8"),
    (b"[" * 100_000 + b"]" * 100_000, "cannot read class names from"), (b"3", "cannot read")])
def test_unreadable_labels_files_are_one_line_errors(tmp_path, content, error):
    path = tmp_path / "labels.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=error) as caught:
        read_labels(path)
    assert str(path) in str(caught.value)
    with pytest.raises(BadWeightFile, match="is not a regular file"):
        read_labels("/dev/zero")


def test_fetch_labels_apply_to_cached_weights_and_a_missing_file_is_an_error(tmp_path):
    from tinyconv.weights.fetch import Source, fetch
    target = tmp_path / "tiny.h5"
    tiny_weights(target, source_sha256="ab" * 32)
    source = Source("tiny", "squeezenet1_1", "http://127.0.0.1:9/never.pth", "abababab")
    with pytest.raises(FileNotFoundError, match="labels file not found: .*missing.txt"):
        fetch(source, cache=tmp_path, labels=tmp_path / "missing.txt")
    with pytest.raises(BadWeightFile, match="2 labels for a model without classes"):
        fetch(source, cache=tmp_path, labels=["a", "b"])  # checked, not ignored


# ----- point 9: unreadable weights are one-line errors naming the file
def test_unreadable_weight_files_name_the_file(tmp_path, monkeypatch):
    good = tiny_weights(tmp_path / "x.h5")
    cases = {"truncated.h5": good.read_bytes()[:3000], "superblock.h5": good.read_bytes()[:40],
             "text.h5": b"hello\n"}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(BadWeightFile, match=f"cannot read .*{name} .*as HDF5"):
            tinyconv.load_model(tmp_path / name)
    (tmp_path / "zero.h5").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.h5")
    for name in ("zero.h5", "fifo.h5"):  # neither blocks nor reads forever
        with pytest.raises(BadWeightFile, match=f"{name} is not a regular file"):
            tinyconv.load_model(tmp_path / name)
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # tests may run as root
    with pytest.raises(PermissionError, match="cannot read .*x.h5: permission denied"):
        check_regular_file(good)


# ----- ml5: manifest and variable files checked before reading
def ml5_folder(folder):
    from tinyconv.models import param_shapes
    from tinyconv.models.fast_style import conv_order
    from tinyconv.weights.ml5 import ml5_shape, variable_name
    folder.mkdir()
    shapes = param_shapes("fast_style")
    manifest = {}
    for i, conv in enumerate(conv_order()):
        for j, key in enumerate((f"{conv}.weight", f"{conv}/norm.bias", f"{conv}/norm.weight")):
            name = variable_name(3 * i + j)
            shape = ml5_shape(shapes[key])
            manifest[name] = {"filename": name, "shape": list(shape)}
            np.full(shape, 0.5, "<f4").tofile(folder / name)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def ml5_good(tmp_path_factory):
    return ml5_folder(tmp_path_factory.mktemp("ml5") / "style")


def _edit_manifest(folder, name, **entry):
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest[name].update(entry)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_ml5_sparse_huge_variable_is_refused_before_reading(ml5_good, tmp_path):
    folder = shutil.copytree(ml5_good, tmp_path / "s")
    with open(folder / "Variable_1", "r+b") as f:
        f.truncate(3 * 10**9)  # sparse: no disk used
    tracemalloc.start()
    try:
        with pytest.raises(BadWeightFile, match="3000000000 bytes; expected a regular file of "
                                                "exactly 128 bytes for Variable_1"):
            convert_ml5(folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6


@pytest.mark.parametrize("edit, error", [
    (dict(filename="../../etc/passwd"), "'../../etc/passwd' is not the name of a file in the"),
    (dict(shape=[-32]), r"shape \[-32\] is not a list of at most 4 non-negative integers"),
    (dict(shape=["a"]), "is not a list of at most 4"),
    (dict(shape=[10**6, 10**6]), r"gives Variable_1 the shape \(1000000, 1000000\); the "
                                 r"fast-style network needs \(32,\)"),
])
def test_ml5_manifest_entries_are_checked(ml5_good, tmp_path, edit, error):
    folder = shutil.copytree(ml5_good, tmp_path / "s")
    _edit_manifest(folder, "Variable_1", **edit)
    with pytest.raises(BadWeightFile, match=error):
        convert_ml5(folder)


@pytest.mark.parametrize("target", ["/etc/passwd", "/dev/zero"])
def test_ml5_files_may_not_be_symlinks(ml5_good, tmp_path, target):
    folder = shutil.copytree(ml5_good, tmp_path / "s")
    os.unlink(folder / "Variable_1")
    (folder / "Variable_1").symlink_to(target)
    with pytest.raises(BadWeightFile, match="Variable_1 is a symbolic link"):
        convert_ml5(folder)


def test_ml5_manifest_itself_is_bounded(ml5_good, tmp_path):
    folder = shutil.copytree(ml5_good, tmp_path / "s")
    (folder / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BadWeightFile, match="manifest.json is not valid JSON"):
        read_manifest(folder)
    (folder / "manifest.json").write_bytes(b" " * (2 << 20))
    with pytest.raises(BadWeightFile, match="expected a regular file of at most 1048576"):
        read_manifest(folder)
    os.unlink(folder / "manifest.json")
    (folder / "manifest.json").symlink_to("/dev/zero")
    with pytest.raises(BadWeightFile, match="symbolic link"):
        read_manifest(folder)


def test_ml5_nan_values_are_refused(ml5_good, tmp_path):
    folder = shutil.copytree(ml5_good, tmp_path / "s")
    np.full(32, np.nan, "<f4").tofile(folder / "Variable_2")
    with pytest.raises(BadWeightFile, match="conv1/norm.weight holds 32 NaN"):
        convert(folder)


def test_fetch_labels_are_stored_into_cached_weights(tmp_path):
    from tinyconv import models
    from tinyconv.weights.fetch import Source, fetch
    model = models.build("squeezenet1_1", num_classes=3)
    params = {k: np.asarray(v) for k, v in model.state_dict().items()}
    write_weights(tmp_path / "sq.h5", WeightFile("squeezenet1_1", params, TORCHVISION,
                                                 num_classes=3, source_sha256="ab" * 32))
    labels = tmp_path / "labels.txt"
    labels.write_text("__background__\nx\ny\nz\n")
    source = Source("sq", "squeezenet1_1", "http://127.0.0.1:9/never.pth", "abababab")
    assert fetch(source, cache=tmp_path, labels=labels) == tmp_path / "sq.h5"
    assert read_weights(tmp_path / "sq.h5").labels == ["x", "y", "z"]
