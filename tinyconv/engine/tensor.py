"""Tensor and Function: tinyconv's reverse-mode autograd.

A Tensor wraps one numpy or CuPy array. Every differentiable operation is a Function subclass whose
`forward` runs on raw arrays and saves what `backward` needs; `Function.apply` runs the forward and,
when gradients are wanted, records the Function as the output's `_ctx`. The graph links Functions
to the Functions that made their inputs (`fn.parents`), not to the intermediate tensors, so an
activation's array is freed as soon as no user variable or saved array holds it. `Tensor.backward` walks that graph in reverse topological order (iteratively, so
deep graphs never hit Python's recursion limit), asks each Function for the gradients of its
inputs, and accumulates them. A Function's backward may be swapped by op name inside `tinyconv.override(...)`
(see hooks.py): that is how guided backprop and deconvnet change the ReLU backward without touching
a model.
"""
import contextlib
import weakref

import numpy as np

from . import backend, hooks

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Inside the block, operations record no graph (for inference and in-place updates)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


def _as_float_array(data, device, dtype):
    """Array on `device` from a Tensor, array, list or scalar; float32 unless floating already."""
    if isinstance(data, Tensor):
        data = data.data
    xp = backend.get_array_module(data)
    if backend.is_numpy(xp) and not isinstance(data, np.ndarray):
        # numpy reductions over every axis return scalars such as np.float64: keep their dtype
        default = data.dtype if isinstance(data, np.floating) else np.float32
        data = np.asarray(data, dtype=dtype or default)
    if dtype is not None and data.dtype != dtype:
        data = data.astype(dtype)
    if data.dtype.kind != "f":
        raise TypeError(f"tinyconv tensors hold floating-point data; got dtype {data.dtype} "
                        f"(convert it first, e.g. with .astype(np.float32))")
    if device is not None:
        data = backend.to_device(data, device)
    return data


class Tensor:
    """An n-dimensional float array (numpy or CuPy) with an optional gradient.

    data: the array; grad: the accumulated gradient array (same shape) or None;
    requires_grad: whether backward computes a gradient for it.
    """

    __array_priority__ = 1000  # numpy array (op) Tensor defers to Tensor's reflected operators

    def __init__(self, data, requires_grad=False, device=None, dtype=None):
        self.data = _as_float_array(data, device, dtype)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None  # the Function that made this tensor, None for leaves
        self._retain_grad = False

    # ----- properties
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def xp(self):
        return backend.get_array_module(self.data)

    @property
    def is_leaf(self):
        return self._ctx is None

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(shape={self.shape}, dtype={self.dtype}, device={self.device}{grad})"

    # ----- conversion
    def numpy(self):
        """The data as a numpy array (copied from the GPU when needed)."""
        return backend.to_numpy(self.data)

    def item(self):
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element; this one has shape "
                             f"{self.shape}")
        return float(self.data.reshape(()))

    def to(self, device):
        """This tensor on `device` ("cpu" | "gpu"). A leaf gives a new leaf (same requires_grad);
        a tensor inside a graph gives a differentiable copy."""
        if backend.check_device(device) == self.device:
            return self
        if self.is_leaf:
            return Tensor(backend.to_device(self.data, device), requires_grad=self.requires_grad)
        return _ops.shape.to_device(self, device)

    def detach(self):
        """A leaf sharing this tensor's data, cut from the graph."""
        return Tensor(self.data)

    def astype(self, dtype):
        """This tensor converted to a floating `dtype`; leaf -> new leaf, else differentiable."""
        if self.is_leaf:
            return Tensor(self.data.astype(dtype), requires_grad=self.requires_grad)
        return _ops.shape.cast(self, dtype)

    def retain_grad(self):
        """Keep this non-leaf tensor's gradient in `.grad` after backward (Grad-CAM needs it)."""
        self._retain_grad = True
        return self

    def zero_grad(self):
        self.grad = None

    # ----- autograd
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires grad.

        grad: the seed gradient, same shape as self; may be omitted only for a one-element tensor.
        retain_graph: keep saved arrays so backward can run again through the same graph.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad: no input of the "
                               "computation has requires_grad=True (or it ran under no_grad())")
        xp = self.xp
        if grad is None:
            if self.size != 1:
                raise RuntimeError(f"backward() without a seed gradient needs a one-element "
                                   f"tensor; "
                                   f"this one has shape {self.shape}: pass grad= of that shape")
            grad = xp.ones_like(self.data)
        else:
            grad = _as_float_array(grad, self.device, self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"seed gradient shape {grad.shape} does not match tensor shape "
                                 f"{self.shape}")
        if self._ctx is None:  # a leaf: its gradient is the seed itself
            self._accumulate_grad(grad)
            return
        grads = {id(self._ctx): grad}
        for node in _reverse_topological_order(self._ctx):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if isinstance(node, Tensor):  # a leaf that requires grad
                node._accumulate_grad(g)
                continue
            fn = node
            out = fn.output()  # the tensor fn made, if anyone still holds it
            if out is not None and out._retain_grad:
                out._accumulate_grad(g)
            if fn.saved is None:
                raise RuntimeError(f"backward through {type(fn).__name__} a second time: its saved "
                                   f"arrays were freed; call backward(retain_graph=True) the "
                                   f"first time")
            backward_fn = hooks.backward_for(fn)
            parent_grads = backward_fn(fn, g)
            if not isinstance(parent_grads, tuple):
                parent_grads = (parent_grads,)
            for parent, shape, pg in zip(fn.parents, fn.input_shapes, parent_grads):
                if pg is None or parent is None:
                    continue
                if pg.shape != shape:
                    raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape "
                                       f"{pg.shape} for an input of shape {shape}")
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg
            if not retain_graph:
                fn.saved = None

    def _accumulate_grad(self, g):
        # a copy: g can be a read-only broadcast view, or the same array as a sibling's
        self.grad = backend.get_array_module(g).array(g, copy=True) if self.grad is None \
            else self.grad + g

    # ----- operators (the Functions live in tinyconv.ops; bound at the bottom of this file)
    def __add__(self, other):
        return _ops.math.add(self, other)

    def __radd__(self, other):
        return _ops.math.add(other, self)

    def __sub__(self, other):
        return _ops.math.sub(self, other)

    def __rsub__(self, other):
        return _ops.math.sub(other, self)

    def __mul__(self, other):
        return _ops.math.mul(self, other)

    def __rmul__(self, other):
        return _ops.math.mul(other, self)

    def __truediv__(self, other):
        return _ops.math.div(self, other)

    def __rtruediv__(self, other):
        return _ops.math.div(other, self)

    def __pow__(self, exponent):
        return _ops.math.pow(self, exponent)

    def __rpow__(self, base):
        return _ops.math.pow(base, self)

    def __neg__(self):
        return _ops.math.neg(self)

    def __matmul__(self, other):
        return _ops.math.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.math.matmul(other, self)

    def __getitem__(self, index):
        return _ops.shape.getitem(self, index)

    def sum(self, axis=None, keepdims=False):
        return _ops.math.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops.math.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return _ops.math.max(self, axis, keepdims)

    def exp(self):
        return _ops.math.exp(self)

    def log(self):
        return _ops.math.log(self)

    def sqrt(self):
        return _ops.math.sqrt(self)

    def abs(self):
        return _ops.math.abs(self)

    def clip(self, low=None, high=None):
        return _ops.math.clip(self, low, high)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.shape.reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = tuple(axes[0] or ())
        return _ops.shape.transpose(self, axes or None)

    @property
    def T(self):
        return _ops.shape.transpose(self, None)


