"""The CPU BLAS calls: in-place GEMM with accumulation and batches of products."""
import numpy as np
import pytest

from tinyconv.ops import blas_cpu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_accumulates_in_place(dtype):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal((5, 3)).astype(dtype)
    out = rng.standard_normal((7, 3)).astype(dtype)
    expected = a.astype(np.float64) @ b + out
    result = blas_cpu.gemm(a, b.T.copy().T, out=out, beta=1.0)  # b as a Fortran-ordered view
    assert result is out
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def _operands(rng, count, m, k, n, dtype, b_transposed):
    a = rng.standard_normal((count, m, k)).astype(dtype)
    if b_transposed:  # (K, N) views of (N, K) memory, as Winograd's forward weights are
        b = rng.standard_normal((count, n, k)).astype(dtype).transpose(0, 2, 1)
    else:
        b = rng.standard_normal((count, k, n)).astype(dtype)
    return a, b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("b_transposed", [False, True])
@pytest.mark.parametrize("shape", [(3, 5, 4), (40, 256, 512)])  # under / over GEMM_BATCH_MIN_MNK
def test_gemm_batch_matches_one_product_at_a_time(dtype, b_transposed, shape, monkeypatch):
    calls = []
    for kind, function in list(blas_cpu._GEMM_BATCH.items()):
        def counted(*args, function=function):
            calls.append(1)
            return function(*args)
        monkeypatch.setitem(blas_cpu._GEMM_BATCH, kind, counted)
    rng = np.random.default_rng(1)
    m, k, n = shape
    a, b = _operands(rng, 6, m, k, n, dtype, b_transposed)
    out = np.full((6, m, n), np.nan, dtype=dtype)
    blas_cpu.gemm_batch(list(a), list(b), list(out))
    expected = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(out, expected, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-3 if dtype == np.float32 else 1e-10)
    large = m * k * n >= blas_cpu.GEMM_BATCH_MIN_MNK
    # one batched call for large products where this BLAS has one; none for small products
    assert len(calls) == (1 if large and blas_cpu._GEMM_BATCH else 0)


def test_gemm_batch_takes_a_list_of_row_views_of_one_array():
    """Operands that are rows of one array in a permuted order (the flipped Winograd weights)."""
    rng = np.random.default_rng(2)
    a, b = _operands(rng, 4, 64, 256, 300, np.float32, False)
    order = [3, 1, 2, 0]
    out = np.empty((4, 64, 300), np.float32)
    blas_cpu.gemm_batch(list(a), [b[i] for i in order], list(out))
    np.testing.assert_allclose(out, a @ b[order], rtol=1e-4, atol=1e-3)
