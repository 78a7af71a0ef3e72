"""VGG 11/13/16/19 (Simonyan & Zisserman 2014), torchvision layout, Caffe layer names.

The table is conv{block}_{i} -> relu{block}_{i} per convolution, pool{block} after each block,
then torchvision's classifier: avgpool (adaptive, 7x7: identity at 224x224), fc6, relu6, drop6,
fc7, relu7, drop7, fc8. The same table serves weights from Keras or Caffe; only the
preprocessing differs (recorded in the weight file).
"""
from functools import partial

from . import layers as L
from .spec import ArchSpec
from .preprocessing import TORCHVISION

BLOCKS = {  # convolutions per block; channels are 64, 128, 256, 512, 512
    "vgg11": (1, 1, 2, 2, 2),
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
CHANNELS = (64, 128, 256, 512, 512)


def vgg(name, num_classes=1000):
    """ArchSpec of VGG `name` ("vgg11" ... "vgg19")."""
    rows, torch_names = [], {}
    index, in_channels = 0, 3  # index: position in torchvision's `features` Sequential
    for block, (count, channels) in enumerate(zip(BLOCKS[name], CHANNELS), start=1):
        for i in range(1, count + 1):
            conv = f"conv{block}_{i}"
            rows += [L.Conv2d(conv, in_channels, channels, 3, padding=1),
                     L.ReLU(f"relu{block}_{i}")]
            torch_names[conv] = f"features.{index}"
            index += 2
            in_channels = channels
        rows.append(L.MaxPool2d(f"pool{block}", 2, 2))
        index += 1
    rows += [
        L.AdaptiveAvgPool2d("avgpool", 7),
        L.Linear("fc6", 512 * 7 * 7, 4096), L.ReLU("relu6"), L.Dropout("drop6"),
        L.Linear("fc7", 4096, 4096), L.ReLU("relu7"), L.Dropout("drop7"),
        L.Linear("fc8", 4096, num_classes),
    ]
    torch_names.update(fc6="classifier.0", fc7="classifier.3", fc8="classifier.6")
    return ArchSpec(name, rows, TORCHVISION, torch_names=torch_names)


ARCHITECTURES = {name: partial(vgg, name) for name in BLOCKS}
