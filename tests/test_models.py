"""Models as tables of named layers: shapes, early stopping, start, aliases, receptive fields,
state dicts, preprocessing, trainable parameters, devices."""
import numpy as np
import pytest

import tinyconv
from tinyconv import backend, models
from tinyconv.models import layers as L
from tinyconv.models.preprocessing import CAFFE_VGG, RAW_255, TORCHVISION

# torchvision's output shapes at 224x224 (tools/torch_reference.py shapes), per tinyconv row
SQUEEZENET11_SHAPES = {
    "conv1": (1, 64, 111, 111), "pool1": (1, 64, 55, 55), "fire2": (1, 128, 55, 55),
    "fire3": (1, 128, 55, 55), "pool3": (1, 128, 27, 27), "fire4": (1, 256, 27, 27),
    "fire5": (1, 256, 27, 27), "pool5": (1, 256, 13, 13), "fire6": (1, 384, 13, 13),
    "fire7": (1, 384, 13, 13), "fire8": (1, 512, 13, 13), "fire9": (1, 512, 13, 13),
    "fire9/squeeze": (1, 64, 13, 13), "fire9/expand3x3": (1, 256, 13, 13),
    "conv10": (1, 1000, 13, 13), "pool10": (1, 1000),
}
# the classic VGG16 receptive field sizes
VGG16_FIELDS = {"conv1_1": 3, "conv1_2": 5, "pool1": 6, "conv2_1": 10, "conv2_2": 14, "pool2": 16,
                "conv3_1": 24, "conv3_3": 40, "pool3": 44, "conv4_1": 60, "conv4_3": 92,
                "pool4": 100, "conv5_1": 132, "conv5_3": 196, "pool5": 212}


@pytest.fixture(scope="module")
def squeezenet():
    return models.build("squeezenet1_1", dtype="float64", seed=1)


def _input(shape, seed=0, scale=1.0):
    return tinyconv.Tensor(np.random.default_rng(seed).standard_normal(shape) * scale)


def test_layer_names_and_shapes_of_every_architecture():
    vgg16 = models.model_from_spec(models.arch_spec("vgg16"))
    names = vgg16.layer_names
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[-8:] == ["avgpool", "fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"]
    assert vgg16.output_shapes((1, 3, 224, 224))["pool5"] == (1, 512, 7, 7)
    alexnet = models.model_from_spec(models.arch_spec("alexnet"))
    assert [n for n in alexnet.layer_names if n.startswith("conv")] == [f"conv{i}" for i in
                                                                        range(1, 6)]
    sq = models.model_from_spec(models.arch_spec("squeezenet1_1"))
    shapes = sq.output_shapes((1, 3, 224, 224))
    assert {k: shapes[sq.resolve(k)] for k in SQUEEZENET11_SHAPES} == SQUEEZENET11_SHAPES
    sq10 = models.model_from_spec(models.arch_spec("squeezenet1_0"))
    assert sq10.output_shapes((1, 3, 224, 224))["pool8"] == (1, 512, 13, 13)
    for name in models.ARCHITECTURES:
        model = models.model_from_spec(models.arch_spec(name))
        assert len(set(model.layer_names)) == len(model.layer_names)


def test_default_feature_layer_is_the_deepest_map_before_the_classifier():
    vgg16 = models.model_from_spec(models.arch_spec("vgg16"))
    assert vgg16.default_feature_layer() == "avgpool"
    assert vgg16.default_feature_layer(spatial=False) == "relu7"
    sq = models.model_from_spec(models.arch_spec("squeezenet1_1"))
    assert sq.resolve(sq.default_feature_layer(spatial=False)) == sq.resolve("fire9")
    no_classifier = vgg16.truncated("relu4_2")
    assert no_classifier.default_feature_layer(spatial=False) == "relu4_2"


