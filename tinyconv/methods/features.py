"""Features of one layer over a folder of images, computed once and cached on disk.

Nearest neighbours, embeddings and maximally activating patches all start from the same thing: one
vector per image from a named layer. A spatial layer (N, C, h, w) is pooled to (N, C) by a global
average or a global max; the max also records where each channel peaked, which is what the patch
finder needs. Running a network over a folder is the slow part, so the result goes to an .npz file
whose name is a SHA-256 of everything that determines it: the model's weights (their bytes), the
layer, the pooling, the input geometry, and every file's path and the SHA-256 of its bytes
(content, not modification times, which can be set back; hashing is cheap next to a forward
pass). Change any of these and the features are computed again. A cache file is used only when
its stored key, its paths, its shapes and the finiteness of its values check out; anything else
(truncated, bad CRC, 5 rows for 40 images, NaN rows) is computed again and replaced, with a
warning. A cache path that is not a regular file (a folder, a link) is neither read nor replaced. A file that cannot be read is skipped or stops
the run, as a SkipUnreadable says; the cache remembers the skipped files and their reasons, so a
cached result reports them again and never gives a row to one of them.
"""
import hashlib
import json
import os
import stat
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import writing
from ..cache import cache_dir
from ..engine.backend import to_numpy, xp_for
from ..image import ImageTooLarge, UnreadableImage, load_image, resize
from ..engine.tensor import no_grad

POOLINGS = ("avg", "max", "none")
CACHE_VERSION = 3  # 3: keyed by file contents, the key stored in the file and checked


@dataclass
class Features:
    """values (N, D) float32, one row per file of `paths`; positions (N, C) int64, only for
    pooling="max" on a spatial layer: the flat index (y * w + x) of each channel's maximum;
    map_shape: the layer's (C, h, w) (or (D,)) for one image; from_cache: read from disk;
    skipped: (path, reason) of each unreadable file left out of `paths`."""
    values: np.ndarray
    paths: list
    layer: str
    pooling: str
    map_shape: tuple
    positions: np.ndarray = None
    from_cache: bool = False
    skipped: list = field(default_factory=list)


class SkipUnreadable:
    """What a run over many images does with one it cannot read: skip it (kept in `skipped` as
    (path, reason), and warn(message) is told), or with strict=True raise its UnreadableImage."""

    def __init__(self, strict=False, warn=None):
        self.strict, self.warn, self.skipped = strict, warn, []

    def __call__(self, error):
        if self.strict:
            raise error
        self.skipped.append((error.path, error.reason))
        if self.warn:
            self.warn(f"skipped {error.path}: {error.reason}")

    def check_any_left(self, kept, total):
        """ValueError when none of `total` images was readable (`kept` of them were)."""
        if not kept and self.skipped:
            path, reason = self.skipped[0]
            raise ValueError(f"none of the {total} images can be read (the first: {path}: "
                             f"{reason})")


def read_images(paths, skip=None, prepare=None):
    """The readable files of `paths` -> (list of uint8 (H, W, 3) images, passed through
    prepare(image) when given; their paths). skip: a SkipUnreadable (None: raise at the first
    unreadable file)."""
    skip = skip or SkipUnreadable(strict=True)
    images, kept = [], []
    for path in paths:
        try:
            image = load_image(path)
            images.append(prepare(image) if prepare else image)
        except ImageTooLarge as error:  # the resize prepare asked for is beyond a limit
            skip(UnreadableImage(path, str(error)))
            continue
        except UnreadableImage as error:
            skip(error)
            continue
        kept.append(path)
    return images, kept


def model_images(model, paths, image_size=None, thumbnail=None):
    """Images as the model sees them -> uint8 (N, H, W, 3).

    image_size None: the model's own geometry (short-side resize and centre crop to its input
    size); an int s or (H, W): every image resized to exactly that (CIFAR-10 upsampled to 224).
    thumbnail: an int t shrinks each result to (t, t) afterwards (pixel space, picture grids).
    """
    return stack_images(model, readable_model_images(model, paths, image_size, thumbnail)[0])


def readable_model_images(model, paths, image_size=None, thumbnail=None, skip=None):
    """model_images of the readable files of `paths`, unstacked -> (list of images, their
    paths); skip: as in read_images."""
    def prepare(image):
        if image_size is not None:
            image = resize(image, _pair(image_size))
        else:
            image = model.preprocessing.prepare_image(image)
        return resize(image, _pair(thumbnail)) if thumbnail else image

    return read_images(paths, skip, prepare)


def stack_images(model, images):
    """Images of one size -> (N, H, W, 3); ValueError naming the sizes when they differ."""
    sizes = sorted({image.shape for image in images})
    if len(sizes) > 1:
        raise ValueError(f"{model.arch} takes images of any size, and these differ ({sizes[:3]}"
                         f"...); pass an image size to resize them all to")
    return np.stack(images)


def _check_pooling(pooling):
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")


