"""The feature cache serves only what checks out: a damaged, inconsistent or NaN cache file is
computed again and replaced, with a warning; a cache path that is not a regular file is neither
read nor replaced; a cache that cannot be written costs only the cache."""
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tinyconv import models
from tinyconv.image import find_images, save_image
from tinyconv.methods import features


@pytest.fixture(scope="module")
def model():
    return models.build("squeezenet1_1", seed=0)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(6):
        save_image(folder / f"im{i}.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    return find_images([folder])


def run(model, paths, cache):
    """(Features, warnings) of fire2 over `paths` with the cache folder `cache`."""
    skip = features.SkipUnreadable(warn=lambda message: said.append(message))
    said = []
    found = features.image_features(model, paths, "fire2", "avg", 32, cache_dir=cache, skip=skip)
    return found, said


@pytest.fixture
def cached(model, images, tmp_path):
    """(cache folder, its one cache file, the features computed without a cache)."""
    cache = tmp_path / "cache"
    first, said = run(model, images, cache)
    assert not first.from_cache and said == []
    (path,) = cache.iterdir()
    return cache, path, first


def rewrite(path, **changes):
    """Write the cache file again with some arrays changed (as a bad writer would have)."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "bad CRC":
        with zipfile.ZipFile(path) as z:
            start = z.getinfo("values.npy").header_offset + 200
        path.write_bytes(data[:start] + bytes([data[start] ^ 0xFF]) + data[start + 1:])
    elif how == "5 rows for 6 images":
        with np.load(path) as d:
            rewrite(path, values=d["values"][:5])
    elif how == "NaN rows":
        with np.load(path) as d:
            values = d["values"].copy()
        values[2] = np.nan
        rewrite(path, values=values)
    elif how == "wrong width":
        with np.load(path) as d:
            rewrite(path, values=d["values"][:, :3])
    elif how == "float64":
        with np.load(path) as d:
            rewrite(path, values=d["values"].astype(np.float64))
    elif how == "compressed":
        with np.load(path) as d:
            arrays = {k: d[k] for k in d.files}
        np.savez_compressed(path, **arrays)


@pytest.mark.parametrize("how", ["truncated", "empty", "bad CRC", "5 rows for 6 images",
                                 "NaN rows", "wrong width", "float64", "compressed"])
def test_a_bad_cache_file_is_computed_again_with_a_warning(model, images, cached, how):
    cache, path, first = cached
    damage(path, how)
    again, said = run(model, images, cache)
    assert not again.from_cache and len(said) == 1
    assert said[0].startswith(f"feature cache {path} is damaged (")
    np.testing.assert_array_equal(again.values, first.values)
    third, said = run(model, images, cache)  # replaced: the next run is served, silently
    assert third.from_cache and said == []
    np.testing.assert_array_equal(third.values, first.values)


@pytest.mark.parametrize("kind", ["folder", "link to /etc/passwd", "fifo"])
def test_a_cache_path_that_is_not_a_file_is_left_alone(model, images, cached, kind):
    cache, path, first = cached
    path.unlink()
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # np.load would wait forever
    else:
        path.symlink_to("/etc/passwd")
    passwd = open("/etc/passwd", "rb").read()
    again, said = run(model, images, cache)
    assert not again.from_cache and said == [f"feature cache {path} is not a regular file; "
                                             f"computing without the cache (remove it to "
                                             f"cache again)"]
    np.testing.assert_array_equal(again.values, first.values)
    assert open("/etc/passwd", "rb").read() == passwd
    assert path.is_symlink() if kind.startswith("link") else not path.is_file()


def test_an_unwritable_cache_costs_only_the_cache(model, images, tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    found, said = run(model, images, blocker)
    assert not found.from_cache and len(found.values) == len(images)
    assert said == [f"feature cache not written: {blocker}: is a file, not a folder; give a "
                    f"folder"]


def test_nan_features_are_not_cached(model, images, tmp_path, monkeypatch):
    monkeypatch.setattr(features, "pool_features",
                        lambda act, pooling: (np.full((act.shape[0], 4), np.nan, np.float32),
                                              None))
    run(model, images, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=64), st.integers(0, 4000))
def test_any_bytes_in_a_cache_file_are_never_served(model, images, cached, junk, where):
    """Random bytes spliced into the cache file: either the same features (the bytes changed
    nothing that is read) or computed again; never an exception, never other values."""
    cache, path, first = cached
    good = path.read_bytes()
    path.write_bytes(good[:where] + junk + good[where + len(junk):])
    again, _ = run(model, images, cache)
    np.testing.assert_array_equal(again.values, first.values)
    path.write_bytes(good)
