"""Images a user did not make: 16-bit and float samples by a fixed rule, pixel limits before
decoding and before resizing, aspect ratios, and a fuzz of broken files (issue 15)."""
import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from tinyconv.image import (ImageTooLarge, UnreadableImage, load_image, resize,
                            resize_short_side)
from tinyconv.methods.features import SkipUnreadable, read_images
from tinyconv.models.preprocessing import TORCHVISION


def _save(tmp_path, name, array, mode=None):
    path = tmp_path / name
    (Image.fromarray(array, mode) if mode else Image.fromarray(array)).save(path)
    return path


@pytest.mark.parametrize("value, expected", [(32896, 128), (65535, 255), (1000, 4), (0, 0),
                                             (128, 0), (129, 1)])
def test_16bit_png_is_scaled_by_65535_not_by_its_own_maximum(tmp_path, value, expected):
    path = _save(tmp_path, "grey16.png", np.full((5, 7), value, np.uint16))
    assert Image.open(path).mode.startswith("I")
    image = load_image(path)
    assert image.shape == (5, 7, 3) and (image == expected).all()


def test_16bit_big_endian_int32_and_float_modes(tmp_path):
    big = Image.frombytes("I;16B", (4, 3), np.full((3, 4), 32896, ">u2").tobytes())
    assert (load_image(_saved(tmp_path, "big.tif", big)) == 128).all()
    wide = Image.fromarray(np.array([[-5, 0, 65535, 100000]], np.int32), "I")
    assert load_image(_saved(tmp_path, "int32.tif", wide))[0, :, 0].tolist() == [0, 0, 255, 255]
    floats = Image.fromarray(np.array([[-1.0, 0.0, 0.5, 1.0, 7.0]], np.float32), "F")
    assert load_image(_saved(tmp_path, "f.tif", floats))[0, :, 0].tolist() == [0, 0, 128, 255,
                                                                                255]
    bad = Image.fromarray(np.array([[0.5, np.nan]], np.float32), "F")
    with pytest.raises(UnreadableImage, match="f_nan.tif: float image with NaN"):
        load_image(_saved(tmp_path, "f_nan.tif", bad))


def _saved(tmp_path, name, im):
    im.save(tmp_path / name)
    return tmp_path / name


def _png_header_only(path, width, height, depth=8):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, 0 if depth == 16 else 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def test_file_pixel_limit_from_the_environment(tmp_path, monkeypatch):
    path = _save(tmp_path, "small.png", np.zeros((20, 30, 3), np.uint8))
    monkeypatch.setenv("TINYCONV_MAX_IMAGE_PIXELS", "500")
    with pytest.raises(UnreadableImage, match=r"small.png: 30 x 20 = 600 pixels, above the limit of 500 "
                                                r"pixels \(set TINYCONV_MAX_IMAGE_PIXELS"):
        load_image(path)
    monkeypatch.setenv("TINYCONV_MAX_IMAGE_PIXELS", "600")
    assert load_image(path).shape == (20, 30, 3)
    monkeypatch.setenv("TINYCONV_MAX_IMAGE_PIXELS", "nan")
    with pytest.raises(ValueError, match="TINYCONV_MAX_IMAGE_PIXELS must be a whole number"):
        load_image(path)


def test_16bit_bomb_header_is_refused_before_decoding(tmp_path):
    path = _png_header_only(tmp_path / "bomb16.png", 99_999, 99_999, depth=16)
    with pytest.raises(UnreadableImage, match="99999 x 99999 = 9999.8 megapixels|megapixels"):
        load_image(path)


def test_a_thin_strip_is_refused_before_its_short_side_resize(tmp_path):
    strip = np.zeros((1, 5000, 3), np.uint8)
    with pytest.raises(ImageTooLarge, match="5000 x 1 pixels has an aspect ratio of 5000:1, "
                                            "above the limit of 50:1"):
        resize_short_side(strip, 256)
    with pytest.raises(ImageTooLarge, match="aspect ratio"):
        TORCHVISION.prepare_image(strip) if TORCHVISION.input_size else \
            resize_short_side(strip, 256)
    path = _save(tmp_path, "strip.png", strip)
    skip = SkipUnreadable()
    images, kept = read_images([path], skip, lambda im: resize_short_side(im, 256))
    assert images == [] and kept == [] and "aspect ratio" in skip.skipped[0][1]


def test_resize_target_limit_and_how_to_raise_it(monkeypatch):
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ImageTooLarge, match=r"resizing to 5000 x 4000 = 20 megapixels is "
                                            r"above the limit of 16.8 megapixels \(set "
                                            r"TINYCONV_MAX_INPUT_PIXELS"):
        resize(image, (4000, 5000))
    monkeypatch.setenv("TINYCONV_MAX_INPUT_PIXELS", "100")
    with pytest.raises(ImageTooLarge, match="above the limit"):
        resize(image, (10, 11))
    assert resize(image, (10, 10)).shape == (10, 10, 3)
    with pytest.raises(ImageTooLarge, match="sides must be >= 1"):
        resize(image, (0, 10))


def test_odd_but_valid_images(tmp_path):
    one = _save(tmp_path, "one.png", np.full((1, 1, 3), 7, np.uint8))
    assert load_image(one).tolist() == [[[7, 7, 7]]]
    Image.new("CMYK", (8, 6), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg")
    assert load_image(tmp_path / "cmyk.jpg").shape == (6, 8, 3)
    rotated = Image.new("RGB", (8, 6), (255, 0, 0))
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees
    rotated.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").shape == (8, 6, 3)
    frames = [Image.new("P", (4, 4), i % 256) for i in range(300)]
    frames[0].save(tmp_path / "many.gif", save_all=True, append_images=frames[1:])
    assert load_image(tmp_path / "many.gif").shape == (4, 4, 3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_broken_files_raise_only_unreadable_image(tmp_path, data):
    buffer = io.BytesIO()
    kind = data.draw(st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]))
    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)).save(buffer, kind)
    raw = bytearray(buffer.getvalue())
    cut = data.draw(st.integers(0, len(raw)))
    for _ in range(data.draw(st.integers(0, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path / f"fuzz.{kind.lower()}"
    path.write_bytes(bytes(raw[:cut] if data.draw(st.booleans()) else raw))
    try:
        image = load_image(path)
    except UnreadableImage as e:
        assert str(path) in str(e) and "\n" not in str(e)
    else:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
