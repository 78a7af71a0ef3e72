"""ResNet 18-152, MobileNetV2, DenseNet-121/169/201 and GoogLeNet against torchvision, without
torch: the fixtures of tests/data/torchvision_parity/ (tools/make_torchvision_parity.py) hold
torchvision's state-dict keys and shapes, its float64 logits and input gradient of one class score
for the weights of tests/parity_weights.py (drawn again here with numpy), its own float32 error,
and every module's output shape at 224x224.

Checked for each: the keys and shapes are the ones tinyconv's converter expects (GoogLeNet's
auxiliary heads dropped); a torchvision-format file of those weights (float64, with
num_batches_tracked) converts and loads, and that float32 model's logits err no more than twice
torch's own float32 logits; float64 logits and input gradient equal torchvision's to 1e-10 of
their largest magnitude, batch norm folded as at inference; every row that is a torchvision module
has its output shape at 224x224 (shape inference). The files of WRITTEN are written (DenseNet-121's
under the old key names); the bigger state dicts are handed to the converter in memory, as
test_weights_torchvision.py does. The converter makes float32 weights, so the float64 model takes
the same arrays by the converter's key map."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tinyconv
from tinyconv import models
from tinyconv.models.preprocessing import TORCHVISION
from tinyconv.weights import convert, pth, read_weights, write_pth, write_weights
from tinyconv.weights.convert import torchvision_key_map

from parity_weights import parity_input, parity_state

FIXTURES = Path(__file__).resolve().parent / "data" / "torchvision_parity"
ARCHS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v2",
         "densenet121", "densenet169", "densenet201", "googlenet"]
# written as real files: the smallest (28 MB in float64), DenseNet under the old key names, and
# GoogLeNet with its auxiliary heads
WRITTEN = {"mobilenet_v2", "densenet121", "googlenet"}
RTOL = 1e-10
# rows that are functional steps of torchvision's forward, not modules: DenseNet's final F.relu
# and F.adaptive_avg_pool2d, MobileNetV2's functional average pool, a ResNet block's sum before
# its ReLU, the torch.cat of an Inception block or a dense layer
FUNCTIONAL_ROWS = {"relu", "avgpool"}
FUNCTIONAL_SUFFIXES = (".add", ".concat")
# DenseNet's and GoogLeNet's tables name every torchvision module, containers included, as a row
# or an alias; ResNet's and MobileNetV2's leave some containers out (downsample, a block's conv
# group) and name a block's one ReLU module once per call (relu1, relu2, ...)
EVERY_MODULE_NAMED = {"densenet121", "densenet169", "densenet201", "googlenet"}


def fixture(arch):
    with np.load(FIXTURES / f"{arch}.npz") as data:
        meta = json.loads(data["meta"].item())
        meta["logits"], meta["input_gradient"] = data["logits"], data["input_gradient"]
    meta["shapes"] = {k: tuple(s) for k, s in zip(meta["keys"], meta["shapes"])}
    return SimpleNamespace(**meta)


def relative_error(got, want):
    return float(np.abs(got - want).max() / np.abs(want).max())


def legacy_densenet_key(key):
    """`key` as old DenseNet files name it (denselayer1.norm1.weight -> denselayer1.norm.1...)."""
    head, _, param = key.rpartition(".")
    if "denselayer" in head and head[-1] in "12" and head[-2] != ".":
        return f"{head[:-1]}.{head[-1]}.{param}"
    return key


def torchvision_file(tmp_path, monkeypatch, arch, state):
    """A .pth path whose reading yields `state`: written for WRITTEN, else served from memory."""
    path = tmp_path / f"{arch}.pth"
    if arch in WRITTEN:
        rename = legacy_densenet_key if arch == "densenet121" else str
        return write_pth(path, {rename(k): v for k, v in state.items()})
    declared = {k: SimpleNamespace(shape=v.shape, kind="DoubleStorage" if v.dtype == np.float64
                                   else "LongStorage") for k, v in state.items()}
    monkeypatch.setattr(pth, "open_pth", lambda p: SimpleNamespace(tensors=declared))
    monkeypatch.setattr(pth, "read_arrays", lambda f, keys: {k: state[k] for k in keys})
    return write_pth(path, {})


def model_input(preprocessing):
    """(tinyconv's input, d input / d torchvision's input): torchvision is fed an
    ImageNet-normalized input; GoogLeNet's preprocessing (its transform_input) maps it elsewhere."""
    def channels(values):
        return np.reshape(values, (1, 3, 1, 1))
    pixels = parity_input() * channels(TORCHVISION.std) + channels(TORCHVISION.mean)
    return ((pixels - channels(preprocessing.mean)) / channels(preprocessing.std),
            channels(np.divide(TORCHVISION.std, preprocessing.std)))


