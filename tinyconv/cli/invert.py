"""`tinyconv invert IMAGE --layers A B C`: feature inversion (Mahendran & Vedaldi 2015), the image
each layer's activation describes, one reconstruction per layer side by side."""
from ..methods.inversion import LOOP_DEFAULTS, STEP_RULES, invert_features
from .common import (add_image_arg, add_model_args, add_output_args, add_parser, image_stem,
                     load_input, load_model_from_args, panel, save_picture)
from .loop import add_loop_args, loop_kwargs, report_end, stop_if_interrupted
from .types import non_negative_float, positive_float

EXAMPLE = """examples:
  tinyconv invert --weights squeezenet1_1.h5 dog.png --layers relu1 fire3 fire5 fire7 fire9
  tinyconv invert --weights vgg19.h5 tubingen.jpg --layers relu1_1 relu2_1 relu3_1 relu3_4
  tinyconv invert --weights squeezenet1_1.h5 dog.png --layers fire7 --tv 0.01 --beta 1.5

Minimizes ||phi(x) - phi0||^2 / ||phi0||^2 + tv * TV_beta(x) + alpha_weight * ||x||_alpha^alpha
(regularizers per pixel, in units of the pixel range). Writes --out/IMAGE_invert.png
(original, then one reconstruction per layer) and IMAGE_invert_LAYER.png; prints the relative
feature error ||phi(x) - phi0|| / ||phi0|| of each."""


def register(subparsers):
    p = add_parser(subparsers, "invert", "feature inversion from one or more layers", __doc__,
                   EXAMPLE)
    add_image_arg(p)
    add_model_args(p)
    p.add_argument("--layers", nargs="+", required=True, help="layers to invert, shallow first")
    p.add_argument("--tv", type=non_negative_float, default=1e-3,
                   help="total variation weight [1e-3]")
    p.add_argument("--beta", type=positive_float, default=2.0, help="TV exponent beta [2]")
    p.add_argument("--alpha", type=positive_float, default=6.0, help="alpha-norm exponent [6]")
    p.add_argument("--alpha-weight", type=non_negative_float, default=0.0,
                   help="alpha-norm weight [0: off]")
    p.add_argument("--init-std", type=non_negative_float, default=0.1,
                   help="std of the starting noise, input units [0.1]")
    add_output_args(p)
    add_loop_args(p, LOOP_DEFAULTS, "Adam step (input units; ignored by lbfgs)", STEP_RULES)
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    layers = [model.resolve(layer) for layer in args.layers]
    image, x = load_input(model, args)
    pictures = [image]
    for name, layer in zip(args.layers, layers):
        tag = f"{image_stem(args)}_invert_{name.replace('/', '-')}"
        inversion = invert_features(model, x, layer, steps=args.steps, step_rule=args.step_rule,
                                    lr=args.lr, tv=args.tv, beta=args.beta, alpha=args.alpha,
                                    alpha_weight=args.alpha_weight, init_std=args.init_std,
                                    seed=args.seed, **loop_kwargs(args, model, tag))
        report_end(inversion.result)
        print(f"{layer}: relative feature error {inversion.relative_error:.4f}")
        pictures.append(model.deprocess(inversion.image)[0])
        last = save_picture(args, tag, pictures[-1])
        if inversion.result.interrupted:
            break
    whole = save_picture(args, f"{image_stem(args)}_invert", panel(*pictures))
    stop_if_interrupted(inversion.result.interrupted, last, whole)
