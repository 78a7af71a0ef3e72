"""Feed-forward style transfer at inference: transformer networks (one style, or a blend of a
conditional-instance-norm network's styles) and AdaIN (any style image, through a VGG19 encoder and
a trained decoder). Arrays in, arrays out; training is tinyconv.training.style.

AdaIN (Huang & Belongie 2017): t = alpha * AdaIN(f(c), f(s)) + (1 - alpha) * f(c), with f the
encoder up to its layer; several styles blend as sum_k w_k AdaIN(f(c), f(s_k)) (weights
normalized to sum 1) before the alpha mix; the decoder turns t into the picture.
"""
import hashlib

import numpy as np

from .. import ops
from ..engine import backend
from ..engine.tensor import Tensor, no_grad
from ..errors import BadInput
from ..models import style_mix


def rgb_to_input(preprocessing, rgb):
    """Differentiable: RGB in 0..255 (N, 3, H, W) Tensor -> a network's input (its channel order,
    scale, mean and std), as Preprocessing.to_input does for pictures."""
    p, xp = preprocessing, rgb.xp
    if p.colour_order == "BGR":
        rgb = rgb[:, ::-1]
    scale = xp.asarray([p.scale / 255.0 / s for s in p.std], dtype=rgb.dtype).reshape(1, 3, 1, 1)
    shift = xp.asarray([m / s for m, s in zip(p.mean, p.std)], dtype=rgb.dtype)
    return rgb * scale - shift.reshape(1, 3, 1, 1)


def mix_weights(num_styles, style=None, blend=None):
    """The (S,) style weights of a CIN network: one-hot at index `style`, or `blend` normalized
    to sum 1 (one weight >= 0 per style, not all zero)."""
    if blend is not None:
        blend = np.asarray(blend, dtype=np.float64)
        if len(blend) != num_styles or (blend < 0).any() or blend.sum() <= 0:
            raise BadInput(f"--blend needs {num_styles} weights >= 0 (one per style), not all "
                           f"zero; got {list(blend)}")
        return blend / blend.sum()
    if style is None or not 0 <= style < num_styles:
        raise BadInput(f"style index must be in 0..{num_styles - 1}, got {style}")
    return np.eye(num_styles)[style]


def transform(model, x, mix=None):
    """A transformer network on input x (N, 3, H, W) -> output array; mix: (S,) style weights
    of a CIN network (None for a one-style network)."""
    with no_grad(), style_mix(mix):
        return model(Tensor(x)).data


def encoder_layer(decoder):
    """The encoder layer an AdaIN decoder decodes ("relu3_1") from its architecture's name."""
    return "relu" + decoder.arch.rsplit("_relu", 1)[1]


def encoder_id(encoder, layer):
    """"ARCH:LAYER:SHA256" of the encoder's weights up to `layer`: what a decoder records."""
    digest = hashlib.sha256()
    for key, value in encoder.truncated(layer).state_dict().items():
        digest.update(key.encode() + np.ascontiguousarray(value, dtype=np.float32).tobytes())
    return f"{encoder.arch}:{layer}:{digest.hexdigest()}"


def check_encoder(recorded, encoder, layer, where):
    """BadInput unless `encoder` is the one the decoder at `where` was trained with."""
    actual = encoder_id(encoder, layer)
    if not recorded:
        raise BadInput(f"{where}: this decoder records no encoder; it was not written by "
                       f"tinyconv train-style --adain")
    if recorded != actual:
        arch, lay, digest = recorded.split(":", 2)
        raise BadInput(f"{where} was trained with the encoder {arch} up to {lay} (weights "
                       f"sha256 {digest[:12]}...), not with this one ({encoder.arch} up to "
                       f"{layer}, sha256 {actual.rsplit(':', 1)[1][:12]}...): pass its encoder "
                       f"weights")


def adain_target(encoder, layer, content, styles, alpha=1.0, weights=None):
    """t of the module docstring -> array (N, C, h, w). content: (N, 3, H, W) encoder input;
    styles: list of (1, 3, h, w) encoder inputs (any sizes); weights: one per style."""
    if not 0 <= alpha <= 1:
        raise BadInput(f"alpha must be in [0, 1], got {alpha}")
    weights = mix_weights(len(styles), blend=weights if weights is not None
                          else np.ones(len(styles)))
    with no_grad():
        features = encoder.forward(Tensor(content), layers=[layer])[layer]
        target = None
        for style, weight in zip(styles, weights):
            s = encoder.forward(Tensor(style), layers=[layer])[layer]
            term = ops.adain(features, s) * float(weight)
            target = term if target is None else target + term
        return (target * float(alpha) + features * float(1 - alpha)).data


def adain_stylize(encoder, decoder, content, styles, alpha=1.0, weights=None):
    """AdaIN style transfer -> the decoder's output (N, 3, H', W'), RGB 0..255 (unclipped);
    H', W': H, W rounded down to the encoder's stride."""
    layer = encoder_layer(decoder)
    stride = 4 if layer.startswith("relu3") else 8
    h, w = content.shape[2] // stride * stride, content.shape[3] // stride * stride
    target = adain_target(encoder, layer, content[:, :, :h, :w], styles, alpha, weights)
    with no_grad():
        return decoder(Tensor(backend.xp_for(decoder.device).asarray(target))).data
