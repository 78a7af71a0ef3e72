"""Image I/O: every file kind becomes uint8 RGB; torchvision's resize/crop; clear errors."""
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tinyconv.image import (center_crop, list_images, load_image, resize_short_side,
                            save_image, to_uint8)


def _gradient(h=24, w=32):
    """A smooth RGB test picture (JPEG keeps it close)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 128)], -1).astype(np.uint8)


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_baseline_and_progressive(tmp_path, progressive):
    path = tmp_path / "a.jpg"
    Image.fromarray(_gradient()).save(path, quality=95, progressive=progressive)
    assert bool(Image.open(path).info.get("progressive")) == progressive
    image = load_image(path)
    assert image.dtype == np.uint8 and image.shape == (24, 32, 3)
    assert np.abs(image.astype(int) - _gradient()).mean() < 3


def test_png_grayscale_rgba_palette_16bit(tmp_path):
    rgb = _gradient()
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert np.array_equal(load_image(tmp_path / "rgb.png"), rgb)

    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "gray.png")
    gray = load_image(tmp_path / "gray.png")
    assert gray.shape == (24, 32, 3) and np.array_equal(gray[:, :, 1], rgb[:, :, 0])

    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[0, 0] = (10, 20, 30, 0)  # fully transparent: composited over white
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    out = load_image(tmp_path / "rgba.png")
    assert tuple(out[0, 0]) == (255, 255, 255) and np.array_equal(out[1:], rgb[1:])

    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png", transparency=0)
    assert load_image(tmp_path / "palette.png").shape == (24, 32, 3)

    wide = (np.arange(24 * 32).reshape(24, 32) * 60).astype(np.uint16)
    Image.fromarray(wide).save(tmp_path / "16bit.png")
    out16 = load_image(tmp_path / "16bit.png")
    assert out16.shape == (24, 32, 3) and out16.max() == 179 and out16.min() == 0  # 46020/257


def test_real_progressive_grayscale_and_rgba_assets(assets):
    wave = assets / "images" / "styles" / "wave.jpg"
    assert Image.open(wave).info.get("progressive")
    for path in (wave, assets / "images" / "styles" / "escher_sphere.jpg",
                 assets / "images" / "content" / "spider.png"):
        image = load_image(path)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a picture")
    with pytest.raises(ValueError, match="cannot read image .*notes.jpg"):
        load_image(bad)
    truncated = tmp_path / "cut.png"
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "full.png")
    truncated.write_bytes((tmp_path / "full.png").read_bytes()[:200])
    with pytest.raises(ValueError, match="cannot read image .*cut.png"):
        load_image(truncated)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_image(tmp_path / "missing.png")


def _png_header_only(path, width, height):
    """A PNG that declares width x height but holds no pixels (a decompression bomb's header)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_absurdly_large_image_is_refused_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    _png_header_only(path, 100_000, 80_000)
    with pytest.raises(ValueError, match=r"100000 x 80000 = 8000 megapixels, above the limit"):
        load_image(path)
    Image.fromarray(_gradient()).save(tmp_path / "small.png")
    with pytest.raises(ValueError, match="above the limit"):
        load_image(tmp_path / "small.png", max_pixels=100)


def test_resize_and_crop_follow_torchvision():
    image = np.zeros((300, 400, 3), np.uint8)
    assert resize_short_side(image, 256).shape == (256, 341, 3)  # int(256 * 400 / 300)
    assert resize_short_side(np.zeros((500, 375, 3), np.uint8), 256).shape == (341, 256, 3)
    marked = np.arange(7 * 9).reshape(7, 9)
    crop = center_crop(marked, 4)
    assert crop.shape == (4, 4) and crop[0, 0] == marked[2, 2]  # round(1.5) = 2, round(2.5) = 2
    with pytest.raises(ValueError, match="larger than the image"):
        center_crop(marked, 8)


def test_load_with_size_and_save_roundtrip(tmp_path):
    rgb = _gradient(40, 60)
    path = save_image(tmp_path / "sub" / "out.png", rgb)
    assert np.array_equal(load_image(path), rgb)
    assert load_image(path, size=20).shape == (20, 30, 3)
    assert load_image(path, size=(10, 12)).shape == (10, 12, 3)
    assert np.array_equal(to_uint8(rgb / 255.0), rgb)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        save_image(tmp_path / "x.png", np.zeros((2, 3, 3, 3)))


def test_list_images_expands_folders(tmp_path):
    for name in ("b.png", "a.JPG", "c.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images([tmp_path])] == ["a.JPG", "b.png"]
