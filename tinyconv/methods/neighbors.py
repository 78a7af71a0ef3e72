"""Nearest neighbours by L2 distance, in a network's feature space or in raw pixel space.

The lecture's point: images close in pixel space share colours and layout, images close in a
network's feature space share content. `leave_one_out_accuracy` turns that into a number, the
1-nearest-neighbour label accuracy with each image classified by the rest.
"""
import numpy as np

from .clustering import squared_distances

_CHUNK = 1024  # query rows per distance block, so N x N distances never sit in memory at once


def nearest_neighbors(points, queries, k=5, exclude=None):
    """The k nearest rows of points (N, D) for each row of queries (Q, D), by L2 distance.

    exclude: (Q,) index into points to leave out for each query (the query itself when the
    queries are points; -1: none), or None. Returns (indices (Q, k) int64, distances (Q, k)
    float64), nearest first; ties keep the lower index.
    """
    points = _as_rows(points, "points")
    queries = _as_rows(queries, "queries")
    if points.shape[1] != queries.shape[1]:
        raise ValueError(f"points {points.shape} and queries {queries.shape} need the same "
                         f"number of columns")
    available = len(points) - (exclude is not None)
    if not 1 <= k <= available:
        raise ValueError(f"k must be in 1..{available} for {len(points)} points, got {k}")
    indices = np.empty((len(queries), k), dtype=np.int64)
    distances = np.empty((len(queries), k))
    for start in range(0, len(queries), _CHUNK):
        d2 = squared_distances(queries[start:start + _CHUNK], points)  # (q, N)
        if exclude is not None:
            skip = np.asarray(exclude)[start:start + _CHUNK]
            d2[np.flatnonzero(skip >= 0), skip[skip >= 0]] = np.inf
        nearest = np.argsort(d2, axis=1, kind="stable")[:, :k]
        indices[start:start + _CHUNK] = nearest
        distances[start:start + _CHUNK] = np.sqrt(np.take_along_axis(d2, nearest, axis=1))
    return indices, distances


def leave_one_out_accuracy(points, labels):
    """Fraction of rows of points (N, D) whose nearest other row (L2) has the same label (N,)."""
    labels = np.asarray(labels)
    if labels.shape != (len(points),):
        raise ValueError(f"labels must have shape ({len(points)},), got {labels.shape}")
    nearest, _ = nearest_neighbors(points, points, k=1, exclude=np.arange(len(points)))
    return float((labels[nearest[:, 0]] == labels).mean())


def pixel_vectors(images):
    """uint8 images (N, H, W, 3) -> (N, H * W * 3) float64 vectors in 0..1 (pixel space)."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"pixel_vectors expects images (N, H, W, C), got {images.shape}")
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


def _as_rows(X, name):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"{name} must be a non-empty (N, D) array, got shape {X.shape}")
    return X
