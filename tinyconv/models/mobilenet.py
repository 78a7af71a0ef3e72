"""MobileNetV2 (Sandler et al. 2018), torchvision layout and module names (width 1.0).

    features.0    conv 3x3/2 3->32, batch norm, ReLU6                           112x112
    features.1-17 inverted residual blocks: 1x1 expansion (x6; none in features.1), batch
                  norm, ReLU6, 3x3 depthwise conv (groups = channels), batch norm, ReLU6,
                  1x1 linear projection, batch norm; plus the block's input where the stride
                  is 1 and the width does not change                              7x7
    features.18   conv 1x1 320->1280, batch norm, ReLU6
    avgpool (global), classifier.0 (dropout 0.2), classifier.1 (linear)

Rows are named after torchvision's modules: `features.<k>.conv.<i>.<j>` for the convolution (j=0),
batch norm (1) and ReLU6 (2) of each Conv2dNormActivation, `features.<k>.conv.<i>` for the
projection and its batch norm. A block with a residual connection ends with an Add row named
`features.<k>` (its input + the projection's batch norm); for the others, and for features.0 and
features.18, `features.<k>` is an alias of the block's last row. `avgpool` is torchvision's
functional adaptive_avg_pool2d, which has no module.
"""
from . import layers as L
from .preprocessing import TORCHVISION
from .spec import ArchSpec

# (expansion t, output channels c, blocks n, first stride s), torchvision's inverted_residual_setting
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))
FIRST, LAST = 32, 1280
# the methods' defaults (Model.default_layer): the last map, the pooled vector, and for
# DeepDream the last 14x14 block (as ResNet's layer3 and GoogLeNet's inception4c)
DEFAULT_LAYERS = {"map": "features.18", "vector": "avgpool", "dream": "features.13"}


def _conv_bn_relu6(prefix, cin, cout, kernel, stride=1, groups=1):
    """Conv2dNormActivation: <prefix>.0 conv (no bias), <prefix>.1 batch norm, <prefix>.2 ReLU6."""
    return [L.Conv2d(f"{prefix}.0", cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups,
                     bias=False),
            L.BatchNorm2d(f"{prefix}.1", cout), L.ReLU6(f"{prefix}.2")]


def _inverted_residual(k, cin, cout, stride, expansion, block_input):
    """Rows of block features.<k> reading row `block_input`; returns (rows, output row)."""
    prefix, hidden = f"features.{k}.conv", cin * expansion
    rows = _conv_bn_relu6(f"{prefix}.0", cin, hidden, 1) if expansion != 1 else []
    i = len(rows) // 3
    rows += _conv_bn_relu6(f"{prefix}.{i}", hidden, hidden, 3, stride, groups=hidden)
    rows += [L.Conv2d(f"{prefix}.{i + 1}", hidden, cout, 1, bias=False),
             L.BatchNorm2d(f"{prefix}.{i + 2}", cout)]
    rows[0].inputs = (block_input,)
    if stride == 1 and cin == cout:
        rows.append(L.Add(f"features.{k}", inputs=[block_input, rows[-1].name]))
    return rows, rows[-1].name


def mobilenet_v2(name="mobilenet_v2", num_classes=1000):
    """ArchSpec of torchvision's mobilenet_v2."""
    rows = _conv_bn_relu6("features.0", 3, FIRST, 3, 2)
    aliases, previous, channels, k = {"features.0": "features.0.2"}, "features.0.2", FIRST, 1
    for expansion, cout, count, first_stride in SETTINGS:
        for j in range(count):
            block, previous = _inverted_residual(k, channels, cout, first_stride if j == 0 else 1,
                                                 expansion, previous)
            rows += block
            if previous != f"features.{k}":
                aliases[f"features.{k}"] = previous
            channels, k = cout, k + 1
    rows += _conv_bn_relu6(f"features.{k}", channels, LAST, 1)
    aliases[f"features.{k}"] = rows[-1].name
    rows += [L.AdaptiveAvgPool2d("avgpool", 1), L.Dropout("classifier.0", 0.2),
             L.Linear("classifier.1", LAST, num_classes)]
    torch_names = {row.name: row.name for row in rows if row.param_shapes()}
    return ArchSpec(name, rows, TORCHVISION, aliases=aliases, torch_names=torch_names,
                    defaults=DEFAULT_LAYERS)


ARCHITECTURES = {"mobilenet_v2": mobilenet_v2}
