"""DenseNet-121/169/201 (Huang et al. 2017), torchvision's layout and module names.

    features.conv0 (7x7/2) -> features.norm0 -> features.relu0 -> features.pool0 (3x3/2)
    features.denseblock1 ... features.denseblock4, with features.transition1..3 between them
    features.norm5 -> relu -> avgpool (adaptive, 1x1) -> classifier

A dense layer `features.denseblock<b>.denselayer<i>` is norm1, relu1, conv1 (1x1 to 4 x 32
channels), norm2, relu2, conv2 (3x3 to 32); its output, conv2, is also reachable by the layer's
own name. Layer i reads the block's input and the outputs of layers 1..i-1, concatenated: for
i > 1 the row `<layer>.concat` makes that concatenation (the torch.cat at the start of
torchvision's _DenseLayer), and the block's output `features.denseblock<b>` is the last layer's
concat with that layer's output. A transition is norm, relu, conv (1x1, halving the channels)
and pool (2x2/2 average); its name is its pool's (`<transition>.pool` is an alias), and
`features` is an alias of norm5, the Sequential's output. The rows relu and avgpool are the functional
steps of torchvision's DenseNet.forward (F.relu, F.adaptive_avg_pool2d), not modules. The
convolutions have no bias; batch norm uses eps 1e-5.
"""
from functools import partial

from . import layers as L
from .preprocessing import TORCHVISION
from .spec import ArchSpec

GROWTH, BOTTLENECK, INIT_FEATURES = 32, 4, 64
BLOCKS = {"densenet121": (6, 12, 24, 16), "densenet169": (6, 12, 32, 32),
          "densenet201": (6, 12, 48, 32)}
# the layers the methods use when none is named (ArchSpec.defaults): Grad-CAM and channel
# targets at the last map after the last nonlinearity (features.norm5 has no ReLU after it
# inside `features`; the functional relu follows), feature vectors after the pool
DEFAULT_LAYERS = {"map": "relu", "vector": "avgpool", "dream": "features.denseblock3"}


def _bn_relu_conv(prefix, index, cin, cout, kernel, inputs=None):
    """norm<index>, relu<index>, conv<index> of a dense layer (index "" for a transition)."""
    return [L.BatchNorm2d(f"{prefix}.norm{index}", cin, inputs=inputs),
            L.ReLU(f"{prefix}.relu{index}"),
            L.Conv2d(f"{prefix}.conv{index}", cin, cout, kernel, padding=kernel // 2,
                     bias=False)]


def dense_block(b, layers, source, channels):
    """(rows, aliases, output channels) of dense block b reading row `source`."""
    block = f"features.denseblock{b}"
    rows, aliases, previous = [], {}, source  # previous: the concatenation read so far
    for i in range(1, layers + 1):
        layer = f"{block}.denselayer{i}"
        cin = channels + (i - 1) * GROWTH
        if i > 1:
            rows.append(L.Concat(f"{layer}.concat",
                                 inputs=[previous, f"{block}.denselayer{i - 1}.conv2"]))
            previous = f"{layer}.concat"
        rows += _bn_relu_conv(layer, 1, cin, BOTTLENECK * GROWTH, 1, inputs=[previous])
        rows += _bn_relu_conv(layer, 2, BOTTLENECK * GROWTH, GROWTH, 3)
        aliases[layer] = f"{layer}.conv2"
    rows.append(L.Concat(block, inputs=[previous, f"{block}.denselayer{layers}.conv2"]))
    return rows, aliases, channels + layers * GROWTH


def densenet(name, num_classes=1000):
    """ArchSpec of "densenet121", "densenet169" or "densenet201"."""
    rows = [L.Conv2d("features.conv0", 3, INIT_FEATURES, 7, 2, padding=3, bias=False),
            L.BatchNorm2d("features.norm0", INIT_FEATURES), L.ReLU("features.relu0"),
            L.MaxPool2d("features.pool0", 3, 2, padding=1)]
    aliases, channels = {}, INIT_FEATURES
    for b, layers in enumerate(BLOCKS[name], start=1):
        block_rows, block_aliases, channels = dense_block(b, layers, rows[-1].name, channels)
        rows += block_rows
        aliases.update(block_aliases)
        if b < len(BLOCKS[name]):
            t = f"features.transition{b}"
            rows += _bn_relu_conv(t, "", channels, channels // 2, 1)
            rows.append(L.AvgPool2d(t, 2, 2))
            aliases[f"{t}.pool"] = t
            channels //= 2
    rows += [L.BatchNorm2d("features.norm5", channels), L.ReLU("relu"),
             L.AdaptiveAvgPool2d("avgpool", 1), L.Linear("classifier", channels, num_classes)]
    aliases["features"] = "features.norm5"  # the whole `features` Sequential
    torch_names = {row.name: row.name for row in rows if row.param_shapes()}
    return ArchSpec(name, rows, TORCHVISION, aliases=aliases, torch_names=torch_names,
                    defaults=DEFAULT_LAYERS)


ARCHITECTURES = {name: partial(densenet, name) for name in BLOCKS}
