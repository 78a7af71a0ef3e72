"""tinyconv.weights: tinyconv's HDF5 weight format, converters from other frameworks, downloads.

    wf = tinyconv.weights.convert("squeezenet1_1.pth", labels="imagenet_class_index.json")
    tinyconv.weights.write_weights("squeezenet1_1.h5", wf)
    path = tinyconv.weights.fetch("vgg16")          # official torchvision file, converted, cached
"""
from .convert import convert, read_any, read_labels
from .fetch import REGISTRY, Source, cache_dir, fetch
from .format import WeightFile, read_weights, write_weights
from .pth import UnsafePickleError, read_pth, write_pth

__all__ = ["REGISTRY", "Source", "UnsafePickleError", "WeightFile", "cache_dir", "convert",
           "fetch", "read_any", "read_labels", "read_pth", "read_weights", "write_pth",
           "write_weights"]
