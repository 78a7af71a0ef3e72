"""upsample_nearest: the pixels of PyTorch's nearest interpolation, checked against a naive loop."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import ops
from tinyconv.engine.backend import to_numpy
from tinyconv.engine.testing import check_grad


def rand(xp, *shape, seed=0):
    return xp.asarray(np.random.default_rng(seed).uniform(-1, 1, shape))


def naive_upsample_nearest(x, out_h, out_w, scale_h, scale_w):
    """Output pixel (i, j) copies input (min(floor(i * scale_h), H - 1), ...), float32 scales as
    PyTorch computes them."""
    n, c, h, w = x.shape
    out = np.empty((n, c, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            si = min(int(np.floor(np.float32(i) * np.float32(scale_h))), h - 1)
            sj = min(int(np.floor(np.float32(j) * np.float32(scale_w))), w - 1)
            out[:, :, i, j] = x[:, :, si, sj]
    return out


CASES = [  # (keyword arguments, output size from a (3, 4) input, source scale per axis)
    ({"scale_factor": 2}, (6, 8), (0.5, 0.5)),
    ({"scale_factor": (3, 1)}, (9, 4), (1 / 3, 1.0)),
    ({"scale_factor": 1.5}, (4, 6), (1 / 1.5, 1 / 1.5)),
    ({"scale_factor": 0.5}, (1, 2), (2.0, 2.0)),
    ({"size": (7, 9)}, (7, 9), (3 / 7, 4 / 9)),
    ({"size": 6}, (6, 6), (3 / 6, 4 / 6)),
    ({"size": (2, 3)}, (2, 3), (3 / 2, 4 / 3)),
]


@pytest.mark.parametrize("kwargs, out_size, scales", CASES, ids=[str(c[0]) for c in CASES])
def test_upsample_nearest(xp, kwargs, out_size, scales):
    x = rand(xp, 2, 3, 3, 4)
    out = ops.upsample_nearest(tc.Tensor(x), **kwargs)
    assert out.shape == (2, 3) + out_size
    expected = naive_upsample_nearest(to_numpy(x), *out_size, *scales)
    np.testing.assert_array_equal(to_numpy(out.data), expected)
    check_grad(lambda t: ops.upsample_nearest(t, **kwargs), x[:1, :2])


def test_upsample_nearest_gradient_sums_each_block(xp):
    x = tc.Tensor(rand(xp, 1, 1, 2, 2), requires_grad=True)
    ops.upsample_nearest(x, scale_factor=2).backward(xp.arange(16.0).reshape(1, 1, 4, 4))
    expected = [[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]]
    np.testing.assert_array_equal(to_numpy(x.grad)[0, 0], expected)


def test_upsample_nearest_keeps_float32(xp):
    x = tc.Tensor(xp.ones((1, 2, 3, 3), dtype=xp.float32))
    assert ops.upsample_nearest(x, scale_factor=2).dtype == np.float32
    assert ops.upsample_nearest(x, size=(5, 4)).dtype == np.float32


def test_upsample_nearest_errors(xp):
    x = tc.Tensor(rand(xp, 1, 2, 3, 3))
    with pytest.raises(ValueError, match="exactly one of scale_factor and size"):
        ops.upsample_nearest(x)
    with pytest.raises(ValueError, match="exactly one of scale_factor and size"):
        ops.upsample_nearest(x, scale_factor=2, size=6)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(3, 3\)"):
        ops.upsample_nearest(tc.Tensor(rand(xp, 3, 3)), scale_factor=2)
    with pytest.raises(ValueError, match="positive.*-2"):
        ops.upsample_nearest(x, scale_factor=-2)
    with pytest.raises(ValueError, match=r"\(height, width\) pair.*\(1, 2, 3\)"):
        ops.upsample_nearest(x, size=(1, 2, 3))
    with pytest.raises(ValueError, match="empty"):
        ops.upsample_nearest(x, scale_factor=0.2)
