"""SqueezeNet 1.0 and 1.1 (Iandola et al. 2016), torchvision layout, Caffe layer names.

A Fire module is five rows plus two ReLUs: fire<k>/squeeze (1x1) -> fire<k>/squeeze_relu, then
two branches reading it, fire<k>/expand1x1 and fire<k>/expand3x3 (each with a ReLU), joined by
fire<k>/concat; "fire<k>" is an alias of its concat. Max pools use ceil mode, as in torchvision.
The classifier is drop9, conv10 (1x1 to the classes), relu10 and pool10, a global average whose
output (N, classes) is the score.
"""
from functools import partial

from . import layers as L
from .spec import ArchSpec
from .preprocessing import TORCHVISION

# fire modules: (number, in channels, squeeze, expand1x1 = expand3x3); "pool" = a max pool
LAYOUTS = {
    "squeezenet1_0": dict(conv1=(96, 7), body=(
        (2, 96, 16, 64), (3, 128, 16, 64), (4, 128, 32, 128), "pool",
        (5, 256, 32, 128), (6, 256, 48, 192), (7, 384, 48, 192), (8, 384, 64, 256), "pool",
        (9, 512, 64, 256))),
    "squeezenet1_1": dict(conv1=(64, 3), body=(
        (2, 64, 16, 64), (3, 128, 16, 64), "pool",
        (4, 128, 32, 128), (5, 256, 32, 128), "pool",
        (6, 256, 48, 192), (7, 384, 48, 192), (8, 384, 64, 256), (9, 512, 64, 256))),
}


FIRE_CONVS = ("squeeze", "expand1x1", "expand3x3")  # also the torchvision sub-module names


def fire(k, in_channels, squeeze, expand):
    """Rows of Fire module k."""
    p = f"fire{k}/"
    rows = [
        L.Conv2d(p + "squeeze", in_channels, squeeze, 1), L.ReLU(p + "squeeze_relu"),
        L.Conv2d(p + "expand1x1", squeeze, expand, 1, inputs=[p + "squeeze_relu"]),
        L.ReLU(p + "expand1x1_relu"),
        L.Conv2d(p + "expand3x3", squeeze, expand, 3, padding=1, inputs=[p + "squeeze_relu"]),
        L.ReLU(p + "expand3x3_relu"),
        L.Concat(p + "concat", inputs=[p + "expand1x1_relu", p + "expand3x3_relu"]),
    ]
    return rows


def squeezenet(name, num_classes=1000):
    """ArchSpec of "squeezenet1_0" or "squeezenet1_1"."""
    layout = LAYOUTS[name]
    channels, kernel = layout["conv1"]
    rows = [L.Conv2d("conv1", 3, channels, kernel, 2), L.ReLU("relu1"),
            L.MaxPool2d("pool1", 3, 2, ceil_mode=True)]
    torch_names, aliases = {"conv1": "features.0"}, {}
    index, previous = 3, 1  # torchvision features index; number of the module before a pool
    for item in layout["body"]:
        if item == "pool":
            rows.append(L.MaxPool2d(f"pool{previous}", 3, 2, ceil_mode=True))
        else:
            k = item[0]
            rows += fire(*item)
            torch_names.update({f"fire{k}/{c}": f"features.{index}.{c}" for c in FIRE_CONVS})
            aliases[f"fire{k}"] = f"fire{k}/concat"
            previous = k
        index += 1
    rows += [L.Dropout("drop9"), L.Conv2d("conv10", 512, num_classes, 1), L.ReLU("relu10"),
             L.GlobalAvgPool("pool10")]
    torch_names["conv10"] = "classifier.1"
    return ArchSpec(name, rows, TORCHVISION, aliases=aliases, torch_names=torch_names)


ARCHITECTURES = {name: partial(squeezenet, name) for name in LAYOUTS}
