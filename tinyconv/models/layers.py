"""The rows of a model's table: one named layer each, with its parameters' shapes and its maths.

A layer knows four things about itself and nothing about its neighbours: the shapes of its
parameters (`param_shapes`), how to compute its output from its inputs (`__call__`, through
tinyconv.ops), the shape of that output (`output_shape`, without computing it), and how it changes
a receptive field (`receptive_field`). `inputs` names the layers it reads; None means "the layer
before me", which the table fills in. Fire modules and residual blocks are rows with two inputs.

Receptive fields are (size, stride, offset) in input-image pixels: unit (y, x) of a layer sees the
square [offset + y * stride, offset + y * stride + size) along each axis (offset < 0 where padding
reaches past the border). Layers that see the whole image (global pools, fully connected layers)
return None.
"""
import contextvars
import math
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from .. import ops
from ..ops.conv import conv_output_size
from ..ops.pool import pool_output_size


class ReceptiveField(NamedTuple):
    size: int    # pixels of input seen by one unit, per axis
    stride: int  # input pixels between neighbouring units
    offset: int  # input coordinate of the first pixel seen by unit 0


INPUT_FIELD = ReceptiveField(1, 1, 0)


def _same_padding(size, kernel, stride, dilation=1):
    """TensorFlow 'SAME' (before, after) padding for one axis of length `size`."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class Layer:
    """Base row: no parameters, one input, output shape = input shape, receptive field unchanged.

    Two flags let Model.forward reuse memory (as PyTorch's inplace ReLU): a row that
    `works_in_place` takes inplace=True and may then overwrite its input's array, which Model
    passes only when nobody reads that input again and its maker's backward does not read it
    (`output_read_by_backward` False: convolutions and linear layers save their inputs only)."""
    kind = "layer"
    works_in_place = False
    output_read_by_backward = True
    # keys of param_shapes that are statistics the layer keeps (batch norm's running mean and
    # variance), not trained: saved and loaded like parameters, never given to an optimizer
    buffers = ()

    def __init__(self, name, inputs=None):
        self.name = name
        self.inputs = tuple(inputs) if inputs is not None else None

    def param_shapes(self):
        """{parameter name: shape} of this layer ({} when it has none)."""
        return {}

    def init_params(self, rng, dtype=np.float32):
        """{parameter name: numpy array}: He (Kaiming) uniform weights, zero biases.

        He-uniform has He-normal's variance 2 / fan_in and is much cheaper to draw (no normal
        transform), which matters for VGG's 138M weights. rng: a numpy Generator; dtype: float32
        or float64.
        """
        params = {}
        for key, shape in self.param_shapes().items():
            if key == "weight":
                # fan-in: inputs per output unit; a transposed conv's weight is (in, out, kH, kW)
                fan_in = int(np.prod(shape[1:])) if self.kind != "conv_transpose" else \
                    int(shape[0] * np.prod(shape[2:]))
                weight = rng.random(shape, dtype=dtype)  # U(0, 1) -> U(-b, b), b^2 / 3 = 2 / fan_in
                weight -= dtype(0.5)
                weight *= dtype(2 * math.sqrt(6.0 / fan_in))
                params[key] = weight
            else:
                params[key] = np.zeros(shape, dtype=dtype)
        return params

    def __call__(self, params, x, training=False):
        return x

    def output_shape(self, shape):
        return shape

    def receptive_field(self, field):
        return field

    def describe(self):
        return self.kind

    def __repr__(self):
        return f"{self.name}: {self.describe()}"


class Conv2d(Layer):
    """Convolution, weight (out, in / groups, k, k). padding: int, or "same" (TensorFlow's rule,
    possibly one more pixel after than before, as the ml5 / TF checkpoints were trained with)."""
    kind = "conv"
    output_read_by_backward = False

    def __init__(self, name, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, inputs=None):
        super().__init__(name, inputs)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.groups, self.bias = dilation, groups, bias

    def param_shapes(self):
        k = self.kernel_size
        shapes = {"weight": (self.out_channels, self.in_channels // self.groups, k, k)}
        if self.bias:
            shapes["bias"] = (self.out_channels,)
        return shapes

    def _pads(self, height, width):
        """(top, bottom, left, right) zero padding for an input of this size."""
        if self.padding == "same":
            return (_same_padding(height, self.kernel_size, self.stride, self.dilation)
                    + _same_padding(width, self.kernel_size, self.stride, self.dilation))
        return (self.padding,) * 4

    def __call__(self, params, x, training=False):
        top, bottom, left, right = self._pads(*x.shape[2:])
        padding = top
        if (top, left) != (bottom, right) or top != left:
            x = ops.pad2d(x, (top, bottom, left, right))  # asymmetric: pad first, then conv
            padding = 0
        return ops.conv2d(x, params["weight"], params.get("bias"), stride=self.stride,
                          padding=padding, dilation=self.dilation, groups=self.groups)

    def output_shape(self, shape):
        n, c, h, w = shape
        top, bottom, left, right = self._pads(h, w)
        return (n, self.out_channels) + tuple(
            conv_output_size(size, self.kernel_size, self.stride, 0, self.dilation)
            for size in (h + top + bottom, w + left + right))  # padded sizes, padding 0

    def receptive_field(self, field):
        if field is None:
            return None
        # "same" padding depends on the input size; its "before" part is at most (k - 1) / 2
        span = (self.kernel_size - 1) * self.dilation
        pad = self.padding if self.padding != "same" else span // 2
        return ReceptiveField(field.size + span * field.stride, field.stride * self.stride,
                              field.offset - pad * field.stride)

    def describe(self):
        pad = f"pad {self.padding}" if self.padding != "same" else "pad same"
        groups = f", groups {self.groups}" if self.groups != 1 else ""
        return (f"conv {self.kernel_size}x{self.kernel_size}/{self.stride}, {pad}, "
                f"{self.in_channels}->{self.out_channels}{groups}")


class ConvTranspose2d(Layer):
    """Transposed convolution with TensorFlow 'SAME' output size (input size * stride): the full
    result cropped as conv2d_transpose crops it. weight (in, out, k, k), tinyconv's layout."""
    kind = "conv_transpose"

    def __init__(self, name, in_channels, out_channels, kernel_size, stride, bias=True,
                 inputs=None):
        super().__init__(name, inputs)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.bias = kernel_size, stride, bias

    def param_shapes(self):
        k = self.kernel_size
        shapes = {"weight": (self.in_channels, self.out_channels, k, k)}
        if self.bias:
            shapes["bias"] = (self.out_channels,)
        return shapes

    def crop(self, height, width):
        """(top, left, H * stride, W * stride): the window of the full transposed convolution of
        an (height, width) input that is this layer's output."""
        h, w = height * self.stride, width * self.stride
        return (_same_padding(h, self.kernel_size, self.stride)[0],
                _same_padding(w, self.kernel_size, self.stride)[0], h, w)

    def __call__(self, params, x, training=False):
        full = ops.conv_transpose2d(x, params["weight"], params.get("bias"), stride=self.stride)
        top, left, h, w = self.crop(*x.shape[2:])
        return full[:, :, top:top + h, left:left + w]  # (N, out, H * stride, W * stride)

    def output_shape(self, shape):
        n, c, h, w = shape
        return (n, self.out_channels, h * self.stride, w * self.stride)

    def receptive_field(self, field):
        raise ValueError(f"{self.name}: receptive fields are not defined after a transposed "
                         f"convolution (its units do not sit on a regular input grid)")

    def describe(self):
        return (f"conv_transpose {self.kernel_size}x{self.kernel_size}/{self.stride}, pad same, "
                f"{self.in_channels}->{self.out_channels}")


