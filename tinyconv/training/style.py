"""Training feed-forward style networks: objectives for tinyconv.training.loop.Trainer.

PerceptualObjective (Johnson et al. 2016; Dumoulin et al. 2017 for several styles): a transformer
network (fast_style, or fast_style_cin with one scale/shift pair per style) restyles random crops
of content photos; a frozen loss network scores the result with tinyconv style's losses (content
at one layer, Gram style at several, total variation; layers and weights from its preset), as a
mean over the batch. With several styles each image of a batch draws its own style. Trained: every
parameter, or only the instance-norm scales and shifts (a pretrained network learns a new style).

AdaINObjective (Huang & Belongie 2017): a decoder learns to invert a frozen VGG19 encoder from
AdaIN targets t = AdaIN(f(c), f(s)) of random content and painting crops; loss = ||f(g(t)) - t||^2
(mean) + style_weight * sum over relu1_1 .. the encoder layer of the squared differences of
channel means and standard deviations (means over channels and batch).

Random draws come from the loop's per-step generator, so resume stays bit-identical.
"""
from dataclasses import dataclass

import numpy as np

from .. import ops
from ..engine.tensor import Tensor, no_grad
from ..errors import BadInput
from ..methods.fast_style import encoder_id, rgb_to_input
from ..methods.style import content_loss, gram_loss, gram_targets, preset_or_empty
from ..models import style_mix
from .data import image_folder, random_crops
from .loop import TrainConfig

NORM_KINDS = ("instance_norm", "cond_instance_norm")
ADAIN_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


def style_config(**changes):
    """TrainConfig defaults for style networks: Adam at 1e-3, batch 4, constant rate, no weight
    decay (the loop's crop-and-flip augmentation is for classifiers; these crop themselves)."""
    values = dict(batch_size=4, lr=1e-3, optimizer="adam", weight_decay=0.0,
                  schedule="constant", augment=False, epochs=1)
    return TrainConfig(**dict(values, **changes))


@dataclass
class ContentSet:
    """Content photos decoded once: uint8 (N, D, D, 3), D = decode_side(crop size)."""
    images: np.ndarray

    def __len__(self):
        return len(self.images)


def decode_side(size):
    """Side images are decoded at, a little larger than the crop so that crops differ."""
    return size + size // 8


def content_set(paths, size, batch_size, **options):
    """The content images of `paths` for crops of `size`; refused when fewer than a batch."""
    images = image_folder(paths, decode_side(size), **options)
    if len(images) < batch_size:
        raise BadInput(f"{', '.join(map(str, np.atleast_1d(paths)))}: {len(images)} content "
                       f"image(s), fewer than the batch size {batch_size}: add images or lower "
                       f"--batch-size")
    return ContentSet(images)


def norm_parameters(model):
    """[(key, Tensor)] of the instance-norm scales and shifts (plain or conditional)."""
    kinds = {name: layer.kind for name, layer in model.layers.items()}
    return [(key, p) for key, p in model.named_parameters()
            if kinds[key.rpartition(".")[0]] in NORM_KINDS]


def cin_from(single, cin):
    """Copy a one-style transformer into a CIN one: shared convolutions, every style's scale
    and shift starting at the single network's. Returns cin."""
    styles = cin.params["conv1/norm.weight"].shape[0]
    state = {key: np.repeat(value[None], styles, axis=0) if key.startswith(
        tuple(k.rpartition(".")[0] for k, _ in norm_parameters(single))) else value
        for key, value in single.state_dict().items()}
    return cin.load_state_dict(state)


