"""Shape operations: reshape, transpose, indexing, concatenation, padding, flatten."""
import numpy as np

from ..engine import backend
from ..engine.backend import get_array_module
from ..engine.tensor import Function


class Reshape(Function):
    name = "reshape"

    def forward(self, a, shape):
        self.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {a.shape} to "
                             f"{tuple(shape)}") from None

    def backward(self, dout):
        return dout.reshape(self.shape)


class Transpose(Function):
    name = "transpose"

    def forward(self, a, axes=None):
        axes = tuple(range(a.ndim))[::-1] if axes is None else tuple(axes)
        if sorted(ax + a.ndim if ax < 0 else ax for ax in axes) != list(range(a.ndim)):
            raise ValueError(f"axes {axes} are not a permutation of the {a.ndim} axes of "
                             f"shape {a.shape}")
        self.axes = tuple(ax % a.ndim for ax in axes)
        return a.transpose(self.axes)

    def backward(self, dout):
        xp = get_array_module(dout)
        return dout.transpose(tuple(int(i) for i in xp.argsort(xp.asarray(self.axes)).tolist()))


class Cast(Function):
    """Change the floating dtype; the gradient is cast back."""
    name = "cast"

    def forward(self, a, dtype):
        self.dtype = a.dtype
        return a.astype(dtype)

    def backward(self, dout):
        return dout.astype(self.dtype)


class ToDevice(Function):
    """Copy to another device ("cpu" | "gpu"); the gradient is copied back."""
    name = "to_device"

    def forward(self, a, device):
        self.device = backend.device_of(a)
        return backend.to_device(a, device)

    def backward(self, dout):
        return backend.to_device(dout, self.device)


def _is_advanced(index):
    """True when `index` uses integer-array (fancy) indexing, which may repeat positions."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "shape") or isinstance(p, list) for p in parts)


def _index_to(index, xp):
    """Index arrays (numpy or lists) moved to the array module of the data being indexed."""
    parts = index if isinstance(index, tuple) else (index,)
    moved = tuple(xp.asarray(p) if hasattr(p, "shape") or isinstance(p, list) else p for p in parts)
    return moved if isinstance(index, tuple) else moved[0]


class GetItem(Function):
    """a[index]: basic slicing and integer-array indexing (repeated positions accumulate)."""
    name = "getitem"

    def forward(self, a, index):
        xp = get_array_module(a)
        self.shape, self.dtype = a.shape, a.dtype
        self.index = _index_to(index, xp)
        try:
            return a[self.index]
        except IndexError as e:
            raise IndexError(f"index {index!r} does not fit a tensor of shape {a.shape}: "
                             f"{e}") from None

    def backward(self, dout):
        xp = get_array_module(dout)
        grad = xp.zeros(self.shape, dtype=self.dtype)
        if _is_advanced(self.index):
            scatter_add = xp.add.at if backend.is_numpy(xp) else _cupy_scatter_add
            scatter_add(grad, self.index, dout)
        else:
            grad[self.index] = dout
        return grad


def _cupy_scatter_add(a, index, values):
    import cupyx
    cupyx.scatter_add(a, index, values)


class Concat(Function):
    name = "concat"

    def forward(self, *arrays, axis=0):
        xp = get_array_module(arrays[0])
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        try:
            return xp.concatenate(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"concat along axis {axis} needs equal other sizes; "
                             f"got {shapes}") from None

    def backward(self, dout):
        xp = get_array_module(dout)
        bounds = np.cumsum(self.sizes[:-1]).tolist()  # split points along the axis
        return tuple(xp.split(dout, bounds, axis=self.axis))


class Pad(Function):
    """numpy.pad with mode "constant" (zeros) or "reflect"; pad_width is ((before, after), ...)."""
    name = "pad"

    def forward(self, a, pad_width, mode="constant"):
        if mode not in ("constant", "reflect"):
            raise ValueError(f"pad mode must be 'constant' or 'reflect', got {mode!r}")
        xp = get_array_module(a)
        self.pad_width = _full_pad_width(pad_width, a.ndim)
        self.mode = mode
        if mode == "reflect":
            for ax, (before, after) in enumerate(self.pad_width):
                if max(before, after) >= a.shape[ax]:
                    raise ValueError(f"reflect padding {before, after} must be smaller than the "
                                     f"size {a.shape[ax]} of axis {ax}")
        return xp.pad(a, self.pad_width, mode=mode)

    def backward(self, dout):
        grad = dout
        for ax, (before, after) in reversed(list(enumerate(self.pad_width))):
            n = grad.shape[ax] - before - after
            core = _take(grad, ax, before, before + n)
            if self.mode == "reflect" and (before or after):
                xp = get_array_module(grad)
                core = core.copy()
                if before:  # padded row before-i mirrors core row i (i = 1..before)
                    _slice_add(core, ax, 1, before + 1, xp.flip(_take(grad, ax, 0, before), ax))
                if after:  # padded row after the end mirrors core rows n-2, n-3, ...
                    tail = xp.flip(_take(grad, ax, before + n, before + n + after), ax)
                    _slice_add(core, ax, n - 1 - after, n - 1, tail)
            grad = core
        return grad



def _full_pad_width(pad_width, ndim):
    """((before, after),) * ndim from an int, a pair, or a per-axis list."""
    if isinstance(pad_width, int):
        return ((pad_width, pad_width),) * ndim
    pad_width = tuple(tuple(p) if not isinstance(p, int) else (p, p) for p in pad_width)
    if len(pad_width) == 1:
        return pad_width * ndim
    if len(pad_width) != ndim:
        raise ValueError(f"pad_width has {len(pad_width)} entries for a tensor with {ndim} axes")
    return pad_width


def _take(a, axis, start, stop):
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, stop)
    return a[tuple(index)]


def _slice_add(a, axis, start, stop, values):
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, stop)
    a[tuple(index)] += values


def cast(a, dtype):
    return Cast.apply(a, dtype=dtype)


def to_device(a, device):
    return ToDevice.apply(a, device=device)


def reshape(a, shape):
    return Reshape.apply(a, shape=tuple(shape))


def transpose(a, axes=None):
    """Permute axes (reverse them when axes is None)."""
    return Transpose.apply(a, axes=axes)


def getitem(a, index):
    return GetItem.apply(a, index=index)


def concat(tensors, axis=0):
    """Join tensors along an existing axis."""
    return Concat.apply(*tensors, axis=axis)


def pad(a, pad_width, mode="constant"):
    """Pad with zeros (mode "constant") or by reflection (mode "reflect"), numpy.pad semantics.

    pad_width: an int for every side of every axis, or ((before, after), ...) per axis.
    """
    return Pad.apply(a, pad_width=pad_width, mode=mode)


def pad2d(x, padding, mode="constant"):
    """Pad the last two axes of (N, C, H, W) by `padding` = p or (top, bottom, left, right)."""
    top, bottom, left, right = (padding,) * 4 if isinstance(padding, int) else padding
    return pad(x, ((0, 0),) * (x.ndim - 2) + ((top, bottom), (left, right)), mode)


def flatten(x, start_axis=1):
    """(N, ...) -> (N, prod(...)): merge every axis from start_axis on."""
    lead = x.shape[:start_axis]
    return reshape(x, lead + (-1,))


__all__ = ["reshape", "transpose", "getitem", "concat", "pad", "pad2d", "flatten"]
