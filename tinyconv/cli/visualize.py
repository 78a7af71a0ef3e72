"""`tinyconv visualize --class NAME`: the image a class (or a channel, or one neuron) likes most,
by gradient ascent from noise with switchable regularizers (Simonyan et al. 2014, Yosinski et al.
2015)."""
from ..methods.visualization import DEFAULTS, visualize
from .common import (add_model_args, add_output_args, add_parser, add_target_args, describe,
                     load_model_from_args, resolve_target, save_picture, target_tag)
from .synthesis import (add_loop_args, check_loop_args, loop_kwargs, report_end,
                        stop_if_interrupted, top_classes)

EXAMPLE = """examples:
  tinyconv visualize --weights squeezenet1_1.h5 --class tarantula
  tinyconv visualize --weights squeezenet1_1.h5 --class 130 --steps 300 --save-every 50
  tinyconv visualize --weights squeezenet1_1.h5 --layer fire6 --channel 12
  tinyconv visualize --weights squeezenet1_1.h5 --layer fire6 --channel 12 --unit 6 6 --jitter 4
  tinyconv visualize --weights squeezenet1_1.h5 --class flamingo --blur-every 0 --clip-norm 20
  tinyconv visualize --weights vgg19_blocks1-3.h5 --layer relu3_1 --channel 37

There is no default target: give --class, or --layer and --channel (a network without class
scores, such as VGG19 cut after block 3, needs --layer and --channel). Writes
--out/visualize_TARGET.png (and _stepNNNN.png snapshots with --save-every). Steps are
x += lr * g / ||g|| in the model's input units (CS231n: lr 25 for torchvision-normalized
inputs). Ctrl-C stops the run and keeps the last image."""


def register(subparsers):
    p = add_parser(subparsers, "visualize", "class / channel / neuron visualization",
                   __doc__, EXAMPLE)
    add_model_args(p)
    add_target_args(p, image=False)
    add_output_args(p)
    add_loop_args(p, DEFAULTS["steps"], DEFAULTS["lr"], "step size (input units)",
                  ("normalized_l2", "adam", "sgd"), DEFAULTS["step_rule"])
    add_regularizer_args(p)
    p.set_defaults(func=run)


def add_regularizer_args(parser):
    """--l2, --jitter, --blur-every, --blur-sigma, --clip-norm, --clip-contribution, --no-clamp,
    --size, --init-std, --centre-bias."""
    group = parser.add_argument_group("regularizers (0 switches one off)")
    group.add_argument("--l2", type=float, default=DEFAULTS["l2"],
                       help=f"L2 penalty weight [{DEFAULTS['l2']:g}]")
    group.add_argument("--jitter", type=int, default=DEFAULTS["jitter"],
                       help=f"random roll in pixels before each step [{DEFAULTS['jitter']}]")
    group.add_argument("--blur-every", type=int, default=DEFAULTS["blur_every"], metavar="K",
                       help=f"Gaussian blur every K steps [{DEFAULTS['blur_every']}]")
    group.add_argument("--blur-sigma", type=float, default=DEFAULTS["blur_sigma"],
                       help=f"blur sigma in pixels [{DEFAULTS['blur_sigma']:g}]")
    group.add_argument("--clip-norm", type=float, default=DEFAULTS["clip_norm"], metavar="PCT",
                       help="zero the pixels whose norm is below this percentile [0]")
    group.add_argument("--clip-contribution", type=float, default=DEFAULTS["clip_contribution"],
                       metavar="PCT", help="zero the pixels whose contribution |x * grad| is "
                                           "below this percentile [0]")
    group.add_argument("--no-clamp", action="store_true",
                       help="do not clamp pixels to the valid range")
    group.add_argument("--size", type=int, help="image side in pixels [the model's input]")
    group.add_argument("--init-std", type=float, default=DEFAULTS["init_std"],
                       help=f"std of the starting noise, input units [{DEFAULTS['init_std']:g}]")
    group.add_argument("--centre-bias", type=float, default=0.0, metavar="FRACTION",
                       help="update only a centred window growing from this fraction of the "
                            "side [0: off]")


def regularizer_kwargs(args):
    return dict(l2=args.l2, jitter=args.jitter, blur_every=args.blur_every,
                blur_sigma=args.blur_sigma, clip_norm=args.clip_norm,
                clip_contribution=args.clip_contribution, clamp=not args.no_clamp,
                size=args.size, init_std=args.init_std, centre_bias=args.centre_bias)


def run(args):
    check_loop_args(args)
    model = load_model_from_args(args)
    objective = resolve_target(model, args)
    print(f"target: {describe(model, objective, args)}")
    name = f"visualize_{target_tag(args, objective)}"
    result = visualize(model, objective, seed=args.seed, steps=args.steps, lr=args.lr,
                       step_rule=args.step_rule, **regularizer_kwargs(args),
                       **loop_kwargs(args, model, name))
    report_end(result)
    report_classes(model, result.image, objective.target_class)
    path = save_picture(args, name, model.deprocess(result.image)[0])
    stop_if_interrupted(result.interrupted, path)


def report_classes(model, image, target):
    """Print the top classes of each synthesized image and p(target) when there is a target."""
    if not model.labels or model.num_classes is None:
        return
    for probs in model.probabilities(image):
        wanted = f"p(target) {probs[target]:.4f}; " if target is not None else ""
        print(f"{wanted}top: {top_classes(model, probs)}")