class ReLU(Layer):
    kind = "relu"
    works_in_place = True

    def __call__(self, params, x, training=False, inplace=False):
        return ops.relu(x, inplace=inplace)


class ReLU6(Layer):
    """min(max(x, 0), 6) (MobileNetV2)."""
    kind = "relu6"
    works_in_place = True

    def __call__(self, params, x, training=False, inplace=False):
        return ops.relu6(x, inplace=inplace)


class Dropout(Layer):
    """Inverted dropout while training; identity at inference (the default)."""
    kind = "dropout"

    def __init__(self, name, p=0.5, inputs=None):
        super().__init__(name, inputs)
        self.p = p

    def __call__(self, params, x, training=False):
        return ops.dropout(x, self.p, training=training)

    def describe(self):
        return f"dropout {self.p}"


class MaxPool2d(Layer):
    kind = "max_pool"

    def __init__(self, name, kernel_size, stride=None, padding=0, ceil_mode=False, inputs=None):
        super().__init__(name, inputs)
        self.kernel_size, self.stride = kernel_size, stride or kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode

    def __call__(self, params, x, training=False):
        return ops.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def output_shape(self, shape):
        n, c, h, w = shape
        return (n, c) + tuple(pool_output_size(size, self.kernel_size, self.stride, self.padding,
                                               self.ceil_mode) for size in (h, w))

    def receptive_field(self, field):
        if field is None:
            return None
        return ReceptiveField(field.size + (self.kernel_size - 1) * field.stride,
                              field.stride * self.stride,
                              field.offset - self.padding * field.stride)

    def describe(self):
        ceil = ", ceil" if self.ceil_mode else ""
        return f"max_pool {self.kernel_size}x{self.kernel_size}/{self.stride}{ceil}"


