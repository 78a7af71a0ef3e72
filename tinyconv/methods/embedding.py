"""Maps of feature vectors to 2-D: PCA and t-SNE, in numpy and scipy.

t-SNE (van der Maaten & Hinton 2008) minimizes KL(P || Q) between input affinities P (Gaussian,
bandwidth per point set by the perplexity) and embedding affinities Q (Student-t). It has two
gradient engines:

- "exact": dense O(N^2) affinities and forces; the faster one below EXACT_MAX_POINTS points.
- "fast": P from the 3 * perplexity nearest neighbours only (a sparse matrix), so the attraction is
  a sum over kNN edges; the repulsion, a sum over all pairs, is computed as in FIt-SNE (Linderman et
  al. 2019): the point charges are spread onto a regular grid of interpolation nodes (3 Lagrange
  nodes per box of width <= 1), the kernel sums over the grid are FFT convolutions, and the
  potentials are interpolated back to the points. O(N) per iteration plus FFTs of the grid. Its
  final KL is a few percent above the exact method's (the interpolation error of FIt-SNE's default
  grid).

The optimizer is the usual one: early exaggeration 12 for 250 iterations with momentum 0.5, then
momentum 0.8; per-coordinate gains; learning rate max(N / 12, 200) (Belkina et al. 2019) for the
gradient written without its constant factor 4, as in bhtsne and FIt-SNE.
"""
import functools

import numpy as np
import scipy.fft
from scipy import sparse
from scipy.spatial import cKDTree

from ..progress import Progress

EXACT_MAX_POINTS = 500       # method="auto" uses the exact gradient below this many points
_NODES_PER_BOX = 3           # FIt-SNE's defaults: 3 Lagrange nodes per box of width <= 1,
_MIN_BOXES = 25              # and at least 25 boxes per axis (FIt-SNE: 50)


def pca(X, k=2):
    """Project the rows of X (N, D) on their first k principal axes -> (N, k) float64.

    Each axis is signed so that its largest-magnitude loading is positive (deterministic output).
    """
    X = _as_matrix(X, "pca")
    N, D = X.shape
    if not 1 <= k <= min(N, D):
        raise ValueError(f"pca needs 1 <= k <= min(N, D) = {min(N, D)}, got k={k} for X {X.shape}")
    Xc = X - X.mean(0)
    if D <= N:  # eigenvectors of the (D, D) scatter matrix are cheaper than an SVD of X
        _, vectors = np.linalg.eigh(Xc.T @ Xc)
        axes = vectors[:, ::-1][:, :k]  # (D, k), largest eigenvalue first
    else:
        axes = np.linalg.svd(Xc, full_matrices=False)[2][:k].T
    signs = np.sign(axes[np.abs(axes).argmax(0), np.arange(k)])
    return Xc @ (axes * signs)


