"""k-means with k-means++ seeding: finds separated clusters, is reproducible, handles edge cases."""
import numpy as np
import pytest

from tinyconv.methods.clustering import kmeans


def blobs(seed=0, n=100, dims=8, k=4):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dims)) * 10.0
    labels = np.repeat(np.arange(k), n)
    return centres[labels] + rng.normal(size=(k * n, dims)), labels, centres


def test_recovers_separated_clusters():
    X, truth, centres = blobs()
    found, labels = kmeans(X, 4, seed=0)
    assert found.shape == (4, 8) and labels.shape == (400,)
    for k in range(4):  # every true cluster is one found cluster, whole
        assert len(set(labels[truth == k])) == 1
    assert len(set(labels)) == 4
    matched = found[labels[np.searchsorted(truth, np.arange(4))]]
    np.testing.assert_allclose(matched, centres, atol=0.5)


def test_labels_are_nearest_centres_and_centres_are_means():
    X = np.random.default_rng(1).random((300, 3))
    centres, labels = kmeans(X, 5, seed=2)
    d2 = ((X[:, None] - centres[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, d2.argmin(1))
    for k in range(5):
        np.testing.assert_allclose(centres[k], X[labels == k].mean(0), atol=1e-6)


def test_reproducible_with_a_seed_and_best_of_restarts():
    X = np.random.default_rng(3).random((200, 2))
    a = kmeans(X, 6, seed=7)
    b = kmeans(X, 6, seed=7)
    np.testing.assert_array_equal(a[1], b[1])

    def inertia(result):
        centres, labels = result
        return ((X - centres[labels]) ** 2).sum()

    assert inertia(kmeans(X, 6, n_init=8, seed=7)) <= inertia(kmeans(X, 6, n_init=1, seed=7))


def test_duplicate_points_and_k_equal_n():
    X = np.array([[0.0, 0.0]] * 5 + [[1.0, 1.0]] * 5)
    centres, labels = kmeans(X, 3, seed=0)  # only 2 distinct points: no crash, no NaN
    assert np.isfinite(centres).all() and set(labels) <= {0, 1, 2}
    centres, labels = kmeans(X[[0, 5]], 2)
    assert sorted(labels) == [0, 1]


def test_bad_arguments():
    with pytest.raises(ValueError, match="k <= N"):
        kmeans(np.zeros((3, 2)), 4)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        kmeans(np.zeros(5), 2)
