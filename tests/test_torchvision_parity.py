"""ResNet 18-152 and MobileNetV2 against torchvision, without torch: the fixtures of
tests/data/torchvision_parity/ (tools/make_torchvision_parity.py) hold torchvision's state-dict
keys and shapes, its float64 logits and input gradient of one class score for the weights of
tests/parity_weights.py (drawn again here with numpy), its own float32 error, and every module's
output shape at 224x224.

Checked: the keys and shapes are the ones tinyconv's converter expects; a torchvision-format file
of those weights (float64, with num_batches_tracked) converts and loads; float64 logits and input
gradient equal torchvision's to 1e-10 of their largest magnitude, batch norm folded as at
inference; the converted float32 model's logits err no more than twice torch's own float32
logits; every row has the output shape of its torchvision module at 224x224 (shape inference).
The bigger state dicts are handed to the converter in memory, not written (as
test_weights_torchvision.py does)."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tinyconv
from tinyconv import models
from tinyconv.weights import pth, write_pth
from tinyconv.weights.convert import torchvision_key_map

from parity_weights import parity_input, parity_state

FIXTURES = Path(__file__).resolve().parent / "data" / "torchvision_parity"
ARCHS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v2"]
WRITTEN = {"mobilenet_v2"}  # small enough to write as a real .pth file (28 MB in float64)
RTOL = 1e-10


def fixture(arch):
    data = np.load(FIXTURES / f"{arch}.npz")
    meta = json.loads(str(data["meta"]))
    meta["shapes"] = {k: tuple(s) for k, s in zip(meta["keys"], meta["shapes"])}
    return meta, data["logits"], data["input_gradient"]


def relative_error(got, want):
    return float(np.abs(got - want).max() / np.abs(want).max())


def torchvision_file(tmp_path, monkeypatch, arch, state):
    """A .pth path whose reading yields `state`: written for WRITTEN, else served from memory."""
    path = tmp_path / f"{arch}.pth"
    if arch in WRITTEN:
        return write_pth(path, state)
    declared = {k: SimpleNamespace(shape=v.shape, kind="DoubleStorage" if v.dtype == np.float64
                                   else "LongStorage") for k, v in state.items()}
    monkeypatch.setattr(pth, "open_pth", lambda p: SimpleNamespace(tensors=declared))
    monkeypatch.setattr(pth, "read_arrays", lambda f, keys: {k: state[k] for k in keys})
    return write_pth(path, {})


@pytest.mark.parametrize("arch", ARCHS)
def test_matches_torchvision(tmp_path, monkeypatch, arch):
    meta, logits, gradient = fixture(arch)
    mapping = torchvision_key_map(arch)
    ours = models.param_shapes(arch)
    assert {k: ours[v] for k, v in mapping.items()} == \
        {k: s for k, s in meta["shapes"].items() if not k.endswith("num_batches_tracked")}
    state = parity_state(meta["shapes"])
    x = parity_input()
    # float32: the converter's own path, from a torchvision-format file
    model32 = tinyconv.load_model(torchvision_file(tmp_path, monkeypatch, arch, state))
    assert model32.arch == arch and model32.dtype == np.float32
    error32 = relative_error(model32(tinyconv.Tensor(x.astype(np.float32))).numpy(), logits)
    assert error32 <= 2 * meta["float32_error"], (error32, meta["float32_error"])
    del model32
    # float64: the same arrays by the converter's key map, unrounded
    model = models.model_from_spec(models.arch_spec(arch), dtype="float64")
    model.load_state_dict({mapping[k]: v for k, v in state.items() if k in mapping})
    del state
    image = tinyconv.Tensor(x, requires_grad=True)
    scores = model(image)
    assert relative_error(scores.numpy(), logits) < RTOL
    scores[:, meta["target_class"]].sum().backward()
    assert relative_error(image.grad, gradient) < RTOL
    assert len(model._folds._entries) == len(model._fold_pairs) > 0  # it ran folded


def torch_module_shape(name, module_shapes):
    """torchvision's output shape for tinyconv row (or alias) `name`: its module's; for a
    ResNet block's relu<k> row, the k-th call of the block's one ReLU module."""
    prefix, _, last = name.rpartition(".")
    if name not in module_shapes and last.startswith("relu") and last[4:].isdigit():
        return tuple(module_shapes[f"{prefix}.relu"][int(last[4:]) - 1])
    calls = module_shapes[name]
    assert len(calls) == 1, name
    return tuple(calls[0])


@pytest.mark.parametrize("arch", ARCHS)
def test_every_layer_has_torchvisions_shape_at_224(arch):
    meta, _, _ = fixture(arch)
    spec = models.arch_spec(arch)
    model = models.model_from_spec(spec)
    shapes = model.output_shapes((1, 3, 224, 224))
    # rows torchvision has no module for: a ResNet block's sum before its ReLU (the block's
    # shape) and MobileNetV2's functional average pool
    no_module = {n for n in shapes if n.endswith(".add")} | ({"avgpool"} if arch ==
                                                              "mobilenet_v2" else set())
    checked = 0
    for name in list(shapes) + list(model.aliases):
        if name in no_module:
            continue
        want, got = torch_module_shape(name, meta["module_shapes"]), shapes[model.resolve(name)]
        if model.layers[model.resolve(name)].kind == "dropout":
            got = got[:1] + (int(np.prod(got[1:])),)  # torchvision's sees the flattened input
        assert got == want, name
        checked += 1
    assert checked == len(shapes) - len(no_module) + len(model.aliases)
    for name in no_module - {"avgpool"}:
        assert shapes[name] == shapes[name[:-len(".add")]]
