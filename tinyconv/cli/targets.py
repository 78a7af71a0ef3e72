"""What subcommands share about targets: --class, --layer, --channel and --unit, the Objective
they name (a class score, a channel or a unit; on a network without class scores, the strongest
channel of the default feature layer), and how a target is described and tagged in file names."""
import numpy as np

from ..methods import objectives
from .types import non_negative_int


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
