"""Array backend: numpy on the CPU, CuPy on an NVIDIA GPU.

All array code in tinyconv is written once against `xp`, the array module of its inputs
(`xp = get_array_module(a)`), the convention of chainer and CuPy. This module is the one place that
knows whether CuPy exists. `import tinyconv` works without CuPy or a GPU: CuPy is imported inside a
guard and `gpu_available` is False when it is missing or sees no device.

Device names are "cpu" and "gpu". The default comes from the TINYCONV_DEVICE environment variable
("cpu" or "gpu"), else "gpu" when a GPU is usable, else "cpu".
"""
import os
import time

import numpy as np

try:  # CuPy is an optional extra: tinyconv[gpu]
    import cupy as cp
    gpu_available = cp.cuda.runtime.getDeviceCount() > 0
except Exception:  # ImportError, or a CUDA runtime error on a machine with no driver
    cp = None
    gpu_available = False

DEVICES = ("cpu", "gpu")


class DeviceUnavailable(RuntimeError, ValueError):
    """The GPU was asked for (--device gpu, TINYCONV_DEVICE=gpu) where there is none: a
    RuntimeError for callers, and a ValueError so the CLI reports it as input, in one line."""


def check_device(device):
    """Return `device` validated ("cpu" | "gpu"); None means the default device."""
    if device is None:
        return default_device()
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {DEVICES}")
    if device == "gpu" and not gpu_available:
        raise DeviceUnavailable("device 'gpu' was asked for, but CuPy with a usable NVIDIA GPU "
                                "is not available here (pip install tinyconv[gpu] on a machine "
                                "with CUDA)")
    return device


def default_device():
    """TINYCONV_DEVICE if set, else "gpu" when CuPy sees a GPU, else "cpu"."""
    env = os.environ.get("TINYCONV_DEVICE", "").strip().lower()
    if env:
        if env not in DEVICES:
            raise ValueError(f"TINYCONV_DEVICE={env!r} is not one of {DEVICES}")
        return check_device(env)
    return "gpu" if gpu_available else "cpu"


def get_array_module(a):
    """numpy or cupy, whichever owns array `a` (numpy for scalars and lists)."""
    if cp is not None and isinstance(a, cp.ndarray):
        return cp
    return np


def is_numpy(xp):
    """True when array module `xp` is numpy (the CPU), False for CuPy."""
    return xp is np


def xp_for(device):
    """The array module of a device name."""
    return cp if check_device(device) == "gpu" else np


def device_of(a):
    """"gpu" for a CuPy array, "cpu" otherwise."""
    return "cpu" if is_numpy(get_array_module(a)) else "gpu"


def to_device(a, device):
    """Copy array `a` to `device` (no copy when it is already there)."""
    device = check_device(device)
    if device_of(a) == device:
        return a
    if device == "gpu":
        return cp.asarray(a)
    return cp.asnumpy(a)


def to_numpy(a):
    """A numpy array with the contents of `a` (a copy from the GPU when needed)."""
    return cp.asnumpy(a) if device_of(a) == "gpu" else np.asarray(a)


def gpu_name():
    """The name of the current CUDA device, e.g. "NVIDIA H100 80GB HBM3" (None without a GPU)."""
    if not gpu_available:
        return None
    name = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["name"]
    return name.decode() if isinstance(name, bytes) else name


def set_tf32(enabled):
    """Let CuPy's float32 GEMMs (convolutions, linear layers) use TF32 tensor cores (10-bit
    mantissa inputs, float32 accumulation) or not (strict float32, the default). Returns the
    previous setting. No effect without a GPU."""
    if not gpu_available:
        return False
    from cupy._core import _routines_linalg as linalg
    previous = linalg.get_compute_type(np.float32) == linalg.COMPUTE_TYPE_TF32
    linalg.set_compute_type(np.float32, linalg.COMPUTE_TYPE_TF32 if enabled
                            else linalg.COMPUTE_TYPE_DEFAULT)
    return previous


def synchronize(xp):
    """Wait for the device of array module xp to finish its queued work (no-op for numpy)."""
    if not is_numpy(xp):
        xp.cuda.Device().synchronize()


def time_calls(fn, xp, repeats, warmup=1):
    """Milliseconds of `repeats` timed calls of fn() after `warmup` untimed ones, the device of
    array module xp synchronized around each, so GPU work is counted where it runs."""
    synchronize(xp)
    for _ in range(warmup):
        fn()
    synchronize(xp)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(xp)
        times.append((time.perf_counter() - start) * 1e3)
    return times
