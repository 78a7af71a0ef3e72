"""Nearest neighbours by L2 against brute force, self-exclusion, and the leave-one-out 1-NN
accuracy (the measure tools/cifar_feature_space.py reports for CIFAR-10)."""
import numpy as np
import pytest

from tinyconv.methods.neighbors import (leave_one_out_accuracy, nearest_neighbors,
                                         pixel_vectors)


def brute_force(points, queries, k):
    d = np.sqrt(((queries[:, None, :] - points[None, :, :]) ** 2).sum(-1))  # (Q, N)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def test_nearest_neighbors_match_brute_force():
    rng = np.random.default_rng(0)
    points, queries = rng.normal(size=(300, 7)), rng.normal(size=(20, 7))
    index, distance = nearest_neighbors(points, queries, k=5)
    expected_index, expected_distance = brute_force(points, queries, 5)
    np.testing.assert_array_equal(index, expected_index)
    np.testing.assert_allclose(distance, expected_distance, rtol=1e-9)


def test_exclude_leaves_out_the_query_itself():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    index, distance = nearest_neighbors(points, points, k=2, exclude=np.arange(4))
    assert index.tolist() == [[1, 2], [0, 2], [1, 0], [2, 1]]
    assert distance[:, 0].tolist() == [1.0, 1.0, 2.0, 4.0]
    index, _ = nearest_neighbors(points, points[:2], k=1, exclude=np.array([-1, 1]))
    assert index.tolist() == [[0], [0]]  # -1: nothing excluded for that query


def test_leave_one_out_accuracy():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 30)
    clusters = rng.normal(size=(90, 4)) * 0.1 + labels[:, None] * 5.0
    assert leave_one_out_accuracy(clusters, labels) == 1.0
    shuffled = rng.permutation(labels)
    assert leave_one_out_accuracy(clusters, shuffled) < 0.6
    points = np.array([[0.0], [0.1], [5.0], [5.1], [5.2]])
    assert leave_one_out_accuracy(points, np.array([0, 1, 1, 1, 0])) == pytest.approx(2 / 5)


def test_pixel_vectors_and_errors():
    images = np.full((2, 4, 4, 3), 255, np.uint8)
    vectors = pixel_vectors(images)
    assert vectors.shape == (2, 48) and vectors.max() == 1.0
    with pytest.raises(ValueError, match="same number of columns"):
        nearest_neighbors(np.zeros((3, 2)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"k must be in 1\.\.2 for 3 points"):
        nearest_neighbors(np.zeros((3, 2)), np.zeros((3, 2)), k=3, exclude=np.arange(3))
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        leave_one_out_accuracy(np.zeros((3, 2)), [0, 1])
