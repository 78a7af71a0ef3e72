"""`tinyconv train-style`: train a feed-forward style network on a folder of content photos.

Four kinds: a transformer from scratch toward one painting (perceptual losses of a frozen loss
network, as `tinyconv style`'s); --finetune-in NET: only the instance-norm scales and shifts of a
pretrained transformer (an ml5 network) toward a new painting; several --styles: one network with
conditional instance norm (a scale/shift pair per painting; with --finetune-in, convolutions from
NET, frozen); --adain: a decoder for a VGG19 encoder, trained on content photos and paintings,
that then restyles with any painting. Uses the training loop: checkpoints after every epoch and
on Ctrl-C, --resume (bit-identical), progress, a stop on a NaN loss."""
import time

from ..image import load_image
from ..loading import load_model
from ..models import build
from ..training import Trainer, save_trained
from ..training.style import (AdaINObjective, PerceptualLoss, PerceptualObjective, cin_from,
                              content_set, decode_side, style_config)
from ..training.data import image_folder
from . import types
from .common import (add_device_arg, add_epoch_args, add_parser, add_strict_arg, output_file,
                     skip_unreadable, stem, step_log)

EXAMPLE = """examples:
  tinyconv train-style --content imagenet_samples --styles the_scream.jpg \\
      --loss-network vgg19_blocks1-3.h5 --finetune-in fast_style_ml5/wave -o scream.h5
  tinyconv train-style --content imagenet_samples --styles candy.jpg --loss-network vgg19.h5 \\
      --epochs 2 -o candy.h5                                  # from scratch
  tinyconv train-style --content imagenet_samples --styles a.jpg b.jpg c.jpg d.jpg \\
      --loss-network vgg19.h5 --finetune-in fast_style_ml5/wave -o four.h5   # CIN
  tinyconv train-style --adain --content imagenet_samples --styles styles/ \\
      --encoder vgg19_blocks1-3.h5 -o decoder.h5
  tinyconv train-style ... --resume                           # after Ctrl-C

The checkpoint defaults to OUTPUT.checkpoint.npz. Losses and layers default to the loss
network's `tinyconv style` preset; content and TV terms are sums, so they shrink with --size."""


def register(subparsers):
    p = add_parser(subparsers, "train-style", "train a feed-forward style network", __doc__,
                   EXAMPLE)
    p.add_argument("--content", nargs="+", required=True, help="content photos: folders/files")
    p.add_argument("--styles", nargs="+", required=True,
                   help="painting(s); several: one CIN network; with --adain files or folders")
    p.add_argument("-o", "--output", type=output_file, required=True, help="weight file to write")
    p.add_argument("--checkpoint", type=output_file, help="[OUTPUT.checkpoint.npz]")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--finetune-in", metavar="NET",
                      help="train only the instance-norm parameters of this transformer (an ml5 "
                           "folder, a .h5, or a name in the cache)")
    kind.add_argument("--adain", action="store_true", help="train an AdaIN decoder")
    p.add_argument("--loss-network", help="frozen loss network weights (VGG19 or SqueezeNet)")
    p.add_argument("--encoder", help="--adain: VGG19 weights (relu4_1 when present, else relu3_1)")
    _add_loss_args(p)
    _add_training_args(p)
    add_device_arg(p)
    add_strict_arg(p)
    p.set_defaults(func=run)


def _add_loss_args(p):
    g = p.add_argument_group("losses")
    g.add_argument("--size", type=types.side, default=256, help="training crop side [256]")
    g.add_argument("--style-size", type=types.side, help="painting's short side [--size]")
    g.add_argument("--content-layer", help="[preset]")
    g.add_argument("--content-weight", type=types.non_negative_float, help="[preset]")
    g.add_argument("--style-layers", nargs="+", help="[preset]")
    g.add_argument("--style-weights", type=types.non_negative_float, nargs="+", help="[preset]")
    g.add_argument("--tv-weight", type=types.non_negative_float, help="[preset]")
    g.add_argument("--style-weight", type=types.non_negative_float, default=10.0,
                   help="--adain: weight of the mean/std style loss [10]")


def _add_training_args(p):
    d = style_config()
    g = p.add_argument_group("training")
    add_epoch_args(g, d, "Adam")
    g.add_argument("--max-images", type=types.positive_int,
                   help="use a random subset of this many content images")
    g.add_argument("--seed", type=types.seed, default=0, help="weights, crops, order [0]")


def run(args):
    config = style_config(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                          seed=args.seed)
    checkpoint = args.checkpoint or args.output + ".checkpoint.npz"
    content = content_set(args.content, args.size, args.batch_size, skip=skip_unreadable(args),
                          limit=args.max_images, seed=args.seed)
    model, objective, encoder = _adain(args) if args.adain else _perceptual(args)
    print(f"{model.arch}: {len(content)} content images, crops of {args.size} px, batch "
          f"{args.batch_size}, {-(-len(content) // args.batch_size)} steps an epoch", flush=True)
    trainer = Trainer(model, content, config, checkpoint=checkpoint, objective=objective,
                      on_step=step_log(args))
    if args.resume:
        trainer.resume()
        print(f"resumed from {checkpoint} at epoch {trainer.epoch + 1}, step {trainer.step}")
    start = time.monotonic()
    trainer.run()
    path = save_trained(model, args.output, source="tinyconv train-style", encoder=encoder)
    print(f"trained for {config.epochs} epoch(s) in {time.monotonic() - start:.0f} s; wrote "
          f"{path}", flush=True)


def _perceptual(args):
    """(transformer, PerceptualObjective, "") of the options."""
    if not args.loss_network:
        raise ValueError("--loss-network is needed (VGG19 or SqueezeNet weights), except with "
                         "--adain")
    loss = PerceptualLoss(load_model(args.loss_network, device=args.device),
                          args.content_layer, args.content_weight, args.style_layers,
                          args.style_weights, args.tv_weight)
    pictures = [load_image(path, size=args.style_size or args.size) for path in args.styles]
    names = [stem(path) for path in args.styles]
    many = len(args.styles) > 1
    model = build("fast_style_cin" if many else "fast_style", device=args.device,
                  seed=args.seed, num_classes=len(names) if many else None)
    if args.finetune_in:
        start = load_model(args.finetune_in, device=args.device)
        if start.arch != "fast_style":
            raise ValueError(f"--finetune-in {args.finetune_in} holds {start.arch}, not a "
                             f"fast_style transformer")
        model = cin_from(start, model) if many else start
    objective = PerceptualObjective(loss, pictures, names, args.size,
                                    norm_only=bool(args.finetune_in))
    return model, objective, ""


def _adain(args):
    """(decoder, AdaINObjective, encoder record) of the options."""
    if not args.encoder:
        raise ValueError("--adain needs --encoder VGG19 weights")
    encoder = load_model(args.encoder, device=args.device)
    if not encoder.arch.startswith("vgg19"):
        raise ValueError(f"--encoder {args.encoder} holds {encoder.arch}, not VGG19")
    layer = "relu4_1" if "relu4_1" in encoder.layer_names else "relu3_1"
    if args.size % 8:
        raise ValueError(f"--adain needs a --size divisible by 8, got {args.size}")
    paintings = image_folder(args.styles, decode_side(args.size), skip=skip_unreadable(args))
    decoder = build(f"adain_decoder_{layer}", device=args.device, seed=args.seed)
    objective = AdaINObjective(encoder.truncated(layer), layer, paintings, args.size,
                               args.style_weight)
    print(f"encoder {encoder.arch} up to {layer}; {len(paintings)} paintings", flush=True)
    return decoder, objective, objective.encoder_id
