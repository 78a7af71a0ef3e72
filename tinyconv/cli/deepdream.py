"""`tinyconv deepdream IMAGE [--layer NAME]`: DeepDream, amplifying what a layer sees in an image
over several octaves (Mordvintsev et al. 2015)."""
from ..errors import BadInput
from ..methods.deepdream import LOOP_DEFAULTS, deepdream
from ..models import defaults_help
from .common import (add_model_args, add_output_args, add_parser, load_model_from_args,
                     load_sized, save_picture, stem)
from .loop import add_loop_args, loop_kwargs, report_end, stop_if_interrupted
from .types import non_negative_int, octave_scale, octaves, side

EXAMPLE = """examples:
  tinyconv deepdream --weights squeezenet1_1.h5 --layer fire5 sky1024px.jpg
  tinyconv deepdream --weights squeezenet1_1.h5 --layer fire7 --octaves 5 --steps 20 photo.jpg
  tinyconv deepdream --weights squeezenet1_1.h5 --layer fire6 --guide flowers.jpg sky.jpg
  tinyconv deepdream --weights vgg19.h5 --layer relu3_1 --size 512 styled.png
  tinyconv deepdream --weights googlenet sky1024px.jpg      # at inception4c, GoogLeNet's default
  tinyconv deepdream --weights resnet50 sky1024px.jpg       # at layer3, ResNet's default

Writes --out/IMAGE_dream_LAYER.png. --steps are per octave; --lr is the mean step in 0..255
pixel units. DeepDream on a style transfer result: run `tinyconv style` first and dream on its
PNG, or use `tinyconv style --dream-layer` to do both in one optimization."""


def register(subparsers):
    p = add_parser(subparsers, "deepdream", "DeepDream with octaves and jitter", __doc__,
                   EXAMPLE)
    p.add_argument("image", help="image file to dream on")
    add_model_args(p)
    p.add_argument("--layer", help=f"layer whose activations are amplified (default: "
                                   f"{defaults_help('dream')}; required for other networks)")
    p.add_argument("--size", type=side, help="resize so the longer side has SIZE pixels")
    p.add_argument("--octaves", type=octaves, default=4, help="number of scales [4]")
    p.add_argument("--octave-scale", type=octave_scale, default=1.4,
                   help="size ratio between octaves [1.4]")
    p.add_argument("--jitter", type=non_negative_int, default=32, help="random roll in pixels [32]")
    p.add_argument("--guide", help="guide image: grow the features it shows")
    p.add_argument("--guide-size", type=side, default=224,
                   help="longer side of the guide image [224]")
    add_output_args(p)
    add_loop_args(p, LOOP_DEFAULTS, "mean step in 0..255 pixel units")
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    args.layer = args.layer or model.default_layer("dream")
    if args.layer is None:
        raise BadInput(f"--layer: {model.arch} has no default DeepDream layer; name one "
                       f"(`tinyconv layers --model {model.arch}` lists them)")
    layer = model.resolve(args.layer)
    image = load_sized(args.image, args.size)
    x = model.preprocess(image, resize=False).data
    guide = None
    if args.guide:
        guide = model.preprocess(load_sized(args.guide, args.guide_size), resize=False).data
    name = f"{stem(args.image)}_dream_{args.layer.replace('/', '-')}"
    print(f"{image.shape[1]}x{image.shape[0]} image, layer {layer}, {args.octaves} octaves")
    result = deepdream(model, x, layer, steps=args.steps, lr=args.lr, octaves=args.octaves,
                       octave_scale=args.octave_scale, jitter=args.jitter, guide=guide,
                       seed=args.seed, **loop_kwargs(args, model, name))
    report_end(result)
    path = save_picture(args, name, model.deprocess(result.image)[0])
    stop_if_interrupted(result.interrupted, path)
