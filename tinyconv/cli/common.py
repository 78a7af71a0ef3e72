"""What every method subcommand shares: model arguments and loading, images in, progress, output.

A method subcommand is a parser built with `add_parser`, the argument groups it needs
(`add_model_args`, `targets.add_target_args`, `add_output_args`), and a `run(args)` that calls
`load_model_from_args`, `targets.resolve_target` and the `save_*` functions, so that --weights,
--class, --layer, --channel, --device, --seed and --out read the same everywhere.
"""
import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from .. import builtin, models
from ..atomic import check_file, check_folder, writing
from ..image import load_image, resize, save_image
from ..loading import load_model
from ..methods.features import SkipUnreadable, model_images, readable_model_images
from ..methods.grids import tile_images
from ..progress import Progress
from .targets import describe, resolve_target
from .types import batch_size, epochs, positive_float, seed, side


def add_parser(subparsers, name, summary, doc, example):
    """A subcommand parser: `summary` in the command list, `doc` as description, `example` as
    the epilog of --help."""
    return subparsers.add_parser(name, help=summary, description=doc, epilog=example,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def add_model_args(parser):
    """--weights / --model, --labels, --device, --seed."""
    group = parser.add_argument_group("model")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--weights", help="tinyconv .h5 weight file (or any file `tinyconv "
                                          "convert` reads), or the name of weights in the "
                                          "cache (`tinyconv weights list`)")
    source.add_argument("--model", choices=sorted(models.ARCHITECTURES),
                        help="architecture with random weights (seeded by --seed)")
    group.add_argument("--labels", help="class names (imagenet_class_index.json, "
                                        "synset_words.txt, one per line) instead of the "
                                        "weights' own")
    add_device_arg(group)
    group.add_argument("--seed", type=seed, default=0,
                       help="seed of random weights and of any random sampling [0]")


def add_device_arg(group):
    group.add_argument("--device", choices=("cpu", "gpu"),
                       help="default: TINYCONV_DEVICE, else the GPU when there is one")


def load_model_from_args(args):
    """The Model named by --weights or --model (random weights), with --labels attached."""
    if args.weights:
        model = load_weights(args.weights, args.device)
    elif args.model:
        model = models.build(args.model, device=args.device, seed=args.seed)
    else:
        print(f"({builtin.describe()})", file=sys.stderr)
        model = load_weights(builtin.NAME, args.device)
    if args.labels:
        from ..weights.convert import match_labels, read_labels
        model.labels = match_labels(read_labels(args.labels), model.num_classes, args.labels)
    return model


def load_weights(weights, device=None):
    """The Model of --weights: a file or folder, else weights in the cache under that name."""
    from ..weights.fetch import named_weights
    path = Path(weights)
    if not path.exists():
        path = named_weights(weights)
        if path is None:
            raise FileNotFoundError(missing_weights(weights))
    return load_model(path, device=device)


def missing_weights(weights):
    """Why --weights `weights` names nothing, and what would: fetch, a file, --model."""
    from ..suggest import did_you_mean
    from ..weights.fetch import REGISTRY, cached_names
    cached = cached_names()
    if weights in REGISTRY:
        return (f"no weights for {weights} in the cache: run `tinyconv weights fetch "
                f"{weights}`, or give --weights FILE, or --model {weights} for random weights")
    if weights in models.ARCHITECTURES:
        return (f"no weights named {weights} in the cache: convert a checkpoint with `tinyconv "
                f"convert FILE --name {weights}`, or give --weights FILE, or --model {weights} "
                f"for random weights")
    path = Path(weights)
    if path.name != weights or path.suffix:  # a path: offer its folder's files and the cache
        folder = path.parent
        files = sorted(folder.iterdir()) if folder.is_dir() else []
        near = [str(folder / p.name) for p in files if p.suffix == path.suffix]
        return f"no such file: {weights}{did_you_mean(weights, near + cached)}"
    listing = f" (cached: {', '.join(cached)})" if cached else " (the cache is empty)"
    return (f"no such file, and no weights named {weights} in the cache"
            f"{did_you_mean(weights, cached)}{listing}")


def add_image_arg(parser):
    """The positional IMAGE (default: the built-in sample cat.jpg) and --image-size."""
    parser.add_argument("image", nargs="?", default=str(builtin.samples_folder() / "cat.jpg"),
                        help="image file (resized and centre-cropped as the model expects) "
                             "[the built-in sample cat.jpg]")
    parser.add_argument("--image-size", type=side, metavar="S",
                        help="resize the image to SxS instead (fully convolutional models)")


def add_images_arg(parser, what="image files or folders of images"):
    """The positional IMAGE... list (default: the built-in samples, one per CIFAR-10 class)."""
    parser.add_argument("images", nargs="*", default=[str(builtin.samples_folder())],
                        help=f"{what} [the built-in samples: one image per CIFAR-10 class]")


def image_stem(args):
    return stem(args.image)


def image_name(args):
    return Path(args.image).name


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
    """The file name of `path` without its suffix, for output names."""
    return Path(path).stem


def output_stems(paths):
    """{path: the stem its outputs are named after}, unique among `paths`, for commands that
    write one output per input. The rule: the file's stem (dog.jpg -> dog, today's name) when no
    other file has it; else stem and extension (dog.jpg -> dog_jpg, dog.png -> dog_png), with
    _2, _3, ... in input order while that name is taken (a/dog.jpg and b/dog.jpg, or a file
    whose own stem is dog_jpg, which keeps it). The same file given twice keeps one name."""
    files = list(dict.fromkeys(Path(p).resolve() for p in paths))
    counts = Counter(f.stem for f in files)
    names = {f: f.stem for f in files if counts[f.stem] == 1}
    taken = set(names.values())
    for file in (f for f in files if counts[f.stem] > 1):
        name = unique = f"{file.stem}_{file.suffix.lstrip('.')}"
        n = 1
        while unique in taken:
            n += 1
            unique = f"{name}_{n}"
        taken.add(unique)
        names[file] = unique
    return {p: names[Path(p).resolve()] for p in paths}


