"""`tinyconv train`: train a network of the architecture tables on a folder of labelled images
(one subfolder per class), evaluating on a held-out folder after every epoch, and write a tinyconv
weight file (class names and preprocessing included) that every subcommand takes as --weights.

The images are decoded once into memory, at the architecture's input size. A checkpoint is
written after every epoch and on Ctrl-C; --resume continues from it, ending with the same weights,
bit for bit, as a run that was never interrupted."""
import argparse
import sys
import time
from pathlib import Path

from ..models import CLASSIFIERS, build
from ..image import save_image
from ..training import OPTIMIZERS, SCHEDULES, TrainConfig, Trainer, from_folder, save_trained
from ..training.pictures import first_layer_filters
from ..weights.fetch import cached_path
from . import types
from .common import (add_device_arg, add_epoch_args, add_parser, add_strict_arg, load_weights,
                     output_file, output_folder, skip_unreadable, step_log)

EXAMPLE = """examples:
  tinyconv train --model convnetjs_cifar --train cifar10/train --test cifar10/test --epochs 20
  tinyconv train --model linear_cifar --train cifar10/train --test cifar10/test --epochs 5 \\
      --optimizer adam --lr 1e-3 --no-augment -o linear.h5
  tinyconv train ... --resume          # after Ctrl-C: continue from the checkpoint
  tinyconv train --model convnetjs_cifar ... --init convnetjs_cifar.h5 --lr 0.005 -o tuned.h5

Without -o the result goes to the cache (TINYCONV_CACHE) as MODEL.h5, so `--weights MODEL`
finds it; the checkpoint defaults to the output's path + ".checkpoint.npz"."""


def register(subparsers):
    p = add_parser(subparsers, "train", "train a network on a folder of labelled images",
                   __doc__, EXAMPLE)
    p.add_argument("--model", required=True, choices=sorted(CLASSIFIERS), help="architecture")
    p.add_argument("--train", required=True, help="folder with one subfolder of images per class")
    p.add_argument("--test", help="held-out folder of the same classes, evaluated every epoch")
    p.add_argument("-o", "--output", type=output_file, help="weight file to write [the cache]")
    p.add_argument("--checkpoint", type=output_file, help="checkpoint file [OUTPUT.checkpoint.npz]")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--init", metavar="WEIGHTS",
                   help="start from these weights (a file or a name in the cache, of the same "
                        "architecture and classes) instead of random ones: fine-tuning")
    p.add_argument("--filter-snapshots", type=output_folder, metavar="DIR",
                   help="write the first convolution's filters as a picture before training and "
                        "after every epoch: DIR/MODEL_filters_epochNNN.png")
    _add_training_args(p)
    p.add_argument("--max-images", type=types.positive_int,
                   help="train on a class-balanced random subset of this many images")
    p.add_argument("--max-test-images", type=types.positive_int,
                   help="evaluate on a random subset of this many test images")
    p.add_argument("--seed", type=types.seed, default=0,
                   help="seed of the initial weights, the order, augmentation, dropout [0]")
    add_device_arg(p)
    add_strict_arg(p)
    p.set_defaults(func=run)


def _add_training_args(p):
    d = TrainConfig()
    g = p.add_argument_group("training")
    add_epoch_args(g, d, "peak learning rate")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="[sgd]")
    g.add_argument("--momentum", type=types.fraction, default=d.momentum, help="SGD [0.9]")
    g.add_argument("--nesterov", action="store_true", help="Nesterov momentum (SGD)")
    g.add_argument("--weight-decay", type=types.non_negative_float, default=d.weight_decay,
                   help=f"L2 weight decay [{d.weight_decay}]")
    g.add_argument("--schedule", choices=SCHEDULES, default=d.schedule,
                   help=f"learning-rate schedule [{d.schedule}]")
    g.add_argument("--warmup", type=types.non_negative_float, default=d.warmup,
                   help="epochs of linear warm-up [0]")
    g.add_argument("--label-smoothing", type=types.label_smoothing, default=d.label_smoothing,
                   help="[0]")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=d.augment,
                   help="random crops (--crop-padding pixels of padding) and horizontal flips "
                        "[on]")
    g.add_argument("--crop-padding", type=types.non_negative_int, default=d.crop_padding,
                   help=f"zero pixels around an image for its random crop; 0: flips only "
                        f"[{d.crop_padding}]")
    g.add_argument("--test-flip", action="store_true",
                   help="test top-1 from each test image's scores plus its mirror image's "
                        "(test-time augmentation)")


