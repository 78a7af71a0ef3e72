"""Normalization layers: batch, instance and local response normalization over (N, C, ...) arrays,
and the two style normalizations built on instance norm: conditional instance norm (Dumoulin et al.
2017: a scale and shift per style, blended by weights) and AdaIN (Huang & Belongie 2017: the
content's normalized features take the style features' mean and standard deviation).

Converted networks need all three with PyTorch's semantics: batch norm (inference with running
statistics, training with batch statistics), instance norm (Ulyanov 2016, the fast style transfer
networks) and local response normalization across channels (AlexNet / Caffe).

The per-channel scale and shift are ordinary Tensor operations after the normalization, so their
gradients come from mul/add; the Functions here only normalize.
"""
from ..engine.backend import get_array_module
from ..engine.tensor import Function, Tensor
from .math import channel_sums
from .shape import reshape


def _mean(x, axes):
    """Mean of x over `axes`, keeping them; over (N, H, W) of a 4-D array by channel_sums (many
    times faster for channels-last activations, and more accurate in float32)."""
    if x.ndim == 4 and tuple(axes) == (0, 2, 3):
        return (channel_sums(x) / (x.size // x.shape[1])).reshape(1, -1, 1, 1)
    return x.mean(axis=axes, keepdims=True)


def _standardize(x, axes, eps):
    """(x - mean) / sqrt(var + eps) over `axes` (biased var) -> (x_hat, inv_std, mean, var)."""
    xp = get_array_module(x)
    mean = _mean(x, axes)
    centered = x - mean
    var = _mean(centered * centered, axes)
    inv_std = 1 / xp.sqrt(var + eps)
    return centered * inv_std, inv_std, mean, var


def _standardize_backward(dout, x_hat, inv_std, axes, scale=1):
    """d(loss)/dx for scale * x_hat, x_hat = _standardize(x), with the statistics depending on x
    -> (dx, mean of dout, mean of dout * x_hat) over `axes`."""
    mean_dout = _mean(dout, axes)
    mean_dout_x_hat = _mean(dout * x_hat, axes)
    dx = x_hat * mean_dout_x_hat
    dx += mean_dout
    dx -= dout
    dx *= -(scale * inv_std)
    return dx, mean_dout, mean_dout_x_hat


def _batch_statistics(x, axes, running_mean, running_var, momentum, eps):
    """_standardize(x) by the batch statistics over `axes` -> (x_hat, inv_std); updates the
    running statistics in place (the running variance is the unbiased one, as in PyTorch)."""
    count = x.size // x.shape[1]
    if count < 2:
        raise ValueError(f"batch_norm in training needs more than one value per channel; "
                         f"got input shape {x.shape}")
    x_hat, inv_std, mean, var = _standardize(x, axes, eps)
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += momentum * mean.reshape(-1)
    if running_var is not None:
        running_var *= 1 - momentum
        running_var += (momentum * count / (count - 1)) * var.reshape(-1)
    return x_hat, inv_std


class BatchNorm(Function):
    """Normalize each channel of (N, C, ...): by the batch statistics over every axis but C when
    training (and update the running statistics in place), else by the running statistics."""
    name = "batch_norm"

    def forward(self, x, running_mean=None, running_var=None, training=False, momentum=0.1,
                eps=1e-5):
        self.training = training
        self.axes = (0,) + tuple(range(2, x.ndim))
        stats_shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if not training:
            xp = get_array_module(x)
            mean = running_mean.astype(x.dtype, copy=False).reshape(stats_shape)
            var = running_var.astype(x.dtype, copy=False).reshape(stats_shape)
            inv_std = 1 / xp.sqrt(var + eps)
            self.save_for_backward(inv_std)
            return (x - mean) * inv_std
        x_hat, inv_std = _batch_statistics(x, self.axes, running_mean, running_var, momentum,
                                           eps)
        self.save_for_backward(x_hat, inv_std)
        return x_hat

    def backward(self, dout):
        if not self.training:
            (inv_std,) = self.saved
            return dout * inv_std
        x_hat, inv_std = self.saved
        return _standardize_backward(dout, x_hat, inv_std, self.axes)[0]


class AffineBatchNorm(Function):
    """Training-mode batch norm with its per-channel scale and shift, y = x_hat * weight + bias,
    as one op: the backward's means of dout and of dout * x_hat, which the input gradient needs,
    are also the bias and weight gradients (over the count), so a training step makes fewer
    passes over the activations than batch_norm followed by a mul and an add."""
    name = "affine_batch_norm"

    def forward(self, x, weight, bias, running_mean=None, running_var=None, momentum=0.1,
                eps=1e-5):
        self.axes = (0,) + tuple(range(2, x.ndim))
        self.stats_shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        x_hat, inv_std = _batch_statistics(x, self.axes, running_mean, running_var, momentum,
                                           eps)
        self.save_for_backward(x_hat, inv_std, weight)
        y = x_hat * weight.reshape(self.stats_shape)
        y += bias.reshape(self.stats_shape)
        return y

    def backward(self, dout):
        x_hat, inv_std, weight = self.saved
        dx, mean_dout, mean_dout_x_hat = _standardize_backward(
            dout, x_hat, inv_std, self.axes, weight.reshape(self.stats_shape))
        count = dout.size // dout.shape[1]
        return dx, count * mean_dout_x_hat.reshape(-1), count * mean_dout.reshape(-1)


class InstanceNorm(Function):
    """Normalize each (sample, channel) plane of (N, C, H, W) by its own mean and variance."""
    name = "instance_norm"

    def forward(self, x, eps=1e-5):
        self.axes = tuple(range(2, x.ndim))
        x_hat, inv_std, _, _ = _standardize(x, self.axes, eps)
        self.save_for_backward(x_hat, inv_std)
        return x_hat

    def backward(self, dout):
        x_hat, inv_std = self.saved
        return _standardize_backward(dout, x_hat, inv_std, self.axes)[0]


def _channel_window_sum(a, before, after):
    """out[:, c] = a[:, c - before] + ... + a[:, c + after] (zeros outside the C channels)."""
    xp = get_array_module(a)
    channels = a.shape[1]
    padded = xp.pad(a, ((0, 0), (before, after)) + ((0, 0),) * (a.ndim - 2))
    out = padded[:, :channels].copy()
    for shift in range(1, before + after + 1):
        out += padded[:, shift:shift + channels]
    return out


class LocalResponseNorm(Function):
    """y_c = x_c / (k + alpha / size * sum of x_j^2 over the `size` channels j around c) ** beta,
    the window being c - size // 2 ... c + (size - 1) // 2 as in PyTorch."""
    name = "local_response_norm"

    def forward(self, x, size, alpha=1e-4, beta=0.75, k=1.0):
        self.size, self.alpha, self.beta = size, alpha, beta
        denom = k + (alpha / size) * _channel_window_sum(x * x, size // 2, (size - 1) // 2)
        scale = denom ** -beta
        self.save_for_backward(x, denom, scale)
        return x * scale

    def backward(self, dout):
        x, denom, scale = self.saved
        # channel c's denominator reads x_j for j in its window, so x_j collects from the mirrored
        # window c = j - (size - 1) // 2 ... j + size // 2
        through_denom = _channel_window_sum(dout * x * scale / denom,
                                            (self.size - 1) // 2, self.size // 2)
        return dout * scale - (2 * self.alpha * self.beta / self.size) * x * through_denom


def _array(a):
    return a.data if isinstance(a, Tensor) else a


def _check_rank(x, name, min_ndim, layout):
    if x.ndim < min_ndim:
        raise ValueError(f"{name} needs a {layout} input; got shape {x.shape}")


def _check_per_channel(x, name, **arrays):
    """Raise unless every given array holds one value per channel of x (C = x.shape[1])."""
    for label, a in arrays.items():
        if a is not None and tuple(a.shape) != (x.shape[1],):
            raise ValueError(f"{name}: {label} has shape {tuple(a.shape)}, expected "
                             f"({x.shape[1]},) for input of shape {x.shape}")


def _scale_shift(y, weight, bias):
    """y * weight + bias with weight, bias of shape (C,) (or (N, C), one row per sample)."""
    if weight is None and bias is None:
        return y
    lead = -1 if (weight if weight is not None else bias).ndim == 1 else y.shape[0]
    per_channel = (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * reshape(weight, (lead, y.shape[1]) + per_channel)  # (1 | N, C, 1, 1)
    if bias is not None:
        y = y + reshape(bias, (lead, y.shape[1]) + per_channel)
    return y


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalization of (N, C, ...) with PyTorch semantics.

    running_mean, running_var: (C,) arrays or Tensors on x's device. Inference (training=False)
    normalizes by them; training normalizes by the batch mean and biased variance over every axis
    but C and updates them in place: r = (1 - momentum) * r + momentum * batch statistic (the
    unbiased variance for running_var). Either may be None when training. weight, bias: (C,).
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    _check_rank(x, "batch_norm", 2, "(N, C, ...)")
    running_mean, running_var = _array(running_mean), _array(running_var)
    _check_per_channel(x, "batch_norm", running_mean=running_mean, running_var=running_var,
                       weight=weight, bias=bias)
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm in inference (training=False) needs running_mean and "
                         "running_var")
    for label, a in (("running_mean", running_mean), ("running_var", running_var)):
        if a is not None and get_array_module(a) is not x.xp:
            raise RuntimeError(f"batch_norm: {label} is on a different device than the input "
                               f"({x.device}); move it first")
    if training and weight is not None and bias is not None:
        return AffineBatchNorm.apply(x, weight, bias, running_mean=running_mean,
                                     running_var=running_var, momentum=momentum, eps=eps)
    y = BatchNorm.apply(x, running_mean=running_mean, running_var=running_var,
                        training=training, momentum=momentum, eps=eps)
    return _scale_shift(y, weight, bias)


def instance_norm(x, weight=None, bias=None, eps=1e-5):
    """Instance normalization of (N, C, H, W): each sample's each channel to zero mean and unit
    (biased) variance, then y * weight + bias. weight, bias: (C,), or (N, C) for a scale and
    shift per sample (conditional instance norm). Fast style transfer nets use eps=1e-3."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    _check_rank(x, "instance_norm", 3, "(N, C, H, W)")
    for label, a in (("weight", weight), ("bias", bias)):
        if a is not None and tuple(a.shape) not in ((x.shape[1],), x.shape[:2]):
            raise ValueError(f"instance_norm: {label} has shape {tuple(a.shape)}, expected "
                             f"({x.shape[1]},) or {x.shape[:2]} for input of shape {x.shape}")
    return _scale_shift(InstanceNorm.apply(x, eps=eps), weight, bias)


def conditional_instance_norm(x, weight, bias, mix, eps=1e-5):
    """Instance norm of (N, C, H, W) with a blend of S styles' scales and shifts.

    weight, bias: (S, C), one row per style; mix: (S,) weights for every sample or (N, S) one
    row per sample (a one-hot row picks that style; rows need not sum to 1). The scale is
    mix @ weight, the shift mix @ bias: both differentiable in the parameters and the mix.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    _check_rank(x, "conditional_instance_norm", 4, "(N, C, H, W)")
    mix = mix if isinstance(mix, Tensor) else Tensor(mix)
    styles = weight.shape[0]
    if tuple(weight.shape) != (styles, x.shape[1]) or tuple(bias.shape) != tuple(weight.shape):
        raise ValueError(f"conditional_instance_norm: weight and bias must be (styles, "
                         f"{x.shape[1]}), got {tuple(weight.shape)} and {tuple(bias.shape)}")
    if tuple(mix.shape) not in ((styles,), (x.shape[0], styles)):
        raise ValueError(f"conditional_instance_norm: the style weights have shape "
                         f"{tuple(mix.shape)}, expected ({styles},) or ({x.shape[0]}, {styles})")
    rows = reshape(mix, (-1, styles))                        # (1 | N, S)
    scale, shift = rows @ weight, rows @ bias                # (1 | N, C)
    if mix.ndim == 1:
        scale, shift = reshape(scale, (x.shape[1],)), reshape(shift, (x.shape[1],))
    return instance_norm(x, scale, shift, eps=eps)


def channel_mean_std(x, eps=1e-5):
    """(mean, std) of each (sample, channel) plane of (N, C, H, W), each (N, C, 1, 1); std is
    sqrt(biased variance + eps). Differentiable (Tensor operations)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    _check_rank(x, "channel_mean_std", 4, "(N, C, H, W)")
    mean = x.mean(axis=(2, 3), keepdims=True)
    centered = x - mean
    return mean, ((centered * centered).mean(axis=(2, 3), keepdims=True) + eps) ** 0.5


def adain(x, y, eps=1e-5):
    """AdaIN(x, y) = std(y) (x - mean(x)) / std(x) + mean(y), per (sample, channel) plane.

    x: content features (N, C, H, W); y: style features (N | 1, C, h, w), any spatial size.
    Statistics as channel_mean_std (biased variance + eps, Huang & Belongie's code)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    y = y if isinstance(y, Tensor) else Tensor(y)
    _check_rank(y, "adain", 4, "(N, C, H, W)")
    if y.shape[1] != x.shape[1] or y.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"adain: style features {y.shape} do not fit content features "
                         f"{x.shape} (same channels; one style or one per content)")
    x_mean, x_std = channel_mean_std(x, eps)
    y_mean, y_std = channel_mean_std(y, eps)
    return (x - x_mean) / x_std * y_std + y_mean


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalization across channels of (N, C, ...), as
    torch.nn.functional.local_response_norm (AlexNet: size=5, alpha=1e-4, beta=0.75, k=2)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    _check_rank(x, "local_response_norm", 3, "(N, C, H, W)")
    if int(size) != size or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive integer, got {size!r}")
    return LocalResponseNorm.apply(x, size=int(size), alpha=alpha, beta=beta, k=k)


__all__ = ["adain", "batch_norm", "channel_mean_std", "conditional_instance_norm",
           "instance_norm", "local_response_norm"]
