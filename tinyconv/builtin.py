"""The built-in model and sample images, shipped inside the package so that tinyconv shows
something real on a machine with no downloaded weights and no network.

The model is the ConvNetJS CIFAR-10 net of the lecture's slides (`convnetjs_cifar`), trained by
`tinyconv train` on the 50,000 CIFAR-10 training images (the recipe is in docs/training.md); its
weights are stored as float16, which keeps the file small. The samples are the first test image
of each CIFAR-10 class (32x32 JPEGs), named after their class.

Every subcommand that takes --weights uses this model when neither --weights nor --model is
given; `--weights builtin` and `tinyconv.load_model("builtin")` name it (weights in the cache
under that name come first).
"""
from pathlib import Path

NAME = "builtin"
ARCHITECTURE = "convnetjs_cifar"
DATA = Path(__file__).parent / "data"


def weights_path():
    """The built-in model's tinyconv weight file."""
    return DATA / "convnetjs_cifar.h5"


def samples_folder():
    """The folder of sample images (one per CIFAR-10 class)."""
    return DATA / "samples"


def sample_images():
    """Paths of the sample images, sorted by name."""
    return sorted(samples_folder().glob("*.jpg"))


def describe():
    """One line for a user who gave no --weights."""
    return (f"the built-in model: {ARCHITECTURE} trained on CIFAR-10 by tinyconv (32x32 "
            f"pictures of 10 classes); --weights or --model chooses another")