class AvgPool2d(MaxPool2d):
    """Average pool (DenseNet's transitions): the max pool's geometry and receptive field, the
    mean of each window instead of its maximum (padding counted as zeros, PyTorch's default)."""
    kind = "avg_pool"

    def __call__(self, params, x, training=False):
        return ops.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def describe(self):
        return "avg" + super().describe()[3:]


class AdaptiveAvgPool2d(Layer):
    """Average pool to a fixed (size, size) grid (torchvision's avgpool before the classifier)."""
    kind = "adaptive_avg_pool"

    def __init__(self, name, output_size, inputs=None):
        super().__init__(name, inputs)
        self.output_size = output_size

    def __call__(self, params, x, training=False):
        if x.shape[2:] == (self.output_size, self.output_size):
            return x  # the usual case at the native input size: nothing to average
        return ops.adaptive_avg_pool2d(x, self.output_size)

    def output_shape(self, shape):
        return shape[:2] + (self.output_size, self.output_size)

    def receptive_field(self, field):
        return None  # depends on the input size: treat as global

    def describe(self):
        return f"adaptive_avg_pool {self.output_size}x{self.output_size}"


class GlobalAvgPool(Layer):
    """Mean over H and W: (N, C, H, W) -> (N, C)."""
    kind = "global_avg_pool"

    def __call__(self, params, x, training=False):
        return x.mean(axis=(2, 3))

    def output_shape(self, shape):
        return shape[:2]

    def receptive_field(self, field):
        return None


class Scale(Layer):
    """Multiplication by a fixed factor, no parameters: the logit scale of the fast CIFAR-10
    recipes (1/8 in Page's ResNet-9, 1/9 in airbench), which keeps the initial logits small and
    the classifier's effective learning rate in step with the batch-normalised layers'."""
    kind = "scale"
    output_read_by_backward = False

    def __init__(self, name, factor, inputs=None):
        super().__init__(name, inputs)
        self.factor = factor

    def __call__(self, params, x, training=False):
        return x * self.factor

    def describe(self):
        return f"scale {self.factor:g}"


