"""Objectives: what a method differentiates or ascends, as a function of a model's activations.

An Objective names the layers it reads (so the forward pass stops as soon as they are computed) and
maps their activations to one score per example, a Tensor of shape (N,). Objectives compose with
+, - and scalar * as in lucid, so "class score minus an L2 penalty" or "two channels at once" are
one expression. Gradients of a per-example score with respect to a batch of images are independent
per example (the models run in inference mode), so one backward serves the whole batch.
"""
import numpy as np

from .. import ops
from ..suggest import close_matches, suggestion
from ..engine.tensor import no_grad
from ..errors import UnknownName


class Objective:
    """layers: the activation names read; fn(acts: {name: Tensor}) -> (N,) Tensor.

    What it targets, as data (None where it does not apply, and on sums of objectives):
    target_class (class index, or a tuple of one per example), layer and channel (a channel or unit target), unit ((y, x) of a
    unit target).
    """

    def __init__(self, layers, fn, description, target_class=None, layer=None, channel=None,
                 unit=None):
        self.layers = list(dict.fromkeys(layers))
        self.fn = fn
        self.description = description
        self.target_class = target_class
        self.layer = layer
        self.channel = channel
        self.unit = unit

    def __call__(self, model, x):
        """Per-example scores (N,) of image batch x (N, 3, H, W) under `model`."""
        return self.scores(model.forward(x, layers=self.layers))

    def scores(self, acts):
        """Per-example scores (N,) from activations {name: Tensor} already computed (they must
        include self.layers)."""
        return self.fn(acts)

    def __add__(self, other):
        return Objective(self.layers + other.layers, lambda a: self.scores(a) + other.scores(a),
                         f"{self.description} + {other.description}")

    def __sub__(self, other):
        return self + (-1.0) * other

    def __rmul__(self, k):
        return Objective(self.layers, lambda a: self.scores(a) * float(k),
                         f"{k} * {self.description}")

    __mul__ = __rmul__

    def __neg__(self):
        return (-1.0) * self

    def __repr__(self):
        return f"Objective({self.description})"


def class_score(model, index):
    """The raw (pre-softmax) score of class `index` per example. index: an int or class name, or
    a sequence of them, one per example (the same below)."""
    target, pick = _class_picker(model, index)
    last = model.output_name
    return Objective([last], lambda a: pick(a[last]), f"score of class {target}",
                     target_class=target)


def class_log_probability(model, index):
    """log softmax of class `index` per example (pushes the other classes down too)."""
    target, pick = _class_picker(model, index)
    last = model.output_name
    return Objective([last], lambda a: pick(ops.log_softmax(a[last], axis=1)),
                     f"log p(class {target})", target_class=target)


def class_probability(model, index):
    """softmax probability of class `index` per example."""
    target, pick = _class_picker(model, index)
    last = model.output_name
    return Objective([last], lambda a: pick(ops.softmax(a[last], axis=1)),
                     f"p(class {target})", target_class=target)


def _class_picker(model, index):
    """(target, pick): the checked class index (a tuple of them for a sequence), and
    pick(values (N, classes)) -> (N,) the value of each example's class."""
    if isinstance(index, (str, int, np.integer)):
        index = class_index(model, index)
        return index, lambda values: values[:, index]
    target = tuple(class_index(model, i) for i in index)
    rows, columns = np.arange(len(target)), np.asarray(target)

    def pick(values):
        if len(values) != len(target):
            raise ValueError(f"{len(target)} target classes for a batch of {len(values)} images")
        return values[rows, columns]

    return target, pick


def channel(model, layer, channel_index):
    """Mean activation of one channel of a layer per example."""
    check_channel(model, layer, channel_index)

    def fn(acts):
        act = acts[layer][:, channel_index]  # (N, H, W) or (N,) for a fully connected layer
        return act.mean(axis=tuple(range(1, act.ndim))) if act.ndim > 1 else act

    return Objective([layer], fn, f"{layer} channel {channel_index} mean", layer=layer,
                     channel=channel_index)


def neuron(model, layer, channel_index, y=None, x=None):
    """One unit (channel, y, x) of a layer per example; y, x default to the centre."""
    check_channel(model, layer, channel_index)

    def fn(acts):
        act = acts[layer]
        if act.ndim == 2:
            return act[:, channel_index]
        h, w = act.shape[2:]
        yy = h // 2 if y is None else y
        xx = w // 2 if x is None else x
        if not (0 <= yy < h and 0 <= xx < w):
            raise ValueError(f"neuron position ({yy}, {xx}) is outside the {h}x{w} map of {layer}")
        return act[:, channel_index, yy, xx]

    return Objective([layer], fn, f"{layer} unit ({channel_index}, {y}, {x})", layer=layer,
                     channel=channel_index, unit=None if y is None or x is None else (y, x))


