"""Image files in and out: every image becomes a uint8 (H, W, 3) RGB array.

Models take images through `model.preprocess`, which needs one thing from a file: RGB pixels. This
module hides the formats' differences (baseline and progressive JPEG, PNG, grayscale, palette,
RGBA, 16-bit, EXIF rotation) behind `load_image`, and gives the two geometric steps classifiers
are evaluated with (short side resize with Pillow's bilinear filter, centre crop), computed exactly
as torchvision computes them so accuracies match published ones.

Unreadable files and images too large to decode sensibly raise UnreadableImage (a ValueError)
with the file's name and the reason. Three limits keep a small file from taking a large amount
of memory, each an environment variable to raise it:
- TINYCONV_MAX_IMAGE_PIXELS (100 megapixels): pixels of a file, from its header, before decoding;
- TINYCONV_MAX_INPUT_PIXELS (4096 x 4096): pixels of a resize's result, computed before resizing,
  and of the sides asked for on the command line (what a network or a picture is made of);
- TINYCONV_MAX_ASPECT_RATIO (50): the long side over the short one of an image resized by its
  short side (a 1 x 5000 strip resized to 256 would be 1.28 million pixels wide).
Resizes beyond them raise ImageTooLarge (a ValueError).
"""
import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import writing

MAX_PIXELS = 100_000_000  # 10000 x 10000: beyond this an image is almost surely a mistake
MAX_INPUT_PIXELS = 4096 * 4096  # a network input or a picture: 16.8 megapixels
MAX_ASPECT_RATIO = 50  # panoramas are about 10:1
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


def max_image_pixels():
    """Pixels a file may have: TINYCONV_MAX_IMAGE_PIXELS, else MAX_PIXELS."""
    return _limit("TINYCONV_MAX_IMAGE_PIXELS", MAX_PIXELS)


def max_input_pixels():
    """Pixels a resized image or a picture asked for may have: TINYCONV_MAX_INPUT_PIXELS, else
    MAX_INPUT_PIXELS."""
    return _limit("TINYCONV_MAX_INPUT_PIXELS", MAX_INPUT_PIXELS)


def max_aspect_ratio():
    """Long side / short side an image resized by its short side may have:
    TINYCONV_MAX_ASPECT_RATIO, else MAX_ASPECT_RATIO."""
    return _limit("TINYCONV_MAX_ASPECT_RATIO", MAX_ASPECT_RATIO)


def _limit(variable, default):
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{variable} must be a whole number >= 1, got {text!r}")
    return int(text)


class ImageTooLarge(ValueError):
    """A resize whose result would pass TINYCONV_MAX_INPUT_PIXELS or TINYCONV_MAX_ASPECT_RATIO."""


def load_image(path, size=None, max_pixels=None):
    """Read an image file as a uint8 (H, W, 3) RGB array.

    size: None keeps the file's size; an int resizes the short side to it (bilinear); (H, W)
      resizes to exactly that.
    max_pixels: the limit of pixels in the file (None: max_image_pixels()).
    Transparent pixels (RGBA, LA, palette with transparency) are composited over white.
    """
    path, max_pixels = Path(path), max_pixels or max_image_pixels()
    try:
        with _open_without_pillow_limit(path) as im:
            _check_pixel_count(path, im.size, max_pixels)
            im = ImageOps.exif_transpose(im)
            rgb = _to_rgb(im)
        image = np.asarray(rgb, dtype=np.uint8)
        if size is not None:
            image = resize_short_side(image, size) if np.isscalar(size) else resize(image, size)
    except UnreadableImage:
        raise
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {path}") from None
    except IsADirectoryError:
        raise UnreadableImage(path, "a folder, not an image file") from None
    except ImageTooLarge as e:
        raise UnreadableImage(path, str(e)) from None
    # Pillow's decoders report a broken file as any of these (ValueError: a mode it cannot
    # convert, EOFError and struct.error: truncated headers and frames)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
            struct.error) as e:
        raise UnreadableImage(path, _reason(path, e)) from None
    return image


