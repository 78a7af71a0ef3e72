"""Neural texture synthesis (Gatys et al. 2015) and neural style transfer (Gatys et al. 2016).

A texture is summarized by the Gram matrices G_l = F_l F_l^T / (C H W) of a few layers' features.
Texture synthesis starts from noise and minimizes sum_l w_l ||G_l(x) - G_l(texture)||^2; style
transfer adds a content loss w_c ||F_c(x) - F_c(content)||^2 at one layer and a total variation
penalty w_tv TV(x), and starts from the content image (or noise). Several style images blend as
a weighted average of their Gram matrices. The losses are sums, as in the CS231n assignment, so
content and TV terms grow with the image's pixel count; the presets are tuned at 512 px.

Colour preservation (Gatys et al. 2016, "Preserving color in neural artistic style transfer",
luminance-only transfer as in jcjohnson/neural-style's -original_colors): the result keeps its
luminance Y and takes the chrominance I, Q of the content image (YIQ colour space).

`dream_layer` / `dream_weight` add a DeepDream term -w * sum(a^2) / 2 of one layer to the style
loss: DeepDream on top of a style transfer in one optimization.
"""
import numpy as np

from .. import ops
from ..engine import backend
from ..engine.tensor import Tensor, no_grad
from . import objectives as obj
from .inversion import pixel_range
from .optimize import optimize
from ..errors import UnknownName

# Presets per architecture: layers that exist in the weight file are kept (Keras VGG19 blocks 1-3
# has nothing past relu3_4/pool3), the first content layer found is used.
PRESETS = {
    # CS231n 2017 assignment 3 (starry night parameters: content layer features[3] = fire2,
    # style layers features[1, 4, 6, 7] = relu1, fire3, fire4, fire5, style weights as there);
    # content and TV weights are CS231n's (6e-2, 2e-2 at 192 px) rescaled for 512 px images,
    # whose content and TV sums are larger; with a style scale of 0.5 the strokes get about
    # CS231n's size
    "squeezenet": dict(
        content_layers=("fire2/concat",), content_weight=1e-3,
        style_layers=("relu1", "fire3/concat", "fire4/concat", "fire5/concat"),
        style_weights=(300000.0, 1000.0, 15.0, 3.0), tv_weight=2e-3,
        texture_layers=("relu1", "fire2/concat", "fire3/concat", "fire4/concat", "fire5/concat"),
        init_noise=32.0),
    # Gatys et al.: content relu4_2 (relu3_2 when the file stops at block 3), style relu1_1 ..
    # relu5_1 with equal weights; texture relu1_1 and pool1 .. pool4
    "vgg": dict(
        content_layers=("relu4_2", "relu3_2", "relu2_2"), content_weight=1e-4,
        style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        style_weights=(1.0, 1.0, 1.0, 1.0, 1.0), tv_weight=1e-5,
        texture_layers=("relu1_1", "pool1", "pool2", "pool3", "pool4"),
        init_noise=32.0),
}
INITS = ("content", "noise")
LOOP_DEFAULTS = dict(steps=200, step_rule="lbfgs", lr=5.0)  # lr: Adam step in 0..255 pixel units


def preset(model):
    """The preset of `model`'s family, keeping only the layers its weight file has.

    Returns a dict: content_layer, content_weight, style_layers, style_weights, tv_weight,
    texture_layers, init_noise (std in 0..255 pixel units).
    """
    family = "squeezenet" if model.arch.startswith("squeezenet") else \
        "vgg" if model.arch.startswith("vgg") else None
    if family is None:
        raise UnknownName(f"no style preset for {model.arch}; pass the layers and weights")
    values = dict(PRESETS[family])
    have = set(model.layer_names) | set(model.aliases)
    values["content_layer"] = next(n for n in values.pop("content_layers") if n in have)
    pairs = [(n, w) for n, w in zip(values["style_layers"], values["style_weights"]) if n in have]
    values["style_layers"], values["style_weights"] = (tuple(v) for v in zip(*pairs))
    values["texture_layers"] = tuple(n for n in values["texture_layers"] if n in have)
    return values


def gram_targets(model, images, layers, blend=None):
    """Gram matrices of style images at `layers`, blended by weight -> {layer: (1, C, C) array}.

    images: a list of (1, 3, h, w) input-space arrays (sizes may differ); blend: one weight >= 0
    per image (default: equal), normalized to sum to 1.
    """
    blend = np.ones(len(images)) if blend is None else np.asarray(blend, dtype=np.float64)
    if len(blend) != len(images) or (blend < 0).any() or blend.sum() <= 0:
        raise ValueError(f"need one non-negative blend weight per style image ({len(images)}), "
                         f"not all zero; got {list(blend)}")
    blend = blend / blend.sum()
    targets = {}
    xp = backend.xp_for(model.device)
    with no_grad():
        for image, weight in zip(images, blend):
            acts = model.forward(Tensor(xp.asarray(image, dtype=model.dtype)), layers=layers)
            for layer in layers:
                gram = ops.gram_matrix(acts[layer]).data * float(weight)
                targets[layer] = targets[layer] + gram if layer in targets else gram
    return targets


