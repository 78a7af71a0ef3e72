"""linear: forward against explicit loops, backward against check_grad, errors."""
import numpy as np
import pytest

from tinyconv import Tensor
from tinyconv.ops import linear
from tinyconv.engine.testing import check_grad


def naive_linear(x, w, b):
    y = np.zeros(x.shape[:-1] + (w.shape[0],))
    for row in np.ndindex(*x.shape[:-1]):
        for o in range(w.shape[0]):
            y[row + (o,)] = np.dot(x[row], w[o]) + (0 if b is None else b[o])
    return y


@pytest.mark.parametrize("x_shape, out", [((1, 7), 5), ((4, 7), 3), ((2, 3, 6), 4), ((1, 1), 1)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_loops_and_gradients(xp, x_shape, out, bias):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape), rng.standard_normal((out, x_shape[-1]))
    b = rng.standard_normal(out) if bias else None
    arrays = [xp.asarray(a) for a in (x, w) + ((b,) if bias else ())]
    got = linear(*[Tensor(a) for a in arrays]).numpy()
    np.testing.assert_allclose(got, naive_linear(x, w, b), atol=1e-12)
    check_grad(lambda *t: linear(*t), *arrays)


@pytest.mark.parametrize("rows", [1, 3])
def test_linear_float32(xp, rows):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((rows, 50)).astype(np.float32)
    w = rng.standard_normal((20, 50)).astype(np.float32)
    got = linear(Tensor(xp.asarray(x)), Tensor(xp.asarray(w)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), naive_linear(x, w, None), rtol=1e-4, atol=1e-4)


def test_linear_skips_weight_gradient_when_frozen():
    x = Tensor(np.ones((1, 3)), requires_grad=True)
    w = Tensor(np.ones((2, 3)))
    linear(x, w).sum().backward()
    np.testing.assert_array_equal(x.grad, [[2, 2, 2]])
    assert w.grad is None


def test_linear_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 5\).*\(3, 4\)"):
        linear(Tensor(np.zeros((2, 5))), Tensor(np.zeros((3, 4))))
    with pytest.raises(ValueError, match="bias shape"):
        linear(Tensor(np.zeros((2, 4))), Tensor(np.zeros((3, 4))), Tensor(np.zeros(4)))