class UnreadableImage(ValueError):
    """An image file that cannot be decoded: `path`, and `reason` in a few words."""

    def __init__(self, path, reason):
        self.path, self.reason = Path(path), reason
        super().__init__(f"cannot read image {path}: {reason}")


def _reason(path, error):
    """Why a file is not a readable image, without repeating its name."""
    if isinstance(error, UnidentifiedImageError):
        return "empty file" if path.is_file() and path.stat().st_size == 0 else \
            "not an image file (Pillow cannot identify its format)"
    text = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return text[:1].lower() + text[1:] if text else "not a readable image file"


def _open_without_pillow_limit(path):
    """Image.open with Pillow's own size limit (a warning, and an error past twice it) off:
    `max_pixels` replaces it with one clear error, checked from the header before decoding."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        return Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _check_pixel_count(path, size, max_pixels):
    width, height = size
    if width * height > max_pixels:
        raise UnreadableImage(path, f"{width} x {height} = {_pixels(width * height)}, above the "
                                    f"limit of {_pixels(max_pixels)} (set "
                                    f"TINYCONV_MAX_IMAGE_PIXELS to load it anyway)")


def _pixels(count):
    """"16.8 megapixels", "8000 megapixels", "600 pixels"."""
    if count < 100_000:
        return f"{count} pixels"
    return f"{count / 1e6:.1f}".removesuffix(".0") + " megapixels"


def _to_rgb(im):
    """A Pillow image in any mode as an RGB Pillow image (alpha composited over white)."""
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in WIDE_MODES:
        im = Image.fromarray(_wide_to_uint8(im))
    if im.mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    return im.convert("RGB")


WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _wide_to_uint8(im):
    """A single-channel image with more than 8 bits as uint8 (H, W), by a fixed rule that does
    not depend on the image's own values (a uniform grey stays that grey):
    - 16-bit (I;16*, and I, which holds 16-bit PNG and PGM samples in some Pillow versions):
      v / 257 rounded, the inverse of the 8 -> 16 bit expansion v * 257 (65535 -> 255,
      32896 -> 128); I values outside 0..65535 are clipped to it;
    - F (32-bit float TIFF): 0..1 is black..white, clipped; NaN or infinite samples are refused.
    """
    if im.mode == "F":
        values = np.asarray(im, dtype=np.float32)
        if not np.isfinite(values).all():
            raise ValueError("float image with NaN or infinite samples")
        return np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8)
    values = np.asarray(im)
    out = np.empty(values.shape, np.uint8)
    for start in range(0, len(values), 256):  # by rows: no full-size wide temporaries
        rows = np.clip(values[start:start + 256].astype(np.int64), 0, 65535)
        out[start:start + 256] = (rows + 128) // 257
    return out


def list_images(paths):
    """Image files named by `paths`: files as given, folders searched one level deep (sorted)."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.iterdir()
                            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        else:
            found.append(path)
    return found


def resize(image, size, resample=Image.BILINEAR):
    """uint8 (H, W, 3) image resized to size = (H, W) with a Pillow filter (antialiased);
    ImageTooLarge beyond max_input_pixels()."""
    height, width = size
    check_input_size(height, width)
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), resample))


def resize_short_side(image, size, resample=Image.BILINEAR):
    """Resize so the shorter side is `size`, keeping the aspect ratio (torchvision's Resize)."""
    height, width = image.shape[:2]
    ratio, limit = max(height, width) / min(height, width), max_aspect_ratio()
    if ratio > limit:
        raise ImageTooLarge(f"{width} x {height} pixels has an aspect ratio of {ratio:.0f}:1, "
                            f"above the limit of {limit}:1 for a resize by the short side (set "
                            f"TINYCONV_MAX_ASPECT_RATIO to allow more)")
    if height <= width:
        new = (size, int(size * width / height))
    else:
        new = (int(size * height / width), size)
    return resize(image, new, resample)


