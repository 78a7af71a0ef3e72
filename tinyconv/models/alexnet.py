"""AlexNet (Krizhevsky et al. 2012) in torchvision's one-tower layout (64-192-384-256-256 filters,
no local response normalization), Caffe layer names conv1 ... fc8.
"""
from . import layers as L
from .spec import ArchSpec
from .preprocessing import TORCHVISION

FEATURES = (  # name, in, out, kernel, stride, padding, max pool after it
    ("conv1", 3, 64, 11, 4, 2, True),
    ("conv2", 64, 192, 5, 1, 2, True),
    ("conv3", 192, 384, 3, 1, 1, False),
    ("conv4", 384, 256, 3, 1, 1, False),
    ("conv5", 256, 256, 3, 1, 1, True),
)


def alexnet(name="alexnet", num_classes=1000):
    """ArchSpec of torchvision's AlexNet."""
    rows, torch_names, index = [], {}, 0
    for conv, cin, cout, k, stride, pad, pooled in FEATURES:
        n = conv[-1]
        rows += [L.Conv2d(conv, cin, cout, k, stride, pad), L.ReLU(f"relu{n}")]
        torch_names[conv] = f"features.{index}"
        index += 2
        if pooled:
            rows.append(L.MaxPool2d(f"pool{n}", 3, 2))
            index += 1
    rows += [
        L.AdaptiveAvgPool2d("avgpool", 6),
        L.Dropout("drop6"), L.Linear("fc6", 256 * 6 * 6, 4096), L.ReLU("relu6"),
        L.Dropout("drop7"), L.Linear("fc7", 4096, 4096), L.ReLU("relu7"),
        L.Linear("fc8", 4096, num_classes),
    ]
    torch_names.update(fc6="classifier.1", fc7="classifier.4", fc8="classifier.6")
    return ArchSpec(name, rows, TORCHVISION, torch_names=torch_names)


ARCHITECTURES = {"alexnet": alexnet}
