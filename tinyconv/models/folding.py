"""Batch normalization folded into the convolution before it, for inference.

At inference a batch norm is a per-channel affine map, bn(z) = (z - mean) * s + beta with
s = gamma / sqrt(running_var + eps). After a convolution z = W * x + b it is the convolution

    W' = W * s (per output channel),   b' = (b - mean) * s + beta,

so the pair costs one convolution and no pass over the activation. Model.forward runs a pair this
way when it may: the model is in inference mode (training normalizes by the batch), nobody asked
for the convolution's own (pre-norm) output, and no gradient is wanted for the pair's parameters
(the folded arrays are constants). Otherwise the two rows run as written.

Exactness: W' and b' are computed in float64 and rounded once to the model's dtype, so a
float64 model gives the unfused result to round-off and a float32 one is no less accurate than
normalizing the convolution's rounded output. The folded arrays are cached per batch-norm row
and are recomputed when any array they came from is replaced (the cache keeps the source arrays
and compares identities) or when Model says its weights changed (load_state_dict, to, train and
eval, requires_grad_, weights_changed: the way to say that `.data` was edited in place). The
folded arrays are read-only, new arrays on every recomputation, so the CPU convolution kernels
may keep their prepared layouts of them (kernels/cpu/conv.py, prepare_weight).
"""
from collections import Counter

import numpy as np

from ..engine.backend import get_array_module
from ..engine.tensor import Tensor

BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def foldable_pairs(layers):
    """{batch norm row: convolution row} for each BatchNorm2d row whose only input is a Conv2d
    row that no other row reads. layers: {name: Layer} with their inputs filled in."""
    readers = Counter(source for layer in layers.values() for source in layer.inputs)
    pairs = {}
    for name, layer in layers.items():
        if layer.kind != "batch_norm" or len(layer.inputs) != 1:
            continue
        source = layer.inputs[0]
        if source in layers and layers[source].kind == "conv" and readers[source] == 1:
            pairs[name] = source
    return pairs


def fold(conv_params, bn_params, eps):
    """{"weight": W', "bias": b'} (arrays in W's dtype) of a convolution {"weight" (O, I, k, k),
    "bias" (O,) or absent} followed by an inference batch norm (arrays (O,), epsilon eps)."""
    weight = conv_params["weight"]
    xp = get_array_module(weight)
    f64 = [bn_params[key].astype(np.float64) for key in BN_KEYS]
    gamma, beta, mean, var = f64
    scale = gamma / xp.sqrt(var + eps)
    bias = conv_params.get("bias")
    bias = bias.astype(np.float64) if bias is not None else xp.zeros_like(mean)
    folded_weight = weight.astype(np.float64) * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    folded_bias = (bias - mean) * scale + beta
    return {"weight": folded_weight.astype(weight.dtype), "bias": folded_bias.astype(weight.dtype)}


class FoldCache:
    """Folded convolution parameters per batch-norm row, each kept with the arrays it was
    computed from and recomputed when one of them is no longer the same object."""

    def __init__(self):
        self._entries = {}  # batch norm row -> (source arrays, {"weight": Tensor, "bias": Tensor})

    def clear(self):
        self._entries.clear()

    def get(self, conv, bn, params):
        """The folded {"weight", "bias"} Tensors of Conv2d row `conv` and BatchNorm2d row `bn`;
        params: the model's {"<layer>.<param>": Tensor}."""
        conv_params = {key: params[f"{conv.name}.{key}"].data for key in conv.param_shapes()}
        bn_params = {key: params[f"{bn.name}.{key}"].data for key in BN_KEYS}
        sources = tuple(conv_params.values()) + tuple(bn_params.values())
        entry = self._entries.get(bn.name)
        if entry is None or len(entry[0]) != len(sources) or \
                any(a is not b for a, b in zip(entry[0], sources)):
            folded = fold(conv_params, bn_params, bn.eps)
            for value in folded.values():  # constants: the CPU kernels keep their layouts
                value.flags.writeable = False
            entry = (sources, {key: Tensor(value) for key, value in folded.items()})
            self._entries[bn.name] = entry
        return entry[1]
