"""k-means with k-means++ seeding, in numpy.

One implementation shared by multifaceted visualization (clusters of a class's images in feature
space) and GrabCut (initial split of seed colours into GMM components).
"""
import numpy as np


def kmeans(X, k, n_init=4, n_iter=100, seed=0, tol=1e-6):
    """Cluster the rows of X (N, D) into k groups; the best of `n_init` k-means++ runs.

    Returns (centres (k, D) float64, labels (N,) int64). Lloyd iterations stop when no centre moves
    by more than `tol` times the data's mean variance. An emptied cluster is re-seeded with the
    point farthest from its centre.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"kmeans expects X of shape (N, D), got {X.shape}")
    if not 1 <= k <= len(X):
        raise ValueError(f"kmeans needs 1 <= k <= N, got k={k} for N={len(X)} points")
    rng = np.random.default_rng(seed)
    scale = X.var(axis=0).mean() + 1e-300
    best = None
    for _ in range(max(1, n_init)):
        centres, labels, inertia = _lloyd(X, _kmeans_plus_plus(X, k, rng), n_iter, tol * scale)
        if best is None or inertia < best[2]:
            best = (centres, labels, inertia)
    return best[0], best[1]


def squared_distances(X, centres):
    """||x_n - c_k||^2 for X (N, D) and centres (K, D) -> (N, K), clipped at 0."""
    d2 = (X * X).sum(1)[:, None] - 2.0 * X @ centres.T + (centres * centres).sum(1)[None, :]
    return np.maximum(d2, 0.0)


def _kmeans_plus_plus(X, k, rng):
    """Arthur & Vassilvitskii 2007: each next centre drawn with probability ~ D(x)^2."""
    centres = np.empty((k, X.shape[1]))
    centres[0] = X[rng.integers(len(X))]
    d2 = squared_distances(X, centres[:1])[:, 0]
    for j in range(1, k):
        total = d2.sum()
        if total > 0:
            index = rng.choice(len(X), p=d2 / total)
        else:  # fewer distinct points than k: any point will do
            index = rng.integers(len(X))
        centres[j] = X[index]
        d2 = np.minimum(d2, squared_distances(X, centres[j:j + 1])[:, 0])
    return centres


def _lloyd(X, centres, n_iter, tol):
    """Lloyd iterations from `centres`; returns (centres, labels, inertia)."""
    k = len(centres)
    for _ in range(n_iter):
        d2 = squared_distances(X, centres)
        labels = d2.argmin(1)
        onehot = (labels[:, None] == np.arange(k)).astype(X.dtype)  # (N, k)
        counts = onehot.sum(0)
        new = onehot.T @ X / np.maximum(counts, 1)[:, None]
        point_d2 = d2[np.arange(len(X)), labels]
        for j in np.flatnonzero(counts == 0):  # re-seed an empty cluster at the worst-fit point
            far = point_d2.argmax()
            new[j] = X[far]
            point_d2[far] = 0.0
        shift = ((new - centres) ** 2).sum(1).max()
        centres = new
        if shift <= tol:
            break
    d2 = squared_distances(X, centres)
    labels = d2.argmin(1)
    return centres, labels, d2[np.arange(len(X)), labels].sum()