class Linear(Layer):
    """Fully connected, weight (out, in); a 4-D input is flattened in (C, H, W) order first."""
    kind = "linear"
    output_read_by_backward = False

    def __init__(self, name, in_features, out_features, inputs=None):
        super().__init__(name, inputs)
        self.in_features, self.out_features = in_features, out_features

    def param_shapes(self):
        return {"weight": (self.out_features, self.in_features), "bias": (self.out_features,)}

    def __call__(self, params, x, training=False):
        if x.ndim != 2:
            x = ops.flatten(x)  # (N, C, H, W) -> (N, C * H * W)
        return ops.linear(x, params["weight"], params["bias"])

    def output_shape(self, shape):
        return (shape[0], self.out_features)

    def receptive_field(self, field):
        return None

    def describe(self):
        return f"linear {self.in_features}->{self.out_features}"


class InstanceNorm(Layer):
    """Per-sample, per-channel normalization with a learned scale (weight) and shift (bias)."""
    kind = "instance_norm"

    def __init__(self, name, channels, eps=1e-5, inputs=None):
        super().__init__(name, inputs)
        self.channels, self.eps = channels, eps

    def param_shapes(self):
        return {"weight": (self.channels,), "bias": (self.channels,)}

    def init_params(self, rng, dtype=np.float32):
        return {"weight": np.ones(self.channels, dtype), "bias": np.zeros(self.channels, dtype)}

    def __call__(self, params, x, training=False):
        return ops.instance_norm(x, params["weight"], params["bias"], eps=self.eps)

    def describe(self):
        return f"instance_norm {self.channels}, eps {self.eps:g}"


# The style weights conditional instance norm rows use: (S,) for every sample or (N, S), set by
# style_mix() around a forward pass. A context value rather than a second network input keeps
# Model.forward's one-input signature, which every method and command relies on.
_STYLE_MIX = contextvars.ContextVar("tinyconv_style_mix", default=None)


@contextmanager
def style_mix(weights):
    """Inside the block, ConditionalInstanceNorm rows blend their styles by `weights`: (S,) for
    every sample or (N, S) per sample (numpy, CuPy or Tensor; one-hot picks one style)."""
    token = _STYLE_MIX.set(weights)
    try:
        yield
    finally:
        _STYLE_MIX.reset(token)


class ConditionalInstanceNorm(InstanceNorm):
    """Instance norm with a scale (weight) and shift (bias) per style, (S, C) each, blended by
    the weights of the enclosing style_mix() (Dumoulin et al. 2017)."""
    kind = "cond_instance_norm"

    def __init__(self, name, channels, styles, eps=1e-5, inputs=None):
        super().__init__(name, channels, eps, inputs)
        self.styles = styles

    def param_shapes(self):
        return {"weight": (self.styles, self.channels), "bias": (self.styles, self.channels)}

    def init_params(self, rng, dtype=np.float32):
        shape = (self.styles, self.channels)
        return {"weight": np.ones(shape, dtype), "bias": np.zeros(shape, dtype)}

    def __call__(self, params, x, training=False):
        mix = _STYLE_MIX.get()
        if mix is None:
            raise ValueError(f"{self.name}: a network with conditional instance norm needs "
                             f"style weights: run it inside tinyconv.models.style_mix(weights)")
        if not hasattr(mix, "requires_grad"):  # an array, not a Tensor: the model's device
            mix = x.xp.asarray(mix, dtype=x.dtype)
        return ops.conditional_instance_norm(x, params["weight"], params["bias"], mix,
                                             eps=self.eps)

    def describe(self):
        return f"cond_instance_norm {self.styles} styles x {self.channels}, eps {self.eps:g}"


class Upsample(Layer):
    """Nearest-neighbour upsampling by a whole factor (the AdaIN decoder's)."""
    kind = "upsample"

    def __init__(self, name, factor=2, inputs=None):
        super().__init__(name, inputs)
        self.factor = factor

    def __call__(self, params, x, training=False):
        return ops.upsample_nearest(x, scale_factor=self.factor)

    def output_shape(self, shape):
        return shape[:2] + tuple(side * self.factor for side in shape[2:])

    def receptive_field(self, field):
        raise ValueError(f"{self.name}: receptive fields are not defined after upsampling")

    def describe(self):
        return f"upsample nearest x{self.factor}"


