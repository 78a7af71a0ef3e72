"""ResNet 18/34/50/101/152 (He et al. 2016), torchvision layout and module names.

    conv1 (7x7/2, 64), bn1, relu, maxpool (3x3/2)                         56x56
    layer1 .. layer4: residual blocks, 64 / 128 / 256 / 512 wide (x4 for the bottleneck nets),
                      layer2 .. layer4 start with a stride-2 block         56, 28, 14, 7
    avgpool (adaptive 1x1), fc

Rows are named after torchvision's modules. A block `layer<i>.<j>` is the rows
`layer<i>.<j>.conv1`, `.bn1`, `.relu1`, `.conv2`, `.bn2` (and for a bottleneck `.relu2`, `.conv3`,
`.bn3`), the shortcut `.downsample.0` (1x1 conv) and `.downsample.1` (batch norm) where the shape
changes, `.add` (the sum of the last batch norm and the shortcut) and the ReLU after it, named
`layer<i>.<j>`: the block's output, as torchvision's module `layer<i>.<j>` returns it.
torchvision has one ReLU module per block, called two or three times; here each call is a row,
`relu1`, `relu2` and the block row. `layer<i>` is an alias of its last block's row.
"""
from functools import partial

from . import layers as L
from .preprocessing import TORCHVISION
from .spec import ArchSpec

# (block kind, blocks per stage)
LAYOUTS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
EXPANSION = {"basic": 1, "bottleneck": 4}
# what the methods use by default (Model.default_layer): Grad-CAM and channel targets at the
# last stage's map, feature vectors from the global average pool, DeepDream at the last 14x14
# stage (where GoogLeNet's inception4c sits)
DEFAULT_LAYERS = {"map": "layer4", "vector": "avgpool", "dream": "layer3"}


def _conv_bn(prefix, index, cin, cout, kernel, stride=1):
    """Rows <prefix>.conv<index> (no bias, padding k // 2) and <prefix>.bn<index>."""
    return [L.Conv2d(f"{prefix}.conv{index}", cin, cout, kernel, stride, kernel // 2, bias=False),
            L.BatchNorm2d(f"{prefix}.bn{index}", cout)]


def _block(prefix, kind, cin, planes, stride, shortcut):
    """Rows of one residual block reading row `shortcut`; returns (rows, out channels)."""
    cout = planes * EXPANSION[kind]
    if kind == "basic":
        rows = _conv_bn(prefix, 1, cin, planes, 3, stride) + [L.ReLU(f"{prefix}.relu1")] \
            + _conv_bn(prefix, 2, planes, planes, 3)
    else:  # torchvision v1.5: the stride on the 3x3 convolution
        rows = (_conv_bn(prefix, 1, cin, planes, 1) + [L.ReLU(f"{prefix}.relu1")]
                + _conv_bn(prefix, 2, planes, planes, 3, stride) + [L.ReLU(f"{prefix}.relu2")]
                + _conv_bn(prefix, 3, planes, cout, 1))
    main = rows[-1].name
    if stride != 1 or cin != cout:
        rows += [L.Conv2d(f"{prefix}.downsample.0", cin, cout, 1, stride, bias=False,
                          inputs=[shortcut]),
                 L.BatchNorm2d(f"{prefix}.downsample.1", cout)]
        shortcut = f"{prefix}.downsample.1"
    rows += [L.Add(f"{prefix}.add", inputs=[main, shortcut]), L.ReLU(prefix)]
    return rows, cout


def resnet(name, num_classes=1000):
    """ArchSpec of ResNet `name` ("resnet18" ... "resnet152")."""
    kind, counts = LAYOUTS[name]
    rows = [L.Conv2d("conv1", 3, 64, 7, 2, 3, bias=False), L.BatchNorm2d("bn1", 64),
            L.ReLU("relu"), L.MaxPool2d("maxpool", 3, 2, 1)]
    aliases, previous, channels = {}, "maxpool", 64
    for stage, count in enumerate(counts, start=1):
        for j in range(count):
            prefix = f"layer{stage}.{j}"
            stride = 2 if stage > 1 and j == 0 else 1
            block, channels = _block(prefix, kind, channels, 64 << (stage - 1), stride, previous)
            rows += block
            previous = prefix
        aliases[f"layer{stage}"] = previous
    rows += [L.AdaptiveAvgPool2d("avgpool", 1), L.Linear("fc", channels, num_classes)]
    torch_names = {row.name: row.name for row in rows if row.param_shapes()}
    return ArchSpec(name, rows, TORCHVISION, aliases=aliases, torch_names=torch_names,
                    defaults=DEFAULT_LAYERS)


ARCHITECTURES = {name: partial(resnet, name) for name in LAYOUTS}