def _pair(size):
    return (size, size) if np.isscalar(size) else tuple(size)


def image_features(model, paths, layer, pooling="avg", image_size=None, batch_size=32,
                   cache_dir=None, progress=None, skip=None):
    """Features of `layer` for every image file of `paths` -> Features.

    pooling: "avg" or "max" over the spatial positions of a (N, C, h, w) layer, or "none"
    (flattened C * h * w); layers without positions are taken as they are. image_size: see
    model_images. cache_dir: folder of the .npz cache (None: TINYCONV_CACHE or ~/.cache/tinyconv,
    under features/; False: no cache). progress(done, total) is called after every batch.
    skip: a SkipUnreadable (None: an unreadable file raises); Features.paths then holds the
    readable files only, and a cached result tells `skip` about the same files again.
    """
    skip = skip or SkipUnreadable(strict=True)
    _check_pooling(pooling)
    layer = model.resolve(layer)
    paths = [Path(p) for p in paths]
    if not paths:
        raise FileNotFoundError("no image files given to compute features of")
    warn = _warner(skip)
    cache_file, key, cached = (None, None, None) if cache_dir is False else \
        _look_up(model, paths, layer, pooling, image_size, cache_dir, warn)
    if cached is not None:
        for path, reason in cached["skipped"]:
            skip(UnreadableImage(path, reason))
        return Features(layer=layer, pooling=pooling, from_cache=True, **cached)
    values, positions, kept, map_shape = [], [], [], None
    first_skipped = len(skip.skipped)
    for start in range(0, len(paths), batch_size):
        images, readable = readable_model_images(model, paths[start:start + batch_size],
                                                 image_size, skip=skip)
        if images:
            x = model.preprocess(list(stack_images(model, images)), resize=False)
            pooled, where, map_shape = batch_features(model, x, layer, pooling)
            values.append(pooled)
            kept += readable
            if where is not None:
                positions.append(where)
        if progress:
            progress(min(start + batch_size, len(paths)), len(paths))
    skip.check_any_left(len(kept), len(paths))
    features = Features(np.concatenate(values), kept, layer, pooling, map_shape,
                        np.concatenate(positions) if positions else None,
                        skipped=skip.skipped[first_skipped:])
    if cache_file is not None:
        _write_cache(cache_file, key, features, warn)
    return features


def array_features(model, x, layer, pooling="avg", batch_size=32):
    """Features of `layer` for a preprocessed input batch x (N, 3, H, W) numpy -> (N, D) float32
    numpy, computed `batch_size` images at a time on the model's device; pooling as in
    image_features. No cache: the inputs are arrays, not files."""
    _check_pooling(pooling)
    layer = model.resolve(layer)
    xp = xp_for(model.device)
    return np.concatenate([batch_features(model, xp.asarray(x[i:i + batch_size]), layer,
                                          pooling)[0] for i in range(0, len(x), batch_size)])


def batch_features(model, x, layer, pooling):
    """One forward pass of input batch x (N, 3, H, W) (Tensor or array on the model's device) up
    to `layer` -> (values (N, D) float32 numpy, positions or None (see pool_features), the
    layer's map shape for one image)."""
    with no_grad():
        act = model.forward(x, layers=[layer])[layer].data  # (N, C, h, w) or (N, D)
    return (*pool_features(act, pooling), tuple(act.shape[1:]))


def pool_features(act, pooling):
    """Pool activations (N, C, h, w) (numpy or CuPy) -> (values (N, D) float32 numpy,
    positions (N, C) int64 of the max for pooling="max", else None). 2-D input passes through."""
    if act.ndim == 2 or pooling == "none":
        return to_numpy(act.reshape(act.shape[0], -1)).astype(np.float32), None
    flat = act.reshape(act.shape[0], act.shape[1], -1)  # (N, C, h * w)
    if pooling == "avg":
        return to_numpy(flat.mean(axis=2)).astype(np.float32), None
    where = flat.argmax(axis=2)  # (N, C)
    values = flat.max(axis=2)
    return to_numpy(values).astype(np.float32), to_numpy(where).astype(np.int64)


def model_digest(model):
    """SHA-256 (hex) of a model's architecture name, parameter names, shapes, dtypes and bytes."""
    digest = hashlib.sha256(model.arch.encode())
    for key, param in model.params.items():
        data = np.ascontiguousarray(to_numpy(param.data))
        digest.update(f"{key}{data.shape}{data.dtype}".encode())
        digest.update(data.tobytes())
    return digest.hexdigest()


def _warner(skip):
    """Where cache warnings go: the run's SkipUnreadable's warn (the CLI's stderr line), else
    Python's warnings."""
    return skip.warn or (lambda message: warnings.warn(message, RuntimeWarning, stacklevel=4))


def _default_cache_dir():
    return cache_dir() / "features"


