"""Models with weights: tinyconv.load_model, above both tinyconv.models and tinyconv.weights.

    model = tinyconv.load_model("squeezenet1_1.h5")           # a converted weight file
    model = tinyconv.load_model("vgg16")                      # fetched into the cache before
"""
from pathlib import Path

from .cache import cache_dir
from .models import ARCHITECTURES, arch_spec, model_from_spec


def load_model(name_or_path, weights=None, device=None, dtype="float32"):
    """A Model with weights, from a weight file or from a name of weights in the cache.

    name_or_path: a tinyconv .h5 file, a file or folder any converter reads (torchvision .pth,
      Keras .h5, ml5 checkpoint folder), or a name in the cache (TINYCONV_CACHE): an
      architecture that `tinyconv weights fetch NAME` left there ("vgg16"), or weights that
      `tinyconv convert` stored under a name ("wave").
    weights: with an architecture name, the weight file to use instead of the cached one.
    """
    # the readers bring h5py and the download code; `import tinyconv` does not need them
    from .weights.convert import read_any
    from .weights.fetch import named_weights
    name = str(name_or_path)
    arch = name if name in ARCHITECTURES else None
    if weights is not None:
        if arch is None:
            raise ValueError("weights= goes with an architecture name "
                             f"({', '.join(ARCHITECTURES)}), not with {name!r}")
        source = weights
    elif Path(name_or_path).exists():
        source, arch = name_or_path, None
    else:
        source = named_weights(name)
        if source is None and arch:
            raise FileNotFoundError(
                f"no weights for {arch!r} in the cache {cache_dir()}: run "
                f"`tinyconv weights fetch {arch}`, pass weights=FILE, or use "
                f"tinyconv.models.build({arch!r}) for random weights")
        if source is None:
            raise FileNotFoundError(f"no such file, and no weights named {name!r} in the cache "
                                    f"{cache_dir()}")
    return model_from_weights(read_any(source, arch=arch), device, dtype)


def model_from_weights(weight_file, device=None, dtype="float32"):
    """A Model built from a WeightFile (tinyconv.weights.format): architecture, cut, weights."""
    wf = weight_file
    spec = arch_spec(wf.architecture, wf.num_classes)
    model = model_from_spec(spec, device, dtype, wf.last_layer, wf.preprocessing, wf.labels)
    try:
        return model.load_state_dict(wf.params)
    except (KeyError, ValueError) as e:
        where = wf.path or wf.source_file or "weights"
        raise type(e)(f"{where}: {e.args[0]}") from None
