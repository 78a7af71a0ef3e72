"""The ResNet and MobileNetV2 tables: torchvision's parameter counts, block rows named after
torchvision's modules, residual Add rows, depthwise convolutions, ReLU6, aliases and defaults.
(Agreement with torchvision's numbers is in test_torchvision_parity.py.)"""
import pytest

from tinyconv import models
from tinyconv.models import layers as L

# torchvision's parameter counts (sum of p.numel() over model.parameters())
PARAMETERS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
              "resnet101": 44_549_160, "resnet152": 60_192_808, "mobilenet_v2": 3_504_872}


def table(arch):
    return models.model_from_spec(models.arch_spec(arch))  # zero weights: cheap


@pytest.mark.parametrize("arch", list(PARAMETERS))
def test_parameter_counts_are_torchvisions(arch):
    assert sum(p.size for p in table(arch).parameters()) == PARAMETERS[arch]


def test_resnet_blocks():
    model = table("resnet50")
    assert model.layers["layer1.0.add"].inputs == ("layer1.0.bn3", "layer1.0.downsample.1")
    assert model.layers["layer1.1.add"].inputs == ("layer1.1.bn3", "layer1.0")
    assert model.layers["layer1.0.downsample.0"].inputs == ("maxpool",)
    assert model.layers["layer2.0.conv2"].stride == 2  # the v1.5 stride, on the 3x3
    assert model.resolve("layer4") == "layer4.2" and model.layers["layer4.2"].kind == "relu"
    resnet18 = table("resnet18")
    assert "layer1.0.downsample.0" not in resnet18.layers
    assert resnet18.layers["layer2.0.downsample.0"].stride == 2
    shapes = resnet18.output_shapes((1, 3, 224, 224))
    assert shapes["maxpool"] == (1, 64, 56, 56) and shapes["layer3.1"] == (1, 256, 14, 14)


def test_mobilenet_v2_blocks():
    model = table("mobilenet_v2")
    depthwise = model.layers["features.2.conv.1.0"]
    assert (depthwise.groups, depthwise.in_channels, depthwise.stride) == (96, 96, 2)
    assert model.layers["features.1.conv.0.0"].groups == 32  # no expansion in block 1
    assert isinstance(model.layers["features.2.conv.0.2"], L.ReLU6)
    assert model.layers["features.3"].inputs == ("features.2.conv.3", "features.3.conv.3")
    assert model.resolve("features.2") == "features.2.conv.3"
    assert model.resolve("features.18") == "features.18.2"
    assert model.output_shapes((1, 3, 224, 224))["features.17.conv.3"] == (1, 320, 7, 7)


@pytest.mark.parametrize("arch, spatial, vector", [("resnet18", "layer4", "avgpool"),
                                                   ("mobilenet_v2", "features.18", "avgpool")])
def test_default_layers(arch, spatial, vector):
    model = table(arch)
    assert model.default_feature_layer() == spatial
    assert model.default_feature_layer(spatial=False) == vector
    cut = model.truncated("layer3" if arch == "resnet18" else "features.10")
    assert cut.default_layer("map") is None  # cut before it: the generic rule
    assert cut.default_feature_layer() == cut.output_name


# torchvision's IMAGENET1K_V1 files (torchvision/models/resnet.py, mobilenetv2.py)
OFFICIAL_FILES = {"resnet18": "resnet18-f37072fd.pth", "resnet34": "resnet34-b627a593.pth",
                  "resnet50": "resnet50-0676ba61.pth", "resnet101": "resnet101-63fe2227.pth",
                  "resnet152": "resnet152-394f9c45.pth",
                  "mobilenet_v2": "mobilenet_v2-b0353104.pth"}


@pytest.mark.parametrize("name", list(OFFICIAL_FILES))
def test_fetch_entries_name_the_official_files(name):
    from tinyconv.weights.fetch import REGISTRY
    source = REGISTRY[name]
    assert source.arch == name and source.filename == OFFICIAL_FILES[name]
    assert source.url == "https://download.pytorch.org/models/" + OFFICIAL_FILES[name]
    assert source.sha256 == OFFICIAL_FILES[name].split("-")[1][:8] and source.size_mib > 10


@pytest.mark.parametrize("arch, layer, size", [
    ("resnet18", "layer1.0", 27), ("resnet18", "layer4", 435), ("resnet50", "layer4", 427),
    ("mobilenet_v2", "features.18", 491)])
def test_receptive_fields_through_the_residual_branches(arch, layer, size):
    """The largest over a block's paths (its convolutions, not the shortcut): the published
    theoretical receptive fields of these networks."""
    field = table(arch).receptive_field(layer)
    assert (field.size, field.stride, field.offset) == (size, 4 if layer == "layer1.0" else 32,
                                                        -(size // 2))
