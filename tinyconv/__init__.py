"""tinyconv: see inside convolutional networks with numpy (and CuPy), no deep-learning framework.

    import tinyconv as tc
    x = tc.Tensor(image, requires_grad=True)          # (N, 3, H, W) float32
    with tc.override({"relu": tc.hooks.guided_relu}):
        model(x)[0, 243].backward()                    # x.grad: guided backprop of class 243
"""
from .kernels.cpu import memory as _cpu_memory

_cpu_memory.apply_default()  # before any large array: freed memory is kept for reuse

from . import ops  # noqa: E402
from .engine import backend, hooks, optim  # noqa: E402
from .engine.backend import default_device, gpu_available  # noqa: E402
from .engine.hooks import override  # noqa: E402
from .engine.tensor import Function, Tensor, as_tensor, is_grad_enabled, no_grad  # noqa: E402
from .models import load_model  # noqa: E402

__version__ = "0.1.0"
