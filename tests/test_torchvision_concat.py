"""DenseNet-121/169/201 and GoogLeNet against torchvision, without torch: a state_dict with
torchvision's keys and shapes and the seeded values of parity_rule.py is written as a .pth file,
converted, loaded, and run; tests/data/torchvision_parity/<arch>.npz holds what torchvision
computed on the same numbers (tools/make_torchvision_parity_concat.py).

- float64 logits and the input gradient of one class score agree to 1e-10 relative;
- float32 logits are no further from the float64 ones than twice torch's own float32 error;
- every layer that is a torchvision module has that module's output shape at 224x224.
"""
from pathlib import Path

import numpy as np
import pytest

import tinyconv
from tinyconv import models
from tinyconv.engine.tensor import Tensor
from tinyconv.models.preprocessing import TORCHVISION
from tinyconv.weights import write_pth
from tinyconv.weights.convert import torchvision_key_map

from parity_rule import parity_input, parity_state

DATA = Path(__file__).resolve().parent / "data" / "torchvision_parity"
ARCHS = ["densenet121", "densenet169", "densenet201", "googlenet"]
# rows that are functional steps of torchvision's forward, not modules: DenseNet's final F.relu
# and F.adaptive_avg_pool2d, and the torch.cat that starts each dense layer after the first
FUNCTIONAL_ROWS = {"relu", "avgpool"}


def _split(flat, ndims):
    shapes, i = [], 0
    for n in ndims:
        shapes.append(tuple(int(d) for d in flat[i:i + n]))
        i += n
    return shapes


def fixture(arch):
    """What torchvision computed for `arch` (see tools/make_torchvision_parity_concat.py)."""
    with np.load(DATA / f"{arch}.npz") as f:
        d = {k: f[k] for k in f.files}
    d["keys"] = str(d["keys"]).split("\n")
    d["shapes"] = _split(d["shapes"], d["ndims"])
    d["modules"] = dict(zip(str(d["modules"]).split("\n"),
                            _split(d["module_shapes"], d["module_ndims"])))
    return d


def legacy_densenet_key(key):
    """`key` as old DenseNet files name it (denselayer1.norm1.weight -> denselayer1.norm.1...)."""
    head, _, param = key.rpartition(".")
    if "denselayer" in head and head[-1] in "12" and head[-2] != ".":
        return f"{head[:-1]}.{head[-1]}.{param}"
    return key


def write_state(tmp_path, arch, d, legacy=False):
    """The seeded state_dict as a torchvision .pth file, num_batches_tracked included."""
    state = parity_state(d["keys"], d["shapes"], int(d["seed"]))
    full = {}
    for key in d["keys"]:
        value = state.get(key, np.array(100, dtype=np.int64))  # num_batches_tracked
        full[legacy_densenet_key(key) if legacy else key] = value
    return write_pth(tmp_path / f"{arch}.pth", full)


@pytest.mark.parametrize("arch", ARCHS)
def test_key_names_and_shapes_are_torchvisions(arch):
    d = fixture(arch)
    ignored = models.arch_spec(arch).torch_ignored
    theirs = {k: s for k, s in zip(d["keys"], d["shapes"])
              if not k.endswith("num_batches_tracked") and not k.startswith(ignored)}
    ours = models.param_shapes(arch)
    assert {k: ours[v] for k, v in torchvision_key_map(arch).items()} == theirs
    if ignored:
        assert any(k.startswith(ignored) for k in d["keys"])  # the file has aux heads to drop


def _model_input(model, d):
    """(tinyconv's input, d input / d torchvision's input): the fixture's input is
    ImageNet-normalized; GoogLeNet's preprocessing (its transform_input) maps it elsewhere."""
    x = parity_input(tuple(d["input_shape"]), int(d["seed"]))
    pixels = x * np.reshape(TORCHVISION.std, (1, 3, 1, 1)) + np.reshape(TORCHVISION.mean,
                                                                           (1, 3, 1, 1))
    pre = model.preprocessing
    ours = (pixels - np.reshape(pre.mean, (1, 3, 1, 1))) / np.reshape(pre.std, (1, 3, 1, 1))
    return ours, np.reshape(np.divide(TORCHVISION.std, pre.std), (1, 3, 1, 1))


@pytest.mark.parametrize("arch", ARCHS)
def test_logits_and_input_gradient_match_torchvision(tmp_path, arch):
    d = fixture(arch)
    path = write_state(tmp_path, arch, d, legacy=arch == "densenet121")
    model = tinyconv.load_model(path, dtype="float64")
    assert model.arch == arch
    x, chain = _model_input(model, d)
    image = Tensor(x, requires_grad=True)
    logits = model(image)
    logits[0, int(d["cls"])].backward()
    scale = np.abs(d["logits"]).max()
    np.testing.assert_allclose(logits.numpy(), d["logits"], rtol=0, atol=1e-10 * scale)
    grad = image.grad * chain
    np.testing.assert_allclose(grad, d["grad"], rtol=0, atol=1e-10 * np.abs(d["grad"]).max())

    model32 = tinyconv.load_model(path)
    error = np.abs(model32(Tensor(x.astype(np.float32))).numpy() - d["logits"]).max() / scale
    assert error <= 2 * float(d["torch_f32_error"]), (error, float(d["torch_f32_error"]))


@pytest.mark.parametrize("arch", ARCHS)
def test_output_shapes_at_224_are_torchvisions(arch):
    d = fixture(arch)
    model = models.model_from_spec(models.arch_spec(arch))
    shapes = model.output_shapes((1, 3, 224, 224))
    names = model.layer_names + sorted(model.aliases)
    assert set(d["modules"]) <= set(names)  # every torchvision module is a layer or an alias
    for name in names:
        want = d["modules"].get(name)
        if want is None:
            assert name in FUNCTIONAL_ROWS or name.endswith(".concat"), name
            continue
        got = shapes[model.resolve(name)]
        # torchvision flattens before its dropout; tinyconv's fc flattens after it
        assert got == want or (name == "dropout" and np.prod(got) == np.prod(want)), name


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


def test_googlenet_converts_to_a_weight_file_with_its_preprocessing(tmp_path):
    """The .h5 keeps dotted layer names as they are and records transform_input's scaling."""
    from tinyconv.weights import convert, read_weights, write_weights
    d = fixture("googlenet")
    wf = convert(write_state(tmp_path, "googlenet", d))
    write_weights(tmp_path / "googlenet.h5", wf)
    again = read_weights(tmp_path / "googlenet.h5")
    assert again.architecture == "googlenet" and again.preprocessing.mean == (0.5, 0.5, 0.5)
    assert set(again.params) == set(models.param_shapes("googlenet"))
    key = "inception4c.branch3.1.bn.running_var"
    np.testing.assert_array_equal(again.params[key], wf.params[key])
