"""GoogLeNet / Inception v1 (Szegedy et al. 2015), torchvision's layout and module names.

    conv1 (7x7/2) -> maxpool1 -> conv2 (1x1) -> conv3 (3x3) -> maxpool2
    -> inception3a, inception3b -> maxpool3 -> inception4a ... inception4e -> maxpool4
    -> inception5a, inception5b -> avgpool (adaptive, 1x1) -> dropout -> fc

Every convolution is torchvision's BasicConv2d: rows `<name>.conv` (no bias), `<name>.bn`
(batch norm, eps 0.001) and `<name>`, the ReLU after them. An inception module reads the row
before it through four branches, `<m>.branch1` (1x1), `<m>.branch2.0` / `.1` (1x1, 3x3),
`<m>.branch3.0` / `.1` (1x1, then 3x3 where the paper has 5x5: torchvision's known quirk,
pytorch/vision#906, which its weights were trained with) and `<m>.branch4.0` / `.1` (3x3/1 max
pool, 1x1), and `<m>` concatenates them; `<m>.branch2` ... are aliases of each branch's last
row. All max pools use ceil mode, as torchvision's.

The auxiliary classifiers (aux1, aux2) only train: inference ignores them, and conversion drops
their keys. torchvision's pretrained GoogLeNet sets transform_input, which turns an
ImageNet-normalized input x into x * std / 0.5 + (mean - 0.5) / 0.5 = (pixel - 0.5) / 0.5: the
preprocessing here is that, mean 0.5 and std 0.5 on 0..1 RGB, with no step inside the table.
"""
from . import layers as L
from .preprocessing import Preprocessing
from .spec import ArchSpec

GOOGLENET_INPUT = Preprocessing("RGB", 1.0, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), (224, 224), 256,
                                notes="torchvision GoogLeNet (transform_input): (x - 0.5) / 0.5")
# inception modules: (name, in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool projection);
# "pool<k>" = a 3x3/2 max pool (maxpool4: 2x2/2)
BODY = (("inception3a", 192, 64, 96, 128, 16, 32, 32),
        ("inception3b", 256, 128, 128, 192, 32, 96, 64), "maxpool3",
        ("inception4a", 480, 192, 96, 208, 16, 48, 64),
        ("inception4b", 512, 160, 112, 224, 24, 64, 64),
        ("inception4c", 512, 128, 128, 256, 24, 64, 64),
        ("inception4d", 512, 112, 144, 288, 32, 64, 64),
        ("inception4e", 528, 256, 160, 320, 32, 128, 128), "maxpool4",
        ("inception5a", 832, 256, 160, 320, 32, 128, 128),
        ("inception5b", 832, 384, 192, 384, 48, 128, 128))
# the layers the methods use when none is named (ArchSpec.defaults): DeepDream's canonical
# pictures are inception_4c's; Grad-CAM and channel targets at the last spatial map, feature
# vectors after the pool
DEFAULT_LAYERS = {"map": "inception5b", "vector": "avgpool", "dream": "inception4c"}
IGNORED_TORCH_KEYS = ("aux1.", "aux2.")


def basic_conv(name, cin, cout, kernel, stride=1, inputs=None):
    """torchvision's BasicConv2d: conv (no bias), batch norm (eps 0.001), ReLU named `name`."""
    return [L.Conv2d(f"{name}.conv", cin, cout, kernel, stride, padding=kernel // 2, bias=False,
                     inputs=inputs),
            L.BatchNorm2d(f"{name}.bn", cout, eps=0.001), L.ReLU(name)]


def inception(source, name, cin, c1, c3r, c3, c5r, c5, pool):
    """(rows, aliases) of one inception module reading row `source`."""
    rows = (basic_conv(f"{name}.branch1", cin, c1, 1, inputs=[source])
            + basic_conv(f"{name}.branch2.0", cin, c3r, 1, inputs=[source])
            + basic_conv(f"{name}.branch2.1", c3r, c3, 3)
            + basic_conv(f"{name}.branch3.0", cin, c5r, 1, inputs=[source])
            + basic_conv(f"{name}.branch3.1", c5r, c5, 3)
            + [L.MaxPool2d(f"{name}.branch4.0", 3, 1, padding=1, ceil_mode=True,
                           inputs=[source])]
            + basic_conv(f"{name}.branch4.1", cin, pool, 1))
    ends = [f"{name}.branch1", f"{name}.branch2.1", f"{name}.branch3.1", f"{name}.branch4.1"]
    rows.append(L.Concat(name, inputs=ends))
    return rows, {f"{name}.branch{b}": f"{name}.branch{b}.1" for b in (2, 3, 4)}


def googlenet(name="googlenet", num_classes=1000):
    """ArchSpec of torchvision's GoogLeNet at inference (no auxiliary classifiers)."""
    rows = (basic_conv("conv1", 3, 64, 7, 2) + [L.MaxPool2d("maxpool1", 3, 2, ceil_mode=True)]
            + basic_conv("conv2", 64, 64, 1) + basic_conv("conv3", 64, 192, 3)
            + [L.MaxPool2d("maxpool2", 3, 2, ceil_mode=True)])
    aliases = {}
    for item in BODY:
        if isinstance(item, str):
            kernel = 2 if item == "maxpool4" else 3
            rows.append(L.MaxPool2d(item, kernel, 2, ceil_mode=True))
            continue
        module_rows, module_aliases = inception(rows[-1].name, *item)
        rows += module_rows
        aliases.update(module_aliases)
    rows += [L.AdaptiveAvgPool2d("avgpool", 1), L.Dropout("dropout", 0.2),
             L.Linear("fc", 1024, num_classes)]
    torch_names = {row.name: row.name for row in rows if row.param_shapes()}
    return ArchSpec(name, rows, GOOGLENET_INPUT, aliases=aliases, torch_names=torch_names,
                    torch_ignored=IGNORED_TORCH_KEYS, defaults=DEFAULT_LAYERS)


ARCHITECTURES = {"googlenet": googlenet}
