"""Image files in and out: every image becomes a uint8 (H, W, 3) RGB array.

Models take images through `model.preprocess`, which needs one thing from a file: RGB pixels. This
module hides the formats' differences (baseline and progressive JPEG, PNG, grayscale, palette,
RGBA, 16-bit, EXIF rotation) behind `load_image`, and gives the two geometric steps classifiers
are evaluated with (short side resize with Pillow's bilinear filter, centre crop), computed exactly
as torchvision computes them so accuracies match published ones.

Unreadable files and images too large to decode sensibly raise UnreadableImage (a ValueError)
with the file's name and the reason; the pixel limit is checked from the header, before any pixel is decoded.
"""
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import writing

MAX_PIXELS = 100_000_000  # 10000 x 10000: beyond this an image is almost surely a mistake
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


def load_image(path, size=None, max_pixels=MAX_PIXELS):
    """Read an image file as a uint8 (H, W, 3) RGB array.

    size: None keeps the file's size; an int resizes the short side to it (bilinear); (H, W)
      resizes to exactly that.
    Transparent pixels (RGBA, LA, palette with transparency) are composited over white.
    """
    path = Path(path)
    try:
        with _open_without_pillow_limit(path) as im:
            _check_pixel_count(path, im.size, max_pixels)
            im = ImageOps.exif_transpose(im)
            rgb = _to_rgb(im)
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise UnreadableImage(path, _reason(path, e)) from None
    image = np.asarray(rgb, dtype=np.uint8)
    if size is not None:
        image = resize_short_side(image, size) if np.isscalar(size) else resize(image, size)
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
        raise UnreadableImage(path, f"{width} x {height} = {width * height / 1e6:.0f} megapixels, "
                                    f"above the limit of {max_pixels / 1e6:.0f} megapixels (pass "
                                    f"max_pixels= to load it anyway)")


def _to_rgb(im):
    """A Pillow image in any mode as an RGB Pillow image (alpha composited over white)."""
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale PNGs: scale to 8 bits instead of clipping at 255
        wide = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(wide / max(wide.max(), 1) * 255, 0, 255).astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    return im.convert("RGB")


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
    """uint8 (H, W, 3) image resized to size = (H, W) with a Pillow filter (antialiased)."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), resample))


def resize_short_side(image, size, resample=Image.BILINEAR):
    """Resize so the shorter side is `size`, keeping the aspect ratio (torchvision's Resize)."""
    height, width = image.shape[:2]
    if height <= width:
        new = (size, int(size * width / height))
    else:
        new = (int(size * height / width), size)
    return resize(image, new, resample)


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
