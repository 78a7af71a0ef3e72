"""A residual network for 32x32 CIFAR-10 that reaches over 92% top-1 in about ten epochs: the
geometry of Keller Jordan's airbench94 (the fastest published CIFAR-10 recipe of its FLOP budget:
a 2x2 stem, three groups of 64, 256 and 256 channels, each pooling right after its first
convolution), with a residual connection around each group's second convolution.

    stem     conv 2x2 3->24 (no padding), batch norm, ReLU                          31x31
    block1   conv 3x3 24->64, max pool 2, batch norm, ReLU   (the block's "in")     15x15
             conv 3x3 64->64, batch norm, ReLU, + in         (Add row block1/add)
    block2   the same, 64->256                                                        7x7
    block3   the same, 256->256                                                       3x3
    pool     max pool 3 (global), linear 256->classes, times 1/8 (row logits)

Pooling before the batch norm normalises the pooled values the next convolution sees; the
convolutions have no bias (each batch norm has its shift). About 0.24 GFLOP per 32x32 image
forward, a sixth of ResNet-9's, so an epoch of CIFAR-10 trains in minutes on two CPU cores.
Input: tinyconv.models.preprocessing.CIFAR10.
"""
from . import layers as L
from .preprocessing import CIFAR10
from .spec import ArchSpec

WIDTHS = (64, 256, 256)
STEM_CHANNELS = 24
LOGIT_SCALE = 1 / 8  # the fast recipes' output scale (layers.Scale)


def _block(name, cin, cout):
    """conv 3x3, pool 2, BN, ReLU (name/relu1), then conv 3x3, BN, ReLU, and the Add of both."""
    return [L.Conv2d(f"{name}/conv1", cin, cout, 3, padding=1, bias=False),
            L.MaxPool2d(f"{name}/pool", 2), L.BatchNorm2d(f"{name}/bn1", cout),
            L.ReLU(f"{name}/relu1"),
            L.Conv2d(f"{name}/conv2", cout, cout, 3, padding=1, bias=False),
            L.BatchNorm2d(f"{name}/bn2", cout), L.ReLU(f"{name}/relu2"),
            L.Add(f"{name}/add", inputs=(f"{name}/relu1", f"{name}/relu2"))]


def fast_resnet_cifar(name="fast_resnet_cifar", num_classes=10, widths=WIDTHS):
    """ArchSpec of the network above; widths: the three blocks' channels."""
    rows = [L.Conv2d("stem/conv", 3, STEM_CHANNELS, 2, bias=False),
            L.BatchNorm2d("stem/bn", STEM_CHANNELS), L.ReLU("stem/relu")]
    cin = STEM_CHANNELS
    for n, width in enumerate(widths, start=1):
        rows += _block(f"block{n}", cin, width)
        cin = width
    rows += [L.MaxPool2d("pool", 3), L.Linear("fc", cin, num_classes),
             L.Scale("logits", LOGIT_SCALE)]
    return ArchSpec(name, rows, CIFAR10)


ARCHITECTURES = {"fast_resnet_cifar": fast_resnet_cifar}
