"""Shared fixtures: the array module under test (numpy, and CuPy when a GPU is here) and assets."""
import os
from pathlib import Path

import numpy as np
import pytest

from tinyconv import backend

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
