"""Seconds per style-transfer loss evaluation (forward + backward to the image), tinyconv next to
the same loss in PyTorch, in one process, taking turns; also checks the two losses agree.

The loss is tinyconv.methods.style's: content_weight * sum((F - P)^2) at the content layer +
sum_l w_l * sum((G_l - A_l)^2) with G = F F^T / (C H W) + tv_weight * (sum dx^2 + sum dy^2),
with the model's preset. The PyTorch networks are tools/torch_reference.py's (torchvision
layouts) holding the same weights.

    python tools/style_speed_vs_torch.py --squeezenet squeezenet1_1.h5 --vgg vgg19_blocks.h5 \
        --content tubingen.jpg --style starry_night.jpg --size 512 --repeats 3
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tinyconv from this checkout

import tinyconv  # noqa: E402
from tinyconv import Tensor, ops  # noqa: E402
from tinyconv.image import load_image, resize  # noqa: E402
from tinyconv.methods.style import gram_targets, preset  # noqa: E402
from tinyconv.weights.convert import torchvision_key_map  # noqa: E402
from torch_reference import VGG, SqueezeNet11  # noqa: E402

VGG19_BLOCKS_1_3 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"]
# tinyconv SqueezeNet names -> index in torchvision's squeezenet1_1.features
SQUEEZENET_INDEX = {"relu1": 1, "fire2/concat": 3, "fire3/concat": 4, "fire4/concat": 6,
                    "fire5/concat": 7}


def torch_network(model):
    """(features as nn.Sequential with the model's weights, {tinyconv layer: module index})."""
    state = model.state_dict()
    if model.arch.startswith("squeezenet"):
        net = SqueezeNet11()
        keys = torchvision_key_map(model.arch)  # torchvision key -> tinyconv key
        net.load_state_dict({k: torch.from_numpy(state[v]) for k, v in keys.items()})
        return net.features.eval(), SQUEEZENET_INDEX
    net = VGG(VGG19_BLOCKS_1_3).features.eval()
    convs = [m for m in net if isinstance(m, nn.Conv2d)]
    for conv, name in zip(convs, [n for n in model.layer_names if n.startswith("conv")]):
        conv.weight.data = torch.from_numpy(state[f"{name}.weight"])
        conv.bias.data = torch.from_numpy(state[f"{name}.bias"])
    return net, {name: i for i, name in enumerate(model.layer_names)}


def torch_loss(net, index, x, content_layer, content_target, targets, weights, settings):
    wanted = {index[content_layer]} | {index[layer] for layer in targets}
    acts, h = {}, x
    for i, module in enumerate(net[:max(wanted) + 1]):
        h = module(h)
        if i in wanted:
            acts[i] = h.clone() if isinstance(module, nn.Conv2d) else h
    total = settings["content_weight"] * ((acts[index[content_layer]] - content_target) ** 2).sum()
    for (layer, target), w in zip(targets.items(), weights):
        f = acts[index[layer]]
        n, c, hh, ww = f.shape
        flat = f.reshape(n, c, hh * ww)
        gram = flat @ flat.transpose(1, 2) / (c * hh * ww)
        total = total + w * ((gram - target) ** 2).sum()
    tv = (((x[..., :, 1:] - x[..., :, :-1]) ** 2).sum()
          + ((x[..., 1:, :] - x[..., :-1, :]) ** 2).sum())
    return total + settings["tv_weight"] * tv


def tinyconv_loss(model, x, content_layer, content_target, targets, weights, settings):
    acts = model.forward(x, layers=[content_layer] + list(targets))
    diff = acts[content_layer] - content_target
    total = (diff * diff).sum() * settings["content_weight"]
    for (layer, target), w in zip(targets.items(), weights):
        g = ops.gram_matrix(acts[layer]) - target
        total = total + (g * g).sum() * float(w)
    return total + ops.total_variation(x) * settings["tv_weight"]


def compare(path, content_path, style_path, size, repeats):
    model = tinyconv.load_model(path, device="cpu")
    settings = preset(model)
    content = load_image(content_path, size=None)
    h, w = content.shape[:2]
    scale = size / max(h, w)
    content = resize(content, (round(h * scale), round(w * scale)))
    style = resize(load_image(style_path), content.shape[:2])
    xc = model.preprocess(content, resize=False).data
    xs = model.preprocess(style, resize=False).data
    layer = settings["content_layer"]
    targets = gram_targets(model, [xs], list(settings["style_layers"]))
    weights = settings["style_weights"]
    with tinyconv.no_grad():
        p = model.forward(Tensor(xc), layers=[layer])[layer].data
    net, index = torch_network(model)
    t_targets = {k: torch.from_numpy(v) for k, v in targets.items()}
    noise = np.random.default_rng(0).standard_normal(xc.shape).astype(np.float32) * 0.1
    x0 = (xc + noise * model.preprocessing.pixel_size().mean() * 10).astype(np.float32)

    def run_tinyconv():
        x = Tensor(x0.copy(), requires_grad=True)
        loss = tinyconv_loss(model, x, layer, Tensor(p), targets, weights, settings)
        loss.backward()
        return loss.item(), x.grad

    def run_torch():
        x = torch.from_numpy(x0.copy()).requires_grad_(True)
        loss = torch_loss(net, index, x, layer, torch.from_numpy(p), t_targets, weights,
                          settings)
        loss.backward()
        return loss.item(), x.grad.numpy()

    times = {"tinyconv": [], "torch": []}
    for round_ in range(repeats + 1):
        for name, fn in (("tinyconv", run_tinyconv), ("torch", run_torch)):
            start = time.perf_counter()
            value, grad = fn()
            if round_:
                times[name].append(time.perf_counter() - start)
            if round_ == 0:
                times[name + " value"] = (value, grad)
    (a, ga), (b, gb) = times.pop("tinyconv value"), times.pop("torch value")
    grad_error = np.abs(ga - gb).max() / np.abs(gb).max()
    print(f"{model.arch} {content.shape[1]}x{content.shape[0]}: loss tinyconv {a:.6g} torch "
          f"{b:.6g} (relative difference {abs(a - b) / abs(b):.1e}, gradient max error "
          f"{grad_error:.1e} of max |g|)")
    for name, values in times.items():
        print(f"  {name:9s} {np.median(values):.2f} s per loss + gradient (median of "
              f"{len(values)}: {', '.join(f'{v:.2f}' for v in values)})")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squeezenet")
    parser.add_argument("--vgg")
    parser.add_argument("--content", required=True)
    parser.add_argument("--style", required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for path in (args.squeezenet, args.vgg):
        if path:
            compare(path, args.content, args.style, args.size, args.repeats)


if __name__ == "__main__":
    main()
