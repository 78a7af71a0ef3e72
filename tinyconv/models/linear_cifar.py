"""The linear classifier of the lecture on CIFAR-10: class scores = W x + b on the flattened image.

One fully connected layer, 3x32x32 -> 10. Linear flattens its input in (C, H, W) order, so row k
of the weight, reshaped to (3, 32, 32), is the template of class k the lecture shows (the blue
plane and ship, the two-headed horse). Input: tinyconv.models.preprocessing.CIFAR10.

Its weights start at zero, not He-uniform noise: the softmax loss of a linear classifier is
convex, so the starting point changes nothing the data can reach, and from zero the templates
hold only what training put there (random starting weights stay visible in them as noise).
"""
import numpy as np

from . import layers as L
from .preprocessing import CIFAR10
from .spec import ArchSpec


class ZeroStartLinear(L.Linear):
    """A Linear row whose initial weight and bias are zero."""

    def init_params(self, rng, dtype=np.float32):
        return {key: np.zeros(shape, dtype) for key, shape in self.param_shapes().items()}


def linear_cifar(name="linear_cifar", num_classes=10):
    """ArchSpec of the linear classifier on 32x32 RGB: weight (classes, 3 * 32 * 32)."""
    return ArchSpec(name, [ZeroStartLinear("fc", 3 * 32 * 32, num_classes)], CIFAR10)


ARCHITECTURES = {"linear_cifar": linear_cifar}