@pytest.mark.parametrize("arch", ARCHS)
def test_keys_and_shapes_are_torchvisions(arch):
    fx = fixture(arch)
    ignored = models.arch_spec(arch).torch_ignored
    theirs = {k: s for k, s in fx.shapes.items()
              if not k.endswith("num_batches_tracked") and not k.startswith(ignored)}
    ours = models.param_shapes(arch)
    assert {k: ours[v] for k, v in torchvision_key_map(arch).items()} == theirs
    assert any(k.startswith(ignored) for k in fx.shapes) == bool(ignored)  # aux heads to drop


@pytest.mark.parametrize("arch", ARCHS)
def test_matches_torchvision(tmp_path, monkeypatch, arch):
    fx = fixture(arch)
    mapping = torchvision_key_map(arch)
    state = parity_state(fx.shapes)
    # float32: the converter's own path, from a torchvision-format file
    model32 = tinyconv.load_model(torchvision_file(tmp_path, monkeypatch, arch, state))
    assert model32.arch == arch and model32.dtype == np.float32
    x, chain = model_input(model32.preprocessing)
    error32 = relative_error(model32(tinyconv.Tensor(x.astype(np.float32))).numpy(), fx.logits)
    assert error32 <= 2 * fx.float32_error, (error32, fx.float32_error)
    del model32
    # float64: the same arrays by the converter's key map, unrounded
    model = models.model_from_spec(models.arch_spec(arch), dtype="float64")
    model.load_state_dict({mapping[k]: v for k, v in state.items() if k in mapping})
    del state
    image = tinyconv.Tensor(x, requires_grad=True)
    scores = model(image)
    assert relative_error(scores.numpy(), fx.logits) < RTOL
    scores[:, fx.target_class].sum().backward()
    assert relative_error(image.grad * chain, fx.input_gradient) < RTOL
    assert len(model._folds._entries) == len(model._fold_pairs) > 0  # it ran folded


def torch_module_shape(name, module_shapes):
    """torchvision's output shape for tinyconv row (or alias) `name`: its module's; for a
    ResNet block's relu<k> row, the k-th call of the block's one ReLU module; None for none."""
    prefix, _, last = name.rpartition(".")
    if name not in module_shapes and last.startswith("relu") and last[4:].isdigit():
        return tuple(module_shapes[f"{prefix}.relu"][int(last[4:]) - 1])
    if name not in module_shapes:
        return None
    calls = module_shapes[name]
    assert len(calls) == 1, name
    return tuple(calls[0])


@pytest.mark.parametrize("arch", ARCHS)
def test_every_layer_has_torchvisions_shape_at_224(arch):
    module_shapes = fixture(arch).module_shapes
    model = models.model_from_spec(models.arch_spec(arch))
    shapes = model.output_shapes((1, 3, 224, 224))
    names = model.layer_names + sorted(model.aliases)
    if arch in EVERY_MODULE_NAMED:
        assert set(module_shapes) <= set(names)
    for name in names:
        want, got = torch_module_shape(name, module_shapes), shapes[model.resolve(name)]
        if want is None:
            assert name in FUNCTIONAL_ROWS or name.endswith(FUNCTIONAL_SUFFIXES), name
            continue
        if model.layers[model.resolve(name)].kind == "dropout":
            got = got[:1] + (int(np.prod(got[1:])),)  # torchvision's sees the flattened input
        assert got == want, name
    for name in (n for n in shapes if n.endswith(".add")):  # a block's sum: the block's shape
        assert shapes[name] == shapes[name[:-len(".add")]]


def test_receptive_field_through_branches_is_the_largest():
    """A concatenation sees what its widest input sees (GoogLeNet: the 3x3 branches and the
    max pool branch; DenseNet: the block's last layer, not the identity path)."""
    model = models.build("googlenet")
    branches = [model.receptive_field(f"inception3a.branch{b}") for b in (1, 2, 3, 4)]
    assert model.receptive_field("inception3a") == max(branches, key=lambda f: f.size)
    assert model.receptive_field("inception3a").size > min(f.size for f in branches)
    dense = models.build("densenet121")
    assert dense.receptive_field("features.denseblock1") == \
        dense.receptive_field("features.denseblock1.denselayer6")
    assert dense.receptive_field("features.denseblock1").size == 59  # 11 + 6 * 2 * 4


def test_googlenet_converts_to_a_weight_file_with_its_preprocessing(tmp_path, monkeypatch):
    """The .h5 keeps dotted layer names as they are and records transform_input's scaling."""
    state = parity_state(fixture("googlenet").shapes)
    wf = convert(torchvision_file(tmp_path, monkeypatch, "googlenet", state))
    write_weights(tmp_path / "googlenet.h5", wf)
    again = read_weights(tmp_path / "googlenet.h5")
    assert again.architecture == "googlenet" and again.preprocessing.mean == (0.5, 0.5, 0.5)
    assert set(again.params) == set(models.param_shapes("googlenet"))
    key = "inception4c.branch3.1.bn.running_var"
    np.testing.assert_array_equal(again.params[key], wf.params[key])
