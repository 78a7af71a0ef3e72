"""Weight files: the restricted .pth reader, tinyconv's HDF5 format, Keras and ml5 converters."""
import json
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import h5py
import numpy as np
import pytest

import tinyconv
from tinyconv import models
from tinyconv.weights import (UnsafePickleError, convert, read_pth, read_weights, write_pth,
                              write_weights)
from tinyconv.weights.keras import _to_tinyconv_kernel
from tinyconv.weights.ml5 import variable_name

DATA = Path(__file__).resolve().parent / "data"


# ----- .pth
def test_pth_zip_roundtrip_keeps_dtypes_and_values(tmp_path):
    state = OrderedDict(w=np.arange(24, dtype=np.float32).reshape(2, 3, 4),
                        b=np.array([1.5, -2.0]), n=np.array(3, dtype=np.int64))
    back = read_pth(write_pth(tmp_path / "s.pth", state))
    assert list(back) == ["w", "b", "n"]
    for key in state:
        assert back[key].dtype == state[key].dtype
        np.testing.assert_array_equal(back[key], state[key])


def test_pth_legacy_format_made_by_torch():
    """tests/data/legacy_state_dict.pth was written by torch.save(..., legacy format)."""
    state = read_pth(DATA / "legacy_state_dict.pth")
    np.testing.assert_array_equal(state["conv.weight"],
                                  np.arange(54, dtype=np.float32).reshape(2, 3, 3, 3) / 10)
    assert state["conv.bias"].dtype == np.float16 and list(state["conv.bias"]) == [0.5, -1.5]
    np.testing.assert_array_equal(state["view.weight"],
                                  np.arange(24, dtype=np.float32).reshape(4, 6)[:, 1:4].T)
    assert int(state["bn.num_batches_tracked"]) == 7


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _zip_with_pickle(path, payload):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/byteorder", "little")
    return path


def test_pth_that_calls_os_system_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(OrderedDict(weight=_Exploit(marker)), protocol=2)
    path = _zip_with_pickle(tmp_path / "evil.pth", payload)
    with pytest.raises(UnsafePickleError, match=r"refused: its pickle calls (posix|os)\.system"):
        read_pth(path)
    with pytest.raises(UnsafePickleError):
        convert(path)
    assert not marker.exists()
    legacy = tmp_path / "evil_legacy.pth"  # the legacy stream goes through the same gate
    legacy.write_bytes(pickle.dumps(_Exploit(marker), protocol=2))
    with pytest.raises(UnsafePickleError, match="system"):
        read_pth(legacy)
    assert not marker.exists()


@pytest.mark.parametrize("callable_name", ["builtins eval", "builtins getattr",
                                           "torch._utils _rebuild_device_tensor_from_numpy"])
def test_pth_refuses_any_other_global(tmp_path, callable_name):
    module, name = callable_name.split()
    payload = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X\x01\x00\x00\x001\x85R."
    with pytest.raises(UnsafePickleError, match=f"{module}.{name}"):
        read_pth(_zip_with_pickle(tmp_path / "x.pth", payload))


def test_damaged_pth_files_give_clear_errors(tmp_path):
    good = write_pth(tmp_path / "good.pth", {"w": np.ones((64, 64), np.float32)})
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"cut.pth is a damaged or truncated zip file"):
        read_pth(cut)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x80\x02K\x05.")  # a pickle of 5, not a PyTorch file
    with pytest.raises(ValueError, match="junk.pth is not a PyTorch file"):
        read_pth(junk)


# ----- tinyconv .h5
@pytest.fixture(scope="module")
def squeezenet_file(tmp_path_factory):
    """A converted torchvision-layout SqueezeNet 1.1 with random weights, and its model."""
    folder = tmp_path_factory.mktemp("weights")
    model = models.build("squeezenet1_1", seed=4)
    pth = write_pth(folder / "sq.pth", _to_torchvision_keys(model))
    wf = convert(pth, labels=[f"class{i}" for i in range(1000)])
    return write_weights(folder / "sq.h5", wf), model