def _config(args):
    return TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
        momentum=args.momentum, nesterov=args.nesterov, weight_decay=args.weight_decay,
        schedule=args.schedule, warmup=args.warmup, label_smoothing=args.label_smoothing,
        augment=args.augment, crop_padding=args.crop_padding, seed=args.seed,
        eval_flip=args.test_flip)


def run(args):
    config = _config(args).check()
    output = args.output or str(cached_path(args.model))
    checkpoint = args.checkpoint or output + ".checkpoint.npz"
    model = build(args.model, device=args.device, seed=args.seed)
    size = model.preprocessing.input_size
    train_set = from_folder(args.train, size, skip_unreadable(args), args.max_images, args.seed)
    test_set = from_folder(args.test, size, skip_unreadable(args), args.max_test_images,
                           args.seed) if args.test else None
    if test_set is not None and test_set.class_names != train_set.class_names:
        raise ValueError(f"--test {args.test} has the classes {test_set.class_names}, --train "
                         f"{args.train} has {train_set.class_names}")
    model = build(args.model, device=args.device, seed=args.seed,
                  num_classes=len(train_set.class_names))
    if args.init:
        start_from(model, args.init, train_set.class_names)
    print(f"{args.model}: {len(train_set)} training images of {len(train_set.class_names)} "
          f"classes" + (f", {len(test_set)} test images" if test_set else ""), flush=True)
    snapshot = filter_snapshots(args) if args.filter_snapshots else None
    trainer = Trainer(model, train_set, config, test_set, checkpoint, on_epoch=snapshot,
                      on_step=step_log(args))
    if args.resume:
        trainer.resume()
        print(f"resumed from {checkpoint} at epoch {trainer.epoch + 1}, step {trainer.step}")
    elif snapshot:
        snapshot(trainer)  # the filters before any step
    start = time.monotonic()
    history = trainer.run()
    path = save_trained(model, output, source=f"tinyconv train --model {args.model}")
    final = history[-1] if history else {}
    test = f", test top-1 {100 * final['test_accuracy']:.2f}%" if "test_accuracy" in final else ""
    print(f"trained {args.model} for {config.epochs} epochs in {time.monotonic() - start:.0f} s"
          f"{test}")
    print(f"wrote {path}" + (f" (use it as --weights {args.model})" if not args.output else ""))
    sys.stdout.flush()


def start_from(model, weights, class_names):
    """Load --init `weights` into `model`, refusing another architecture or other classes."""
    init = load_weights(weights, model.device)
    if init.arch != model.arch:
        raise ValueError(f"--init {weights} holds {init.arch}, not {model.arch}")
    if init.labels and list(init.labels) != list(class_names):
        raise ValueError(f"--init {weights} was trained on the classes {list(init.labels)}, the "
                         f"--train folder has {list(class_names)}")
    model.load_state_dict(init.state_dict())


def filter_snapshots(args):
    """The on_epoch callback writing --filter-snapshots pictures of the first convolution."""
    def snapshot(trainer):
        path = Path(args.filter_snapshots) / f"{args.model}_filters_epoch{trainer.epoch:03d}.png"
        save_image(path, first_layer_filters(trainer.model))
        print(f"wrote {path}", flush=True)
    return snapshot
