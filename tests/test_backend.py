"""Backend selection: TINYCONV_DEVICE, clear errors and import without CuPy, moving arrays."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import backend

PACKAGE_PARENT = Path(tc.__file__).resolve().parent.parent


def test_default_device_honours_the_environment(monkeypatch):
    monkeypatch.setenv("TINYCONV_DEVICE", "cpu")
    assert backend.default_device() == "cpu"
    assert backend.check_device(None) == "cpu"
    monkeypatch.setenv("TINYCONV_DEVICE", " CPU ")
    assert backend.default_device() == "cpu"


def test_default_device_without_environment(monkeypatch):
    monkeypatch.delenv("TINYCONV_DEVICE", raising=False)
    assert backend.default_device() == ("gpu" if backend.gpu_available else "cpu")


def test_bad_device_names_are_errors(monkeypatch):
    monkeypatch.setenv("TINYCONV_DEVICE", "tpu")
    with pytest.raises(ValueError, match=r"TINYCONV_DEVICE='tpu'.*\('cpu', 'gpu'\)"):
        backend.default_device()
    with pytest.raises(ValueError, match="unknown device 'cuda'"):
        backend.check_device("cuda")


def test_asking_for_gpu_without_cupy_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(backend, "gpu_available", False)
    with pytest.raises(RuntimeError, match="device 'gpu'.*CuPy.*not available"):
        backend.check_device("gpu")
    with pytest.raises(RuntimeError, match="device 'gpu'"):
        backend.xp_for("gpu")
    with pytest.raises(RuntimeError, match="device 'gpu'"):
        tc.Tensor(np.ones(2)).to("gpu")
    monkeypatch.setenv("TINYCONV_DEVICE", "gpu")
    with pytest.raises(RuntimeError, match="device 'gpu'"):
        backend.default_device()


def test_import_works_without_cupy():
    code = ("import sys; sys.modules['cupy'] = None\n"  # makes `import cupy` raise ImportError
            "import tinyconv, tinyconv.ops\n"
            "assert tinyconv.gpu_available is False and tinyconv.backend.cp is None\n"
            "assert tinyconv.default_device() == 'cpu'\n"
            "x = tinyconv.Tensor([1.0, -2.0], requires_grad=True)\n"
            "tinyconv.ops.relu(x).sum().backward()\n"
            "print(x.grad.tolist())")
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_PARENT)}
    env.pop("TINYCONV_DEVICE", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1.0, 0.0]"


def test_numpy_arrays_are_cpu():
    a = np.ones(3)
    assert backend.get_array_module(a) is np
    assert backend.get_array_module(3.0) is np
    assert backend.device_of(a) == "cpu"
    assert backend.xp_for("cpu") is np
    assert backend.to_device(a, "cpu") is a
    assert backend.to_numpy(a) is a
    assert backend.is_numpy(np)


def test_moving_between_devices(xp):
    if xp is np:
        pytest.skip("needs CuPy with a GPU")
    a = np.arange(3.0)
    on_gpu = backend.to_device(a, "gpu")
    assert backend.device_of(on_gpu) == "gpu" and backend.get_array_module(on_gpu) is xp
    np.testing.assert_array_equal(backend.to_numpy(on_gpu), a)
    t = tc.Tensor(a, requires_grad=True).to("gpu")
    assert t.device == "gpu" and t.requires_grad and t.is_leaf
    assert t.to("cpu").device == "cpu"
    assert tc.Tensor(a, device="gpu").device == "gpu"
