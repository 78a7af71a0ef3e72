"""The autograd core: accumulation, deep graphs, seeds, retain_grad, no_grad, retain_graph, and the
errors for bad input (shapes, dtypes, devices, non-float data)."""
import time

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import ops
from tinyconv.engine.backend import to_numpy


def rand(xp, *shape, seed=0):
    return xp.asarray(np.random.default_rng(seed).uniform(-1, 1, shape))


def assert_close(array, expected):
    np.testing.assert_allclose(to_numpy(array), expected, rtol=1e-10, atol=1e-12)


def test_diamond_graph_accumulates(xp):
    x = tc.Tensor(rand(xp, 3), requires_grad=True)
    a = x * 3.0
    b = x * x
    (a + b).sum().backward()  # d/dx (3x + x^2) = 3 + 2x, both branches reach x
    assert_close(x.grad, 3 + 2 * to_numpy(x.data))


def test_same_tensor_twice_in_one_op(xp):
    x = tc.Tensor(rand(xp, 4), requires_grad=True)
    (x * x).sum().backward()
    assert_close(x.grad, 2 * to_numpy(x.data))


def test_shared_intermediate_feeds_two_consumers(xp):
    x = tc.Tensor(rand(xp, 2, 3), requires_grad=True)
    h = ops.tanh(x)
    out = (h * 2.0).sum() + (h ** 2).sum()  # h is reached twice before its own backward
    out.backward()
    t = np.tanh(to_numpy(x.data))
    assert_close(x.grad, (2 + 2 * t) * (1 - t * t))


def test_deep_chain_has_no_recursion_limit(xp):
    x = tc.Tensor(xp.ones(2), requires_grad=True)
    y = x
    start = time.perf_counter()
    for _ in range(20000):
        y = y * 1.00001
    y.sum().backward()
    assert time.perf_counter() - start < 10
    assert_close(x.grad, np.full(2, 1.00001 ** 20000))


def test_seed_gradient_for_non_scalar(xp):
    x = tc.Tensor(rand(xp, 2, 3), requires_grad=True)
    seed = rand(xp, 2, 3, seed=1)
    (x * 4.0).backward(seed)
    assert_close(x.grad, 4 * to_numpy(seed))


def test_non_scalar_backward_without_seed_is_an_error(xp):
    y = tc.Tensor(rand(xp, 2, 3), requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match=r"one-element tensor.*\(2, 3\).*grad="):
        y.backward()


def test_seed_of_the_wrong_shape_is_an_error(xp):
    y = tc.Tensor(rand(xp, 2, 3), requires_grad=True) * 2.0
    with pytest.raises(ValueError, match=r"seed gradient shape \(3, 2\).*\(2, 3\)"):
        y.backward(xp.ones((3, 2)))


def test_backward_on_a_tensor_without_grad_is_an_error(xp):
    with pytest.raises(RuntimeError, match="does not require grad"):
        (tc.Tensor(rand(xp, 3)) * 2.0).sum().backward()


def test_retain_grad_keeps_an_intermediate_gradient(xp):
    x = tc.Tensor(rand(xp, 3), requires_grad=True)
    h = (x * 2.0).retain_grad()
    other = x * 3.0  # an intermediate without retain_grad keeps no gradient
    (h * h + other).sum().backward()
    assert_close(h.grad, 2 * to_numpy(h.data))
    assert other.grad is None
    assert_close(x.grad, 2 * 2 * to_numpy(h.data) + 3)


def test_only_leaves_that_require_grad_get_gradients(xp):
    w = tc.Tensor(rand(xp, 3, 2), requires_grad=True)  # a parameter
    x = tc.Tensor(rand(xp, 4, 3, seed=1))  # data
    (x @ w).sum().backward()
    assert x.grad is None
    assert_close(w.grad, to_numpy(x.data).sum(axis=0)[:, None] * np.ones((3, 2)))


def test_gradients_accumulate_across_backward_calls(xp):
    x = tc.Tensor(rand(xp, 3), requires_grad=True)
    (x * 2.0).sum().backward()
    (x * 5.0).sum().backward()
    assert_close(x.grad, np.full(3, 7.0))
    x.zero_grad()
    assert x.grad is None


def test_no_grad_records_nothing(xp):
    x = tc.Tensor(rand(xp, 3), requires_grad=True)
    with tc.no_grad():
        assert not tc.is_grad_enabled()
        y = ops.relu(x * 2.0 + 1.0)
        with tc.no_grad():
            pass
        assert not tc.is_grad_enabled()  # an inner block does not re-enable
    assert tc.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_is_restored_after_an_exception():
    with pytest.raises(KeyError):
        with tc.no_grad():
            raise KeyError("inside")
    assert tc.is_grad_enabled()