def _to_torchvision_keys(model):
    from tinyconv.weights.convert import torchvision_key_map
    ours = model.state_dict()
    return OrderedDict((theirs, ours[mine]) for theirs, mine in
                       torchvision_key_map(model.arch).items())


def test_h5_roundtrip_keeps_everything(squeezenet_file):
    path, model = squeezenet_file
    wf = read_weights(path)
    assert wf.architecture == "squeezenet1_1" and wf.num_classes == 1000
    assert wf.labels[243] == "class243" and wf.source_file == "sq.pth"
    assert len(wf.source_sha256) == 64 and wf.preprocessing.input_size == (224, 224)
    loaded = tinyconv.load_model(path)
    x = tinyconv.Tensor(np.random.default_rng(0).standard_normal((1, 3, 64, 64)), dtype="float32")
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    with h5py.File(path) as f:
        assert f["layers/fire2/expand3x3/weight"].shape == (64, 16, 3, 3)
        assert f.attrs["colour_order"] == "RGB"


def test_truncated_h5_names_the_problem(squeezenet_file, tmp_path):
    path, _ = squeezenet_file
    for keep in (0.5, 0.999):
        cut = tmp_path / f"cut{keep}.h5"
        data = path.read_bytes()
        cut.write_bytes(data[:int(len(data) * keep)])
        with pytest.raises(ValueError, match=r"cut.*\.h5.*truncated"):
            tinyconv.load_model(cut)


