"""Feed-forward style transfer against optimization, as in Johnson et al.'s comparison: for each
content image, the loss of the transformer's result under `tinyconv style`'s loss (same loss
network, layers and weights: tinyconv.methods.style.transfer_loss), and how many L-BFGS
iterations of `tinyconv style` (from the content image, its default) reach that loss.

    python tools/style_quality_vs_lbfgs.py --transformer mosaic.h5 \
        --loss-network vgg19_blocks1-3.h5 --style mosaic.jpg --size 256 --iterations 300 \
        content/*.jpg

Prints one line per image and a JSON summary (--json FILE) with the per-iteration losses.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tinyconv from this checkout

import tinyconv  # noqa: E402
from tinyconv.engine.tensor import Tensor, no_grad  # noqa: E402
from tinyconv.image import load_image  # noqa: E402
from tinyconv.methods.fast_style import transform  # noqa: E402
from tinyconv.methods.style import style_transfer, transfer_loss  # noqa: E402


def feed_forward_rgb(transformer, picture):
    """The transformer's result for a uint8 (H, W, 3) picture: float RGB (H, W, 3) in 0..255."""
    x = transformer.preprocessing.to_input(picture[None], transformer.device, transformer.dtype)
    out = transform(transformer, x)
    return np.clip(np.asarray(out[0]).transpose(1, 2, 0), 0, 255)


def compare(transformer, loss_net, style, picture, iterations):
    """{feed_forward_loss, lbfgs_losses, iterations_to_match} for one content picture."""
    content = loss_net.preprocess(picture, resize=False).data
    styles = [loss_net.preprocess(style, resize=False).data]
    loss, _ = transfer_loss(loss_net, content, styles)
    result = feed_forward_rgb(transformer, picture)
    with no_grad():
        x = loss_net.preprocessing.to_input(result[None].astype(np.float32), loss_net.device,
                                            loss_net.dtype)
        value, terms = loss(Tensor(x))
    target = float(value.item())
    run = style_transfer(loss_net, content, styles, steps=iterations, step_rule="lbfgs",
                         progress=None)
    losses = [run.initial["loss"]] + [step["loss"] for step in run.history]
    reached = next((i for i, v in enumerate(losses) if v <= target), None)
    return dict(feed_forward_loss=target, feed_forward_terms=terms, lbfgs_losses=losses,
                iterations_to_match=reached, lbfgs_seconds=run.seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("content", nargs="+", help="content images (not used in training)")
    parser.add_argument("--transformer", required=True, help="a fast_style weight file")
    parser.add_argument("--loss-network", required=True, help="the loss network's weights")
    parser.add_argument("--style", required=True, help="the painting the transformer learned")
    parser.add_argument("--size", type=int, default=256, help="content short side [256]")
    parser.add_argument("--style-size", type=int, default=None,
                        help="painting short side [--size, as train-style's default]")
    parser.add_argument("--iterations", type=int, default=300, help="L-BFGS iterations [300]")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    tinyconv.tune_process()
    transformer = tinyconv.load_model(args.transformer)
    loss_net = tinyconv.load_model(args.loss_network)
    style = load_image(args.style, size=args.style_size or args.size)
    results = {}
    for path in args.content:
        picture = load_image(path, size=args.size)
        picture = picture[:picture.shape[0] // 4 * 4, :picture.shape[1] // 4 * 4]  # stride 4
        r = compare(transformer, loss_net, style, picture, args.iterations)
        results[Path(path).name] = r
        matched = r["iterations_to_match"]
        print(f"{Path(path).name} {picture.shape[1]}x{picture.shape[0]}: feed-forward loss "
              f"{r['feed_forward_loss']:.4g}; L-BFGS from the content image "
              f"{r['lbfgs_losses'][0]:.4g} -> {r['lbfgs_losses'][-1]:.4g} in "
              f"{args.iterations} iterations ({r['lbfgs_seconds']:.0f} s); reaches the "
              f"feed-forward loss at iteration "
              f"{matched if matched is not None else f'> {args.iterations}'}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
