"""`tinyconv weights fetch NAME`: download official torchvision weights once, convert, cache.

The cache (TINYCONV_CACHE, default ~/.cache/tinyconv) holds converted files `<name>.h5`; once one
is there, fetching or loading that name needs no network. A download streams into a temporary
file beside its destination while its SHA-256 is computed, is checked against the length the
server announced and against the published digest, and only then is converted; the converted file
is written to a temporary name and renamed into place. So the cache never holds a half-written or
unverified file, whatever fails and whenever the process is killed.

torchvision publishes, in each file name, the first hex digits of the file's SHA-256 (e.g.
vgg16-397923af.pth) and torch.hub checks exactly that prefix; Source.sha256 holds a full digest
or such a published prefix, and `verify_sha256` accepts a digest that starts with it.
"""
import hashlib
import os
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from ..cache import cache_dir
from ..progress import Progress
from .convert import attach_labels, convert, read_labels
from .format import is_tinyconv_file, read_source, read_weights, write_weights

CHUNK = 1 << 20
TORCHVISION_URL = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class Source:
    """One downloadable weight file: registry name, architecture, URL, SHA-256 (or prefix)."""
    name: str
    arch: str
    url: str
    sha256: str

    @property
    def filename(self):
        return self.url.rstrip("/").rsplit("/", 1)[-1]


REGISTRY = {s.name: s for s in (
    Source("alexnet", "alexnet", TORCHVISION_URL + "alexnet-owt-7be5be79.pth", "7be5be79"),
    Source("vgg11", "vgg11", TORCHVISION_URL + "vgg11-8a719046.pth", "8a719046"),
    Source("vgg13", "vgg13", TORCHVISION_URL + "vgg13-19584684.pth", "19584684"),
    Source("vgg16", "vgg16", TORCHVISION_URL + "vgg16-397923af.pth", "397923af"),
    Source("vgg19", "vgg19", TORCHVISION_URL + "vgg19-dcbb9e9d.pth", "dcbb9e9d"),
    Source("squeezenet1_0", "squeezenet1_0", TORCHVISION_URL + "squeezenet1_0-b66bff10.pth",
           "b66bff10"),
    Source("squeezenet1_1", "squeezenet1_1", TORCHVISION_URL + "squeezenet1_1-b8a52dc0.pth",
           "b8a52dc0"),
)}


class DownloadError(RuntimeError):
    """A download failed, was incomplete, or did not match its published SHA-256."""


def cached_path(name, cache=None):
    """Where the cache keeps the weights named `name` (a plain name, no folders)."""
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"{name!r} is not a name for weights in the cache (no folders)")
    return Path(cache or cache_dir()) / f"{name}.h5"


def cached_weights(name, cache=None):
    """Path of the weights named `name` in the cache (fetched or converted), or None."""
    if not name or Path(name).name != name:
        return None  # a path, never a name in the cache
    path = cached_path(name, cache)
    return path if path.is_file() and is_tinyconv_file(path) else None


def cached_names(cache=None):
    """Names of the weights in the cache, sorted: what `cached_weights` finds."""
    folder = Path(cache or cache_dir())
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.h5") if is_tinyconv_file(p))


def is_download_of(path, source):
    """Whether the tinyconv file `path` was converted from `source`'s published file."""
    return read_source(path)[1].startswith(source.sha256.lower())


def verify_sha256(digest, expected, what):
    """Raise DownloadError unless hex `digest` equals `expected` or starts with that prefix."""
    expected = expected.lower()
    if len(expected) < 8 or not digest.startswith(expected):
        raise DownloadError(f"SHA-256 mismatch for {what}: got {digest}, expected "
                            f"{expected}{'...' if len(expected) < 64 else ''}; the file is "
                            f"corrupt or not the published one, and was not kept")


def download_status(done, total, seconds):
    """What a download's progress shows: a bar, percentage and megabytes (or only megabytes
    when the server announced no length), and the speed."""
    speed = done / max(seconds, 1e-9) / 1e6
    if not total:
        return f"{done / 1e6:.1f} MB, {speed:.1f} MB/s"
    fill = int(30 * done / total)
    return (f"[{'#' * fill}{'.' * (30 - fill)}] {100 * done / total:5.1f}% "
            f"{done / 1e6:.1f}/{total / 1e6:.1f} MB, {speed:.1f} MB/s")


def download(url, dest, sha256, progress=None, timeout=60):
    """Download `url` to `dest` atomically, checking length and SHA-256 (or published prefix).

    progress: False for none; True or None: on stderr (tinyconv.progress: a bar redrawn on a
    terminal, a line every tenth of the file in a log). Returns dest.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    show = progress is not False
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        digest = hashlib.sha256()
        done = 0
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)
            except (urllib.error.URLError, OSError) as e:
                raise DownloadError(f"cannot download {url}: {getattr(e, 'reason', e)}") from None
            with response:
                total = int(response.headers.get("Content-Length") or 0)
                bar = Progress(f"downloading {dest.name}", total or None) if show else None
                started = time.monotonic()
                while True:
                    try:
                        block = response.read(CHUNK)
                    except (OSError, ValueError) as e:  # connection reset, IncompleteRead
                        raise DownloadError(f"download of {url} broke off after {done} bytes "
                                            f"({e})") from None
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if bar:
                        bar.update(done, status=download_status(done, total,
                                                                time.monotonic() - started))
                if bar:
                    bar.close()
        if total and done != total:
            raise DownloadError(f"download of {url} is truncated: {done} of {total} bytes")
        verify_sha256(digest.hexdigest(), sha256, url)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dest


def resolve_source(name_or_source, mirror=None):
    """The Source for a registry name (or a Source), its URL moved to `mirror` when given."""
    if isinstance(name_or_source, Source):
        source = name_or_source
    elif name_or_source in REGISTRY:
        source = REGISTRY[name_or_source]
    else:
        raise KeyError(f"no downloadable weights named {name_or_source!r}; known: "
                       f"{', '.join(REGISTRY)}")
    mirror = mirror or os.environ.get("TINYCONV_MIRROR")
    if mirror:
        source = replace(source, url=mirror.rstrip("/") + "/" + source.filename)
    return source


def fetch(name_or_source, cache=None, labels=None, progress=None, force=False, mirror=None,
          timeout=60):
    """Path of the converted weights of `name_or_source`, downloading and converting once.

    cache: cache folder (default cache_dir()); labels: a labels file (or list of names) stored
    with the weights, also into weights already cached;
    force: download again even when cached; mirror: base URL replacing the official one
    (also TINYCONV_MIRROR).
    """
    source = resolve_source(name_or_source, mirror)
    cache = Path(cache or cache_dir())
    target = cached_path(source.name, cache)
    if isinstance(labels, (str, Path)):
        read_labels(labels)  # a missing or unreadable labels file fails before any download
    if not force and cached_weights(source.name, cache):
        if is_download_of(target, source):
            if labels is not None:  # asked for labels: store them in the cached file
                write_weights(target, attach_labels(read_weights(target), labels))
            return target
        raise FileExistsError(
            f"the cache's {target} holds weights converted from "
            f"{read_source(target)[0] or 'another file'}, not the official {source.filename}; "
            f"to replace them with the official ones, fetch again with --force (force=True in "
            f"Python)")
    download_dir = cache / "downloads"
    raw = download(source.url, download_dir / source.filename, source.sha256, progress, timeout)
    try:
        wf = convert(raw, arch=source.arch, labels=labels)
        wf.source_file = source.url
        write_weights(target, wf)
    finally:
        raw.unlink()  # the converted file is what the cache keeps
    return target
