"""A small residual network for 32x32 CIFAR-10: the ResNet-9 of Page's "How to train your ResNet"
(DAWNBench 2018), the base of the fast CIFAR-10 training recipes, at half its width.

    prep     conv 3x3 3->64, batch norm, ReLU                                    32x32
    layer1   conv 3x3 64->128, batch norm, ReLU, max pool 2                      16x16
             + residual: two (conv 3x3 128->128, batch norm, ReLU)
    layer2   conv 3x3 128->256, batch norm, ReLU, max pool 2                      8x8
    layer3   conv 3x3 256->256, batch norm, ReLU, max pool 2                      4x4
             + residual: two (conv 3x3 256->256, batch norm, ReLU)
    pool     max pool 4 (global), linear 256->classes

The residual branch is added to its block's input (the max pool's output) by an Add row. The
convolutions have no bias: the batch norm after each has its own shift. Half of ResNet-9's widths
(64-128-256-512) makes it about four times cheaper, so that it trains on a two-core CPU.
"""
from . import layers as L
from .preprocessing import CIFAR10
from .spec import ArchSpec


def _conv_bn_relu(name, cin, cout):
    """conv 3x3 (no bias), batch norm, ReLU: rows <name>/conv, <name>/bn, <name>/relu."""
    return [L.Conv2d(f"{name}/conv", cin, cout, 3, padding=1, bias=False),
            L.BatchNorm2d(f"{name}/bn", cout), L.ReLU(f"{name}/relu")]


def _stage(name, cin, cout, residual):
    """conv-bn-relu to cout, max pool 2, then (when residual) pool + two conv-bn-relu."""
    rows = _conv_bn_relu(name, cin, cout) + [L.MaxPool2d(f"{name}/pool", 2)]
    if residual:
        rows += _conv_bn_relu(f"{name}/res1", cout, cout) + _conv_bn_relu(f"{name}/res2", cout,
                                                                          cout)
        rows.append(L.Add(f"{name}/add", inputs=(f"{name}/pool", f"{name}/res2/relu")))
    return rows


def resnet_cifar(name="resnet_cifar", num_classes=10, widths=(64, 128, 256)):
    """ArchSpec of the half-width ResNet-9 for 32x32 inputs; widths: prep, layer1, layer2/3."""
    prep, mid, wide = widths
    rows = (_conv_bn_relu("prep", 3, prep) + _stage("layer1", prep, mid, True)
            + _stage("layer2", mid, wide, False) + _stage("layer3", wide, wide, True)
            + [L.MaxPool2d("pool", 4), L.Linear("fc", wide, num_classes)])
    return ArchSpec(name, rows, CIFAR10)


ARCHITECTURES = {"resnet_cifar": resnet_cifar}
