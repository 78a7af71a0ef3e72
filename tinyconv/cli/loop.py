"""The optimization loop on the command line, shared by the synthesis subcommands (visualize,
multifaceted, fool, deepdream, invert, texture, style; efros-leung for Ctrl-C): the loop
arguments (--steps, --lr, --step-rule, --save-every, --progress-every) with the defaults the
methods hold, visualize's regularizer arguments, snapshots written as PNGs, the closing report,
and what Ctrl-C does: the run stops, its last image is written as usual, then
`stop_if_interrupted` raises Interrupted, which `tinyconv`'s main reports on stderr (with the
image's path) and turns into exit status 130, the shell's code for SIGINT. Model, target and
output arguments come from cli/common.py.
"""
import numpy as np

from ..methods.inversion import STEP_RULES
from ..methods.style import LOOP_DEFAULTS as GATYS_DEFAULTS
from ..methods.visualization import DEFAULTS
from .common import save_picture
from .types import (fraction, non_negative_float, non_negative_int, percentile, positive_float,
                    positive_int, side, step_count)


def add_loop_args(parser, defaults, lr_help, step_rules=None):
    """--steps, --lr, --save-every, --progress-every and, when step_rules are given,
    --step-rule; defaults: the method's {"steps", "lr"[, "step_rule"]}."""
    steps, lr = defaults["steps"], defaults["lr"]
    group = parser.add_argument_group("optimization")
    group.add_argument("--steps", type=step_count, default=steps,
                       help=f"optimization steps [{steps}]")
    group.add_argument("--lr", type=positive_float, default=lr, help=f"{lr_help} [{lr:g}]")
    if step_rules:
        group.add_argument("--step-rule", choices=step_rules, default=defaults["step_rule"],
                           help=f"optimizer [{defaults['step_rule']}]")
    group.add_argument("--save-every", type=non_negative_int, default=0, metavar="K",
                       help="also write a snapshot PNG every K steps [0: only the result]")
    group.add_argument("--progress-every", type=positive_int, default=10, metavar="K",
                       help="progress (step, loss terms, time) on stderr: a line every K "
                            "steps when stderr is not a terminal, where one line is redrawn "
                            "instead [10]")


def add_gatys_loop_args(parser):
    """The loop arguments of style and texture: methods.style's defaults, L-BFGS or Adam."""
    add_loop_args(parser, GATYS_DEFAULTS, "Adam step in 0..255 pixel units (ignored by lbfgs)",
                  STEP_RULES)


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


def add_regularizer_args(parser):
    """--l2, --jitter, --blur-every, --blur-sigma, --clip-norm, --clip-contribution, --no-clamp,
    --size, --init-std, --centre-bias."""
    group = parser.add_argument_group("regularizers (0 switches one off)")
    group.add_argument("--l2", type=non_negative_float, default=DEFAULTS["l2"],
                       help=f"L2 penalty weight [{DEFAULTS['l2']:g}]")
    group.add_argument("--jitter", type=non_negative_int, default=DEFAULTS["jitter"],
                       help=f"random roll in pixels before each step [{DEFAULTS['jitter']}]")
    group.add_argument("--blur-every", type=non_negative_int, default=DEFAULTS["blur_every"],
                       metavar="K",
                       help=f"Gaussian blur every K steps [{DEFAULTS['blur_every']}]")
    group.add_argument("--blur-sigma", type=non_negative_float, default=DEFAULTS["blur_sigma"],
                       help=f"blur sigma in pixels [{DEFAULTS['blur_sigma']:g}]")
    group.add_argument("--clip-norm", type=percentile, default=DEFAULTS["clip_norm"], metavar="PCT",
                       help="zero the pixels whose norm is below this percentile [0]")
    group.add_argument("--clip-contribution", type=percentile,
                       default=DEFAULTS["clip_contribution"],
                       metavar="PCT", help="zero the pixels whose contribution |x * grad| is "
                                           "below this percentile [0]")
    group.add_argument("--no-clamp", action="store_true",
                       help="do not clamp pixels to the valid range")
    group.add_argument("--size", type=side, help="image side in pixels [the model's input]")
    group.add_argument("--init-std", type=non_negative_float, default=DEFAULTS["init_std"],
                       help=f"std of the starting noise, input units [{DEFAULTS['init_std']:g}]")
    group.add_argument("--centre-bias", type=fraction, default=0.0, metavar="FRACTION",
                       help="update only a centred window growing from this fraction of the "
                            "side [0: off]")


def regularizer_kwargs(args):
    return dict(l2=args.l2, jitter=args.jitter, blur_every=args.blur_every,
                blur_sigma=args.blur_sigma, clip_norm=args.clip_norm,
                clip_contribution=args.clip_contribution, clamp=not args.no_clamp,
                size=args.size, init_std=args.init_std, centre_bias=args.centre_bias)


def report_classes(model, image, target):
    """Print the top classes of each synthesized image and p(target) when there is a target."""
    if not model.labels or model.num_classes is None:
        return
    for probs in model.probabilities(image):
        wanted = f"p(target) {probs[target]:.4f}; " if target is not None else ""
        print(f"{wanted}top: {top_classes(model, probs)}")


def top_classes(model, probs, k=3):
    """'p name, p name, ...' for the k most probable classes of a (classes,) vector."""
    order = np.argsort(-probs)[:k]
    names = model.labels or [f"class {i}" for i in range(len(probs))]
    return ", ".join(f"{probs[i]:.3f} {names[i]}" for i in order)