def tsne(X, perplexity=30.0, n_components=2, method="auto", n_iter=1000, seed=0, verbose=False,
         init="pca", pca_dims=50, learning_rate=None, early_exaggeration=12.0,
         exaggeration_iters=250):
    """t-SNE embedding of the rows of X (N, D) -> (N, n_components) float64.

    method: "exact" (O(N^2)), "fast" (kNN affinities + FFT-interpolated repulsion, 2-D only) or
    "auto" (exact below EXACT_MAX_POINTS points). X is first reduced to `pca_dims` dimensions by PCA
    when it has more (None: never). init: "pca" (the PCA projection scaled to std 1e-4) or "random".
    learning_rate None means max(N / early_exaggeration, 200). verbose shows progress on stderr
    (tinyconv.progress) with the KL divergence every 50 iterations. The same seed gives the same
    result.
    """
    X = _as_matrix(X, "tsne")
    N = len(X)
    method = _tsne_method(N, perplexity, method, n_components, init)
    if pca_dims is not None and X.shape[1] > pca_dims:
        X = pca(X, min(pca_dims, N))
    if method == "exact":
        P = joint_probabilities(X, perplexity)
        gradient = _exact_gradient
    else:
        P = sparse_joint_probabilities(X, perplexity)
        gradient = _fast_gradient
    progress = Progress(f"t-SNE {method} of {N} points", n_iter, "iteration", 50) \
        if verbose else None
    rng = np.random.default_rng(seed)
    if init == "pca":
        Y = pca(X, n_components)
        Y = Y / (Y[:, 0].std() + 1e-300) * 1e-4
    else:
        Y = rng.normal(0.0, 1e-4, size=(N, n_components))
    if learning_rate is None:
        learning_rate = max(N / early_exaggeration, 200.0)
    phases = [(min(exaggeration_iters, n_iter), early_exaggeration, 0.5),
              (max(n_iter - exaggeration_iters, 0), 1.0, 0.8)]
    done = 0
    for steps, exaggeration, momentum in phases:
        update, gains = np.zeros_like(Y), np.ones_like(Y)
        for _ in range(steps):
            report = verbose and ((done + 1) % 50 == 0 or done + 1 == n_iter)
            grad, kl = gradient(P, Y, exaggeration, report)
            gains = np.where(np.sign(grad) != np.sign(update), gains + 0.2, gains * 0.8)
            np.maximum(gains, 0.01, out=gains)
            update = momentum * update - learning_rate * gains * grad
            Y = Y + update
            Y -= Y.mean(0)
            done += 1
            if report:
                progress.update(done, {"KL": kl})
    if progress:
        progress.close()
    return Y


def _tsne_method(N, perplexity, method, n_components, init):
    """"exact" or "fast", resolving "auto" for N points; ValueError for arguments tsne rejects."""
    if not 0 < perplexity < N - 1:
        raise ValueError(f"tsne needs 0 < perplexity < N - 1 = {N - 1}, got {perplexity}")
    if method == "auto":
        method = "exact" if N < EXACT_MAX_POINTS else "fast"
    if method not in ("exact", "fast"):
        raise ValueError(f"unknown t-SNE method {method!r}; choose 'auto', 'exact' or 'fast'")
    if method == "fast" and n_components != 2:
        raise ValueError(f"the fast t-SNE gradient is 2-D only, got n_components={n_components}; "
                         "use method='exact'")
    if init not in ("pca", "random"):
        raise ValueError(f"unknown t-SNE init {init!r}; choose 'pca' or 'random'")
    return method


def kl_divergence(X, Y, perplexity=30.0):
    """KL(P || Q) of an embedding Y (N, d) of X (N, D), with the exact P of that perplexity."""
    P = joint_probabilities(_as_matrix(X, "kl_divergence"), perplexity)
    return _exact_gradient(P, np.asarray(Y, dtype=np.float64), 1.0, True)[1]


def joint_probabilities(X, perplexity):
    """Dense symmetric t-SNE affinities of X (N, D) -> P (N, N), sum 1, zero diagonal."""
    N = len(X)
    sq = (X * X).sum(1)
    D2 = np.maximum(sq[:, None] - 2.0 * X @ X.T + sq[None, :], 0.0)
    off_diagonal = ~np.eye(N, dtype=bool)
    conditional = np.zeros((N, N))
    conditional[off_diagonal] = _conditional_probabilities(
        D2[off_diagonal].reshape(N, N - 1), perplexity).ravel()
    P = (conditional + conditional.T) / (2.0 * N)
    return np.maximum(P, 1e-12 * off_diagonal)


