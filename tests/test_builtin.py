"""The built-in model and sample images shipped in the package: what a newcomer without
downloaded weights gets from every subcommand that takes --weights."""
import io

import h5py
import numpy as np
import pytest

import tinyconv
from conftest import ASSETS
from tinyconv import builtin
from tinyconv.cli import main
from tinyconv.image import load_image
from tinyconv.training.data import from_folder
from tinyconv.training.loop import evaluate
from tinyconv.weights import WeightFile, write_weights

CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]
# what the shipped file reaches on the 10,000 CIFAR-10 test images (it measured 76.08%)
BUILTIN_MIN_TOP1 = 0.755  # a margin of 58 images for other CPUs' float32 rounding


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYCONV_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_shipped_file_is_a_small_float16_cifar10_net():
    path = builtin.weights_path()
    assert path.stat().st_size < 120_000
    with h5py.File(path, "r") as f:
        dtypes = set()
        f["layers"].visititems(lambda name, obj: dtypes.add(getattr(obj, "dtype", None)))
    assert dtypes - {None} == {np.dtype(np.float16)}
    model = tinyconv.load_model("builtin")
    assert model.arch == builtin.ARCHITECTURE and model.labels == CIFAR10
    assert model.preprocessing.input_size == (32, 32)


def test_samples_are_one_cifar10_image_per_class():
    samples = builtin.sample_images()
    assert [p.stem for p in samples] == sorted(CIFAR10)
    assert all(load_image(p).shape == (32, 32, 3) for p in samples)


def test_classify_without_arguments_uses_the_builtin_model_and_samples(empty_cache, capsys):
    main(["classify", "--top-k", "1"])
    out, err = capsys.readouterr()
    assert "the built-in model: convnetjs_cifar" in err
    lines = out.splitlines()
    assert len(lines) == 20
    right = sum(line.endswith(f"  {path.rsplit('/', 1)[1][:-4]}")
                for path, line in zip(lines[::2], lines[1::2]))
    assert right >= 5, out  # it gets 6 right; chance is 1 of 10


def test_gradcam_without_arguments_writes_an_enlarged_panel(empty_cache, capsys):
    main(["gradcam", "--out", str(empty_cache / "out")])
    panel, = (empty_cache / "out").glob("cat_gradcam_c*_panel.png")  # the predicted class
    assert load_image(panel).shape[0] >= 128  # the 32x32 pictures enlarged to be seen
    heat = panel.parent / panel.name.replace("_panel", "")
    assert load_image(heat).shape[:2] == (32, 32)


def test_cached_weights_of_the_name_come_first(empty_cache, capsys):
    model = tinyconv.models.build("convnetjs_cifar", seed=5)
    wf = WeightFile(model.arch, model.state_dict(), model.preprocessing, num_classes=10)
    write_weights(empty_cache / "cache" / "builtin.h5", wf)
    loaded = tinyconv.load_model("builtin")
    np.testing.assert_array_equal(loaded.state_dict()["conv1.weight"],
                                  model.state_dict()["conv1.weight"])


def test_float16_writing_refuses_values_beyond_its_range(tmp_path):
    model = tinyconv.models.build("linear_cifar")
    state = model.state_dict()
    state["fc.weight"] = state["fc.weight"] + 1e5
    wf = WeightFile(model.arch, state, model.preprocessing, num_classes=10)
    with pytest.raises(ValueError, match="beyond float16's range"):
        write_weights(tmp_path / "w.h5", wf, dtype="float16")
    assert not (tmp_path / "w.h5").exists()


def test_builtin_model_reaches_its_accuracy_on_the_cifar10_test_set():
    folder = ASSETS / "images" / "cifar10" / "test"
    if not folder.is_dir():
        pytest.skip(f"CIFAR-10 test images not found at {folder} (set TINYCONV_ASSETS)")
    model = tinyconv.load_model("builtin")
    test = from_folder(folder, size=model.preprocessing.input_size, stream=io.StringIO())
    assert evaluate(model, test) >= BUILTIN_MIN_TOP1
