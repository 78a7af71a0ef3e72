"""tinyconv.models: architectures as tables of named layers (tinyconv.loading gives them weights).

    model = tinyconv.models.build("vgg16")                    # random He-initialised weights
    acts = model.forward(model.preprocess(image), layers=["conv1", "fire9"])

Architectures: vgg11, vgg13, vgg16, vgg19, alexnet, squeezenet1_0, squeezenet1_1, resnet18,
resnet34, resnet50, resnet101, resnet152, densenet121, densenet169, densenet201, googlenet,
mobilenet_v2 (torchvision layouts), fast_style (the ml5 / Engstrom fast style transfer network)
and fast_style_cin (the same with conditional instance norm over several styles), the AdaIN
decoders adain_decoder_relu3_1 / adain_decoder_relu4_1, and the CIFAR-10 nets
linear_cifar and convnetjs_cifar (the lecture's linear classifier and ConvNetJS demo net) and
resnet_cifar (a half-width ResNet-9 with batch norm) and fast_resnet_cifar (an airbench-shaped
residual net that trains to over 92% in about ten epochs).
"""
import inspect
from importlib import import_module

from .layers import style_mix
from .model import Model, unknown_layer
from .preprocessing import Preprocessing
from ..errors import UnknownName

# The registry: one module per family, each holding ARCHITECTURES = {name: spec factory}.
FAMILIES = ("vgg", "alexnet", "squeezenet", "resnet", "densenet", "googlenet", "mobilenet",
            "fast_style", "linear_cifar", "convnetjs", "resnet_cifar",
            "fast_resnet_cifar", "adain")

_MODULES = {family: import_module(f".{family}", __name__) for family in FAMILIES}
ARCHITECTURES = {name: factory for module in _MODULES.values()
                 for name, factory in module.ARCHITECTURES.items()}
# a family's DEFAULT_LAYERS: {role: layer} its tables give the methods (ArchSpec.defaults)
FAMILY_DEFAULTS = {family: getattr(module, "DEFAULT_LAYERS", {})
                   for family, module in _MODULES.items()}


def defaults_help(role):
    """For --help: each family's default layer for a method `role` ("map", "vector",
    "dream"), e.g. "layer4 (resnet), features.18 (mobilenet)"; "" when no family has one."""
    return ", ".join(f"{defaults[role]} ({family})" for family, defaults in FAMILY_DEFAULTS.items()
                     if role in defaults)


# The count a spec function may take: a classifier's classes, or the styles of a network with
# conditional instance norm. Weight files and load_model carry either as num_classes (with the
# class or style names as labels), so one field sizes both.
SIZE_PARAMETERS = ("num_classes", "num_styles")


def _size_parameter(name):
    parameters = inspect.signature(ARCHITECTURES[name]).parameters
    return next((p for p in SIZE_PARAMETERS if p in parameters), None)


CLASSIFIERS = [name for name in ARCHITECTURES if _size_parameter(name) == "num_classes"]


def arch_spec(name, num_classes=None):
    """The ArchSpec (rows, preprocessing, aliases, torchvision names) of architecture `name`;
    num_classes: the classifier's size (or the number of styles), for the families that have
    one."""
    if name not in ARCHITECTURES:
        raise UnknownName(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    size = _size_parameter(name)
    if num_classes is None or size is None:
        return ARCHITECTURES[name]()
    return ARCHITECTURES[name](**{size: num_classes})


def _rows_up_to(spec, last_layer):
    """The rows of `spec`, cut after row `last_layer` (all of them when None)."""
    if last_layer is None:
        return spec.rows
    last_layer = spec.aliases.get(last_layer, last_layer)
    names = [row.name for row in spec.rows]
    if last_layer not in names:
        raise UnknownName(unknown_layer(spec.name, last_layer, names))
    return spec.rows[:names.index(last_layer) + 1]


def param_shapes(name, num_classes=None, last_layer=None):
    """{"<layer>.<param>": shape} of architecture `name` (cut after `last_layer`), no arrays."""
    return {f"{row.name}.{key}": tuple(shape)
            for row in _rows_up_to(arch_spec(name, num_classes), last_layer)
            for key, shape in row.param_shapes().items()}


def model_from_spec(spec, device=None, dtype="float32", last_layer=None, preprocessing=None,
                    labels=None):
    """A Model with zero weights from an ArchSpec, optionally cut after `last_layer`."""
    rows = _rows_up_to(spec, last_layer)
    kept = {row.name for row in rows}
    aliases = {a: t for a, t in spec.aliases.items() if t in kept}
    return Model(spec.name, rows, preprocessing or spec.preprocessing, labels, aliases, device,
                 dtype, spec.defaults)


def build(name, device=None, dtype="float32", seed=0, num_classes=None):
    """Architecture `name` with random He-uniform weights (frozen: requires_grad=False).

    device: "cpu" | "gpu" | None (default device); dtype: "float32" or "float64";
    seed: numpy seed of the weights (the same on every device).
    """
    return model_from_spec(arch_spec(name, num_classes), device, dtype).init_weights(seed)


__all__ = ["ARCHITECTURES", "Model", "Preprocessing", "arch_spec", "build", "defaults_help",
           "param_shapes", "style_mix"]