def _cache_key(model, paths, layer, pooling, image_size):
    files = [[str(path.resolve()), _content_digest(path)] for path in paths]
    description = dict(version=CACHE_VERSION, weights=model_digest(model), layer=layer,
                       pooling=pooling, image_size=image_size, dtype=str(model.dtype),
                       preprocessing=model.preprocessing.to_dict(), files=files)
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _content_digest(path, chunk=1 << 20):
    """SHA-256 of a file's bytes: the cache follows content, not mtimes (which can be set back).
    Anything but a regular file (missing, a FIFO that would block) gets a marker instead; reading
    it as an image fails later with its own message."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return "not a regular file"
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(chunk), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError as e:
        return f"unreadable: {e.strerror}"


def _look_up(model, paths, layer, pooling, image_size, cache_dir, warn):
    """(the cache file, None when its path is taken by a folder or a link; the key; the cached
    features as Features' fields, None when missing or bad)."""
    key = _cache_key(model, paths, layer, pooling, image_size)
    folder = Path(cache_dir) if cache_dir else _default_cache_dir()
    path = folder / f"{model.arch}_{layer.replace('/', '-')}_{pooling}_{key[:24]}.npz"
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):  # writing it will say what is wrong
        return path, key, None
    except OSError as e:
        warn(f"feature cache {path} cannot be read ({e.strerror}); computing without the cache")
        return None, key, None
    if not stat.S_ISREG(info.st_mode):
        warn(f"feature cache {path} is not a regular file; computing without the cache "
             f"(remove it to cache again)")
        return None, key, None
    return path, key, _read_cache(path, key, paths, warn)


def _read_cache(path, key, paths, warn):
    """The cached features at `path` as Features' fields, or None (another key, or bad: `warn`
    is told why, and the features are computed again and the file replaced)."""
    try:
        return _checked_cache(path, key, paths)
    except _Stale:
        return None
    except Exception as e:  # any damage (BadZipFile, EOFError, bad CRC, ...): computed again
        warn(f"feature cache {path} is damaged ({type(e).__name__}: {e}); computing the "
             f"features again")
        return None


class _Stale(Exception):
    """A cache file that belongs to other inputs (a hash-prefix collision): computed again."""


def _checked_cache(path, key, paths):
    """Read and check one cache file; raises on anything inconsistent."""
    with zipfile.ZipFile(path) as z:  # stored members only: nothing inflates past the file size
        if any(m.compress_type != zipfile.ZIP_STORED for m in z.infolist()):
            raise ValueError("compressed members")
    with np.load(path, allow_pickle=False) as data:
        if str(data["key"]) != key:
            raise _Stale()
        kept, skipped = [str(p) for p in data["paths"]], [str(p) for p in data["skipped"]]
        if sorted(kept + skipped) != sorted(str(p) for p in paths):
            raise _Stale()
        values, positions = data["values"], data["positions"]
        map_shape = tuple(int(v) for v in data["map_shape"])
        reasons = [str(r) for r in data["reasons"]]
    _check_arrays(values, positions, map_shape, len(kept))
    return dict(values=values, paths=[Path(p) for p in kept],
                positions=positions if positions.size else None, map_shape=map_shape,
                skipped=[(Path(p), r) for p, r in zip(skipped, reasons, strict=True)])


def _check_arrays(values, positions, map_shape, rows):
    """ValueError unless the arrays are rows x D finite float32 features of a map_shape layer."""
    if values.dtype != np.float32 or values.ndim != 2 or values.shape[0] != rows:
        raise ValueError(f"values are {values.dtype} {values.shape}, expected float32 with "
                         f"{rows} rows")
    if not np.isfinite(values).all():
        raise ValueError(f"{int((~np.isfinite(values)).sum())} values are NaN or infinite")
    width = values.shape[1]
    if not map_shape or (int(np.prod(map_shape)) != width and map_shape[0] != width):
        raise ValueError(f"map shape {map_shape} does not give {width} features")
    if positions.size and (positions.shape != values.shape or positions.dtype != np.int64 or
                           positions.min() < 0 or
                           positions.max() >= int(np.prod(map_shape[1:]))):
        raise ValueError(f"positions are {positions.dtype} {positions.shape}, out of range")


def _write_cache(path, key, features, warn):
    """Write the cache file (tinyconv.atomic.writing); a failure only costs the cache: warned."""
    if not np.isfinite(features.values).all():
        return  # NaN features are never served from a cache
    positions = features.positions if features.positions is not None else np.zeros(0, np.int64)
    try:
        with writing(path) as temporary, open(temporary, "wb") as f:
            np.savez(f, key=np.array(key), values=features.values, positions=positions,
                     paths=np.array([str(p) for p in features.paths], dtype=str),
                     skipped=np.array([str(p) for p, _ in features.skipped], dtype=str),
                     reasons=np.array([r for _, r in features.skipped], dtype=str),
                     map_shape=np.array(features.map_shape, dtype=np.int64))
    except OSError as e:
        warn(f"feature cache not written: {e}")