def content_loss(features, target, weight):
    """w ||F - target||^2 (a sum, as the CS231n assignment's) -> scalar Tensor."""
    diff = features - target
    return (diff * diff).sum() * float(weight)


def gram_loss(acts, targets, weights):
    """sum_l w_l ||G_l - target_l||^2 -> (scalar Tensor, {"style <layer>": value})."""
    total, terms = None, {}
    for (layer, target), weight in zip(targets.items(), weights):
        diff = ops.gram_matrix(acts[layer]) - target
        term = (diff * diff).sum() * float(weight)
        terms[f"style {layer}"] = term.item()
        total = term if total is None else total + term
    return total, terms


def texture_synthesis(model, texture, size=None, layers=None, layer_weights=None,
                      steps=LOOP_DEFAULTS["steps"], step_rule=LOOP_DEFAULTS["step_rule"],
                      lr=LOOP_DEFAULTS["lr"], init_noise=None, seed=0, **loop):
    """Gatys et al. 2015: an image of `size` (H, W) whose Gram matrices match the texture's.

    texture: (1, 3, h, w) input-space sample; layers / layer_weights: default from the preset
    (weights 1). init_noise: std of the Gaussian start in 0..255 pixel units. lr: Adam step in
    pixel units. Returns the loop's Result (history "loss" = the Gram loss).
    """
    defaults = preset_or_empty(model)
    layers = list(layers or defaults.get("texture_layers") or [])
    if not layers:
        raise ValueError("texture_synthesis needs layers=[...] for this model")
    weights = _weights(layer_weights, layers, "layer_weights")
    for layer in layers:
        obj.check_layer(model, layer)
    size = size or texture.shape[2:]
    targets = gram_targets(model, [texture], layers)
    x0 = noise_image(model, size, init_noise or defaults.get("init_noise", 32.0), seed)

    def loss(image):
        return gram_loss(model.forward(image, layers=layers), targets, weights)

    return optimize(loss, x0, steps, _input_units(model, lr), step_rule=step_rule,
                    **pixel_range(model, step_rule), **loop)


