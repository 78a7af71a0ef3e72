"""Folder commands skip an unreadable image with a warning naming it, count the skipped ones at the
end, and stop at the first with --strict; none readable is an error with nothing written."""
import os

import numpy as np
import pytest
from PIL import Image

from tinyconv.image import find_images
from tinyconv.methods import features
from tinyconv.cli import main

GOOD = [f"{i}.png" for i in range(4)]
BAD = {"cut.png": "image file is truncated", "empty.png": "empty file",
       "notes.jpg": "not an image file (Pillow cannot identify its format)"}


@pytest.fixture
def folder(tmp_path):
    """Four 32x32 images and one file of each unreadable kind (and a directory named like an
    image, which is no file of the folder); as root no permission stops a read."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in GOOD + ["full.png"]:
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / name)
    (folder / "cut.png").write_bytes((folder / "full.png").read_bytes()[:300])
    (folder / "full.png").unlink()
    (folder / "empty.png").touch()
    (folder / "notes.jpg").write_text("not a picture")
    (folder / "dir.png").mkdir()
    return folder


def command(name, folder, tmp_path, weights=None):
    model = ["--weights", str(weights)] if weights else ["--model", "squeezenet1_1"]
    cache = ["--cache-dir", str(tmp_path / "cache")]
    args = {"neighbors": ["--query", str(folder / "0.png"), "--k", "2", "--image-size", "32",
                          *cache],
            "embed": ["--method", "pca", "--image-size", "32", *cache],
            "patches": ["--layer", "fire3", "--channel", "1", "--top", "2", "--image-size",
                        "32", *cache],
            "classify": ["--top-k", "1", "--batch-size", "3"],
            "fgsm": ["--epsilon", "2", "--batch-size", "8"],
            "fool": ["--random-targets", "--steps", "2", "--batch-size", "8"],
            "multifaceted": ["--facets", "2", "--steps", "2", "--image-size", "32"],
            "stylize": ["--size", "32"]}[name]
    out = [] if name == "classify" else ["--out", str(tmp_path / "out")]
    return [name, str(folder), *model, *args, *out]


COMMANDS = ["neighbors", "embed", "patches", "classify", "fgsm", "fool", "multifaceted",
            "stylize"]


@pytest.fixture
def weights(request):
    """The real SqueezeNet file for classify and the real ml5 wave network for stylize (both
    need --weights), else None (random weights)."""
    if request.param == "classify":
        return request.getfixturevalue("squeezenet_file")
    if request.param == "stylize":
        return request.getfixturevalue("assets") / "weights" / "fast_style_ml5" / "wave"
    return None


@pytest.mark.parametrize("name, weights", [(c, c) for c in COMMANDS], indirect=["weights"])
def test_unreadable_images_are_skipped_named_and_counted(name, weights, folder, tmp_path,
                                                         capsys):
    assert main(command(name, folder, tmp_path, weights)) == 0
    out, err = capsys.readouterr()
    for bad, reason in BAD.items():
        assert f"tinyconv {name}: warning: skipped {folder / bad}: {reason}\n" in err
        assert bad not in out
    count = (f"tinyconv {name}: warning: skipped 3 of 7 images (unreadable); --strict stops "
             f"at the first\n")
    if name == "multifaceted":  # reads every image before its ascent: the count comes first
        assert count in err
    else:
        assert err.endswith(count)
    if name == "classify":
        assert [line for line in out.splitlines() if not line.startswith(" ")] == \
            [str(folder / good) for good in GOOD]
    else:
        assert list((tmp_path / "out").glob("*.png"))
    if name in ("neighbors", "embed"):
        assert "4 images, fire9/concat avg features" in out
    if name == "neighbors":  # again, from the cache: the same files are skipped and counted
        assert main(command(name, folder, tmp_path)) == 0
        out, err = capsys.readouterr()
        assert "(from the cache)" in out and err.count("warning: skipped ") == 4


@pytest.mark.parametrize("name, weights", [(c, c) for c in COMMANDS], indirect=["weights"])
def test_strict_stops_at_the_first_unreadable_image(name, weights, folder, tmp_path, capsys):
    assert main(command(name, folder, tmp_path, weights) + ["--strict"]) == 1
    err = capsys.readouterr().err
    assert err == f"tinyconv {name}: error: cannot read image {folder / 'cut.png'}: " \
                  f"{BAD['cut.png']}\n"
    if name == "stylize":  # one image at a time: those before the unreadable one are written
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
            [f"{i}_wave.png" for i in range(4)]
    else:
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, weights", [(c, c) for c in COMMANDS], indirect=["weights"])
def test_no_readable_image_is_an_error_with_nothing_written(name, weights, folder, tmp_path,
                                                            capsys):
    for good in GOOD[1:]:
        (folder / good).unlink()
    (folder / GOOD[0]).write_bytes(b"")
    argv = command(name, folder, tmp_path, weights)
    if name == "neighbors":  # the query must stay readable
        query = tmp_path / "query.png"
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(query)
        argv[argv.index("--query") + 1] = str(query)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.endswith(f"tinyconv {name}: error: none of the 4 images can be read (the first: "
                        f"{folder / '0.png'}: empty file)\n")
    assert not (tmp_path / "out").exists()
    assert not list((tmp_path / "cache").glob("*.npz"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a user whom file permissions stop")
def test_a_file_without_read_permission_is_skipped(folder, tmp_path, capsys):
    (folder / "0.png").chmod(0)
    assert main(command("embed", folder, tmp_path)) == 0
    assert f"skipped {folder / '0.png'}: permission denied" in capsys.readouterr().err


def test_features_of_skipped_files_never_take_a_row(folder, tmp_path, squeezenet_real):
    """The rows of Features belong to Features.paths, the readable files, also from the cache;
    the same images alone give the same rows."""
    skip = features.SkipUnreadable()
    paths = find_images([folder])
    found = features.image_features(squeezenet_real, paths, "fire3", image_size=32,
                                    batch_size=2, cache_dir=tmp_path, skip=skip)
    alone = features.image_features(squeezenet_real, [folder / g for g in GOOD], "fire3",
                                    image_size=32, cache_dir=False)
    assert found.paths == alone.paths and [p.name for p, _ in skip.skipped] == sorted(BAD)
    np.testing.assert_array_equal(found.values, alone.values)
    again = features.image_features(squeezenet_real, paths, "fire3", image_size=32,
                                    cache_dir=tmp_path, skip=features.SkipUnreadable())
    assert again.from_cache and again.paths == alone.paths and again.skipped == skip.skipped
    np.testing.assert_array_equal(again.values, alone.values)
