"""The ConvNetJS CIFAR-10 demo network, whose filters the lecture's slides show.

Three stages of convolution, ReLU and 2x2 max pool with 16, 20 and 20 filters, then a 10-way
linear layer (the softmax is in the loss and in Model.probabilities, as everywhere in tinyconv).
The demo's source uses 5x5 filters with padding 2; the slides (and issue 16) show weights of
16x3x7x7, 20x16x7x7 and 20x20x7x7, so the filters here are 7x7 with padding 3, which keeps the
size before each pool: 32 -> 16 -> 8 -> 4, and the linear layer reads 20 * 4 * 4 = 320 values.
Input: tinyconv.models.preprocessing.CIFAR10 (RGB 0..1, CIFAR-10 mean and std, 32x32).
"""
from . import layers as L
from .preprocessing import CIFAR10
from .spec import ArchSpec

STAGES = ((3, 16), (16, 20), (20, 20))  # (in, out) channels of conv1, conv2, conv3
KERNEL = 7


def convnetjs_cifar(name="convnetjs_cifar", num_classes=10):
    """ArchSpec of the ConvNetJS CIFAR-10 demo net with the slides' 7x7 filters."""
    rows = []
    for n, (cin, cout) in enumerate(STAGES, start=1):
        rows += [L.Conv2d(f"conv{n}", cin, cout, KERNEL, 1, KERNEL // 2), L.ReLU(f"relu{n}"),
                 L.MaxPool2d(f"pool{n}", 2, 2)]
    rows.append(L.Linear("fc", STAGES[-1][1] * 4 * 4, num_classes))
    return ArchSpec(name, rows, CIFAR10)


ARCHITECTURES = {"convnetjs_cifar": convnetjs_cifar}