def test_forward_matches_shape_table_and_model_call(squeezenet):
    x = _input((2, 3, 67, 67))
    acts = squeezenet.forward(x, layers=squeezenet.layer_names)
    shapes = squeezenet.output_shapes(x.shape)
    assert {k: a.shape for k, a in acts.items()} == shapes
    np.testing.assert_allclose(squeezenet(x).numpy(), acts["pool10"].numpy(), rtol=1e-12)


def test_forward_stops_at_the_last_requested_layer(squeezenet, monkeypatch):
    ran = []
    conv = L.Conv2d.__call__

    def spy(self, params, x, training=False):
        ran.append(self.name)
        return conv(self, params, x, training)

    monkeypatch.setattr(L.Conv2d, "__call__", spy)
    acts = squeezenet.forward(_input((1, 3, 64, 64)), layers=["conv1", "fire3"])
    assert set(acts) == {"conv1", "fire3"} and acts["fire3"].shape[1] == 128
    assert ran[-1] == "fire3/expand3x3" and "fire4/squeeze" not in ran


def test_relu_overwrites_only_activations_nobody_reads(monkeypatch):
    model = models.build("vgg11", dtype="float64", seed=2)
    x = np.random.default_rng(3).standard_normal((1, 3, 40, 40))
    in_place = []
    relu = L.ReLU.__call__

    def spy(self, params, x, training=False, inplace=False):
        in_place.append((self.name, inplace))
        return relu(self, params, x, training, inplace)

    def gradient_and_acts():
        xt = tinyconv.Tensor(x, requires_grad=True)
        acts = model.forward(xt, layers=["conv2_1", "relu2_1", "conv3_2", "fc8"])
        (acts["fc8"][:, 3].sum() + (acts["relu2_1"] * acts["conv2_1"]).sum()).backward()
        return xt.grad, {k: a.numpy() for k, a in acts.items()}

    monkeypatch.setattr(L.ReLU, "__call__", spy)
    grad, acts = gradient_and_acts()
    # the requested pre-ReLU convolutions keep their negative values; the others are reused
    assert acts["conv2_1"].min() < 0 and acts["conv3_2"].min() < 0
    np.testing.assert_array_equal(acts["relu2_1"], np.maximum(acts["conv2_1"], 0))
    assert dict(in_place) == {"relu1_1": True, "relu2_1": False, "relu3_1": True,
                              "relu3_2": False, "relu4_1": True, "relu4_2": True,
                              "relu5_1": True, "relu5_2": True, "relu6": True, "relu7": True}
    # and the gradient is the one of the network computed without any in-place ReLU
    monkeypatch.setattr(L.ReLU, "works_in_place", False)
    in_place.clear()
    reference_grad, reference_acts = gradient_and_acts()
    assert not any(flag for _, flag in in_place)
    np.testing.assert_allclose(grad, reference_grad, rtol=1e-12, atol=1e-15)
    for name in acts:
        np.testing.assert_allclose(acts[name], reference_acts[name], rtol=1e-12)


def test_forward_from_a_named_layer(squeezenet):
    x = _input((1, 3, 64, 64))
    full = squeezenet.forward(x, layers=["pool3", "fire5", "pool10"])
    rest = squeezenet.forward(full["pool3"], layers=["fire5", "pool10"], start="fire4/squeeze")
    for name in ("fire5", "pool10"):
        np.testing.assert_allclose(rest[name].numpy(), full[name].numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="also reads"):
        squeezenet.forward(x, layers=["fire2"], start="fire2/expand3x3")


def test_unknown_layer_names_the_close_names_not_all_of_them(squeezenet):
    with pytest.raises(KeyError) as error:
        squeezenet.forward(_input((1, 3, 64, 64)), layers=["fire55"])
    assert error.value.args[0] == ("squeezenet1_1 has no layer 'fire55'; did you mean fire5? "
                                   "(all 73: `tinyconv layers` on the command line, "
                                   "model.layer_names in Python)")
    with pytest.raises(KeyError, match=r"no layer 'fire9/conact'; did you mean fire9/concat\?"):
        squeezenet.receptive_field("fire9/conact")
    with pytest.raises(KeyError, match=r"no layer 'nope' \(all 73"):
        squeezenet.receptive_field("nope")
    with pytest.raises(KeyError, match=r"no layer 'fc88'; did you mean fc8\?"):
        models.param_shapes("vgg16", last_layer="fc88")