def check_input_size(height, width, what="resizing to"):
    """ImageTooLarge unless a height x width picture is within max_input_pixels()."""
    limit = max_input_pixels()
    if height < 1 or width < 1:
        raise ImageTooLarge(f"{what} {width} x {height} pixels: sides must be >= 1")
    if height * width > limit:
        raise ImageTooLarge(f"{what} {width} x {height} = {_pixels(height * width)} is above "
                            f"the limit of {_pixels(limit)} (set "
                            f"TINYCONV_MAX_INPUT_PIXELS to allow more)")


def center_crop(image, size):
    """The centre (H, W) = size window of an (H0, W0, ...) image, torchvision's rounding."""
    height, width = (size, size) if np.isscalar(size) else size
    h0, w0 = image.shape[:2]
    if height > h0 or width > w0:
        raise ValueError(f"centre crop {height}x{width} is larger than the image {h0}x{w0}; "
                         f"resize first")
    top = int(round((h0 - height) / 2.0))
    left = int(round((w0 - width) / 2.0))
    return image[top:top + height, left:left + width]


def to_uint8(image):
    """uint8 copy of an image array: floats are taken as 0..1 when max <= 1, else as 0..255."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    if image.dtype.kind == "f" and image.size and np.nanmax(image) <= 1.0:
        image = image * 255.0
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def save_image(path, image):
    """Write an (H, W, 3) or (H, W) image (uint8, or float in 0..1 or 0..255) to a PNG/JPEG file.

    The format follows the file extension; the folder is created when missing. Written through
    tinyconv.atomic.writing: the old file stays whole until the new one is complete.
    """
    image = to_uint8(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"save_image expects (H, W), (H, W, 3) or (H, W, 4); got {image.shape}")
    kind = _format_of(Path(path))
    with writing(path) as tmp:
        Image.fromarray(image).save(tmp, format=kind)
    return Path(path)


def _format_of(path):
    """PIL's format name for the extension of `path` (ValueError naming it when unknown)."""
    Image.init()
    suffix = path.suffix.lower()
    if suffix not in Image.EXTENSION:
        raise ValueError(f"{path}: unknown picture extension {suffix or '(none)'}; use .png or "
                         f".jpg")
    return Image.EXTENSION[suffix]


def find_images(folders):
    """Image files in `folders` (files or folders, one level deep); FileNotFoundError if none,
    naming the accepted extensions and any subfolders that could be meant instead."""
    folders = [folders] if isinstance(folders, (str, os.PathLike)) else list(folders)
    missing = [str(f) for f in folders if not Path(f).exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    paths = list_images(folders)
    if not paths:
        subfolders = sorted(p.name for f in folders if Path(f).is_dir()
                            for p in Path(f).iterdir() if p.is_dir())
        hint = (f"; it has subfolders ({', '.join(subfolders[:20])}): name one of them, or pass "
                f"the folder to a command that reads labelled subfolders") if subfolders else ""
        raise FileNotFoundError(f"no images in {', '.join(map(str, folders))} (looked for "
                                f"{', '.join(IMAGE_EXTENSIONS)}){hint}")
    return paths


def labelled_images(folder, per_class=None):
    """Images of a folder with one subfolder per class (CIFAR-10 style), sorted.

    Returns (paths, labels (N,) int64, class_names); a folder holding images directly, and no
    subfolder with images, is one unnamed class. per_class keeps the first n files of each class.
    """
    folder = Path(folder)
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and list_images([p])) \
        if folder.is_dir() else []
    if not classes:
        paths = find_images([folder])[:per_class]
        return paths, np.zeros(len(paths), dtype=np.int64), [folder.name]
    paths, labels, names = [], [], []
    for sub in classes:
        found = list_images([sub])[:per_class]
        if found:
            labels += [len(names)] * len(found)
            names.append(sub.name)
            paths += found
    return paths, np.array(labels, dtype=np.int64), names