class PerceptualLoss:
    """tinyconv style's losses, with the same preset and options, over a batch of outputs."""

    def __init__(self, loss_net, content_layer=None, content_weight=None, style_layers=None,
                 style_weights=None, tv_weight=None):
        p = preset_or_empty(loss_net)
        self.net = loss_net.requires_grad_(False).eval()
        self.content_layer = content_layer or p.get("content_layer")
        self.style_layers = list(style_layers or p.get("style_layers", ()))
        if self.content_layer is None or not self.style_layers:
            raise BadInput(f"no preset for {loss_net.arch}: give the content and style layers")
        if style_weights is None:  # the preset's layers come with the preset's weights
            style_weights = [1.0] * len(self.style_layers) if style_layers \
                else p["style_weights"]
        if len(style_weights) != len(self.style_layers):
            raise BadInput(f"{len(style_weights)} style weights for {len(self.style_layers)} "
                           f"style layers")
        self.style_weights = [float(w) for w in style_weights]
        self.content_weight = p.get("content_weight", 1.0) if content_weight is None \
            else content_weight
        self.tv_weight = p.get("tv_weight", 0.0) if tv_weight is None else tv_weight

    def settings(self):
        return dict(loss_network=self.net.arch, content_layer=self.content_layer,
                    content_weight=self.content_weight, style_layers=self.style_layers,
                    style_weights=self.style_weights, tv_weight=self.tv_weight)

    def targets(self, style_pictures):
        """One {layer: (1, C, C) Gram} per uint8 (H, W, 3) painting."""
        return [gram_targets(self.net, [self.net.preprocess(p, resize=False).data],
                             self.style_layers) for p in style_pictures]

    def __call__(self, out, content_rgb, targets):
        """out: (N, 3, H, W) Tensor RGB 0..255; content_rgb: uint8 (N, H, W, 3); targets:
        {layer: (N | 1, C, C)} -> (mean loss per image, (content, style, tv) sums)."""
        net, n = self.net, out.shape[0]
        with no_grad():
            x = net.preprocessing.to_input(content_rgb, net.device, net.dtype)
            wanted = net.forward(Tensor(x), layers=[self.content_layer])[self.content_layer]
        acts = net.forward(rgb_to_input(net.preprocessing, out),
                           layers=[self.content_layer] + self.style_layers)
        content = content_loss(acts[self.content_layer], wanted, self.content_weight)
        style, _ = gram_loss(acts, targets, self.style_weights)
        tv = ops.total_variation(out) * float(self.tv_weight)
        total = (content + style + tv) * (1.0 / n)
        return total, (content.item(), style.item(), tv.item())


class PerceptualObjective:
    """Train a transformer toward `style_pictures` (uint8 (H, W, 3) each; several need a
    fast_style_cin network with as many styles) on crops of `size` pixels. norm_only: train
    the instance-norm scales and shifts alone."""
    sum_names = ("loss", "content", "style", "tv", "seen")

    def __init__(self, loss, style_pictures, style_names, size, norm_only=False):
        self.loss, self.names, self.size = loss, list(style_names), size
        self.norm_only = norm_only
        self.targets = loss.targets(style_pictures)

    def prepare(self, trainer):
        model = trainer.model.requires_grad_(False).train()
        cin = model.arch == "fast_style_cin"
        styles = model.params["conv1/norm.weight"].shape[0] if cin else 1
        if styles != len(self.names):
            raise BadInput(f"{model.arch} has {styles} style(s), {len(self.names)} painting(s) "
                           f"given")
        model.labels = self.names if cin else None
        chosen = norm_parameters(model) if self.norm_only else model.named_parameters()
        for _, p in chosen:
            p.requires_grad = True
        return [p for _, p in chosen]

    def batch(self, trainer, index, rng):
        model, n = trainer.model, len(index)
        crops = random_crops(trainer.train_set.images[index], self.size, rng)
        picks = rng.integers(0, len(self.names), n)   # each image's style
        xp = model.params["conv1.weight"].xp
        targets = {layer: xp.concatenate([self.targets[k][layer] for k in picks])
                   for layer in self.loss.style_layers}
        mix = np.eye(len(self.names))[picks] if model.arch == "fast_style_cin" else None
        with style_mix(mix):
            out = model(Tensor(model.preprocessing.to_input(crops, model.device, model.dtype)))
        total, terms = self.loss(out, crops, targets)
        return total, (total.item() * n,) + terms + (n,)

    def fields(self, sums):
        seen = max(1, sums[-1])
        return dict(zip(("loss", "content", "style", "tv"), (v / seen for v in sums[:4])))

    def record(self, trainer, sums):
        return {f"train_{k}": v for k, v in self.fields(sums).items()}

    def summary(self, record):
        return ", ".join(f"{k[6:]} {v:.4g}" for k, v in record.items() if k.startswith("train_"))

    def meta(self, trainer):
        return dict(kind="perceptual", styles=self.names, size=self.size,
                    norm_only=self.norm_only, **self.loss.settings())

    def check_resume(self, meta, path, trainer):
        mine = self.meta(trainer)
        for key in ("kind", "styles", "norm_only", "loss_network"):
            if meta.get(key) != mine[key]:
                raise BadInput(f"{path} was trained with {key} {meta.get(key)!r}, this run has "
                               f"{mine[key]!r}: start without --resume or use the same settings")


