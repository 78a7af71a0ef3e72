"""What the image-synthesis subcommands share (visualize, multifaceted, fool, deepdream, invert,
texture, style, efros-leung): the optimization-loop arguments (--steps, --lr, --save-every,
--progress-every), snapshots written as PNGs, images loaded at a chosen size, and what Ctrl-C
does: the run stops, its last image is written as usual, then `stop_if_interrupted` raises
Interrupted, which `tinyconv`'s main reports on stderr (with the image's path) and turns into
exit status 130, the shell's code for SIGINT. Model, target and output arguments come from
cli/common.py.
"""
from pathlib import Path

import numpy as np

from ..image import load_image, resize
from .common import save_picture


def add_loop_args(parser, steps, lr, lr_help, step_rules=None, step_rule=None):
    """--steps, --lr, --save-every, --progress-every and, when step_rules are given,
    --step-rule (default `step_rule`)."""
    group = parser.add_argument_group("optimization")
    group.add_argument("--steps", type=int, default=steps, help=f"optimization steps [{steps}]")
    group.add_argument("--lr", type=float, default=lr, help=f"{lr_help} [{lr:g}]")
    if step_rules:
        group.add_argument("--step-rule", choices=step_rules, default=step_rule,
                           help=f"optimizer [{step_rule}]")
    group.add_argument("--save-every", type=int, default=0, metavar="K",
                       help="also write a snapshot PNG every K steps [0: only the result]")
    group.add_argument("--progress-every", type=int, default=10, metavar="K",
                       help="progress (step, loss terms, time) on stderr: a line every K "
                            "steps when stderr is not a terminal, where one line is redrawn "
                            "instead [10]")


def check_loop_args(args):
    """Clear errors for impossible loop arguments before any work starts."""
    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    if args.lr <= 0 and getattr(args, "step_rule", None) != "lbfgs":
        raise ValueError(f"--lr must be > 0, got {args.lr}")
    if args.save_every < 0 or args.progress_every < 1:
        raise ValueError(f"--save-every must be >= 0 and --progress-every >= 1, got "
                         f"{args.save_every} and {args.progress_every}")


def loop_kwargs(args, model, name):
    """progress (named after the subcommand), progress_every, save_every and an on_snapshot
    writing --out/NAME_stepNNNN.png."""
    def on_snapshot(step, x):
        if args.save_every and step % args.save_every == 0:
            save_picture(args, f"{name}_step{step:04d}", model.deprocess(x)[0])

    return dict(progress=args.command, progress_every=args.progress_every,
                save_every=args.save_every, on_snapshot=on_snapshot)


def report_end(result):
    """One line: steps done, time, and whether Ctrl-C stopped the run (the image is kept)."""
    how = "interrupted after" if result.interrupted else "done:"
    print(f"{how} {result.steps} steps in {result.seconds:.1f} s "
          f"({result.seconds / max(result.steps, 1):.2f} s/step)")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a synthesis run after its last image was written to `paths`."""

    def __init__(self, paths):
        self.paths = [str(path) for path in paths]
        super().__init__(f"interrupted; the last image is saved in {', '.join(self.paths)}")


def stop_if_interrupted(interrupted, *paths):
    """Raise Interrupted(paths) when Ctrl-C stopped the run; call it once the pictures at
    `paths` are written."""
    if interrupted:
        raise Interrupted(paths)


def load_sized(path, size=None):
    """uint8 RGB image at its own size, or with its longer side resized to `size` pixels."""
    image = load_image(path)
    if size:
        if size < 16:
            raise ValueError(f"image size must be >= 16 pixels, got {size}")
        h, w = image.shape[:2]
        scale = size / max(h, w)
        image = resize(image, (max(1, round(h * scale)), max(1, round(w * scale))))
    return image


def stem(path):
    return Path(path).stem


def top_classes(model, probs, k=3):
    """'p name, p name, ...' for the k most probable classes of a (classes,) vector."""
    order = np.argsort(-probs)[:k]
    names = model.labels or [f"class {i}" for i in range(len(probs))]
    return ", ".join(f"{probs[i]:.3f} {names[i]}" for i in order)
