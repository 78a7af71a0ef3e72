"""`tinyconv visualize --class NAME`: the image a class (or a channel, or one neuron) likes most,
by gradient ascent from noise with switchable regularizers (Simonyan et al. 2014, Yosinski et al.
2015)."""
from ..methods.visualization import DEFAULTS, STEP_RULES, visualize
from .common import add_model_args, add_output_args, add_parser, load_model_from_args, save_picture
from .targets import add_target_args, describe, resolve_target, target_tag
from .loop import (add_loop_args, add_regularizer_args, loop_kwargs,
                   regularizer_kwargs, report_classes, report_end, stop_if_interrupted)

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
    add_loop_args(p, DEFAULTS, "step size (input units)", STEP_RULES)
    add_regularizer_args(p)
    p.set_defaults(func=run)


def run(args):
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