class AdaINObjective:
    """Train an AdaIN decoder for `encoder` (VGG19 cut at the decoder's layer) on crops of
    content photos and of the paintings `styles` (uint8 (M, D, D, 3))."""
    sum_names = ("loss", "content", "style", "seen")

    def __init__(self, encoder, layer, styles, size, style_weight=10.0):
        self.encoder, self.layer, self.styles = encoder.requires_grad_(False).eval(), layer, styles
        self.size, self.style_weight = size, float(style_weight)
        self.style_layers = [n for n in ADAIN_STYLE_LAYERS[:ADAIN_STYLE_LAYERS.index(layer) + 1]]
        self.encoder_id = encoder_id(encoder, layer)

    def prepare(self, trainer):
        trainer.model.requires_grad_(True).train()
        return trainer.model.parameters()

    def _features(self, pictures):
        e = self.encoder
        with no_grad():
            x = Tensor(e.preprocessing.to_input(pictures, e.device, e.dtype))
            return e.forward(x, layers=self.style_layers)

    def batch(self, trainer, index, rng):
        decoder, n = trainer.model, len(index)
        content = self._features(random_crops(trainer.train_set.images[index], self.size, rng))
        paintings = self.styles[rng.integers(0, len(self.styles), n)]
        style = self._features(random_crops(paintings, self.size, rng))
        target = ops.adain(content[self.layer], style[self.layer]).data
        out = decoder(Tensor(target))
        acts = self.encoder.forward(rgb_to_input(self.encoder.preprocessing, out),
                                    layers=self.style_layers)
        content_term = ops.mse(acts[self.layer], Tensor(target))
        style_term = None
        for layer in self.style_layers:
            (m, s), (m_t, s_t) = ops.channel_mean_std(acts[layer]), ops.channel_mean_std(
                style[layer])
            term = ops.mse(m, m_t) + ops.mse(s, s_t)
            style_term = term if style_term is None else style_term + term
        total = content_term + style_term * self.style_weight
        return total, (total.item() * n, content_term.item() * n, style_term.item() * n, n)

    def fields(self, sums):
        seen = max(1, sums[-1])
        return dict(zip(("loss", "content", "style"), (v / seen for v in sums[:3])))

    record = PerceptualObjective.record
    summary = PerceptualObjective.summary

    def meta(self, trainer):
        return dict(kind="adain", encoder=self.encoder_id, size=self.size,
                    style_weight=self.style_weight, paintings=len(self.styles))

    def check_resume(self, meta, path, trainer):
        if meta.get("encoder") != self.encoder_id:
            raise BadInput(f"{path} was trained with the encoder {meta.get('encoder')!r}, this "
                           f"run has {self.encoder_id!r}: pass the same encoder weights")