def test_vgg16_receptive_fields_are_the_classic_ones():
    vgg16 = models.model_from_spec(models.arch_spec("vgg16"))
    fields = vgg16.receptive_fields()
    assert {k: fields[k].size for k in VGG16_FIELDS} == VGG16_FIELDS
    assert vgg16.receptive_field("pool5") == (212, 32, -90)  # centre of unit 0 at 16
    assert vgg16.receptive_field("conv1_1") == (3, 1, -1)
    with pytest.raises(ValueError, match="whole input image"):
        vgg16.receptive_field("fc6")


@pytest.mark.parametrize("arch, layer", [("squeezenet1_1", "fire3"), ("alexnet", "conv3")])
def test_receptive_field_bounds_the_gradient(arch, layer):
    """Input pixels outside a unit's receptive field never affect it (and the field is tight)."""
    spec = models.arch_spec(arch)
    model = models.model_from_spec(spec, dtype="float64", last_layer=layer).init_weights(2)
    x = _input((1, 3, 99, 99), seed=3)
    x.requires_grad = True
    act = model.forward(x, layers=[layer])[layer]
    y, xx = act.shape[2] // 2, act.shape[3] // 2
    act[0, :, y, xx].sum().backward()
    rows = np.nonzero(np.abs(x.grad).sum(axis=(0, 1, 3)))[0]
    size, stride, offset = model.receptive_field(layer)
    top = offset + y * stride
    assert top <= rows.min() and rows.max() < top + size
    assert rows.max() - rows.min() + 1 >= 0.6 * size


def test_state_dict_roundtrip_and_shape_errors(squeezenet):
    state = squeezenet.state_dict()
    assert list(state)[:2] == ["conv1.weight", "conv1.bias"]
    other = models.build("squeezenet1_1", dtype="float64", seed=5).load_state_dict(state)
    x = _input((1, 3, 64, 64))
    np.testing.assert_array_equal(other(x).numpy(), squeezenet(x).numpy())
    state["fire2/expand3x3.weight"] = np.zeros((64, 16, 1, 1))
    with pytest.raises(ValueError, match=r"'fire2/expand3x3' weight: the weights have shape "
                                         r"\(64, 16, 1, 1\) but the model expects "
                                         r"\(64, 16, 3, 3\)"):
        other.load_state_dict(state)
    with pytest.raises(KeyError, match="unknown parameter"):
        other.load_state_dict({"conv99.weight": np.zeros(1)})
    with pytest.raises(KeyError, match="missing parameter"):
        other.load_state_dict({"conv1.weight": state["conv1.weight"]})


def test_parameters_are_frozen_until_asked(squeezenet):
    model = models.build("squeezenet1_1", dtype="float64", seed=1)
    assert not any(p.requires_grad for p in model.parameters())
    model.requires_grad_(True)
    model(_input((1, 3, 64, 64))).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads) and np.abs(grads[0]).sum() > 0
    model.requires_grad_(False)
    assert not model.params["conv10.weight"].requires_grad


def test_dropout_only_while_training(squeezenet):
    x = _input((1, 512, 5, 5))
    eval_out = squeezenet.forward(x, start="drop9")["pool10"].numpy()
    np.testing.assert_array_equal(squeezenet.forward(x, start="drop9")["pool10"].numpy(),
                                  eval_out)
    squeezenet.train()
    assert not np.allclose(squeezenet.forward(x, start="drop9")["pool10"].numpy(), eval_out)
    squeezenet.eval()


