"""What every method subcommand shares: model and target arguments, loading, progress, output.

A method subcommand is a parser built with `add_parser`, the argument groups it needs
(`add_model_args`, `add_target_args`, `add_output_args`), and a `run(args)` that calls
`load_model_from_args`, `resolve_target` and the `save_*` functions, so that --weights, --class,
--layer, --channel, --device, --seed and --out read the same everywhere.
"""
import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from .. import models
from ..atomic import check_file, check_folder, writing
from ..image import load_image, resize, save_image
from ..loading import load_model
from ..methods.features import SkipUnreadable, model_images, readable_model_images
from ..methods import objectives
from ..methods.grids import tile_images
from ..progress import Progress
from .types import non_negative_int, seed, side


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
        raise ValueError("give --weights FILE|NAME (a weight file, or weights in the cache) or "
                         "--model NAME (random weights; one of "
                         f"{', '.join(sorted(models.ARCHITECTURES))})")
    if args.labels:
        from ..weights.convert import match_labels, read_labels
        model.labels = match_labels(read_labels(args.labels), model.num_classes, args.labels)
    return model


def load_weights(weights, device=None):
    """The Model of --weights: a file or folder, else weights in the cache under that name."""
    from ..weights.fetch import cached_weights
    path = Path(weights)
    if not path.exists():
        path = cached_weights(weights)
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


def add_target_args(parser, units=True, layer=True, image=True):
    """--class, --layer (unless the command has its own, layer=False), --channel, and with
    units=True --unit Y X. image: the command has images to choose a default target on."""
    group = parser.add_argument_group("target")
    default = ("the predicted class; on a network without class scores, the strongest channel "
               "of the default feature layer" if image else "none: give --class, or --layer "
                                                            "and --channel")
    group.add_argument("--class", dest="target_class", metavar="CLASS",
                       help=f"class index or name (default: {default})")
    if layer:
        alone = "; alone: its strongest channel on the image" if image else ""
        group.add_argument("--layer", help=f"layer of the --channel target (e.g. fire5, "
                                           f"conv3){alone}")
    group.add_argument("--channel", type=non_negative_int,
                       help="target the mean activation of this channel of --layer")
    if units:
        group.add_argument("--unit", type=non_negative_int, nargs=2, metavar=("Y", "X"),
                           help="with --channel: target the single unit at (Y, X) instead")


def resolve_target(model, args, x=None, layer_alone=True):
    """The Objective the arguments name, for image batch x (None: no images).

    --layer with --channel (and --unit): that channel (unit); --class: its score. With neither,
    on image batch x: the class the model predicts most often for it, or on a network without
    class scores the channel of the default feature layer with the largest mean activation.
    --layer alone means its strongest channel on x, unless layer_alone=False (the command's
    --layer names something else, as Grad-CAM's map layer).
    """
    layer = getattr(args, "layer", None)
    channel = getattr(args, "channel", None)
    unit = getattr(args, "unit", None)
    if unit and channel is None:
        raise ValueError("--unit needs --layer and --channel")
    if args.target_class is not None:
        if channel is not None:
            raise ValueError("give --class or --channel, not both")
        return class_target(model, args.target_class, on_image=x is not None)
    if channel is not None:
        if not layer:
            raise ValueError("--channel needs --layer")
        layer = model.resolve(layer)
        if unit:
            return objectives.neuron(model, layer, channel, *unit)
        return objectives.channel(model, layer, channel)
    by_class = model.num_classes is not None and not (layer and layer_alone)
    if x is None:
        raise ValueError(missing_target(model, layer))
    if by_class:
        return objectives.class_score(model, predicted_class(model, x))
    layer = model.resolve(layer or model.default_feature_layer())
    return objectives.channel(model, layer, objectives.strongest_channel(model, layer, x))


def missing_target(model, layer=None):
    """The error for a command with no image to choose a target on, when none is given."""
    if layer:
        layer = model.resolve(layer)
        return f"--layer needs --channel here: e.g. {example_channel(model, layer)}"
    if model.num_classes is not None:
        return "give --class (index or name), or --layer and --channel"
    return (f"{no_classes(model)}: give --layer and --channel, e.g. "
            f"{example_channel(model, model.default_feature_layer())}")


def class_target(model, target, on_image=True):
    """The score of class `target` (index or name); a clear error on a network without class
    scores (on_image: the command has an image to choose a channel on)."""
    if model.num_classes is None:
        layer = model.default_feature_layer()
        default = ", or leave out --class to target the channel the image excites most" \
            if on_image else ""
        raise ValueError(f"--class: {no_classes(model)}; target a channel with --layer and "
                         f"--channel, e.g. {example_channel(model, layer)}{default}")
    return objectives.class_score(model, target)


def require_class_scores(model, command):
    """Raise a clear error when `command` (which needs predictions) meets a network without
    class scores."""
    if model.num_classes is None:
        raise ValueError(f"{command} works on the predicted class, but {no_classes(model)}")


def no_classes(model):
    """For error messages: what the network ends with instead of class scores."""
    channels = objectives.output_shape(model, model.output_name)[1]
    return (f"{model.arch} has no class scores (it ends at {model.output_name}, {channels} "
            f"feature maps)")


def example_channel(model, layer):
    """"--layer L --channel 0 (L has C channels: 0..C-1)" for error messages."""
    channels = objectives.output_shape(model, layer)[1]
    return f"--layer {layer} --channel 0 ({layer} has {channels} channels: 0..{channels - 1})"


def predicted_class(model, x):
    """The class predicted most often for input batch x (ties: the lowest index); for one
    image, its top class."""
    return int(np.bincount(model.predicted_classes(x)).argmax())


def class_name(model, index):
    return model.labels[index] if model.labels else f"class {index}"


def describe(model, objective, args=None, images="the image"):
    """A line naming the target: with the class name when there is one, and for a channel that
    args did not name, why that channel (`images`: what it is strongest on)."""
    if objective.target_class is not None:
        return f"{objective.description} ({class_name(model, objective.target_class)})"
    if objective.layer is not None and args is not None and args.channel is None:
        why = "; this network has no class scores" if model.num_classes is None else ""
        return (f"{objective.description} (the strongest channel of {objective.layer} on "
                f"{images}{why})")
    return objective.description


def target_tag(args, objective):
    """A short file-name tag for the target: "c243", or "fire5-c3" / "fire5-c3-y6x7" (the layer
    as --layer names it)."""
    if objective.target_class is not None:
        return f"c{objective.target_class}"
    layer = getattr(args, "layer", None) or objective.layer
    tag = f"{layer.replace('/', '-')}-c{objective.channel}"
    return tag + (f"-y{objective.unit[0]}x{objective.unit[1]}" if objective.unit else "")


def add_image_arg(parser):
    """The positional IMAGE and --image-size."""
    parser.add_argument("image", help="image file (resized and centre-cropped as the model "
                                      "expects)")
    parser.add_argument("--image-size", type=side, metavar="S",
                        help="resize the image to SxS instead (fully convolutional models)")


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


def panel(*pictures, gap=4):
    """Pictures of one size, (H, W, 3) or (H, W) uint8, side by side on white."""
    tiles = [np.repeat(p[:, :, None], 3, axis=2) if p.ndim == 2 else p for p in pictures]
    return tile_images(np.stack(tiles), rows=1, padding=gap, pad_value=255)


def progress_printer(what, unit=""):
    """A progress(done, total) callback on stderr naming `what` (a tinyconv.progress.Progress:
    redrawn on a terminal, periodic lines in a log); close() ends it early."""
    return Progress(what, unit=unit)