def sparse_joint_probabilities(X, perplexity):
    """kNN t-SNE affinities of X (N, D), 3 * perplexity neighbours each, symmetrized, sum 1.

    Returns the upper triangle of P as (rows, cols, values), each (n_edges,): every undirected
    kNN edge once, with p_ij = p_ji; the full P sums to 1.
    """
    N = len(X)
    k = min(N - 1, int(3 * perplexity))
    distances, neighbours = cKDTree(X).query(X, k=k + 1, workers=-1)
    distances, neighbours = distances[:, 1:], neighbours[:, 1:]  # (N, k), self dropped
    conditional = _conditional_probabilities(distances ** 2, perplexity)
    rows = np.repeat(np.arange(N), k)
    P = sparse.csr_matrix((conditional.ravel(), (rows, neighbours.ravel())), shape=(N, N))
    P = sparse.triu(P + P.T, k=1).tocoo()
    values = (P.data / (2.0 * P.data.sum())).astype(np.float32)
    return P.row.astype(np.int64), P.col.astype(np.int64), values


def _conditional_probabilities(D2, perplexity, tol=1e-5, max_iter=100):
    """p_{j|i} for squared distances D2 (N, K) to each point's candidates -> (N, K), rows sum to 1.

    The Gaussian precision beta_i of every row is found by bisection, all rows at once, so that the
    entropy of row i equals log(perplexity).
    """
    D2 = D2 - D2.min(1, keepdims=True)  # p does not change, and exp cannot underflow to all zeros
    target = np.log(perplexity)
    beta = 1.0 / np.maximum(D2.mean(1), 1e-300)
    lo, hi = np.zeros_like(beta), np.full_like(beta, np.inf)
    for _ in range(max_iter):
        P = np.exp(-D2 * beta[:, None])
        total = P.sum(1)
        entropy = np.log(total) + beta * (D2 * P).sum(1) / total
        too_flat = entropy > target  # entropy too high: narrow the Gaussian
        if np.all(np.abs(entropy - target) < tol):
            break
        lo = np.where(too_flat, beta, lo)
        hi = np.where(too_flat, hi, beta)
        beta = np.where(np.isinf(hi), beta * 2.0, (lo + hi) / 2.0)
    return P / total[:, None]


def _exact_gradient(P, Y, exaggeration, with_kl):
    """Gradient of KL(exaggeration * P || Q) / 4 at Y (N, d), O(N^2); and KL(P || Q) if asked."""
    sq = (Y * Y).sum(1)
    W = 1.0 / (1.0 + np.maximum(sq[:, None] - 2.0 * Y @ Y.T + sq[None, :], 0.0))  # (N, N)
    np.fill_diagonal(W, 0.0)
    Z = W.sum()
    PQ = (exaggeration * P - W / Z) * W
    grad = PQ.sum(1)[:, None] * Y - PQ @ Y
    kl = None
    if with_kl:
        positive = P > 0
        kl = float((P[positive] * np.log(P[positive] / np.maximum(W[positive] / Z, 1e-300))).sum())
    return grad, kl


def _fast_gradient(P, Y, exaggeration, with_kl):
    """Gradient of KL(exaggeration * P || Q) / 4 at Y (N, 2): sparse attraction, FFT repulsion."""
    rows, cols, p = P  # each undirected edge once, p_ij = p_ji
    N = len(Y)
    x, y = Y.astype(np.float32).T  # float32 halves the memory traffic of the per-edge work
    dx = x[rows] - x[cols]  # (n_edges,)
    dy = y[rows] - y[cols]
    w = 1.0 / (1.0 + dx * dx + dy * dy)
    pw = p * w
    fx, fy = pw * dx, pw * dy  # the pull on rows; cols get the opposite
    attraction = np.column_stack([
        np.bincount(rows, weights=fx, minlength=N) - np.bincount(cols, weights=fx, minlength=N),
        np.bincount(rows, weights=fy, minlength=N) - np.bincount(cols, weights=fy, minlength=N)])
    sums = _interpolated_kernel_sums(Y)
    Z = sums[:, 0].sum() - N  # the sums include the j = i terms, w_ii = 1
    repulsion = sums[:, 1:2] * Y - sums[:, 2:]  # sum_j w_ij^2 (y_i - y_j)
    kl = None
    if with_kl:
        kl = float(2.0 * (p * np.log(p / w)).sum(dtype=np.float64) + np.log(Z))
    return exaggeration * attraction - repulsion / Z, kl


