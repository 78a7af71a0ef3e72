"""Model: an ordered table of named layers, their parameters, and what the inputs should be.

A network is a list of rows (tinyconv.models.layers), in an order where every row comes after the
rows it reads, like chainer's VGG table. `forward(x, layers=[...])` walks the table once, keeps
only the activations that later rows or the caller still need, and stops at the last requested
row, so asking for conv1_1 of VGG19 costs one convolution. Parameters live in one flat dict keyed
"<layer>.<param>" ("conv1_1.weight"), which is also the state-dict and the weight-file layout.
"""
from collections import OrderedDict

import numpy as np

from ..engine import backend
from ..ops import softmax
from ..suggest import did_you_mean
from ..engine.tensor import Tensor, is_grad_enabled, no_grad
from . import preprocessing as pre
from .folding import FoldCache, foldable_pairs
from .layers import INPUT_FIELD
from ..errors import UnknownName

INPUT = "input"


def unknown_layer(arch, name, names):
    """The message for a layer `name` that `arch` lacks: the close names, not all of them."""
    return (f"{arch} has no layer {name!r}{did_you_mean(name, names)} (all {len(names)}: "
            f"`tinyconv layers` on the command line, model.layer_names in Python)")


def _is_spatial_map(shape):
    """Whether an output shape is an (N, C, H, W) map of more than one position."""
    return len(shape) == 4 and shape[2] * shape[3] > 1


