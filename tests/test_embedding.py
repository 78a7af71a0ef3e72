"""PCA and t-SNE: principal axes, perplexity calibration, cluster separation (exact and fast),
fast vs exact KL and gradients, reproducibility, errors."""
import numpy as np
import pytest
from scipy.spatial import cKDTree

from tinyconv.methods import embedding
from tinyconv.methods.embedding import kl_divergence, pca, tsne


def gaussian_clusters(n_clusters=5, per_cluster=60, dims=50, seed=0):
    """Well-separated clusters in `dims` D: centres ~3x further apart than the cluster spread."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dims)) * 2.0
    labels = np.repeat(np.arange(n_clusters), per_cluster)
    return centres[labels] + rng.normal(size=(len(labels), dims)), labels


def knn_label_accuracy(Y, labels, k=10):
    _, neighbours = cKDTree(Y).query(Y, k=k + 1)
    votes = labels[neighbours[:, 1:]]
    predicted = np.array([np.bincount(v, minlength=labels.max() + 1).argmax() for v in votes])
    return (predicted == labels).mean()


@pytest.fixture(scope="module")
def clusters():
    return gaussian_clusters()


@pytest.fixture(scope="module")
def embeddings(clusters):
    X, _ = clusters
    return {"exact": tsne(X, method="exact", n_iter=750),
            "fast": tsne(X, method="fast", n_iter=500)}


def test_pca_recovers_the_principal_axes():
    rng = np.random.default_rng(0)
    rotation = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    X = (rng.normal(size=(2000, 6)) * [8.0, 4.0, 2.0, 0.5, 0.2, 0.1]) @ rotation.T + 7.0
    Y = pca(X, 3)
    assert Y.shape == (2000, 3)
    np.testing.assert_allclose(Y.mean(0), 0.0, atol=1e-9)
    assert np.all(np.diff(Y.var(0)) < 0)  # variance falls from axis to axis
    for k in range(3):  # each output axis is the k-th true axis, up to sign
        cosine = abs(np.corrcoef(Y[:, k], (X - X.mean(0)) @ rotation[:, k])[0, 1])
        assert cosine > 0.995


def test_pca_wide_data_uses_svd_and_agrees():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 8)) @ rng.normal(size=(8, 100))  # N < D
    Y = pca(X, 2)
    Xc = X - X.mean(0)
    np.testing.assert_allclose(np.abs(Y), np.abs(Xc @ np.linalg.svd(Xc)[2][:2].T), atol=1e-8)
    np.testing.assert_allclose(pca(X, 2), Y)  # deterministic signs


def test_perplexity_calibration():
    rng = np.random.default_rng(2)
    D2 = rng.random((40, 90)) * 50.0
    P = embedding._conditional_probabilities(D2, perplexity=20.0)
    np.testing.assert_allclose(P.sum(1), 1.0)
    entropy = -(P * np.log(np.maximum(P, 1e-300))).sum(1)
    np.testing.assert_allclose(np.exp(entropy), 20.0, rtol=1e-3)


@pytest.mark.parametrize("method", ["exact", "fast"])
def test_tsne_separates_gaussian_clusters(clusters, embeddings, method):
    _, labels = clusters
    Y = embeddings[method]
    assert Y.shape == (len(labels), 2) and np.isfinite(Y).all()
    assert knn_label_accuracy(Y, labels) > 0.95


def test_fast_kl_close_to_exact(clusters, embeddings):
    X, _ = clusters
    kl_exact = kl_divergence(X, embeddings["exact"])
    kl_fast = kl_divergence(X, embeddings["fast"])
    random_kl = kl_divergence(X, np.random.default_rng(0).normal(size=(len(X), 2)))
    assert kl_exact < 0.6 < random_kl
    assert abs(kl_fast - kl_exact) < 0.1 * kl_exact


@pytest.mark.parametrize("extent, tolerance", [(0.01, 1e-6), (5.0, 1e-3), (100.0, 6e-2)])
def test_interpolated_repulsion_matches_direct_sums(extent, tolerance):
    """FIt-SNE's accuracy: 3 nodes per box, boxes extent / 25 wide and at most 1 wide. (The
    per-point sums include an interpolated self term; Z and the repulsion do not depend on it.)"""
    Y = np.random.default_rng(3).normal(size=(400, 2))
    Y *= extent / np.ptp(Y)
    W = 1.0 / (1.0 + ((Y[:, None] - Y[None]) ** 2).sum(-1))  # (N, N)
    sums = embedding._interpolated_kernel_sums(Y)
    Z, Z_direct = sums[:, 0].sum() - len(Y), W.sum() - len(Y)
    assert abs(Z - Z_direct) < tolerance * Z_direct
    repulsion = sums[:, 1:2] * Y - sums[:, 2:]
    reference = (W ** 2).sum(1)[:, None] * Y - W ** 2 @ Y
    assert np.linalg.norm(repulsion - reference) < tolerance * np.linalg.norm(reference)


def test_fast_gradient_matches_exact_gradient_on_same_affinities(clusters):
    X, _ = clusters
    rows, cols, p = embedding.sparse_joint_probabilities(X, 30.0)
    dense = np.zeros((len(X), len(X)))
    dense[rows, cols] = p
    dense[cols, rows] = p
    np.testing.assert_allclose(dense.sum(), 1.0, rtol=1e-6)
    Y = pca(X, 2) / 10.0  # an unconverged layout: the gradient is far from zero
    exact, kl_exact = embedding._exact_gradient(dense, Y, 12.0, True)
    fast, kl_fast = embedding._fast_gradient((rows, cols, p), Y, 12.0, True)
    assert np.linalg.norm(fast - exact) < 1e-3 * np.linalg.norm(exact)
    np.testing.assert_allclose(kl_fast, kl_exact, rtol=1e-4)


@pytest.mark.parametrize("method", ["exact", "fast"])
def test_tsne_is_reproducible(method):
    X, _ = gaussian_clusters(3, 30, 10, seed=5)
    a = tsne(X, perplexity=10, method=method, n_iter=30, seed=3, init="random")
    assert np.array_equal(a, tsne(X, perplexity=10, method=method, n_iter=30, seed=3,
                                  init="random"))
    assert not np.allclose(a, tsne(X, perplexity=10, method=method, n_iter=30, seed=4,
                                   init="random"))


def test_tsne_bad_arguments():
    X, _ = gaussian_clusters(2, 10, 5)
    with pytest.raises(ValueError, match="perplexity"):
        tsne(X, perplexity=30)
    with pytest.raises(ValueError, match="method"):
        tsne(X, perplexity=5, method="barnes")
    with pytest.raises(ValueError, match="2-D only"):
        tsne(X, perplexity=5, method="fast", n_components=3)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        tsne(X[0], perplexity=5)
