"""tinyconv: see inside convolutional networks with numpy (and CuPy), no deep-learning framework.

    import tinyconv as tc
    x = tc.Tensor(image, requires_grad=True)          # (N, 3, H, W) float32
    with tc.override({"relu": tc.hooks.guided_relu}):
        model(x)[0, 243].backward()                    # x.grad: guided backprop of class 243

Importing changes nothing in the process; `tc.tune_process()` applies the CPU allocator and
BLAS thread settings the `tinyconv` command runs under (kernels/cpu/tuning.py).
"""
from . import ops
from .engine import backend, hooks, optim
from .engine.backend import default_device, gpu_available
from .engine.hooks import override
from .engine.tensor import Function, Tensor, as_tensor, is_grad_enabled, no_grad
from .kernels.cpu.tuning import tune_process
from .loading import load_model
from .version import __version__