def layer_energy(model, layer):
    """sum(a^2) / 2 over a layer per example: its gradient is the activation (DeepDream)."""
    check_layer(model, layer)

    def fn(acts):
        act = acts[layer]
        return (act * act).sum(axis=tuple(range(1, act.ndim))) * 0.5

    return Objective([layer], fn, f"energy of {layer}")


def guided_energy(model, layer, guide_features):
    """DeepDream with a guide image (Mordvintsev et al.): sum over positions i of the layer of
    max_j <a_i, g_j>, g_j the guide's feature vectors; its gradient at each position is the
    best-matching guide feature, so the image grows what the guide shows.

    guide_features: the guide image's activation of `layer`, (1, C, h, w) array or Tensor.
    """
    check_layer(model, layer)
    guide = guide_features.data if hasattr(guide_features, "data") else guide_features
    channels = guide.shape[1]
    guide = guide.reshape(channels, -1)  # (C, M)

    def fn(acts):
        act = acts[layer]
        n = act.shape[0]
        if act.shape[1] != channels:
            raise ValueError(f"the guide has {channels} channels at {layer}, the image "
                             f"{act.shape[1]}")
        features = act.reshape(n, channels, -1).transpose(0, 2, 1)  # (N, H*W, C)
        positions = features.shape[1]
        dots = (features.reshape(n * positions, channels) @ guide).reshape(n, positions, -1)
        return dots.max(axis=2).sum(axis=1)  # (N, H*W, M) -> (N,)

    return Objective([layer], fn, f"guided energy of {layer}")


def strongest_channel(model, layer, x, batch_size=16):
    """The channel of `layer` with the largest mean activation over image batch x
    (N, 3, H, W) and all positions: the feature the images excite most."""
    total = 0.0
    with no_grad():
        for start in range(0, len(x), batch_size):
            act = model.forward(x[start:start + batch_size], layers=[layer])[layer].numpy()
            total = total + act.mean(axis=tuple(i for i in range(act.ndim) if i != 1)) * len(act)
    return int(total.argmax())


def check_layer(model, layer):
    """Raise a KeyError listing the valid layer names when `layer` is not one of them."""
    model.resolve(layer)


def output_shape(model, layer):
    """The output shape of `layer` for one image of the model's input size (224 if it has none)."""
    height, width = model.preprocessing.input_size or (224, 224)
    return model.output_shapes((1, 3, height, width))[model.resolve(layer)]


def check_channel(model, layer, channel_index):
    channels = output_shape(model, layer)[1]
    if not 0 <= channel_index < channels:
        raise ValueError(f"channel {channel_index} is out of range for {layer}, which has "
                         f"{channels} channels (0..{channels - 1})")


def class_index(model, index):
    """An int class index from an int or a class name (case-insensitive), checked against labels."""
    n = model.num_classes
    if n is None:
        raise ValueError(f"{model.arch} ends at {model.output_name} with output "
                         f"{output_shape(model, model.output_name)}, not class scores "
                         f"(N, classes); target a layer's channel instead")
    if isinstance(index, str):
        if not index.strip().lstrip("-").isdigit():
            return class_named(model, index, n)
        index = int(index)
    if not 0 <= int(index) < n:
        raise ValueError(f"class index {index} is out of range 0..{n - 1}")
    return int(index)


def class_named(model, name, n):
    """The index of class `name` (case and "_"/" " ignored) among the model's n labels."""
    if not model.labels:
        raise UnknownName(f"{model.arch} has no class names, so {name!r} names no class: give an "
                       f"index 0..{n - 1}, or class names (--labels FILE on the command line, "
                       f"model.labels = [...] in Python)")
    spaced = [str(label).lower().replace("_", " ") for label in model.labels]
    wanted = name.strip().lower().replace("_", " ")
    if wanted in spaced:
        return spaced.index(wanted)
    close = [model.labels[i] for i, label in enumerate(spaced) if wanted in label]
    close += [model.labels[spaced.index(label)] for label in close_matches(wanted, spaced, n=5)]
    raise UnknownName(f"unknown class name {name!r}{suggestion(close[:10])} (a name from the "
                   f"model's labels, or an index 0..{n - 1})")