def _reverse_topological_order(root):
    """Graph nodes (Functions, and leaf Tensors that require grad) leading to the Function `root`,
    root first, every node before the nodes it reads."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if isinstance(node, Function):
            for parent in node.parents:
                if parent is not None and id(parent) not in visited:
                    stack.append((parent, False))
    order.reverse()
    return order


def _graph_node(t):
    """What a Function keeps of an input: its maker Function (not the tensor: its data can then
    be freed as soon as nobody else holds it), the tensor itself for a leaf that requires grad,
    or None when no gradient flows to it."""
    if not t.requires_grad:
        return None
    return t._ctx if t._ctx is not None else t


def as_tensor(value, like=None):
    """`value` as a Tensor; scalars and arrays take the dtype and device of tensor `like`."""
    if isinstance(value, Tensor):
        return value
    if like is None:
        return Tensor(value)
    if backend.is_numpy(backend.get_array_module(value)) and not isinstance(value, np.ndarray):
        return Tensor(like.xp.asarray(value, dtype=like.dtype))
    return Tensor(value, device=like.device)


class Function:
    """One differentiable operation. Subclasses define `forward` and `backward` over raw arrays.

    forward(self, *arrays, **params) -> array: computes the output, may call save_for_backward.
    backward(self, dout) -> one gradient array per tensor input (or None where not needed, e.g.
      where `self.needs_input_grad[i]` is False). It must not modify `dout` in place: the same
      array can be shared by several consumers.
    `name` is the op name that tinyconv.override() uses to swap the backward (e.g. "relu").
    """

    name = None

    def __init__(self):
        self.parents = ()  # per input: its maker Function, a leaf Tensor, or None (see apply)
        self.input_shapes = ()
        self.output = None  # weak reference to the output Tensor (for retain_grad)
        self.saved = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *arrays):
        self.saved = arrays

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors `inputs` (scalars are converted), recording it for backward."""
        first = next((t for t in inputs if isinstance(t, Tensor)), None)
        tensors = tuple(as_tensor(t, like=first) for t in inputs)
        _check_same_device_and_dtype(cls, tensors)
        fn = cls()
        fn.needs_input_grad = tuple(t.requires_grad for t in tensors)
        out = Tensor(fn.forward(*(t.data for t in tensors), **params))
        if _grad_enabled and any(fn.needs_input_grad):
            # the graph links Functions, not activations: an intermediate tensor's array lives
            # only as long as the user or a save_for_backward holds it
            fn.parents = tuple(_graph_node(t) for t in tensors)
            fn.input_shapes = tuple(t.shape for t in tensors)
            fn.output = weakref.ref(out)
            out.requires_grad = True
            out._ctx = fn
        return out


def _check_same_device_and_dtype(cls, tensors):
    if len(tensors) < 2:
        return
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        shown = ", ".join(f"{t.device} {t.shape}" for t in tensors)
        raise RuntimeError(f"{cls.__name__}: inputs are on different devices ({shown}); move them "
                           f"with .to('cpu') or .to('gpu') first")
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        shown = ", ".join(f"{t.dtype} {t.shape}" for t in tensors)
        raise TypeError(f"{cls.__name__}: inputs have different dtypes ({shown}); convert with "
                        f".astype() first")


class _Operators:
    """The differentiable functions behind Tensor's operators and methods (x + y, x[i], x.sum(),
    x.reshape(...), x.to(...)): the modules tinyconv.ops.math and tinyconv.ops.shape. The ops are
    built on Tensor and Function, so the engine below them cannot import them; tinyconv.ops hands
    them over once, when it is imported (`use_operators`), and `import tinyconv` imports it."""
    math = shape = None


_ops = _Operators()


def use_operators(math, shape):
    """Route Tensor's operators to these two modules (called by tinyconv.ops on import)."""
    _ops.math, _ops.shape = math, shape
