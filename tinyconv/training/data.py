"""Training data: labelled images decoded once into memory, augmentation, and mini-batches.

A Dataset holds every image as one uint8 (N, H, W, 3) array (CIFAR-10's 50,000 training images are
150 MB), so an epoch never touches the disk or a JPEG decoder again. It comes from a folder with
one subfolder per class (the subfolders' names, sorted, are the class names, as the CIFAR-10
assets are laid out) or from arrays.

The size rule: every image is brought to the model's input size (H, W) as the model would see it
(short side resized to the size's long side, then a centre crop), so images of
mixed sizes form one array; an image already at that size is kept as it is. Without a size (an
architecture that takes any size) all images must have the first one's size, and one that differs
is refused with both sizes named. Unreadable files are skipped with a warning (a SkipUnreadable,
strict=True stops at the first), and a folder whose classes are empty, or that holds only one
class, is refused: a classifier needs at least two classes with images.
"""
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..image import ImageTooLarge, UnreadableImage, center_crop, list_images, load_image, resize_short_side
from ..methods.features import SkipUnreadable
from ..progress import Progress


@dataclass
class Dataset:
    """images: uint8 (N, H, W, 3) RGB; labels: int64 (N,); class_names: one per class index."""
    images: np.ndarray
    labels: np.ndarray
    class_names: list

    def __len__(self):
        return len(self.labels)

    def subset(self, count, seed=0):
        """A class-balanced subset of about `count` images (the same ones for the same seed),
        or the whole set when it has no more."""
        if count is None or count >= len(self):
            return self
        order = np.random.default_rng(seed).permutation(len(self))
        keep = np.sort(order[:count])
        return Dataset(self.images[keep], self.labels[keep], self.class_names)


def from_arrays(images, labels, class_names=None):
    """A Dataset from uint8 (N, H, W, 3) images and integer labels (N,) in [0, classes)."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise BadInput(f"training images must be uint8 (N, H, W, 3) RGB, got {images.dtype} "
                       f"{images.shape}")
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
        raise BadInput(f"labels must be {len(images)} integers, got {labels.dtype} "
                       f"{labels.shape}")
    count = int(labels.max()) + 1 if len(labels) else 0
    class_names = list(class_names) if class_names is not None else [str(k) for k in range(count)]
    if len(labels) and (labels.min() < 0 or count > len(class_names)):
        raise BadInput(f"labels must lie in 0..{len(class_names) - 1}, got {labels.min()}.."
                       f"{labels.max()}")
    _check_classes(np.bincount(labels, minlength=len(class_names)), class_names, "the arrays")
    return Dataset(images, labels.astype(np.int64), class_names)


def _check_classes(counts, class_names, where):
    """BadInput unless at least two classes have images (naming the empty ones)."""
    empty = [name for name, n in zip(class_names, counts) if n == 0]
    if len(class_names) - len(empty) < 2:
        found = len(class_names) - len(empty)
        raise BadInput(f"{where}: a classifier needs images of at least 2 classes, found "
                       f"{found}" + (f" (empty: {', '.join(empty)})" if empty else ""))
    if empty:
        raise BadInput(f"{where}: class folder(s) without readable images: {', '.join(empty)}")


def class_folders(folder):
    """(class names, [paths of each class]) of a folder with one subfolder per class."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir())
    if not subfolders:
        raise BadInput(f"{folder}: a training folder needs one subfolder per class (images in "
                       f"{folder}/<class>/), found none")
    return [p.name for p in subfolders], [list_images([p]) for p in subfolders]


def from_folder(folder, size=None, skip=None, limit=None, seed=0, stream=None):
    """A Dataset of the images in folder/<class>/ (see the module's rules), decoded once with a
    progress line. size: (H, W) of the model's input or None; skip: a SkipUnreadable (default:
    skip with a warning on stderr); limit: keep about this many files, balanced over classes
    (a random choice fixed by `seed`), before decoding."""
    names, per_class = class_folders(folder)
    _check_classes([len(p) for p in per_class], names, str(folder))
    paths = [p for found in per_class for p in found]
    labels = np.concatenate([np.full(len(p), k, np.int64) for k, p in enumerate(per_class)])
    if limit is not None and limit < len(paths):
        keep = np.sort(np.random.default_rng(seed).permutation(len(paths))[:limit])
        paths, labels = [paths[i] for i in keep], labels[keep]
    skip = skip or SkipUnreadable(warn=lambda m: print(f"warning: {m}", file=sys.stderr))
    images, kept = _decode(paths, size, skip, f"decoding {folder}", stream)
    skip.check_any_left(len(images), len(paths))
    labels = labels[kept]
    _check_classes(np.bincount(labels, minlength=len(names)), names, str(folder))
    return Dataset(np.stack(images), labels, names)


