"""The CPU kernels' prepared weights (tinyconv/kernels/cpu/conv.py, prepare_weight): kept for
read-only arrays that own their memory (folded batch-norm weights), made anew for writable ones,
dropped with their array; and the Winograd products run in parts over the cores giving the same
convolution as one batched call."""
import gc

import numpy as np
import pytest

import tinyconv as tc
from tinyconv.kernels.cpu import conv as conv_cpu, parallel as cpu_parallel
from tinyconv.kernels.cpu import winograd as winograd_cpu
from tinyconv.models import Model, layers as L
from tinyconv.models.preprocessing import CIFAR10
from tinyconv.ops import conv

GEOM = conv.conv_geometry((1, 8, 10, 10), (6, 8, 3, 3), 1, 1, 1, 1)


def _weight(writeable):
    w = np.random.default_rng(0).standard_normal((6, 8, 3, 3)).astype(np.float32)
    w.flags.writeable = writeable
    return w


@pytest.mark.parametrize("name", ["im2col", "shifted", "winograd2", "winograd4"])
def test_read_only_weights_are_prepared_once(name):
    w = _weight(False)
    first, again = (conv_cpu.prepare_weight(w, GEOM, name) for _ in range(2))
    layout = {"im2col": "matrix", "shifted": "taps"}.get(name, "winograd")
    assert getattr(again, layout) is getattr(first, layout)
    if name.startswith("winograd"):  # the input gradient's weights, kept too
        assert again.flipped() is first.flipped()


def test_writable_weights_and_views_are_prepared_on_every_call():
    w = _weight(True)
    assert conv_cpu.prepare_weight(w, GEOM, "shifted").taps is not \
        conv_cpu.prepare_weight(w, GEOM, "shifted").taps
    view = _weight(True)[:, :]  # read-only view of memory that may still change
    view.flags.writeable = False
    assert conv_cpu.prepare_weight(view, GEOM, "shifted").taps is not \
        conv_cpu.prepare_weight(view, GEOM, "shifted").taps


def test_prepared_weights_go_with_their_array():
    w = _weight(False)
    conv_cpu.prepare_weight(w, GEOM, "shifted")
    conv_cpu.prepare_weight(w, GEOM, "winograd4").flipped()
    key = id(w)
    assert key in conv_cpu._prepared
    del w
    gc.collect()
    assert key not in conv_cpu._prepared


def test_a_folded_network_follows_its_weights_through_the_cache():
    """Folded weights are read-only and replaced when the weights change, so the cached
    layouts never go stale (an in-place update, then weights_changed, as an optimizer step)."""
    rows = [L.Conv2d("c1", 3, 16, 3, padding=1), L.BatchNorm2d("b1", 16), L.ReLU("r1"),
            L.Conv2d("c2", 16, 16, 3, padding=1), L.BatchNorm2d("b2", 16),
            L.GlobalAvgPool("pool"), L.Linear("fc", 16, 3)]
    m = Model("cache_test", rows, CIFAR10, dtype="float32").init_weights(0).eval()
    x = tc.Tensor(np.random.default_rng(1).standard_normal((1, 3, 12, 12)).astype(np.float32))
    first = m(x).numpy()
    np.testing.assert_array_equal(m(x).numpy(), first)
    assert not m._folds._entries["b2"][1]["weight"].data.flags.writeable
    m.params["c2.weight"].data *= 2  # in place
    m.weights_changed()
    reference = Model("cache_test", rows, CIFAR10, dtype="float32")
    reference.load_state_dict(m.state_dict())
    expected = reference.eval()(x).numpy()
    np.testing.assert_allclose(m(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(expected, first)


@pytest.mark.parametrize("m", [2, 4])
def test_winograd_products_in_parts_match_one_batched_call(m, monkeypatch):
    """Products below GEMM_BATCH_MIN_MNK run in parts over two threads, each on one core."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 16, 9, 11)).astype(np.float32)
    w = rng.standard_normal((12, 16, 3, 3)).astype(np.float32)
    tile = winograd_cpu.TILES[m]
    u = winograd_cpu.transform_weights(w, tile).transpose(0, 2, 1)
    monkeypatch.setattr(cpu_parallel, "WORKERS", 1)
    one_call = winograd_cpu.conv3x3(x, u, (1, 1), 12, tile)
    monkeypatch.setattr(cpu_parallel, "WORKERS", 2)
    monkeypatch.setattr(cpu_parallel, "MIN_ELEMENTS_PER_PART", 1)
    calls = []
    monkeypatch.setattr(winograd_cpu.blas_cpu, "for_each_part",  # blas_cpu.over_parts' split
                        lambda job, *args: calls.append(args) or cpu_parallel.for_each_part(
                            job, *args))
    in_parts = winograd_cpu.conv3x3(x, u, (1, 1), 12, tile)
    assert any(args[0] == tile.a * tile.a for args in calls)  # the products' parts
    np.testing.assert_allclose(in_parts, one_call, rtol=1e-6, atol=1e-6)