def test_backward_twice_needs_retain_graph(xp):
    x = tc.Tensor(rand(xp, 3), requires_grad=True)
    y = (ops.tanh(x) * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_lets_gradients_accumulate(xp):
    x = tc.Tensor(rand(xp, 3), requires_grad=True)
    y = (ops.tanh(x) * 2.0).sum()
    y.backward(retain_graph=True)
    first = to_numpy(x.grad).copy()
    y.backward()
    assert_close(x.grad, 2 * first)


def test_float32_graph_gives_float32_gradients(xp):
    x = tc.Tensor(xp.ones((2, 3), dtype=xp.float32), requires_grad=True)
    ops.log_softmax(ops.relu(x * 2.0 - 0.5) @ tc.Tensor(xp.ones((3, 4), dtype=xp.float32))) \
        .max(axis=1).mean().backward()
    assert x.grad.dtype == np.float32


def test_mixed_dtypes_are_an_error(xp):
    a = tc.Tensor(xp.ones(3, dtype=xp.float32))
    b = tc.Tensor(xp.ones(3, dtype=xp.float64))
    with pytest.raises(TypeError, match=r"different dtypes \(float32 \(3,\), float64 \(3,\)\)"):
        a + b


def test_non_float_data_is_an_error(xp):
    with pytest.raises(TypeError, match="floating-point.*int"):
        tc.Tensor(xp.arange(3))


def test_shape_mismatch_is_an_error(xp):
    with pytest.raises(ValueError, match=r"\(2, ?3\).*\(2,\)"):  # numpy: (2,3), CuPy: (2, 3)
        tc.Tensor(rand(xp, 2, 3)) * tc.Tensor(rand(xp, 2))


def test_tensors_on_different_devices_are_an_error(xp):
    if xp is np:
        pytest.skip("mixes a CuPy tensor with a numpy one: needs the GPU run")
    gpu = tc.Tensor(xp.ones(3))
    cpu = tc.Tensor(np.ones(3))
    with pytest.raises(RuntimeError, match=r"different devices \(gpu \(3,\), cpu \(3,\)\)"):
        gpu + cpu
    assert (gpu + cpu.to("gpu")).device == "gpu"


class Twice(tc.Function):
    """A user-defined op: forward doubles, backward returns a wrongly shaped gradient on demand."""
    name = "twice"

    def forward(self, a, broken=False):
        self.broken = broken
        return 2 * a

    def backward(self, dout):
        return 2 * (dout[:1] if self.broken else dout)


def test_a_custom_function_plugs_into_the_graph(xp):
    x = tc.Tensor(rand(xp, 3), requires_grad=True)
    Twice.apply(x * 3.0).sum().backward()
    assert_close(x.grad, np.full(3, 6.0))


def test_a_gradient_of_the_wrong_shape_is_reported(xp):
    x = tc.Tensor(rand(xp, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Twice.backward.*shape \(1,\).*shape \(3,\)"):
        Twice.apply(x, broken=True).sum().backward()


def test_backward_skips_inputs_that_need_no_gradient(xp):
    a = tc.Tensor(rand(xp, 2, 3), requires_grad=True)
    b = tc.Tensor(rand(xp, 3, 4, seed=1))
    out = a @ b
    grads = out._ctx.backward(xp.ones((2, 4)))
    assert grads[0] is not None and grads[1] is None


def test_astype_inside_a_graph_stays_differentiable(xp):
    x = tc.Tensor(rand(xp, 2, 3), requires_grad=True)
    y = (x * 2.0).astype(np.float32)  # a non-leaf: the cast is recorded
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float64
    assert_close(x.grad, np.full((2, 3), 2.0))


def test_sibling_leaves_do_not_share_gradient_arrays(xp):
    a = tc.Tensor(rand(xp, 3), requires_grad=True)
    b = tc.Tensor(rand(xp, 3, seed=1), requires_grad=True)
    (a + b).sum().backward()  # add's backward hands the same array to both inputs
    a.grad[0] = 5.0
    assert_close(b.grad, np.ones(3))


def test_broadcast_error_names_the_op_and_both_shapes(xp):
    a = tc.Tensor(rand(xp, 3, 4))
    with pytest.raises(ValueError, match=r"mul: shapes \(3, 4\) and \(2,\)"):
        a * tc.Tensor(rand(xp, 2))


def test_intermediate_tensors_are_freed_when_nothing_needs_them(xp):
    import weakref
    x = tc.Tensor(rand(xp, 100), requires_grad=True)
    hidden = x * 2.0
    alive = weakref.ref(hidden)
    y = ops.relu(hidden)  # relu saves its output, not its input: `hidden` is not needed
    del hidden
    assert alive() is None  # the graph holds Functions, not the activation
    y.sum().backward()
    assert_close(x.grad, 2.0 * (to_numpy(x.data) > 0))


def test_retain_grad_works_on_a_tensor_the_caller_still_holds(xp):
    x = tc.Tensor(rand(xp, 5), requires_grad=True)
    hidden = (x * 3.0).retain_grad()
    (hidden * hidden).sum().backward()
    assert_close(hidden.grad, 2 * to_numpy(hidden.data))