@pytest.mark.parametrize("pre", [TORCHVISION, CAFFE_VGG, RAW_255])
def test_preprocess_deprocess_roundtrip(pre):
    model = models.model_from_spec(models.arch_spec("squeezenet1_1"), preprocessing=pre)
    image = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    x = model.preprocess(image, resize=False)
    assert x.shape == (1, 3, 30, 40) and x.dtype == np.float32
    np.testing.assert_array_equal(model.deprocess(x)[0], image)
    np.testing.assert_array_equal(model.deprocess(x[0]), image)


def test_preprocess_values_and_geometry():
    model = models.model_from_spec(models.arch_spec("vgg16"), preprocessing=CAFFE_VGG)
    red = np.zeros((300, 400, 3), np.uint8)
    red[..., 0] = 255
    x = model.preprocess([red, red]).numpy()
    assert x.shape == (2, 3, 224, 224)
    # BGR order: red is the last channel, 255 - 123.68
    np.testing.assert_allclose(x[0, :, 0, 0], [-103.939, -116.779, 255 - 123.68], rtol=1e-6)
    with pytest.raises(ValueError, match="different sizes"):
        model.preprocess([red, red[:200]], resize=False)
    with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\)"):
        model.preprocess(red.astype(np.float32))


def test_tf_same_padding_and_transposed_conv_are_adjoint():
    """TensorFlow's conv2d_transpose 'SAME' is the adjoint of conv2d 'SAME' (stride 2, even
    size: one more padded pixel after than before); the ml5 networks depend on both."""
    assert L._same_padding(8, 3, 2) == (0, 1) and L._same_padding(9, 3, 2) == (1, 1)
    assert L._same_padding(10, 9, 1) == (4, 4)
    rng = np.random.default_rng(0)
    w = tinyconv.Tensor(rng.standard_normal((5, 4, 3, 3)))  # conv: (out 5, in 4)
    conv = L.Conv2d("c", 4, 5, 3, 2, "same", bias=False)
    deconv = L.ConvTranspose2d("d", 5, 4, 3, 2, bias=False)  # weight (in 5, out 4)
    big = tinyconv.Tensor(rng.standard_normal((2, 4, 8, 10)))
    small = tinyconv.Tensor(rng.standard_normal((2, 5, 4, 5)))
    down = conv({"weight": w}, big)
    up = deconv({"weight": w}, small)
    assert down.shape == small.shape and up.shape == big.shape
    np.testing.assert_allclose((down.numpy() * small.numpy()).sum(),
                               (big.numpy() * up.numpy()).sum(), rtol=1e-10)


def test_fast_style_table():
    model = models.build("fast_style", dtype="float64")
    assert model.output_shapes((1, 3, 64, 48))["output"] == (1, 3, 64, 48)
    assert model.layers["res3"].inputs == ("res2", "res3/conv2/norm")
    out = model(_input((1, 3, 32, 36), scale=50.0)).numpy()
    assert out.shape == (1, 3, 32, 36) and out.min() >= -22.5 and out.max() <= 277.5
    with pytest.raises(ValueError, match="transposed"):
        model.receptive_field("output")


def test_build_is_seeded_and_he_scaled():
    a = models.build("squeezenet1_1", seed=3).params["fire9/expand3x3.weight"].numpy()
    b = models.build("squeezenet1_1", seed=3).params["fire9/expand3x3.weight"].numpy()
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32
    assert abs(a.std() / np.sqrt(2 / (64 * 9)) - 1) < 0.05


def test_model_on_each_device_gives_the_same_scores(xp, squeezenet):
    device = "gpu" if xp is not np else "cpu"
    model = models.build("squeezenet1_1", dtype="float64", seed=1).to(device)
    x = _input((1, 3, 64, 64))
    out = model(x.to(device))
    assert out.device == device
    np.testing.assert_allclose(backend.to_numpy(out.data), squeezenet(x).numpy(), rtol=1e-9)
