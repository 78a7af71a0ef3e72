"""Every Tensor operation: forward against numpy, backward against numerical gradients (float64)."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import ops
from tinyconv.engine.backend import to_numpy
from tinyconv.engine.testing import check_grad


def rand(xp, *shape, seed=0, low=-1.0, high=1.0):
    """Uniform float64 array on the device of xp."""
    return xp.asarray(np.random.default_rng(seed).uniform(low, high, shape))


def distinct(xp, *shape, seed=0):
    """float64 values with no ties, at least 0.1 apart (safe for max and its gradient check)."""
    values = np.random.default_rng(seed).permutation(int(np.prod(shape))) * 0.1 - 1.0
    return xp.asarray(values.reshape(shape))


def assert_close(tensor, expected, rtol=1e-7, atol=1e-10):
    np.testing.assert_allclose(to_numpy(tensor.data), to_numpy(expected), rtol=rtol, atol=atol)


# ----- construction and conversion

def test_tensor_defaults_to_float32_and_keeps_float64():
    assert tc.Tensor([1, 2, 3]).dtype == np.float32
    assert tc.Tensor(3.5).shape == ()
    assert tc.Tensor(np.zeros(2)).dtype == np.float64
    assert tc.Tensor(np.zeros(2), dtype=np.float32).dtype == np.float32


def test_tensor_rejects_integer_and_bool_data():
    with pytest.raises(TypeError, match="floating-point.*int64"):
        tc.Tensor(np.arange(3))
    with pytest.raises(TypeError, match="floating-point.*bool"):
        tc.Tensor(np.ones(3, dtype=bool))


def test_full_reduction_keeps_float64(xp):
    x = tc.Tensor(rand(xp, 3, 4))
    assert x.sum().dtype == np.float64
    assert x.mean().dtype == np.float64


def test_numpy_item_detach_to(xp):
    x = tc.Tensor(rand(xp, 2, 3), requires_grad=True)
    assert isinstance(x.numpy(), np.ndarray)
    assert x.to("cpu").device == "cpu"
    assert x.to(x.device) is x
    d = x.detach()
    assert d.data is x.data and not d.requires_grad and d.is_leaf
    assert tc.Tensor(xp.asarray([2.5])).item() == 2.5
    with pytest.raises(ValueError, match=r"one element.*\(2, 3\)"):
        x.item()
    assert "shape=(2, 3)" in repr(x) and "requires_grad=True" in repr(x)


# ----- elementwise arithmetic with broadcasting

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a ** b, np.power),
}
SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 1, 5), (4, 1)), ((2, 3), (3,)), ((1,), (2, 3)),
               ((4, 1), (1, 5)), ((2, 3), ())]


def binary_inputs(xp, name, shape_a, shape_b):
    a, b = rand(xp, *shape_a, seed=1), rand(xp, *shape_b, seed=2)
    if name == "div":
        b = 1.5 + b  # away from zero
    if name == "pow":
        a = 1.5 + a  # a positive base, so a ** b and log(a) exist
    return xp.asarray(a), xp.asarray(b)  # 1.5 + a 0-d array is a numpy scalar, not an array


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_forward_and_backward(xp, name, shapes):
    op, reference = BINARY[name]
    a, b = binary_inputs(xp, name, *shapes)
    out = op(tc.Tensor(a), tc.Tensor(b))
    assert_close(out, reference(to_numpy(a), to_numpy(b)))
    check_grad(op, a, b)


def test_unbroadcast_sums_over_broadcast_axes(xp):
    a = tc.Tensor(rand(xp, 3, 1, 5), requires_grad=True)
    b = tc.Tensor(rand(xp, 4, 1), requires_grad=True)
    (a * b).backward(xp.ones((3, 4, 5)))
    assert a.grad.shape == (3, 1, 5) and b.grad.shape == (4, 1)
    assert_close(tc.Tensor(a.grad), np.full((3, 1, 5), to_numpy(b.data).sum()))
    assert_close(tc.Tensor(b.grad), np.full((4, 1), to_numpy(a.data).sum()))


@pytest.mark.parametrize("name", ["radd", "rsub", "rmul", "rdiv", "rpow", "pow_const"])
def test_python_scalars_on_either_side(xp, name):
    ops_by_name = {
        "radd": (lambda t: 2.0 + t, lambda a: 2.0 + a),
        "rsub": (lambda t: 2.0 - t, lambda a: 2.0 - a),
        "rmul": (lambda t: 3 * t, lambda a: 3 * a),
        "rdiv": (lambda t: 2.0 / t, lambda a: 2.0 / a),
        "rpow": (lambda t: 2.0 ** t, lambda a: 2.0 ** a),
        "pow_const": (lambda t: t ** 3, lambda a: a ** 3),
    }
    op, reference = ops_by_name[name]
    a = 1.5 + rand(xp, 2, 3)
    out = op(tc.Tensor(a))
    assert out.dtype == np.float64
    assert_close(out, reference(to_numpy(a)))
    check_grad(op, a)


def test_scalars_take_the_tensor_dtype():
    x = tc.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (2.5 * x + 1) / 3 - 0.5
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_neg(xp):
    a = rand(xp, 3, 4)
    assert_close(-tc.Tensor(a), -to_numpy(a))
    check_grad(lambda t: -t, a)
    check_grad(ops.neg, a)


def test_matmul(xp):
    a, b = rand(xp, 3, 4, seed=1), rand(xp, 4, 5, seed=2)
    assert_close(tc.Tensor(a) @ tc.Tensor(b), to_numpy(a) @ to_numpy(b))
    check_grad(lambda x, y: x @ y, a, b)
    check_grad(ops.matmul, a, b)


def test_matmul_shape_mismatch_names_both_shapes(xp):
    with pytest.raises(ValueError, match=r"\(3, 4\) @ \(5, 2\)"):
        tc.Tensor(rand(xp, 3, 4)) @ tc.Tensor(rand(xp, 5, 2))


def test_broadcast_mismatch_names_both_shapes(xp):
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        tc.Tensor(rand(xp, 3)) + tc.Tensor(rand(xp, 4))


# ----- reductions

AXES = [None, 0, 1, -1, (0, 2), (1, 2)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", ["sum", "mean", "max"])
def test_reductions(xp, name, axis, keepdims):
    a = distinct(xp, 2, 3, 4)
    reduce = lambda t: getattr(t, name)(axis=axis, keepdims=keepdims)  # noqa: E731
    out = reduce(tc.Tensor(a))
    expected = getattr(np, name)(to_numpy(a), axis=axis, keepdims=keepdims)
    assert out.shape == expected.shape
    assert_close(out, expected)
    check_grad(reduce, a)


def test_max_gradient_is_shared_among_ties(xp):
    x = tc.Tensor(xp.asarray([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    assert_close(tc.Tensor(x.grad), [[0, 0.5, 0.5], [0.5, 0, 0.5]])


def test_reduction_axis_out_of_range(xp):
    with pytest.raises(ValueError, match="axis 3 is out of range.*3 dimensions"):
        tc.Tensor(rand(xp, 2, 3, 4)).sum(axis=3)


# ----- shape operations

def test_reshape(xp):
    a = rand(xp, 2, 3, 4)
    assert tc.Tensor(a).reshape(6, -1).shape == (6, 4)
    assert tc.Tensor(a).reshape((4, 6)).shape == (4, 6)
    check_grad(lambda t: t.reshape(4, 6), a)
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4\) to \(5, 5\)"):
        tc.Tensor(a).reshape(5, 5)


@pytest.mark.parametrize("axes", [None, (1, 0, 2), (2, 0, 1), (-1, 0, 1)], ids=str)
def test_transpose(xp, axes):
    a = rand(xp, 2, 3, 4)
    out = tc.Tensor(a).transpose(axes) if axes else tc.Tensor(a).T
    assert_close(out, np.transpose(to_numpy(a), axes))
    check_grad(lambda t: t.transpose(axes), a)


def test_transpose_rejects_a_non_permutation(xp):
    with pytest.raises(ValueError, match=r"not a permutation.*\(2, 3, 4\)"):
        tc.Tensor(rand(xp, 2, 3, 4)).transpose(0, 1, 5)


INDICES = {
    "int": 1,
    "negative int": -1,
    "slice": slice(1, 3),
    "negative step": (slice(None), slice(None, None, -2)),
    "negative slice": (slice(-2, None), -1),
    "ellipsis and newaxis": (Ellipsis, None, 0),
    "score": (0, 3),
    "neuron": (1, slice(None), 2),
    "integer array": np.array([2, 0]),
    "repeated integer array": np.array([1, 1, 0, 1]),
    "integer list pair": ([0, 0, 2], [1, 1, 3]),
    "boolean mask": np.array([True, False, True]),
}


@pytest.mark.parametrize("name", list(INDICES))
def test_getitem(xp, name):
    index = INDICES[name]
    a = rand(xp, 3, 4, 5)
    assert_close(tc.Tensor(a)[index], to_numpy(a)[index])
    check_grad(lambda t: t[index], a)


def test_getitem_repeated_indices_accumulate(xp):
    x = tc.Tensor(rand(xp, 4, 2), requires_grad=True)
    x[np.array([1, 1, 3, 1])].sum().backward()
    assert_close(tc.Tensor(x.grad), [[0, 0], [3, 3], [0, 0], [1, 1]])


def test_getitem_out_of_range_names_shape(xp):
    with pytest.raises(IndexError, match=r"shape \(3, 4\)"):
        tc.Tensor(rand(xp, 3, 4))[5]


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(xp, axis):
    shapes = [(2, 3, 4), (2, 3, 4), (2, 3, 4)]
    shapes = [tuple(n + i if ax == axis % 3 else n for ax, n in enumerate(s))
              for i, s in enumerate(shapes)]  # a different size along the joined axis
    arrays = [rand(xp, *s, seed=i) for i, s in enumerate(shapes)]
    out = ops.concat([tc.Tensor(a) for a in arrays], axis=axis)
    assert_close(out, np.concatenate([to_numpy(a) for a in arrays], axis=axis))
    check_grad(lambda *ts: ops.concat(ts, axis=axis), *arrays)


def test_concat_mismatch_names_shapes(xp):
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        ops.concat([tc.Tensor(rand(xp, 2, 3)), tc.Tensor(rand(xp, 2, 4))], axis=0)


PADS = [1, ((0, 0), (1, 2), (2, 0)), ((1, 1), (0, 3), (1, 1)), ((2, 1),)]


@pytest.mark.parametrize("mode", ["constant", "reflect"])
@pytest.mark.parametrize("pad_width", PADS, ids=str)
def test_pad(xp, pad_width, mode):
    a = rand(xp, 3, 4, 5)
    out = ops.pad(tc.Tensor(a), pad_width, mode=mode)
    assert_close(out, np.pad(to_numpy(a), pad_width, mode=mode))
    check_grad(lambda t: ops.pad(t, pad_width, mode=mode), a)


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_pad2d_asymmetric(xp, mode):
    a = rand(xp, 2, 1, 4, 5)
    out = ops.pad2d(tc.Tensor(a), (1, 3, 0, 2), mode=mode)
    assert_close(out, np.pad(to_numpy(a), ((0, 0), (0, 0), (1, 3), (0, 2)), mode=mode))
    check_grad(lambda t: ops.pad2d(t, (1, 3, 0, 2), mode=mode), a)


def test_pad_errors(xp):
    with pytest.raises(ValueError, match="smaller than the size 4"):
        ops.pad(tc.Tensor(rand(xp, 4)), 4, mode="reflect")
    with pytest.raises(ValueError, match="'edge'"):
        ops.pad(tc.Tensor(rand(xp, 4)), 1, mode="edge")


def test_flatten(xp):
    a = rand(xp, 2, 3, 4)
    assert ops.flatten(tc.Tensor(a)).shape == (2, 12)
    check_grad(ops.flatten, a)


# ----- elementwise functions

UNARY = {
    "exp": (lambda t: t.exp(), np.exp, rand),
    "log": (lambda t: t.log(), np.log, lambda xp, *s: 0.5 + rand(xp, *s, low=0, high=1)),
    "sqrt": (lambda t: t.sqrt(), np.sqrt, lambda xp, *s: 0.5 + rand(xp, *s, low=0, high=1)),
    "abs": (lambda t: t.abs(), np.abs, distinct),  # distinct values are >= 0.1 away from 0
    "clip": (lambda t: t.clip(-0.35, 0.45), lambda a: np.clip(a, -0.35, 0.45), distinct),
    "clip low": (lambda t: t.clip(low=-0.35), lambda a: np.clip(a, -0.35, None), distinct),
    "clip high": (lambda t: ops.clip(t, high=0.45), lambda a: np.clip(a, None, 0.45), distinct),
}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary(xp, name):
    op, reference, make = UNARY[name]
    a = make(xp, 3, 4)
    assert_close(op(tc.Tensor(a)), reference(to_numpy(a)))
    check_grad(op, a)


def test_functional_names_match_methods(xp):
    a = 0.5 + rand(xp, 3, 4, low=0, high=1)
    t = tc.Tensor(a)
    for name in ["exp", "log", "sqrt", "abs"]:
        assert_close(getattr(ops, name)(t), getattr(t, name)().data)
    assert_close(ops.sum(t, axis=1), t.sum(axis=1).data)
    assert_close(ops.max(t, axis=0, keepdims=True), t.max(axis=0, keepdims=True).data)
    assert_close(ops.transpose(t), t.T.data)
