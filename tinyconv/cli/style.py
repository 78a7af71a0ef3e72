"""`tinyconv style CONTENT --style STYLE...`: neural style transfer (Gatys et al. 2016), with
blended styles, style scale, colour preservation and an optional DeepDream term."""
from ..errors import BadInput
from ..methods.style import INITS, preset_or_empty, style_transfer
from .common import (add_model_args, add_output_args, add_parser, load_model_from_args,
                     load_sized, save_picture, stem)
from .loop import (add_gatys_loop_args, loop_kwargs, report_end,
                   stop_if_interrupted)
from .types import finite_float, non_negative_float, positive_float, side

EXAMPLE = """examples:
  tinyconv style --weights vgg19_blocks1-3.h5 tubingen.jpg --style starry_night.jpg
  tinyconv style --weights squeezenet1_1.h5 tubingen.jpg --style starry_night.jpg --size 512
  tinyconv style --weights vgg19.h5 tubingen.jpg --style starry_night.jpg the_scream.jpg \\
      --style-blend 0.7 0.3 --preserve-colour --save-every 20
  tinyconv style --weights squeezenet1_1.h5 tubingen.jpg --style wave.jpg \\
      --dream-layer fire6 --dream-weight 1e-4

Layers and weights default to the model's preset (printed). Losses are sums (CS231n): the
content and TV terms grow with the number of pixels, so re-tune --content-weight and
--tv-weight when far from 512 px. Writes --out/CONTENT_STYLE.png."""


def register(subparsers):
    p = add_parser(subparsers, "style", "Gatys neural style transfer", __doc__, EXAMPLE)
    p.add_argument("content", help="content image")
    add_model_args(p)
    p.add_argument("--style", nargs="+", required=True, help="style image(s)")
    p.add_argument("--style-blend", type=non_negative_float, nargs="+",
                   help="one weight per style image [equal]")
    p.add_argument("--size", type=side, default=512,
                   help="longer side of the result in pixels [512]")
    p.add_argument("--style-scale", type=positive_float, default=1.0,
                   help="style image size relative to --size [1]")
    p.add_argument("--content-layer", help="content layer [preset]")
    p.add_argument("--content-weight", type=non_negative_float, help="content loss weight [preset]")
    p.add_argument("--style-layers", nargs="+", help="style layers [preset]")
    p.add_argument("--style-weights", type=non_negative_float, nargs="+",
                   help="one weight per style layer [preset]")
    p.add_argument("--tv-weight", type=non_negative_float, help="total variation weight [preset]")
    p.add_argument("--init", choices=INITS, default="content", help="start image [content]")
    p.add_argument("--init-noise", type=non_negative_float,
                   help="noise std in 0..255 pixel units [preset]")
    p.add_argument("--preserve-colour", action="store_true",
                   help="keep the content image's colours (luminance-only transfer)")
    p.add_argument("--dream-layer", help="also amplify this layer's activations (DeepDream)")
    p.add_argument("--dream-weight", type=finite_float, default=0.0,
                   help="weight of the DeepDream term [0]")
    add_output_args(p)
    add_gatys_loop_args(p)
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    content = load_sized(args.content, args.size)
    style_side = max(16, round(max(content.shape[:2]) * args.style_scale))
    styles = [model.preprocess(load_sized(path, style_side), resize=False).data
              for path in args.style]
    settings = dict(preset_or_empty(model))
    settings.update({key: value for key, value in dict(
        content_layer=args.content_layer, content_weight=args.content_weight,
        style_layers=args.style_layers, style_weights=args.style_weights,
        tv_weight=args.tv_weight, init_noise=args.init_noise).items() if value is not None})
    settings.pop("texture_layers", None)
    if args.style_layers and args.style_weights is None:
        settings["style_weights"] = [1.0] * len(args.style_layers)
    if "content_layer" not in settings or "style_layers" not in settings:
        raise BadInput(f"{model.arch} has no style preset (tinyconv has them for VGG and "
                       f"SqueezeNet): give --content-layer and --style-layers (`tinyconv layers "
                       f"--model {model.arch}` lists the names)")
    print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    name = f"{stem(args.content)}_" + "+".join(stem(path) for path in args.style)
    x = model.preprocess(content, resize=False).data
    result = style_transfer(model, x, styles, style_blend=args.style_blend, init=args.init,
                            steps=args.steps, step_rule=args.step_rule, lr=args.lr,
                            seed=args.seed, preserve_colour=args.preserve_colour,
                            dream_layer=args.dream_layer, dream_weight=args.dream_weight,
                            **settings, **loop_kwargs(args, model, name))
    report_end(result)
    path = save_picture(args, name, model.deprocess(result.image)[0])
    stop_if_interrupted(result.interrupted, path)
