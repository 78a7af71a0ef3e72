"""Backward overrides: swap the gradient of an op by name inside a `with` block.

    with tinyconv.override({"relu": tinyconv.hooks.guided_relu}):
        score.backward()

Every Function has a `name`; while an override for that name is active, backward passes call the
override instead of the Function's own backward. Overrides apply to backward passes run inside the
block (the graph may have been built before), nest (the innermost wins), and are restored on exit,
also after an exception. This is lucid's `gradient_override_map`, and it is how guided backprop,
deconvnet and redirected ReLU work on any model without editing it.

An override is a function (ctx, dout) -> gradient(s), with `ctx` the Function instance of the op
(its saved arrays in `ctx.saved`) and `dout` the upstream gradient array. GUIDED and DECONVNET
map every activation the model tables use (relu, relu6) to its rule:
`with tinyconv.override(tinyconv.hooks.GUIDED):` is guided backprop on any of them.
"""
import contextlib

from .backend import get_array_module

_active = []  # stack of {op name: backward override}


@contextlib.contextmanager
def override(mapping):
    """Replace the backward of the ops named in `mapping` ({name: fn(ctx, dout)}) in the block."""
    for name, fn in mapping.items():
        if not callable(fn):
            raise TypeError(f"override for {name!r} must be callable, got {type(fn).__name__}")
    _active.append(dict(mapping))
    try:
        yield
    finally:
        _active.pop()


def backward_for(fn):
    """The backward to call for Function instance `fn`: the innermost override, else its own."""
    for mapping in reversed(_active):
        if fn.name in mapping:
            return mapping[fn.name]
    return type(fn).backward


# ReLU backward variants. The relu Function saves its output y; y > 0 exactly where the input x > 0.

def guided_relu(ctx, dout):
    """Guided backprop (Springenberg 2015): pass where the forward input > 0 AND dout > 0."""
    (y,) = ctx.saved
    return dout * ((y > 0) & (dout > 0))


def deconvnet_relu(ctx, dout):
    """Deconvnet (Zeiler & Fergus 2014): the ReLU applied to the upstream gradient, dout > 0."""
    return dout * (dout > 0)


# ReLU6 (MobileNetV2) by the same rules: its saved output y lies in (0, 6) exactly where its
# gradient passes; deconvnet ignores the forward pass, so its rule is ReLU's.

def guided_relu6(ctx, dout):
    """Guided backprop through ReLU6: pass where 0 < forward input < 6 AND dout > 0."""
    (y,) = ctx.saved
    return dout * ((y > 0) & (y < 6) & (dout > 0))


deconvnet_relu6 = deconvnet_relu

# {op name: override} for every activation the tables use, per rule
GUIDED = {"relu": guided_relu, "relu6": guided_relu6}
DECONVNET = {"relu": deconvnet_relu, "relu6": deconvnet_relu6}


def redirected_relu(ctx, dout):
    """Redirected ReLU (lucid): the ordinary ReLU gradient, except for an example whose ReLU
    gradient is zero everywhere (every unit dead); there, pass the gradient through except where
    it would push a dead unit further down (dout < 0 at y == 0), so ascent can revive the units.

    Sign convention: dout is d(objective)/d(output) for an objective being maximized.
    """
    (y,) = ctx.saved
    xp = get_array_module(dout)
    relu_grad = dout * (y > 0)
    redirected = dout * ~((y <= 0) & (dout < 0))
    n = dout.shape[0]
    alive = xp.abs(relu_grad.reshape(n, -1)).sum(axis=1) > 0  # (N,)
    alive = alive.reshape((n,) + (1,) * (dout.ndim - 1))
    return xp.where(alive, relu_grad, redirected)