def load_input(model, args):
    """(uint8 (H, W, 3) image as the model sees it, (1, 3, H, W) input array on its device)
    for IMAGE and --image-size."""
    image = model_images(model, [args.image], args.image_size)[0]
    return image, model.preprocess(image, resize=False).data


def load_target_input(args):
    """(model, image, x, objective) from the model, IMAGE and target arguments; prints it."""
    model = load_model_from_args(args)
    image, x = load_input(model, args)
    objective = resolve_target(model, args, x)
    print(f"target: {describe(model, objective, args, image_name(args))}")
    return model, image, x, objective


def add_epoch_args(group, config, lr_help):
    """--epochs, --batch-size, --lr and --step-log of a training command, defaults from its
    `config`."""
    group.add_argument("--epochs", type=epochs, default=config.epochs, help=f"[{config.epochs}]")
    group.add_argument("--batch-size", type=batch_size, default=config.batch_size,
                       help=f"[{config.batch_size}]")
    group.add_argument("--lr", type=positive_float, default=config.lr,
                       help=f"{lr_help} [{config.lr}]")
    group.add_argument("--step-log", metavar="CSV",
                       help="append a line per step (epoch, step, learning rate, the step's "
                            "losses) to this file: the numbers of a loss curve")


def step_log(args):
    """The Trainer's on_step callback of --step-log (a StepLog), or None without it."""
    from ..training import StepLog  # here: the other commands never load the training code
    return StepLog(args.step_log) if args.step_log else None


def add_strict_arg(parser):
    """--strict: stop at the first unreadable image instead of skipping it."""
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first unreadable image (default: skip it with a "
                             "warning naming the file)")


def skip_unreadable(args):
    """The SkipUnreadable of --strict, warning on stderr."""
    return SkipUnreadable(args.strict, lambda message: warn(args, message))


def report_skipped(args, skip, read):
    """After a run that read `read` images: how many `skip` left out, if any."""
    if skip.skipped:
        warn(args, f"skipped {len(skip.skipped)} of {read + len(skip.skipped)} images "
                   f"(unreadable); --strict stops at the first")


def readable_batches(args, model, paths, batch_size, image_size=None):
    """Batches of the readable images of `paths` -> (index of the batch's first path, list of
    uint8 (H, W, 3) images as the model sees them, their paths). Unreadable files are skipped
    with a warning (--strict: the first stops the run); after the last batch, the count of
    skipped files is reported, and none readable at all is an error."""
    skip, read = skip_unreadable(args), 0
    for first in range(0, len(paths), batch_size):
        images, kept = readable_model_images(model, paths[first:first + batch_size], image_size,
                                             skip=skip)
        read += len(images)
        if images:
            yield first, images, kept
    skip.check_any_left(read, len(paths))
    report_skipped(args, skip, read)


def warn(args, message):
    """One warning line on stderr naming the subcommand; stdout is flushed first so that a log
    holding both keeps their order."""
    sys.stdout.flush()
    print(f"tinyconv {args.command}: warning: {message}", file=sys.stderr, flush=True)


def add_output_args(parser, arrays=True):
    """--out, and with arrays=True --save-npy."""
    group = parser.add_argument_group("output")
    group.add_argument("--out", default="tinyconv-out", type=output_folder,
                       help="folder for the pictures [tinyconv-out]")
    if arrays:
        group.add_argument("--save-npy", action="store_true",
                           help="also save the raw arrays as .npy files")


def output_folder(text):
    """argparse type of an output folder: refused at once when it cannot be written to (a file,
    under a file, not writable), not after the work."""
    try:
        return str(check_folder(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def output_file(text):
    """argparse type of an output file: refused at once when it is a folder, a device, a FIFO,
    a link, or under a folder that cannot be written to."""
    try:
        return str(check_file(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def save_picture(args, name, image):
    """Write uint8 image `image` to --out/name.png and print the path."""
    path = save_image(Path(args.out) / f"{name}.png", image)
    print(f"wrote {path}")
    return path


def save_array(args, name, array):
    """With --save-npy, write `array` to --out/name.npy and print the path."""
    if not args.save_npy:
        return None
    path = Path(args.out) / f"{name}.npy"
    with writing(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(array))
    print(f"wrote {path}")
    return path


# Panels are for looking at: pictures smaller than this (a CIFAR-10 model's 32x32) are enlarged
# by a whole factor, each pixel a block, so nothing is interpolated.
PANEL_MIN_SIDE = 128


def panel(*pictures, gap=4):
    """Pictures of one size, (H, W, 3) or (H, W) uint8, side by side on white; small ones
    enlarged to PANEL_MIN_SIDE by pixel repetition."""
    tiles = np.stack([np.repeat(p[:, :, None], 3, axis=2) if p.ndim == 2 else p
                      for p in pictures])
    factor = max(1, PANEL_MIN_SIDE // max(tiles.shape[1:3]))
    tiles = tiles.repeat(factor, axis=1).repeat(factor, axis=2)
    return tile_images(tiles, rows=1, padding=gap, pad_value=255)


def progress_printer(what, unit=""):
    """A progress(done, total) callback on stderr naming `what` (a tinyconv.progress.Progress:
    redrawn on a terminal, periodic lines in a log); close() ends it early."""
    return Progress(what, unit=unit)
