"""`tinyconv texture SAMPLE`: neural texture synthesis (Gatys et al. 2015), an image from noise
whose Gram matrices at chosen layers match the sample's."""
from ..methods.style import preset_or_empty, texture_synthesis
from .common import (add_model_args, add_output_args, add_parser, load_model_from_args,
                     load_sized, panel, save_picture, stem)
from .loop import (add_gatys_loop_args, loop_kwargs, report_end,
                   stop_if_interrupted)
from .types import non_negative_float, side

EXAMPLE = """examples:
  tinyconv texture --weights vgg19_blocks1-3.h5 starry_night.jpg --size 256
  tinyconv texture --weights vgg19.h5 --layers relu1_1 pool1 pool2 --each-depth starry_night.jpg
  tinyconv texture --weights squeezenet1_1.h5 --step-rule adam --lr 2 --steps 300 wave.jpg

Writes --out/SAMPLE_texture.png (with --each-depth, one synthesis per 'layers up to l', side by
side after the sample, as in Gatys et al.'s figure). Layers default to the model's preset
(VGG: relu1_1, pool1, pool2, pool3, pool4 where present)."""


def register(subparsers):
    p = add_parser(subparsers, "texture", "Gatys neural texture synthesis", __doc__, EXAMPLE)
    p.add_argument("sample", help="texture image")
    add_model_args(p)
    p.add_argument("--layers", nargs="+", help="layers whose Gram matrices are matched")
    p.add_argument("--layer-weights", type=non_negative_float, nargs="+",
                   help="one weight per layer [1]")
    p.add_argument("--sample-size", type=side, default=256,
                   help="longer side of the sample in pixels [256]")
    p.add_argument("--size", type=side, nargs=2, metavar=("H", "W"),
                   help="output size [the sample's]")
    p.add_argument("--init-noise", type=non_negative_float, default=32.0,
                   help="std of the starting noise in 0..255 pixel units [32]")
    p.add_argument("--each-depth", action="store_true",
                   help="one synthesis per prefix of --layers (layers up to l)")
    add_output_args(p)
    add_gatys_loop_args(p)
    p.set_defaults(func=run)


def run(args):
    model = load_model_from_args(args)
    layers = args.layers or list(preset_or_empty(model).get("texture_layers", ()))
    if not layers:
        raise ValueError(f"give --layers for {model.arch}")
    weights = args.layer_weights or [1.0] * len(layers)
    if len(weights) != len(layers):
        raise ValueError(f"--layer-weights: {len(weights)} weights for {len(layers)} layers")
    sample = load_sized(args.sample, args.sample_size)
    x = model.preprocess(sample, resize=False).data
    depths = range(1, len(layers) + 1) if args.each_depth else [len(layers)]
    pictures = [sample]
    for depth in depths:
        name = f"{stem(args.sample)}_texture" + (f"_{depth}" if args.each_depth else "")
        print(f"layers: {', '.join(layers[:depth])}")
        result = texture_synthesis(model, x, size=args.size, layers=layers[:depth],
                                   layer_weights=weights[:depth], steps=args.steps,
                                   step_rule=args.step_rule, lr=args.lr,
                                   init_noise=args.init_noise, seed=args.seed,
                                   **loop_kwargs(args, model, name))
        report_end(result)
        first, last = result.initial["loss"], result.history[-1]["loss"]
        print(f"Gram loss {first:.4g} -> {last:.4g} ({last / first:.3%} of the start)")
        pictures.append(model.deprocess(result.image)[0])
        paths = [save_picture(args, name, pictures[-1])]
        if result.interrupted:
            break
    if args.each_depth and pictures[0].shape == pictures[1].shape:
        paths.append(save_picture(args, f"{stem(args.sample)}_texture_depths", panel(*pictures)))
    stop_if_interrupted(result.interrupted, *paths)