def _interpolated_kernel_sums(Y):
    """FIt-SNE sums over all points j (j = i included) of w_ij = 1 / (1 + |y_i - y_j|^2), w_ij^2
    and w_ij^2 y_j, for Y (N, 2) -> (N, 4) columns [sum w, sum w^2, sum w^2 y_j (2 columns)].
    """
    lo = Y.min()
    extent = max(Y.max() - lo, 1e-12)
    box = _box_width(extent)
    n_boxes = int(np.ceil(extent / box * (1 + 1e-9)))
    p = _NODES_PER_BOX
    M = n_boxes * p                   # interpolation nodes per axis, spacing box / p
    nodes = (np.arange(p) + 0.5) / p  # node positions inside a box, in box units
    t = (Y - lo) / box                # (N, 2) in box units
    box_index = np.minimum(t.astype(np.int64), n_boxes - 1)
    t = t - box_index
    basis = np.ones(t.shape + (p,))   # (N, 2, p) Lagrange basis at each coordinate
    for j in range(p):
        for m in range(p):
            if m != j:
                basis[..., j] *= (t - nodes[m]) / (nodes[j] - nodes[m])
    node_x = box_index[:, 0, None] * p + np.arange(p)  # (N, p)
    node_y = box_index[:, 1, None] * p + np.arange(p)
    flat = (node_x[:, :, None] * M + node_y[:, None, :]).ravel()       # (N * p * p,)
    weight = (basis[:, 0, :, None] * basis[:, 1, None, :]).ravel()     # (N * p * p,)

    charges = np.column_stack([np.ones(len(Y)), Y])  # (N, 3): 1, y_x, y_y
    grid = np.stack([np.bincount(flat, weights=weight * np.repeat(q, p * p), minlength=M * M)
                     for q in charges.T]).reshape(3, M, M).astype(np.float32)
    kernel_w, kernel_w2 = _kernel_spectra(M, box / p)
    L = 2 * (kernel_w.shape[1] - 1)
    spectra = scipy.fft.rfft2(grid, s=(L, L), workers=-1)  # (3, L, L/2+1)
    products = np.concatenate([spectra[:1] * kernel_w, spectra * kernel_w2])  # (4, L, L/2+1)
    potential = scipy.fft.irfft2(products, s=(L, L), workers=-1)[:, :M, :M].astype(np.float64)
    values = potential.reshape(4, -1)[:, flat] * weight  # (4, N * p * p)
    return values.reshape(4, len(Y), p * p).sum(2).T     # (N, 4)


def _box_width(extent):
    """Interpolation box width for an embedding `extent` wide: at least _MIN_BOXES boxes and at
    most 1 wide, taken from the ladder 2^(k/4) so that grids (and their kernels) repeat."""
    target = min(extent / _MIN_BOXES, 1.0)
    return 2.0 ** (np.floor(4.0 * np.log2(target)) / 4.0)


@functools.lru_cache(maxsize=8)
def _kernel_spectra(M, h):
    """rfft2 of the kernels w and w^2 between M x M nodes of spacing h, laid out circularly for a
    linear convolution: two (L, L/2+1) complex64 arrays, L >= 2M - 1 an even FFT-friendly size."""
    L = scipy.fft.next_fast_len(2 * M, real=True)
    L += L % 2
    index = np.arange(L)
    offsets = np.where(index < M, index, index - L) * h  # node offset of each circular lag
    kernel_w = (1.0 / (1.0 + offsets[:, None] ** 2 + offsets[None, :] ** 2)).astype(np.float32)
    spectra = scipy.fft.rfft2(np.stack([kernel_w, kernel_w ** 2]), workers=-1)
    return spectra[0], spectra[1]


def _as_matrix(X, name):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"{name} expects X of shape (N, D) with N >= 2, got {X.shape}")
    return X
