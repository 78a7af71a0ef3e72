"""SGD and Adam: PyTorch's update rules step by step and convergence on a quadratic; L-BFGS-B:
the minimum of a Rosenbrock function of a tensor, bounds, callbacks, dtype and device."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import ops, optim
from tinyconv.engine.backend import to_numpy

TARGET = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
CURVATURE = np.array([[1.0, 2.0, 0.5], [1.5, 1.0, 3.0]])


def quadratic(p):
    """sum(c * (p - t)^2): minimum at t, gradient 2 c (p - t)."""
    xp = p.xp
    return (tc.Tensor(xp.asarray(CURVATURE)) * (p - tc.Tensor(xp.asarray(TARGET))) ** 2).sum()


def quadratic_grad(p):
    return 2 * CURVATURE * (p - TARGET)


def run(optimizer_class, xp, steps, **kwargs):
    """Parameters after `steps` optimizer steps on the quadratic, from zeros (as numpy)."""
    p = tc.Tensor(xp.zeros((2, 3)), requires_grad=True)
    optimizer = optimizer_class([p], **kwargs)
    for _ in range(steps):
        optimizer.zero_grad()
        quadratic(p).backward()
        optimizer.step()
    return to_numpy(p.data)


def reference_sgd(steps, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
    p, buf = np.zeros((2, 3)), None
    for _ in range(steps):
        g = quadratic_grad(p) + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def reference_adam(steps, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    p, m, v = np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3))
    for t in range(1, steps + 1):
        g = quadratic_grad(p) + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


SGD_SETTINGS = [dict(lr=0.1), dict(lr=0.05, momentum=0.9),
                dict(lr=0.05, momentum=0.9, nesterov=True),
                dict(lr=0.1, momentum=0.5, weight_decay=0.1)]
ADAM_SETTINGS = [dict(lr=0.1), dict(lr=0.05, betas=(0.5, 0.9)), dict(lr=0.1, weight_decay=0.1)]


@pytest.mark.parametrize("settings", SGD_SETTINGS, ids=str)
def test_sgd_follows_the_pytorch_rule(xp, settings):
    np.testing.assert_allclose(run(optim.SGD, xp, 3, **settings), reference_sgd(3, **settings))


@pytest.mark.parametrize("settings", ADAM_SETTINGS, ids=str)
def test_adam_follows_the_pytorch_rule(xp, settings):
    np.testing.assert_allclose(run(optim.Adam, xp, 3, **settings), reference_adam(3, **settings))


@pytest.mark.parametrize("optimizer_class, settings", [
    (optim.SGD, dict(lr=0.1)), (optim.SGD, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)), (optim.Adam, dict(lr=0.1))])
def test_optimizers_minimize_a_quadratic(xp, optimizer_class, settings):
    np.testing.assert_allclose(run(optimizer_class, xp, 300, **settings), TARGET, atol=1e-3)


def test_adam_first_step_has_size_lr(xp):
    p = run(optim.Adam, xp, 1, lr=0.01)
    np.testing.assert_allclose(np.abs(p)[TARGET != 0], 0.01, rtol=1e-5)


def test_step_updates_in_place_and_leaves_grad_alone(xp):
    p = tc.Tensor(xp.zeros((2, 3), dtype=xp.float32), requires_grad=True)
    untouched = tc.Tensor(xp.ones(2, dtype=xp.float32), requires_grad=True)  # gets no gradient
    data = p.data
    optimizer = optim.Adam([p, untouched], lr=0.1, weight_decay=0.1)
    loss = (p * 2.0).sum()
    loss.backward()
    grad = p.grad.copy()
    optimizer.step()
    assert p.data is data and p.dtype == np.float32
    np.testing.assert_array_equal(to_numpy(p.grad), to_numpy(grad))
    np.testing.assert_array_equal(to_numpy(untouched.data), [1, 1])
    optimizer.zero_grad()
    assert p.grad is None


def test_training_a_tiny_classifier_reduces_the_loss(xp):
    rng = np.random.default_rng(0)
    x = tc.Tensor(xp.asarray(rng.standard_normal((32, 4))))
    labels = (to_numpy(x.data)[:, 0] > 0).astype(np.int64)
    w = tc.Tensor(xp.asarray(rng.standard_normal((4, 2)) * 0.1), requires_grad=True)
    optimizer = optim.SGD([w], lr=0.5, momentum=0.9)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = ops.cross_entropy(x @ w, labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_optimizer_errors():
    p = tc.Tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="parameter 1 is a ndarray, not a Tensor"):
        optim.Adam([p, np.zeros(2)])
    with pytest.raises(ValueError, match="learning rate.*-1"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="nesterov.*momentum"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"betas.*\(0.9, 1.0\)"):
        optim.Adam([p], betas=(0.9, 1.0))


# ----- L-BFGS

def rosenbrock(x):
    """sum over columns of (1 - a)^2 + 100 (b - a^2)^2 with a = x[0], b = x[1]: minimum at ones."""
    a, b = x[0], x[1]
    return ((1 - a) ** 2 + 100 * (b - a * a) ** 2).sum()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lbfgs_finds_the_rosenbrock_minimum(xp, dtype):
    x = tc.Tensor(xp.asarray([[-1.2, 0.0, 2.0], [1.0, -1.0, 2.0]], dtype=dtype))
    result = optim.lbfgs(rosenbrock, x, max_iter=200)
    assert result.success
    assert x.dtype == dtype and x.xp is xp
    np.testing.assert_allclose(to_numpy(x.data), np.ones((2, 3)), atol=1e-3)
    np.testing.assert_allclose(to_numpy(x.data).reshape(-1), result.x, atol=1e-6)
    assert x.grad is None and not x.requires_grad


def test_lbfgs_respects_bounds(xp):
    x = tc.Tensor(xp.zeros((2, 3)))
    optim.lbfgs(rosenbrock, x, max_iter=200, bounds=(-2.0, 0.5))
    # with a, b <= 0.5 the constrained minimum is a = 0.5, b = a^2 = 0.25
    np.testing.assert_allclose(to_numpy(x.data), [[0.5] * 3, [0.25] * 3], atol=1e-4)


def test_lbfgs_bounds_per_element_and_one_sided(xp):
    x = tc.Tensor(xp.full((2, 3), 0.1))
    high = np.array([[0.5, 2.0, 2.0], [2.0, 2.0, 2.0]])
    optim.lbfgs(rosenbrock, x, max_iter=200, bounds=(None, high))
    values = to_numpy(x.data)
    assert (values <= high + 1e-12).all()
    np.testing.assert_allclose(values[:, 0], [0.5, 0.25], atol=1e-4)
    np.testing.assert_allclose(values[:, 1:], np.ones((2, 2)), atol=1e-3)


def test_lbfgs_callback_sees_each_iterate_and_can_stop(xp):
    x = tc.Tensor(xp.zeros((2, 3)))
    seen = []

    def callback(iteration, loss):
        seen.append((iteration, loss, float(rosenbrock(x).item())))
        if iteration == 4:
            raise StopIteration

    result = optim.lbfgs(rosenbrock, x, max_iter=100, callback=callback)
    assert [s[0] for s in seen] == [1, 2, 3, 4] and result.nit == 4
    for _, loss, recomputed in seen:
        assert loss == pytest.approx(recomputed)  # x.data held that iterate
    assert seen[-1][1] < seen[0][1] < 3.0


def test_lbfgs_errors(xp):
    with pytest.raises(TypeError, match="optimizes a Tensor, got ndarray"):
        optim.lbfgs(rosenbrock, np.zeros((2, 3)))
    x = tc.Tensor(xp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"scalar Tensor, got shape \(2, 3\)"):
        optim.lbfgs(lambda t: t * 2.0, x)
    with pytest.raises(ValueError, match="lower bound exceeds"):
        optim.lbfgs(rosenbrock, x, bounds=(1.0, 0.0))
    assert not x.requires_grad


# ----- single steps computed by hand (PyTorch's formulas written out, no reference loop)

def _steps(optimizer, p, grads):
    """Apply optimizer steps with the given gradients (as arrays) and return p after each."""
    seen = []
    for grad in grads:
        p.grad = p.xp.asarray(grad)
        optimizer.step()
        seen.append(to_numpy(p.data).copy())
    return seen


def test_sgd_nesterov_with_weight_decay_by_hand(xp):
    p = tc.Tensor(xp.asarray([1.0, -2.0]), requires_grad=True)
    optimizer = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
    first, second = _steps(optimizer, p, [np.array([0.5, 0.5])] * 2)
    # step 1: g = 0.5 + 0.01 p = (0.51, 0.48); buf = g; d = g + 0.9 buf = (0.969, 0.912)
    np.testing.assert_allclose(first, [1 - 0.0969, -2 - 0.0912], rtol=1e-12)
    # step 2: g = 0.5 + 0.01 * (0.9031, -2.0912) = (0.509031, 0.479088);
    # buf = 0.9 * (0.51, 0.48) + g = (0.968031, 0.911088); d = g + 0.9 buf = (1.3802589, 1.2990672)
    np.testing.assert_allclose(second, [0.9031 - 0.13802589, -2.0912 - 0.12990672], rtol=1e-12)


def test_sgd_plain_momentum_with_weight_decay_by_hand(xp):
    p = tc.Tensor(xp.asarray([2.0]), requires_grad=True)
    optimizer = optim.SGD([p], lr=0.5, momentum=0.5, weight_decay=0.1)
    first, second = _steps(optimizer, p, [np.array([1.0]), np.array([-1.0])])
    # step 1: g = 1 + 0.2 = 1.2; buf = 1.2; p = 2 - 0.6 = 1.4
    np.testing.assert_allclose(first, [1.4], rtol=1e-12)
    # step 2: g = -1 + 0.14 = -0.86; buf = 0.6 - 0.86 = -0.26; p = 1.4 + 0.13 = 1.53
    np.testing.assert_allclose(second, [1.53], rtol=1e-12)


def test_adamw_decays_the_weights_outside_the_moments_by_hand(xp):
    p = tc.Tensor(xp.asarray([1.0]), requires_grad=True)
    optimizer = optim.AdamW([p], lr=0.1, weight_decay=0.1)
    first, second = _steps(optimizer, p, [np.array([0.5]), np.array([-1.0])])
    # step 1: p = 1 * (1 - 0.1 * 0.1) = 0.99; m = 0.05, v = 0.00025; m_hat = 0.5, v_hat = 0.25;
    # p = 0.99 - 0.1 * 0.5 / (0.5 + 1e-8)
    np.testing.assert_allclose(first, [0.890000002], rtol=1e-12)
    # step 2: p = 0.890000002 * 0.99; m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 =
    # 0.00124975; m_hat = -0.055 / 0.19, v_hat = 0.00124975 / (1 - 0.999 ** 2)
    m_hat, v_hat = -0.055 / 0.19, 0.00124975 / (1 - 0.999 ** 2)
    np.testing.assert_allclose(second, [0.890000002 * 0.99 - 0.1 * m_hat / (v_hat ** 0.5 + 1e-8)],
                               rtol=1e-12)
    np.testing.assert_allclose(second, [0.9177103542205653], rtol=1e-12)


def test_adamw_differs_from_adam_with_l2(xp):
    grads = [np.array([0.5]), np.array([-1.0])]
    decoupled = tc.Tensor(xp.asarray([1.0]), requires_grad=True)
    coupled = tc.Tensor(xp.asarray([1.0]), requires_grad=True)
    a = _steps(optim.AdamW([decoupled], lr=0.1, weight_decay=0.1), decoupled, grads)[-1]
    b = _steps(optim.Adam([coupled], lr=0.1, weight_decay=0.1), coupled, grads)[-1]
    assert abs(a[0] - b[0]) > 1e-3
    # without decay both are the same Adam
    plain = [tc.Tensor(xp.asarray([1.0]), requires_grad=True) for _ in range(2)]
    np.testing.assert_array_equal(
        _steps(optim.AdamW([plain[0]], lr=0.1, weight_decay=0.0), plain[0], grads)[-1],
        _steps(optim.Adam([plain[1]], lr=0.1), plain[1], grads)[-1])
