"""The CPU BLAS calls: in-place GEMM with accumulation and batches of products."""
import numpy as np
import pytest

from tinyconv.kernels.cpu import blas as blas_cpu


def assert_within_gemm_error(out, a, b, c=None):
    """out equals a @ b (+ c) within the rounding bound that holds for any summation order,
    blocking or FMA use, so for every BLAS kernel: |error| <= gamma_n (|a| @ |b| + |c|) with n
    the terms per sum and gamma_n = n u / (1 - n u), u = eps / 2 of out's dtype; twice that when
    the float64 reference rounds as much as out does."""
    wide = [np.asarray(v, np.float64) for v in (a, b)]
    expected, magnitude = wide[0] @ wide[1], np.abs(wide[0]) @ np.abs(wide[1])
    if c is not None:
        expected, magnitude = expected + c, magnitude + np.abs(c)
    n = a.shape[-1] + (c is not None)
    nu = n * np.finfo(out.dtype).eps / 2
    bound = nu / (1 - nu) * magnitude * (2 if out.dtype == np.float64 else 1)
    assert (np.abs(out - expected) <= bound).all(), np.abs(out - expected).max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_accumulates_in_place(dtype):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal((5, 3)).astype(dtype)
    out = rng.standard_normal((7, 3)).astype(dtype)
    before = out.copy()
    result = blas_cpu.gemm(a, b.T.copy().T, out=out, beta=1.0)  # b as a Fortran-ordered view
    assert result is out
    assert_within_gemm_error(out, a, b, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 5, 3), (64, 48, 40)])  # under / over CBLAS_MIN_MNK
@pytest.mark.parametrize("a_order, b_order", [("C", "C"), ("F", "C"), ("C", "F"), ("F", "F"),
                                              ("strided", "C"), ("C", "rows")])
def test_gemm_takes_every_operand_layout(dtype, shape, a_order, b_order):
    """Row-major, transposed (Fortran-ordered), non-unit-stride (copied) operands and row views
    of a wider array give a @ b + beta * out on both of gemm's paths (ctypes cblas, scipy)."""
    m, k, n = shape
    assert (m * k * n >= blas_cpu.CBLAS_MIN_MNK) == (m > 10)
    rng = np.random.default_rng(1)

    def operand(rows, cols, order):
        if order == "strided":  # every other column of a wider array: no unit stride
            return rng.standard_normal((rows, 2 * cols)).astype(dtype)[:, ::2]
        if order == "rows":     # the first columns of a wider row-major array
            return rng.standard_normal((rows, cols + 3)).astype(dtype)[:, :cols]
        return np.asarray(rng.standard_normal((rows, cols)), dtype=dtype, order=order)
    a, b = operand(m, k, a_order), operand(k, n, b_order)
    out = rng.standard_normal((m, n)).astype(dtype)
    before = out.copy()
    assert blas_cpu.gemm(a, b, out=out, beta=0.5) is out
    assert_within_gemm_error(out, a, b, 0.5 * before)
    assert_within_gemm_error(blas_cpu.gemm(a, b), a, b)


def test_gemms_in_threads_give_each_its_own_product():
    """gemm releases the GIL (ctypes): products running at once in threads stay apart."""
    from concurrent.futures import ThreadPoolExecutor
    rng = np.random.default_rng(2)
    pairs = [(rng.standard_normal((96, 80)).astype(np.float32),
              rng.standard_normal((80, 72)).astype(np.float32)) for _ in range(8)]
    with blas_cpu.single_threaded(), ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda ab: blas_cpu.gemm(*ab), pairs * 4))
    for (a, b), out in zip(pairs * 4, results):
        assert_within_gemm_error(out, a, b)


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
    assert_within_gemm_error(out, a, b)
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
    assert_within_gemm_error(out, a, b[order])
