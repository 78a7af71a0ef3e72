"""torchvision-format VGG16 and AlexNet state_dicts (real key names and shapes, random values)
convert, load, run, and every row of the layer table has torchvision's output shape at 224x224.

The state_dicts stay in memory (0.5 and 0.2 GB): the .pth reader hands them to the converter in
place of a small file's contents. Reading and writing the files themselves is tested on
SqueezeNet (test_weights.py), whose files are 5 MB."""
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest

import tinyconv
from tinyconv import models
from tinyconv.weights import pth, write_pth

# torchvision's module outputs at (1, 3, 224, 224), in order (tools/torch_reference.py shapes)
_VGG_BLOCKS = [(64, 224), (128, 112), (256, 56), (512, 28), (512, 14)]
VGG16_SHAPES = [s for convs, (c, hw) in zip((2, 2, 3, 3, 3), _VGG_BLOCKS)
                for s in [(1, c, hw, hw)] * (2 * convs) + [(1, c, hw // 2, hw // 2)]] \
    + [(1, 512, 7, 7)] + [(1, 4096)] * 6 + [(1, 1000)]
ALEXNET_SHAPES = [
    (1, 64, 55, 55), (1, 64, 55, 55), (1, 64, 27, 27), (1, 192, 27, 27), (1, 192, 27, 27),
    (1, 192, 13, 13), (1, 384, 13, 13), (1, 384, 13, 13), (1, 256, 13, 13), (1, 256, 13, 13),
    (1, 256, 13, 13), (1, 256, 13, 13), (1, 256, 6, 6), (1, 256, 6, 6),
    (1, 9216),  # torchvision's classifier.0 dropout sees the flattened input; tinyconv's drop6
                # sees (1, 256, 6, 6) and fc6 flattens
    (1, 4096), (1, 4096), (1, 4096), (1, 4096), (1, 4096), (1, 1000)]
TORCHVISION_KEYS = {
    "vgg16": ["features.0.weight", "features.28.bias", "classifier.0.weight",
              "classifier.3.weight", "classifier.6.bias"],
    "alexnet": ["features.0.weight", "features.3.weight", "features.10.bias",
                "classifier.1.weight", "classifier.4.bias", "classifier.6.weight"],
}


def _random_torchvision_state(arch):
    """A state_dict with torchvision's keys, shapes and order; uniform random values."""
    from tinyconv.weights.convert import torchvision_key_map
    shapes = models.param_shapes(arch)
    rng = np.random.default_rng(0)
    state = OrderedDict()
    for key, ours in torchvision_key_map(arch).items():
        state[key] = (rng.random(shapes[ours], dtype=np.float32) - 0.5) * 0.02
    return state


def _serve_from_memory(monkeypatch, state):
    """Make the .pth reader hand `state` to the converter, declared as float32 tensors."""
    declared = {k: SimpleNamespace(shape=v.shape, kind="FloatStorage") for k, v in state.items()}
    monkeypatch.setattr(pth, "open_pth", lambda path: SimpleNamespace(tensors=declared))
    monkeypatch.setattr(pth, "read_arrays", lambda pth_file, keys: {k: state[k] for k in keys})


@pytest.mark.parametrize("arch, expected", [("alexnet", ALEXNET_SHAPES),
                                            ("vgg16", VGG16_SHAPES)])
def test_torchvision_state_converts_loads_and_matches_shapes(tmp_path, monkeypatch, arch,
                                                             expected):
    state = _random_torchvision_state(arch)
    assert set(TORCHVISION_KEYS[arch]) <= set(state)
    small_file = write_pth(tmp_path / f"{arch}.pth", {})
    _serve_from_memory(monkeypatch, state)
    model = tinyconv.load_model(small_file)  # architecture detected from the keys
    assert model.arch == arch
    np.testing.assert_array_equal(model.params["conv1_1.weight" if arch == "vgg16" else
                                               "conv1.weight"].numpy(),
                                  state["features.0.weight"])
    np.testing.assert_array_equal(model.params["fc8.bias"].numpy(), state["classifier.6.bias"])
    shapes = model.output_shapes((1, 3, 224, 224))
    assert len(model.layer_names) == len(expected)
    for name, want in zip(model.layer_names, expected):
        got = shapes[name]
        assert got == want or (name == "drop6" and np.prod(got) == np.prod(want)), name
    x = model.preprocess(np.zeros((224, 224, 3), np.uint8))
    acts = model.forward(x, layers=["pool5", "fc8"])
    assert acts["pool5"].shape == shapes["pool5"] and acts["fc8"].shape == (1, 1000)
