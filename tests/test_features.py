"""Folder features: pooling against the full activation, features of an input array, the disk
cache (hit, and a miss for any change in files, layer, pooling or weights), labelled folders, and
the empty-folder error."""
import os

import numpy as np
import pytest

from tinyconv import models
from tinyconv.image import find_images, labelled_images
from tinyconv.methods import features
from tinyconv.image import save_image
from conftest import assert_close_to_scale


@pytest.fixture(scope="module")
def model():
    return models.build("squeezenet1_1", seed=0)


@pytest.fixture
def folder(tmp_path):
    """Five random 40 x 48 PNG images."""
    rng = np.random.default_rng(0)
    for i in range(5):
        save_image(tmp_path / "images" / f"im{i}.png",
                   rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    return tmp_path / "images"


def test_pooled_features_match_the_full_activation(model, folder):
    paths = find_images([folder])
    x = model.preprocess(list(features.model_images(model, paths, 48)), resize=False)
    full = model.forward(x, layers=["fire3"])["fire3"].numpy()  # (5, 128, h, w)
    avg = features.image_features(model, paths, "fire3", "avg", 48, batch_size=2,
                                  cache_dir=False)
    # other batch sizes than `full`: float32 rounding relative to the layer's largest value
    scale = np.abs(full).max()
    assert_close_to_scale(avg.values, full.mean(axis=(2, 3)), scale)
    top = features.image_features(model, paths, "fire3", "max", 48, batch_size=3,
                                  cache_dir=False)
    flat = full.reshape(5, 128, -1)
    assert_close_to_scale(top.values, flat.max(axis=2), scale)
    # each position holds its channel's maximum (two near-equal maxima may swap by rounding)
    at_positions = np.take_along_axis(flat, top.positions[..., None], axis=2)[..., 0]
    assert_close_to_scale(at_positions, flat.max(axis=2), scale)
    assert top.map_shape == full.shape[1:] and avg.positions is None
    flat_features = features.image_features(model, paths, "fire3", "none", 48, cache_dir=False)
    assert flat_features.values.shape == (5, flat.shape[1] * flat.shape[2])



def test_array_features_match_the_file_features(model, folder):
    paths = find_images([folder])
    x = model.preprocess(list(features.model_images(model, paths, 48)), resize=False).data
    from_files = features.image_features(model, paths, "fire3", "max", 48, cache_dir=False)
    from_array = features.array_features(model, x, "fire3", "max", batch_size=2)
    assert from_array.dtype == np.float32 and from_array.shape == (5, 128)
    assert_close_to_scale(from_array, from_files.values)  # another batch size: float32 rounding
    flat = features.array_features(model, x[:1], "fire3", "none")
    assert flat.shape == (1, int(np.prod(from_files.map_shape)))

def test_cache_hits_and_misses(model, folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    paths = find_images([folder])
    first = features.image_features(model, paths, "fire2", "avg", 32, cache_dir=cache)
    assert not first.from_cache and len(list(cache.iterdir())) == 1

    calls = []
    monkeypatch.setattr(model, "forward", lambda *a, **k: calls.append(1) or {})
    again = features.image_features(model, paths, "fire2", "avg", 32, cache_dir=cache)
    assert again.from_cache and not calls
    np.testing.assert_array_equal(again.values, first.values)
    monkeypatch.undo()

    def misses(**changes):
        args = dict(model=model, paths=paths, layer="fire2", pooling="avg", image_size=32)
        args.update(changes)
        result = features.image_features(cache_dir=cache, **args)
        return not result.from_cache

    assert misses(layer="fire3")
    assert misses(pooling="max")
    assert misses(image_size=40)
    assert misses(paths=paths[:4])
    assert misses(model=models.build("squeezenet1_1", seed=1))
    stat = paths[0].stat()
    os.utime(paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert not misses()  # the same bytes: the cache follows content, not mtimes
    other = np.random.default_rng(99).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    save_image(paths[0], other)  # new content of the same size (random pixels do not compress)
    os.utime(paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ...and the old mtime back
    assert paths[0].stat().st_size == stat.st_size
    assert misses()
    assert not misses()  # and that result is cached in turn


def test_labelled_folders_and_empty_folder_errors(tmp_path):
    for name in ("cat", "dog"):
        for i in range(3):
            save_image(tmp_path / "pets" / name / f"{i}.png", np.zeros((8, 8, 3), np.uint8))
    paths, labels, names = labelled_images(tmp_path / "pets", per_class=2)
    assert names == ["cat", "dog"] and labels.tolist() == [0, 0, 1, 1]
    assert [p.parent.name for p in paths] == ["cat", "cat", "dog", "dog"]
    flat, flat_labels, flat_names = labelled_images(tmp_path / "pets" / "cat")
    assert len(flat) == 3 and flat_labels.tolist() == [0, 0, 0] and flat_names == ["cat"]

    with pytest.raises(FileNotFoundError, match=r"no images in .*pets .*\.jpg.*\.png.*"
                                                r"subfolders \(cat, dog\)"):
        find_images([tmp_path / "pets"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no images in .*empty \(looked for \.jpg"):
        find_images(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        find_images([tmp_path / "missing"])


def test_unknown_pooling_and_layer(model, folder):
    paths = find_images([folder])
    with pytest.raises(ValueError, match="unknown pooling 'mean'; choose one of avg, max, none"):
        features.image_features(model, paths, "fire2", "mean", cache_dir=False)
    with pytest.raises(ValueError, match="unknown pooling 'mean'"):
        features.array_features(model, np.zeros((1, 3, 32, 32), np.float32), "fire2", "mean")
    with pytest.raises(KeyError, match="no layer 'fire11'; did you mean fire2"):
        features.image_features(model, paths, "fire11", cache_dir=False)