class ReflectionPad(Layer):
    """Pad H and W by `pad` pixels mirrored at the border (no repeat of the edge pixel)."""
    kind = "reflection_pad"

    def __init__(self, name, pad=1, inputs=None):
        super().__init__(name, inputs)
        self.pad = pad

    def __call__(self, params, x, training=False):
        return ops.pad2d(x, self.pad, mode="reflect")

    def output_shape(self, shape):
        return shape[:2] + tuple(side + 2 * self.pad for side in shape[2:])

    def receptive_field(self, field):
        if field is None:
            return None
        return ReceptiveField(field.size, field.stride, field.offset - self.pad * field.stride)

    def describe(self):
        return f"reflection_pad {self.pad}"


class BatchNorm2d(Layer):
    """Batch normalization of (N, C, H, W) with a learned scale (weight) and shift (bias), and
    the running mean and variance as buffers: training mode normalizes by the batch's statistics
    and updates the buffers in place (r = (1 - momentum) r + momentum * batch statistic, the
    unbiased variance for running_var, as PyTorch); inference normalizes by the buffers. No
    num_batches_tracked: PyTorch uses it only when momentum is None (a cumulative average)."""
    kind = "batch_norm"
    buffers = ("running_mean", "running_var")
    output_read_by_backward = False  # the output is the shift's sum, whose backward reads nothing

    def __init__(self, name, channels, eps=1e-5, momentum=0.1, inputs=None):
        super().__init__(name, inputs)
        self.channels, self.eps, self.momentum = channels, eps, momentum

    def param_shapes(self):
        return {key: (self.channels,) for key in ("weight", "bias") + self.buffers}

    def init_params(self, rng, dtype=np.float32):
        ones, zeros = np.ones(self.channels, dtype), np.zeros(self.channels, dtype)
        return {"weight": ones, "bias": zeros, "running_mean": zeros.copy(),
                "running_var": ones.copy()}

    def __call__(self, params, x, training=False):
        return ops.batch_norm(x, params["running_mean"], params["running_var"], params["weight"],
                              params["bias"], training=training, momentum=self.momentum,
                              eps=self.eps)

    def describe(self):
        return f"batch_norm {self.channels}, eps {self.eps:g}, momentum {self.momentum:g}"


class Concat(Layer):
    """Channel concatenation of several inputs (a Fire module's expand1x1 and expand3x3)."""
    kind = "concat"

    def __call__(self, params, *xs, training=False):
        return ops.concat(xs, axis=1)

    def output_shape(self, *shapes):
        return shapes[0][:1] + (sum(s[1] for s in shapes),) + shapes[0][2:]

    def receptive_field(self, *fields):
        if any(f is None for f in fields):
            return None
        start = min(f.offset for f in fields)
        end = max(f.offset + f.size for f in fields)
        return ReceptiveField(end - start, max(f.stride for f in fields), start)

    def describe(self):
        return "concat(" + ", ".join(self.inputs or ()) + ")"


class Add(Concat):
    """Elementwise sum of its inputs (a residual connection)."""
    kind = "add"

    def __call__(self, params, *xs, training=False):
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total

    def output_shape(self, *shapes):
        return shapes[0]

    def describe(self):
        return " + ".join(self.inputs or ())


class ScaledTanh(Layer):
    """scale * tanh(x) + shift: the output layer of the fast-style transformer (150, 127.5)."""
    kind = "scaled_tanh"

    def __init__(self, name, scale, shift, inputs=None):
        super().__init__(name, inputs)
        self.scale, self.shift = scale, shift

    def __call__(self, params, x, training=False):
        return ops.tanh(x) * self.scale + self.shift

    def describe(self):
        return f"{self.scale:g} * tanh + {self.shift:g}"