def test_h5_with_a_wrong_shape_names_layer_and_both_shapes(squeezenet_file, tmp_path):
    path, _ = squeezenet_file
    bad = tmp_path / "bad.h5"
    bad.write_bytes(path.read_bytes())
    with h5py.File(bad, "r+") as f:
        del f["layers/fire5/squeeze/weight"]
        f["layers/fire5/squeeze/weight"] = np.zeros((32, 256, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"bad.h5: layer 'fire5/squeeze' weight has shape "
                                         r"\(32, 256, 3, 3\) but squeezenet1_1 expects "
                                         r"\(32, 256, 1, 1\)"):
        tinyconv.load_model(bad)
    with h5py.File(bad, "r+") as f:
        del f["layers/fire5/squeeze"]
    with pytest.raises(KeyError, match=r"missing \['fire5/squeeze.weight'"):
        read_weights(bad)


def test_h5_that_is_not_tinyconv_or_not_hdf5(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="not a tinyconv weight file"):
        read_weights(other)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(ValueError, match="text.h5.*not an HDF5 file"):
        read_weights(text)


def test_load_model_by_name_needs_weights(tmp_path, monkeypatch, squeezenet_file):
    monkeypatch.setenv("TINYCONV_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="tinyconv weights fetch vgg16"):
        tinyconv.load_model("vgg16")
    path, _ = squeezenet_file
    assert tinyconv.load_model("squeezenet1_1", weights=path).arch == "squeezenet1_1"
    with pytest.raises(ValueError, match="holds squeezenet1_1 weights, not alexnet"):
        tinyconv.load_model("alexnet", weights=path)
    with pytest.raises(FileNotFoundError, match="no such file, and no weights named 'resnet1000' "
                                                "in the cache"):
        tinyconv.load_model("resnet1000")


def test_load_model_finds_weights_cached_under_any_name(tmp_path, monkeypatch, squeezenet_file):
    """`tinyconv convert` stores weights under the source's name; load_model finds them by it."""
    monkeypatch.setenv("TINYCONV_CACHE", str(tmp_path))
    path, _ = squeezenet_file
    write_weights(tmp_path / "my_squeezenet.h5", read_weights(path))
    assert tinyconv.load_model("my_squeezenet").arch == "squeezenet1_1"
    with pytest.raises(FileNotFoundError, match="no weights named 'my_squeezenet.h5'"):
        tinyconv.load_model("my_squeezenet.h5")  # a name is not a file name


def test_torchvision_file_with_unknown_keys(tmp_path):
    path = write_pth(tmp_path / "r.pth", {"conv1.weight": np.zeros((64, 3, 7, 7), np.float32)})
    with pytest.raises(ValueError, match="match no supported torchvision architecture"):
        convert(path)


# ----- Keras
def _keras_file(path, layers):
    """A Keras 2 weight file: {layer: [kernel, bias]} in order."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in layers])
        for name, arrays in layers.items():
            group = f.create_group(name)
            names = [f"{name}/kernel:0", f"{name}/bias:0"]
            group.attrs["weight_names"] = np.array([n.encode() for n in names])
            for n, a in zip(names, arrays):
                group[n] = a
    return path


def test_keras_conv_kernels_become_oihw(tmp_path):
    rng = np.random.default_rng(0)
    kernels = {"block1_conv1": (3, 64), "block1_conv2": (64, 64), "block2_conv1": (64, 128),
               "block2_conv2": (128, 128), "block3_conv1": (128, 256)}
    layers = {n: [rng.standard_normal((3, 3, i, o)).astype(np.float32),
                  rng.standard_normal(o).astype(np.float32)] for n, (i, o) in kernels.items()}
    path = _keras_file(tmp_path / "k.h5", layers)
    with pytest.raises(ValueError, match="neither vgg16"):
        convert(path)  # blocks 1-3 with 1 conv in block 3: vgg16 or vgg19 cannot be told
    wf = convert(path, arch="vgg19")
    assert wf.last_layer == "relu3_1" and wf.preprocessing.colour_order == "BGR"
    kernel = layers["block2_conv1"][0]
    np.testing.assert_array_equal(wf.params["conv2_1.weight"][5, 7], kernel[:, :, 7, 5])


def test_keras_dense_after_flatten_is_reordered():
    """Keras flattens (H, W, C), tinyconv (C, H, W): fc6 must give the same output for both."""
    rng = np.random.default_rng(1)
    pool5 = rng.standard_normal((512, 2, 2))
    kernel = rng.standard_normal((2 * 2 * 512, 3))  # Keras (in, out)
    keras_out = pool5.transpose(1, 2, 0).reshape(-1) @ kernel
    ours = _to_tinyconv_kernel("fc6", kernel, "k.h5")
    np.testing.assert_allclose(ours @ pool5.reshape(-1), keras_out, rtol=1e-12)


# ----- ml5
def _ml5_folder(folder, shapes, rng):
    folder.mkdir()
    manifest = {}
    for i, shape in enumerate(shapes):
        name = variable_name(i)
        manifest[name] = {"filename": name, "shape": list(shape)}
        rng.standard_normal(shape).astype("<f4").tofile(folder / name)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _ml5_shapes():
    convs = [(9, 3, 32), (3, 32, 64), (3, 64, 128)] + [(3, 128, 128)] * 10
    shapes = []
    for k, cin, cout in convs:
        shapes += [(k, k, cin, cout), (cout,), (cout,)]
    for k, cin, cout in [(3, 128, 64), (3, 64, 32)]:
        shapes += [(k, k, cout, cin), (cout,), (cout,)]  # transposed: (kH, kW, out, in)
    return shapes + [(9, 9, 32, 3), (3,), (3,)]


def test_ml5_checkpoint_layout(tmp_path):
    folder = _ml5_folder(tmp_path / "style", _ml5_shapes(), np.random.default_rng(0))
    wf = convert(folder)
    assert wf.architecture == "fast_style" and len(wf.params) == 48
    kernel = np.fromfile(folder / "Variable_39", "<f4").reshape(3, 3, 64, 128)
    np.testing.assert_array_equal(wf.params["conv_t1.weight"][100, 60], kernel[:, :, 60, 100])
    np.testing.assert_array_equal(wf.params["res2/conv1/norm.bias"],
                                  np.fromfile(folder / "Variable_16", "<f4"))
    np.testing.assert_array_equal(wf.params["res2/conv1/norm.weight"],
                                  np.fromfile(folder / "Variable_17", "<f4"))
    (folder / "Variable_20").write_bytes(b"\0" * 12)
    with pytest.raises(ValueError, match="Variable_20: 12 bytes"):
        convert(folder)


def test_unknown_source_kind(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"GARBAGE!")
    with pytest.raises(ValueError, match="unknown weight format"):
        convert(path)
    with pytest.raises(FileNotFoundError):
        convert(tmp_path / "nothing.pth")
