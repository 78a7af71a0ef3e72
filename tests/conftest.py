"""Shared fixtures: the array module under test (numpy, and CuPy when a GPU is here) and assets."""
import os
from pathlib import Path

import numpy as np
import pytest

from tinyconv import backend

# float32 (unit roundoff 6e-8) results of a network computed two ways (another batch size, CPU
# kernel or thread count: other GEMM blockings, summation orders, even convolution algorithms)
# differ by about 6e-8 * sqrt(K) per layer of reduction length K (up to a few thousand), summed
# over the layers, and by up to 1e-5 for a Winograd F(4x4) layer, all relative to the layer's
# largest value (measured across OpenBLAS core types: under 4e-7). Compare with that scale, not
# value by value: a value near zero is a cancellation, whose relative error has no bound.
FLOAT32_NETWORK_ERROR = 1e-5

REPO = Path(__file__).resolve().parent.parent
ASSETS = Path(os.environ.get("TINYCONV_ASSETS", REPO.parent / "shared" / "assets"))


@pytest.fixture(params=["numpy", "cupy"])
def xp(request):
    """Each test body runs with numpy arrays and, on a machine with a GPU, with CuPy arrays."""
    if request.param == "numpy":
        return np
    if not backend.gpu_available:
        pytest.skip("CuPy with an NVIDIA GPU is not available on this machine")
    return backend.cp


@pytest.fixture
def assets():
    """The shared real assets folder (TINYCONV_ASSETS, default ../shared/assets)."""
    if not ASSETS.is_dir():
        pytest.skip(f"shared assets not found at {ASSETS} (set TINYCONV_ASSETS)")
    return ASSETS


@pytest.fixture(scope="session")
def squeezenet_file(tmp_path_factory):
    """The real SqueezeNet 1.1 from the shared assets, converted once per session (with labels)
    into a temporary tinyconv .h5 file; skips when the assets are absent."""
    source = ASSETS / "weights" / "squeezenet1_1.pth"
    if not source.is_file():
        pytest.skip(f"real SqueezeNet weights not found at {source} (set TINYCONV_ASSETS)")
    from tinyconv.weights import convert, write_weights
    wf = convert(source, labels=ASSETS / "labels" / "imagenet_class_index.json")
    return write_weights(tmp_path_factory.mktemp("weights") / "squeezenet1_1.h5", wf)


@pytest.fixture(scope="session")
def squeezenet_real(squeezenet_file):
    """The real SqueezeNet 1.1 as a float32 Model on the CPU (shared: do not modify it)."""
    from tinyconv import load_model
    return load_model(squeezenet_file, device="cpu")


def assert_close_to_scale(actual, expected, scale=None, error=FLOAT32_NETWORK_ERROR):
    """|actual - expected| <= error * scale everywhere (scale: max |expected| unless given)."""
    scale = float(np.abs(expected).max()) if scale is None else scale
    np.testing.assert_allclose(actual, expected, rtol=0, atol=error * scale)


def random_picture(path, shape=(40, 40, 3), seed=0):
    """Write a uint8 picture of random pixels of `shape` (H, W, 3) to `path` (PNG); returns path."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path