def style_transfer(model, content, styles, style_blend=None, content_layer=None,
                   content_weight=None, style_layers=None, style_weights=None, tv_weight=None,
                   init="content", init_noise=None, steps=LOOP_DEFAULTS["steps"],
                   step_rule=LOOP_DEFAULTS["step_rule"], lr=LOOP_DEFAULTS["lr"], seed=0,
                   preserve_colour=False, dream_layer=None, dream_weight=0.0, **loop):
    """Gatys et al. 2016: content image (1, 3, H, W) painted in the style of `styles`.

    styles: a list of (1, 3, h, w) input-space style images (resize them for a style scale);
    style_blend: their weights. Layers and weights default to `preset(model)`; every weight must
    be >= 0. init: "content" or "noise" (Gaussian of std init_noise pixel units, from seed).
    step_rule: "lbfgs" (bounds keep pixels valid) or "adam" (lr in 0..255 pixel units, clamped):
    inversion.STEP_RULES.
    preserve_colour: keep the content's colours (luminance-only transfer, YIQ).
    Returns the loop's Result (terms: content, style per layer, tv, dream).
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    loss, content = transfer_loss(model, content, styles, style_blend, content_layer,
                                  content_weight, style_layers, style_weights, tv_weight,
                                  dream_layer, dream_weight)
    x0 = content if init == "content" else noise_image(
        model, content.shape[2:], init_noise or preset_or_empty(model).get("init_noise", 32.0),
        seed)
    result = optimize(loss, x0, steps, _input_units(model, lr), step_rule=step_rule,
                      **pixel_range(model, step_rule), **loop)
    if preserve_colour:
        result.image = original_colours(model, result.image, content)
    return result


def transfer_loss(model, content, styles, style_blend=None, content_layer=None,
                  content_weight=None, style_layers=None, style_weights=None, tv_weight=None,
                  dream_layer=None, dream_weight=0.0):
    """The loss style_transfer minimizes, with the same defaults: (loss(image Tensor) ->
    (scalar Tensor, terms), content as an array of the model's device and dtype). Feed-forward
    results are scored with it (tools/style_quality_vs_lbfgs.py)."""
    p = preset_or_empty(model)
    content_layer = content_layer or p.get("content_layer")
    if style_layers is None:  # the preset's layers come with the preset's weights
        style_layers, default_weights = p.get("style_layers", ()), p.get("style_weights")
    else:
        default_weights = None
    style_layers = list(style_layers)
    if content_layer is None or not style_layers:
        raise ValueError(f"no preset for {model.arch}: pass content_layer and style_layers")
    style_weights = _weights(default_weights if style_weights is None else style_weights,
                             style_layers, "style_weights")
    content_weight = _non_negative("content_weight", p.get("content_weight", 1.0)
                                   if content_weight is None else content_weight)
    tv_weight = _non_negative("tv_weight", p.get("tv_weight", 0.0) if tv_weight is None
                              else tv_weight)
    dream_weight = _non_negative("dream_weight", dream_weight)
    for layer in [content_layer] + style_layers + ([dream_layer] if dream_layer else []):
        obj.check_layer(model, layer)
    xp = backend.xp_for(model.device)
    content = xp.asarray(backend.to_numpy(content), dtype=model.dtype)
    with no_grad():
        content_target = model.forward(Tensor(content), layers=[content_layer])[content_layer]
    targets = gram_targets(model, styles, style_layers, style_blend)
    layers = [content_layer] + style_layers + ([dream_layer] if dream_layer else [])
    loss = _transfer_loss(model, layers, content_target, content_weight, targets, style_weights,
                          tv_weight, dream_layer, dream_weight)
    return loss, content


def _transfer_loss(model, layers, content_target, content_weight, targets, style_weights,
                   tv_weight, dream_layer, dream_weight):
    """style_transfer's loss(image) -> (scalar Tensor, terms): content + style + tv - dream, from
    one forward pass to `layers` (the content layer first); terms content, style per layer, tv
    (when tv_weight), dream (when dream_layer and dream_weight)."""
    content_layer = layers[0]

    def loss(image):
        acts = model.forward(image, layers=layers)
        total = content_loss(acts[content_layer], content_target, content_weight)
        terms = {"content": total.item()}
        style, style_terms = gram_loss(acts, targets, style_weights)
        total = total + style
        terms.update(style_terms)
        if tv_weight:
            tv = ops.total_variation(image) * tv_weight
            terms["tv"] = tv.item()
            total = total + tv
        if dream_layer and dream_weight:
            energy = obj.layer_energy(model, dream_layer).scores(acts).sum() * dream_weight
            terms["dream"] = energy.item()
            total = total - energy
        return total, terms

    return loss


def original_colours(model, stylized, content):
    """The stylized image's luminance with the content's chrominance (YIQ) -> input-space array
    (N, 3, H, W) like `stylized`."""
    pre = model.preprocessing
    mixed = keep_colours(pre.to_rgb(stylized), pre.to_rgb(content))
    out = pre.to_input(np.moveaxis(mixed, 1, -1), dtype=model.dtype)
    xp = backend.get_array_module(stylized)
    return xp.asarray(out)


def keep_colours(stylized, content):
    """Luminance (Y) of `stylized`, chrominance (I, Q) of `content`: float RGB (N, 3, H, W) in
    0..255, same shapes -> float64 RGB (N, 3, H, W) clipped to 0..255."""
    s, c = (np.moveaxis(np.asarray(v, dtype=np.float64), 1, -1) for v in (stylized, content))
    yiq_s, yiq_c = s @ RGB_TO_YIQ.T, c @ RGB_TO_YIQ.T
    mixed = np.concatenate([yiq_s[..., :1], yiq_c[..., 1:]], axis=-1) @ YIQ_TO_RGB.T
    return np.moveaxis(np.clip(mixed, 0, 255), -1, 1)


RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                       [0.595716, -0.274453, -0.321263],
                       [0.211456, -0.522591, 0.311135]])
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)


def noise_image(model, size, std, seed):
    """Gaussian noise (1, 3, H, W) around the mean pixel, std in 0..255 pixel units, on the model's
    device, from numpy seed `seed`."""
    if not 0 <= std < float("inf"):  # NaN fails every comparison
        raise ValueError(f"init_noise must be a finite number >= 0 pixel units, got {std}")
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((1, 3) + tuple(size)) * std
    noise *= model.preprocessing.pixel_size().reshape(1, 3, 1, 1)
    return backend.xp_for(model.device).asarray(noise, dtype=model.dtype)


def preset_or_empty(model):
    """`preset(model)`, or {} for a family without one (the caller then needs explicit layers)."""
    try:
        return preset(model)
    except KeyError:
        return {}


def _input_units(model, lr):
    """A step size in 0..255 pixel units -> the model's input units (channel average)."""
    return lr * float(np.mean(model.preprocessing.pixel_size()))


def _weights(weights, layers, name):
    weights = [1.0] * len(layers) if weights is None else [float(w) for w in weights]
    if len(weights) != len(layers):
        raise ValueError(f"{name}: {len(weights)} weights for {len(layers)} layers {layers}")
    for w in weights:
        _non_negative(name, w)
    return weights


def _non_negative(name, value):
    if not 0 <= value < float("inf"):  # NaN fails every comparison
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)
