"""Gradient checking: analytic backward against central differences, in float64.

Used by tinyconv's own tests and by anyone writing a new op:

    check_grad(lambda x, w: ops.conv2d(x, w, padding=1), x, w)

Inputs are arrays (numpy or CuPy, float64); the function maps Tensors to a Tensor. The check seeds
backward with a fixed random gradient r, so it verifies the whole Jacobian-vector product
d(sum(r * f(x)))/dx, element by element for small inputs.
"""
import numpy as np

from .backend import get_array_module, to_numpy
from .tensor import Tensor


def numerical_grad(f, arrays, seed_grad, eps=1e-6):
    """Central-difference gradients of sum(seed_grad * f(*arrays)) wrt each array (as numpy)."""
    grads = []
    for i, a in enumerate(arrays):
        flat = a.reshape(-1)  # a view: perturbing it perturbs `a`
        g = np.zeros(a.size)
        for j in range(a.size):
            original = flat[j].item()
            flat[j] = original + eps
            up = float((f(*[Tensor(b) for b in arrays]).data * seed_grad).sum())
            flat[j] = original - eps
            down = float((f(*[Tensor(b) for b in arrays]).data * seed_grad).sum())
            flat[j] = original
            g[j] = (up - down) / (2 * eps)
        grads.append(g.reshape(a.shape))
    return grads


def analytic_grad(f, arrays, seed_grad):
    """Gradients of sum(seed_grad * f(*arrays)) from tinyconv's backward (as numpy)."""
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    f(*tensors).backward(seed_grad)
    return [to_numpy(t.grad) if t.grad is not None else np.zeros(t.shape) for t in tensors]


def check_grad(f, *arrays, rtol=1e-5, atol=1e-7, eps=1e-6, seed=0):
    """Assert that backward of f matches numerical differentiation for every input array.

    arrays: float64 numpy or CuPy arrays (copied, never modified). Raises AssertionError naming the
    input and the worst element otherwise.
    """
    xp = get_array_module(arrays[0])
    arrays = [xp.array(a, copy=True) for a in arrays]  # numpy scalars become 0-d arrays
    for a in arrays:
        if a.dtype != np.float64:
            raise TypeError(f"check_grad needs float64 inputs for reliable differences, "
                            f"got {a.dtype}")
    out = f(*[Tensor(a) for a in arrays])
    rng = np.random.default_rng(seed)
    seed_grad = xp.asarray(rng.standard_normal(out.shape))
    numeric = numerical_grad(f, arrays, seed_grad, eps)
    analytic = analytic_grad(f, arrays, seed_grad)
    for i, (n, a) in enumerate(zip(numeric, analytic)):
        if not np.allclose(a, n, rtol=rtol, atol=atol):
            worst = np.unravel_index(np.argmax(np.abs(a - n)), a.shape)
            raise AssertionError(f"gradient of input {i} (shape {a.shape}) differs at {worst}: "
                                 f"analytic {a[worst]!r}, numerical {n[worst]!r}")
