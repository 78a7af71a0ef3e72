"""Optimizers: SGD with momentum, Adam and AdamW over a list of tensors, and an L-BFGS adapter for
images.

SGD, Adam and AdamW follow PyTorch's update rules (so hyperparameters from papers and reference code carry
over) and update each parameter's `.data` in place, on numpy or CuPy arrays alike; they never
modify `.grad` (backward may share one gradient array between tensors). `lbfgs` hands an image
tensor to scipy's L-BFGS-B, the optimizer of the original style transfer and feature inversion
papers, converting to float64 numpy for scipy and back to the tensor's dtype and device.
"""
import numpy as np

from .backend import get_array_module, to_numpy
from .tensor import Tensor, no_grad


class Optimizer:
    """Holds the parameter list; subclasses define `_update(index, param, grad)`."""

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a {type(p).__name__}, "
                                f"not a Tensor")
        if lr < 0:
            raise ValueError(f"{type(self).__name__}: learning rate must be >= 0, got {lr}")
        self.lr = lr
        self.state = [{} for _ in self.params]

    def zero_grad(self):
        """Forget every parameter's gradient (call before the next backward)."""
        for p in self.params:
            p.grad = None

    def step(self):
        """Update every parameter that has a gradient, in place."""
        with no_grad():
            for i, p in enumerate(self.params):
                if p.grad is not None:
                    self._update(self.state[i], p.data, p.grad)

    def _update(self, state, data, grad):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule: g = grad + weight_decay * p;
    buf = momentum * buf + g; p -= lr * (g + momentum * buf if nesterov else buf)."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        if nesterov and momentum <= 0:
            raise ValueError("SGD: nesterov momentum needs momentum > 0")
        self.momentum, self.weight_decay, self.nesterov = momentum, weight_decay, nesterov

    def _update(self, state, data, grad):
        g = grad + self.weight_decay * data if self.weight_decay else grad
        if self.momentum:
            if "buf" not in state:
                state["buf"] = g.copy()
            else:
                state["buf"] *= self.momentum
                state["buf"] += g
            g = g + self.momentum * state["buf"] if self.nesterov else state["buf"]
        data -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction, PyTorch's rule; weight_decay adds
    weight_decay * p to the gradient (L2, not AdamW)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas}")
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay

    def _update(self, state, data, grad):
        g = grad + self.weight_decay * data if self.weight_decay else grad
        self._adam_step(state, data, g)

    def _adam_step(self, state, data, g):
        """data -= lr * m_hat / (sqrt(v_hat) + eps) after updating the moments with gradient g."""
        beta1, beta2 = self.betas
        if not state:
            xp = get_array_module(data)
            state.update(t=0, m=xp.zeros_like(data), v=xp.zeros_like(data))
        state["t"] += 1
        m, v, t = state["m"], state["v"], state["t"]
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * (g * g)
        step = self.lr / (1 - beta1 ** t)
        denom = (v / (1 - beta2 ** t)) ** 0.5 + self.eps
        data -= step * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), PyTorch's rule: first
    p *= 1 - lr * weight_decay, then Adam's step on the plain gradient. Unlike Adam's L2 term the
    decay does not pass through the moments, so it shrinks every weight at the same rate whatever
    its gradient's scale."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)

    def _update(self, state, data, grad):
        if self.weight_decay:
            data *= 1 - self.lr * self.weight_decay
        self._adam_step(state, data, grad)


def lbfgs(loss_fn, x, max_iter=100, bounds=None, callback=None, options=None):
    """Minimize loss_fn(x) over the values of image tensor x with scipy's L-BFGS-B.

    loss_fn: Tensor -> scalar Tensor, differentiable in x. x: a leaf Tensor (any shape, numpy or
    CuPy, any float dtype); it holds the optimum afterwards (its grad is cleared).
    bounds: None or (low, high), each a number, an array broadcastable to x.shape, or None.
    callback: called after each iteration as callback(iteration, loss) with x.data holding that
    iterate; raise StopIteration inside it to stop early. options: extra scipy L-BFGS-B options
    (e.g. {"maxcor": 20}). Returns scipy's OptimizeResult.
    """
    import scipy.optimize  # here, not at the top: it takes most of a second to import

    if not isinstance(x, Tensor):
        raise TypeError(f"lbfgs optimizes a Tensor, got {type(x).__name__}")
    shape, dtype, xp = x.shape, x.dtype, x.xp
    if bounds is not None:
        bounds = scipy.optimize.Bounds(*_bounds_vectors(bounds, shape))
    x0 = to_numpy(x.data).astype(np.float64).reshape(-1)
    requires_grad = x.requires_grad
    x.requires_grad = True

    def load(flat):  # scipy's float64 vector -> x.data, in x's dtype and on x's device
        x.data = xp.asarray(flat.reshape(shape), dtype=dtype)

    def loss_and_grad(flat):
        load(flat)
        x.grad = None
        loss = loss_fn(x)
        if loss.size != 1:
            raise ValueError(f"lbfgs: loss_fn must return a scalar Tensor, got shape {loss.shape}")
        if loss.requires_grad:
            loss.backward()
        grad = np.zeros(flat.size) if x.grad is None else to_numpy(x.grad).astype(np.float64)
        return loss.item(), grad.reshape(-1)

    iteration = 0

    def after_iteration(intermediate_result):
        nonlocal iteration
        iteration += 1
        load(intermediate_result.x)
        callback(iteration, float(intermediate_result.fun))

    try:
        result = scipy.optimize.minimize(
            loss_and_grad, x0, jac=True, method="L-BFGS-B", bounds=bounds,
            callback=after_iteration if callback is not None else None,
            options={"maxiter": max_iter, **(options or {})})
    finally:
        x.requires_grad = requires_grad
        x.grad = None
    load(result.x)
    return result


def _bounds_vectors(bounds, shape):
    """(low, high) with numbers, arrays or None -> (low, high) float64 vectors over flattened x."""
    if len(bounds) != 2:
        raise ValueError(f"lbfgs: bounds must be (low, high), got {bounds!r}")
    low, high = (np.broadcast_to(to_numpy(np.inf * sign if b is None else b), shape).reshape(-1)
                 for b, sign in zip(bounds, (-1, 1)))
    if (low > high).any():
        raise ValueError("lbfgs: a lower bound exceeds its upper bound")
    return low.astype(np.float64), high.astype(np.float64)