class Model:
    """A network as a table of named layers. Build one with tinyconv.models.build or load_model.

    arch: architecture name; layers: list of Layer rows in order; preprocessing: Preprocessing;
    labels: class names or None; aliases: {short name: row name} (SqueezeNet's "fire2");
    defaults: {role: layer} the methods default to (ArchSpec.defaults; see default_layer).
    """

    def __init__(self, arch, layers, preprocessing, labels=None, aliases=None, device=None,
                 dtype="float32", defaults=None):
        self.arch = arch
        self.layers = OrderedDict()
        previous = INPUT
        for layer in layers:
            if layer.name in self.layers or layer.name == INPUT:
                raise ValueError(f"{arch}: duplicate layer name {layer.name!r}")
            if layer.inputs is None:
                layer.inputs = (previous,)
            for source in layer.inputs:
                if source != INPUT and source not in self.layers:
                    raise ValueError(f"{arch}: layer {layer.name!r} reads {source!r}, which is "
                                     f"not an earlier layer")
            self.layers[layer.name] = layer
            previous = layer.name
        self.aliases = dict(aliases or {})
        self.defaults = dict(defaults or {})
        self.preprocessing = preprocessing
        self.labels = list(labels) if labels is not None else None
        self.device = backend.check_device(device)
        self.dtype = np.dtype(dtype)
        self.training = False
        self._fold_pairs = foldable_pairs(self.layers)  # {batch norm row: its convolution row}
        self._folds = FoldCache()
        self.params = OrderedDict()
        xp = backend.xp_for(self.device)
        for name, key, shape in self._param_specs():
            self.params[key] = Tensor(xp.zeros(shape, dtype=self.dtype))

    # ----- the table
    @property
    def layer_names(self):
        """Row names in computation order."""
        return list(self.layers)

    @property
    def output_name(self):
        return next(reversed(self.layers))

    def resolve(self, name):
        """The row name for `name` (a row or an alias); KeyError with the close names otherwise."""
        name = self.aliases.get(name, name)
        if name not in self.layers:
            raise UnknownName(unknown_layer(self.arch, name, self.layer_names + sorted(self.aliases)))
        return name

    def _param_specs(self):
        for layer in self.layers.values():
            for key, shape in layer.param_shapes().items():
                yield layer.name, f"{layer.name}.{key}", tuple(shape)

    def _is_buffer(self, key):
        """Whether params[key] is a statistic a layer keeps (batch norm's running mean), not a
        trained parameter."""
        layer, _, name = key.rpartition(".")
        return name in self.layers[layer].buffers

    def summary(self, input_size=None):
        """Rows (name, description, output shape, parameter count) for a (1, 3, H, W) input."""
        height, width = input_size or self.preprocessing.input_size or (224, 224)
        shapes = self.output_shapes((1, 3, height, width))
        rows = []
        for name, layer in self.layers.items():
            count = sum(int(np.prod(s)) for key, s in layer.param_shapes().items()
                        if key not in layer.buffers)
            rows.append((name, layer.describe(), shapes[name], count))
        return rows

    def output_shapes(self, input_shape):
        """{layer name: output shape} for an input of `input_shape`, computed without any data."""
        shapes = {INPUT: tuple(input_shape)}
        for name, layer in self.layers.items():
            shapes[name] = tuple(layer.output_shape(*(shapes[s] for s in layer.inputs)))
        del shapes[INPUT]
        return shapes

    def _shapes(self):
        """{layer name: output shape} for one image of the input size (224 when there is none)."""
        size = self.preprocessing.input_size or (224, 224)
        return self.output_shapes((1, 3) + tuple(size))

    @property
    def num_classes(self):
        """The number of class scores the network ends with, or None when its output is not a
        vector (N, classes): a network cut before its classifier, a fast style network."""
        output = self._shapes()[self.output_name]
        return output[1] if len(output) == 2 else None

    def default_layer(self, role):
        """The layer (as the family names it, possibly an alias) the family's table gives for a
        method `role` ("map", "vector", "dream"), or None when it gives none or this model
        was cut before it."""
        name = self.defaults.get(role)
        return name if name is not None and self.aliases.get(name, name) in self.layers else None

    def default_feature_layer(self, spatial=True):
        """A sensible feature layer: the family's default_layer("map") when `spatial`, else
        default_layer("vector") or relu7 when present; otherwise the deepest layer with a
        spatial map that is not class scores (SqueezeNet: fire9/concat; VGG16: avgpool)."""
        chosen = self.default_layer("map" if spatial else "vector")
        if chosen is not None:
            return chosen
        if not spatial and "relu7" in self.layers:
            return "relu7"
        shapes = self._shapes()
        output = shapes[self.output_name]
        # a classifier's output is a vector; maps with as many channels are its class scores
        classes = None if _is_spatial_map(output) else output[1]
        for name in reversed(self.layer_names):
            if self.layers[name].kind != "dropout" and _is_spatial_map(shapes[name]) \
                    and shapes[name][1] != classes:
                return name
        raise ValueError(f"{self.arch} has no layer with a spatial map; name a layer")

    def receptive_field(self, layer):
        """(size, stride, offset) of `layer` in input pixels (see tinyconv.models.layers).

        Raises ValueError for layers that see the whole image (fully connected, global pools).
        """
        name = self.resolve(layer)
        field = self.receptive_fields(stop=name)[name]
        if field is None:
            raise ValueError(f"{self.arch} layer {name!r} sees the whole input image: it has no "
                             f"finite receptive field")
        return field

    def receptive_fields(self, stop=None):
        """{layer name: ReceptiveField or None (whole image)} for every layer up to `stop`."""
        fields = {INPUT: INPUT_FIELD}
        for name, layer in self.layers.items():
            fields[name] = layer.receptive_field(*(fields[s] for s in layer.inputs))
            if name == stop:
                break
        del fields[INPUT]
        return fields

    # ----- running it
    def __call__(self, x):
        """Final output (class scores (N, classes) for classifiers) of input x (N, 3, H, W)."""
        return self.forward(x)[self.output_name]

    def forward(self, x, layers=None, start=None):
        """{name: activation Tensor} of the requested layers (default: the last one).

        x: (N, 3, H, W) input Tensor, or with `start`, the input of layer `start` (the output of
          the row before it); computation begins at `start` and stops as soon as every requested
          activation exists. In inference, a convolution and the batch norm after it run as one
          folded convolution unless the convolution's output is requested (folding.py).
        """
        requested = [self.output_name] if layers is None else \
            ([layers] if isinstance(layers, str) else list(layers))
        rows = [self.resolve(name) for name in requested]
        names = self.layer_names
        first = 0 if start is None else names.index(self.resolve(start))
        last = max(names.index(r) for r in rows)
        if last < first:
            raise ValueError(f"requested layer(s) {requested} come before start={start!r}")
        todo = names[first:last + 1]
        source = self._check_start(todo) if start is not None else INPUT
        keep = set(rows)
        reads, folded = self._reads(todo, keep)
        last_use = {}
        for i, name in enumerate(todo):
            for s in reads.get(name, ()):
                last_use[s] = i
        acts = {source: x if isinstance(x, Tensor) else Tensor(x)}
        for i, name in enumerate(todo):
            if name not in reads:
                continue  # a convolution folded into its batch norm's row
            extra = {"inplace": True} if self._may_overwrite_input(
                self.layers[name], i, last_use, keep, source) else {}
            acts[name] = self._run_row(name, [acts[s] for s in reads[name]], extra,
                                       name in folded)
            for s in reads[name]:
                if last_use[s] == i and s not in keep:
                    del acts[s]  # free activations nobody will read again
        return {name: acts[row] for name, row in zip(requested, rows)}

    def _reads(self, todo, keep):
        """({row: the rows it reads}, {folded batch norm rows}) for the rows of `todo` that run
        in this pass: a batch norm folded with its convolution reads the convolution's input,
        and the convolution is left out. Folded: inference, both rows in `todo`, the
        convolution's output not in `keep`, and no gradient wanted for the pair's parameters."""
        reads, folded = {name: self.layers[name].inputs for name in todo}, set()
        if self.training:
            return reads, folded
        grad = is_grad_enabled()
        for bn, conv in self._fold_pairs.items():
            if bn in reads and conv in reads and conv not in keep and not (
                    grad and any(self.params[f"{row}.{key}"].requires_grad for row in (conv, bn)
                                 for key in self.layers[row].param_shapes())):
                reads[bn] = reads.pop(conv)
                folded.add(bn)
        return reads, folded

    def _run_row(self, name, inputs, extra, folded):
        """The output of row `name` on its input Tensors; `folded`: the row is a batch norm
        run with its convolution, on the convolution's input, as one folded convolution."""
        layer = self.layers[name]
        if folded:
            conv = self.layers[self._fold_pairs[name]]
            return conv(self._folds.get(conv, layer, self.params), *inputs)
        params = {key: self.params[f"{name}.{key}"] for key in layer.param_shapes()}
        return layer(params, *inputs, training=self.training, **extra)

    def _may_overwrite_input(self, layer, i, last_use, keep, source):
        """Whether row number i of this pass may write its output over its input's array: it
        can (a ReLU), the input is made in this pass by a row whose backward does not read its
        output (conv, linear), and no later row or caller reads the input."""
        if not layer.works_in_place or len(layer.inputs) != 1:
            return False
        s = layer.inputs[0]
        return (s != source and s not in keep and last_use[s] == i
                and not self.layers[s].output_read_by_backward)

    def _check_start(self, todo):
        """The name standing for the input when running only `todo`; checks nothing skips it."""
        first = self.layers[todo[0]]
        if len(first.inputs) != 1:
            raise ValueError(f"cannot start at {todo[0]!r}: it reads several layers "
                             f"{first.inputs}")
        source = first.inputs[0]
        inside = set(todo) | {source}
        for name in todo[1:]:
            outside = [s for s in self.layers[name].inputs if s not in inside]
            if outside:
                raise ValueError(f"cannot start at {todo[0]!r}: layer {name!r} also reads "
                                 f"{outside}, which come before it")
        return source

    def predict(self, images, batch_size=32):
        """Softmax probabilities (N, classes) as numpy for uint8 RGB images, in batches."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = [images]
        return np.concatenate([
            self.probabilities(self.preprocess(list(images[i:i + batch_size])), batch_size)
            for i in range(0, len(images), batch_size)])

    def probabilities(self, x, batch_size=32):
        """Softmax class probabilities (N, classes) numpy of input batch x (N, 3, H, W) (array or
        Tensor, any device), run without gradients in batches of this model's dtype."""
        x = x.data if isinstance(x, Tensor) else x
        xp = backend.xp_for(self.device)
        out = []
        with no_grad():
            for i in range(0, len(x), batch_size):
                scores = self(Tensor(xp.asarray(x[i:i + batch_size], dtype=self.dtype)))
                out.append(softmax(scores, axis=1).numpy())
        return np.concatenate(out)

    def predicted_classes(self, x, batch_size=32):
        """Index of the most probable class of each image of input batch x (N, 3, H, W) ->
        (N,) int numpy."""
        return self.probabilities(x, batch_size).argmax(axis=1)

    # ----- pixels in and out
    def preprocess(self, images, resize=True):
        """uint8 RGB (H, W, 3) image or list of them -> (N, 3, H, W) input Tensor for this model.

        resize=True: short side to preprocessing.resize_size and centre crop to input_size (when
        the model has one); resize=False keeps the images' size (fully convolutional use).
        """
        return pre.preprocess(self.preprocessing, images, self.device, self.dtype, resize)

    def deprocess(self, x):
        """Input-space Tensor (N, 3, H, W) -> uint8 RGB (N, H, W, 3) images (clipped)."""
        return pre.deprocess(self.preprocessing, x)

    # ----- parameters
    # self.params holds the trained parameters and the buffers (batch norm's running
    # statistics) alike: both are state, saved and loaded; only the parameters are trained.
    def parameters(self):
        """The trained parameters (what an optimizer gets), without the buffers."""
        return [p for _, p in self.named_parameters()]

    def named_parameters(self):
        return [(key, p) for key, p in self.params.items() if not self._is_buffer(key)]

    def named_buffers(self):
        """[("<layer>.<buffer>", Tensor)]: running statistics, updated in training mode."""
        return [(key, p) for key, p in self.params.items() if self._is_buffer(key)]

    def requires_grad_(self, flag=True):
        """Make every parameter trainable (True) or frozen (False, the default); buffers never
        take gradients. Returns self."""
        for p in self.parameters():
            p.requires_grad = bool(flag)
        return self.weights_changed()

    def train(self, mode=True):
        """Training mode (dropout active, batch norm by batch statistics, updating its running
        statistics) or inference mode (mode=False). Returns self."""
        self.training = bool(mode)
        return self.weights_changed()  # training steps edit the weights and statistics in place

    def weights_changed(self):
        """Drop what is computed from the weights (the folded batch norms): call it after
        editing a parameter's or buffer's `.data` in place by hand; assigning a new array to
        `.data`, load_state_dict, to, train and eval need no call. Returns self."""
        self._folds.clear()
        return self

    def eval(self):
        return self.train(False)

    def state_dict(self):
        """{"<layer>.<param>": numpy array} copies of every parameter and buffer."""
        return OrderedDict((key, p.numpy().copy()) for key, p in self.params.items())

    def load_state_dict(self, state, strict=True):
        """Copy arrays into the parameters, checking every name and shape first.

        strict=False allows missing entries (they keep their values); unknown names always fail.
        """
        unknown = sorted(set(state) - set(self.params))
        missing = sorted(set(self.params) - set(state))
        if unknown:
            raise UnknownName(f"{self.arch}: unknown parameter(s) {unknown}; this model has "
                           f"{list(self.params)}")
        if strict and missing:
            raise UnknownName(f"{self.arch}: missing parameter(s) {missing}")
        for key, value in state.items():
            expected = self.params[key].shape
            if tuple(value.shape) != expected:
                layer, _, param = key.rpartition(".")
                raise ValueError(f"{self.arch} layer {layer!r} {param}: the weights have shape "
                                 f"{tuple(value.shape)} but the model expects {expected}")
        xp = backend.xp_for(self.device)
        for key, value in state.items():
            data = value.data if isinstance(value, Tensor) else value
            self.params[key].data = xp.array(backend.to_numpy(data), dtype=self.dtype)
        return self.weights_changed()

    def init_weights(self, seed=0):
        """He-uniform weights, zero biases (unit scale for norms), from numpy seed `seed`."""
        rng = np.random.default_rng(seed)
        state = {}
        for layer in self.layers.values():
            for key, value in layer.init_params(rng, self.dtype.type).items():
                state[f"{layer.name}.{key}"] = value
        return self.load_state_dict(state)

    def to(self, device):
        """Move every parameter to `device` ("cpu" | "gpu"). Returns self."""
        device = backend.check_device(device)
        for p in self.params.values():
            p.data = backend.to_device(p.data, device)
            p.grad = None
        self.device = device
        return self.weights_changed()

    def truncated(self, last):
        """A new Model with the rows up to `last` (inclusive), sharing parameter Tensors (and
        the folded batch norms computed from them)."""
        last = self.resolve(last)
        names = self.layer_names[:self.layer_names.index(last) + 1]
        aliases = {a: t for a, t in self.aliases.items() if t in names}
        model = Model(self.arch, [self.layers[n] for n in names], self.preprocessing,
                      None, aliases, self.device, self.dtype, self.defaults)
        for key in model.params:
            model.params[key] = self.params[key]
        model._folds = self._folds  # the same weights: what invalidates one invalidates both
        return model

    def __repr__(self):
        n = sum(int(np.prod(p.shape)) for p in self.parameters())
        return (f"Model({self.arch!r}, {len(self.layers)} layers, {n:,} parameters, "
                f"device={self.device!r}, dtype={self.dtype})")
