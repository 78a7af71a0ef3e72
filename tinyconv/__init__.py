"""tinyconv: see inside convolutional networks with numpy (and CuPy), no deep-learning framework.

    import tinyconv as tc
    x = tc.Tensor(image, requires_grad=True)          # (N, 3, H, W) float32
    with tc.override({"relu": tc.hooks.guided_relu}):
        model(x)[0, 243].backward()                    # x.grad: guided backprop of class 243
"""
from . import cpu_memory

cpu_memory.apply_default()  # before any large array: freed memory is kept for reuse

from . import backend, hooks, ops  # noqa: E402
from . import optim
from .backend import default_device, gpu_available
from .hooks import override
from .models import load_model
from .tensor import Function, Tensor, as_tensor, is_grad_enabled, no_grad

__version__ = "0.1.0"