def _decode(paths, size, skip, what, stream):
    """(images brought to one size, indices of the readable paths), with a progress line."""
    images, kept = [], []
    with Progress(what, len(paths), "image", stream=stream) as progress:
        for i, path in enumerate(paths):
            try:
                image = _sized(load_image(path), size, images[0].shape if images else None,
                               path)
            except UnreadableImage as error:
                skip(error)
            except ImageTooLarge as error:  # a resize beyond the aspect-ratio limit
                skip(UnreadableImage(path, str(error)))
            else:
                images.append(image)
                kept.append(i)
            progress.update(i + 1)
    return images, np.array(kept, dtype=np.int64)


def _sized(image, size, first, path):
    """The image at `size` (short side, then centre crop); without one, it must match the first."""
    if size is not None:
        if image.shape[:2] != tuple(size):
            image = center_crop(resize_short_side(image, max(size)), tuple(size))
        return image
    if first is not None and image.shape != first:
        raise BadInput(f"{path}: image of {image.shape[1]}x{image.shape[0]} pixels, but the "
                       f"first image is {first[1]}x{first[0]} and this architecture has no "
                       f"input size to resize to")
    return image


def augment(images, rng, pad=4, flip=True):
    """Random crops with `pad` pixels of zero padding and random horizontal flips of a uint8
    (N, H, W, 3) batch -> a new array of the same shape; rng: a numpy Generator."""
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0))) if pad else images
    ys = rng.integers(0, 2 * pad + 1, n)
    xs = rng.integers(0, 2 * pad + 1, n)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, bool)
    out = np.empty_like(images)
    for i in range(n):
        crop = padded[i, ys[i]:ys[i] + h, xs[i]:xs[i] + w]
        out[i] = crop[:, ::-1] if flips[i] else crop
    return out


def image_folder(paths, size, skip=None, limit=None, seed=0, stream=None):
    """Unlabelled images (the content photos or paintings of style training) from files and
    folders, decoded once into a uint8 (N, size, size, 3) array: short side to `size`, centre
    crop. limit: keep about this many files (a random choice fixed by `seed`). A folder without
    images is refused, naming it."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
    files = list_images(paths)
    if not files:
        raise BadInput(f"no images in {', '.join(map(str, paths))} (image files: .jpg, .png, "
                       f"...; folders are searched one level deep)")
    if limit is not None and limit < len(files):
        keep = np.sort(np.random.default_rng(seed).permutation(len(files))[:limit])
        files = [files[i] for i in keep]
    skip = skip or SkipUnreadable(warn=lambda m: print(f"warning: {m}", file=sys.stderr))
    images, _ = _decode(files, (size, size), skip, f"decoding {', '.join(map(str, paths))}",
                        stream)
    skip.check_any_left(len(images), len(files))
    return np.stack(images)


def random_crops(images, size, rng, flip=True):
    """A random size x size crop of each uint8 (N, H, W, 3) image, flipped left-right with
    probability 1/2 -> (N, size, size, 3); rng: a numpy Generator."""
    n, h, w, _ = images.shape
    ys, xs = rng.integers(0, h - size + 1, n), rng.integers(0, w - size + 1, n)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, bool)
    out = np.empty((n, size, size, 3), images.dtype)
    for i in range(n):
        crop = images[i, ys[i]:ys[i] + size, xs[i]:xs[i] + size]
        out[i] = crop[:, ::-1] if flips[i] else crop
    return out


def batches(count, batch_size, rng=None):
    """Index arrays of consecutive mini-batches over `count` items, shuffled by rng when given
    (the last batch may be smaller)."""
    order = rng.permutation(count) if rng is not None else np.arange(count)
    return [order[i:i + batch_size] for i in range(0, count, batch_size)]
