"""`tinyconv weights fetch NAME`: download official torchvision weights once, convert, cache.

The cache (TINYCONV_CACHE, default ~/.cache/tinyconv) holds converted files `<name>.h5`; once one
is there, fetching or loading that name needs no network. A download streams into a temporary
file beside its destination while its SHA-256 is computed, is checked against the length the
server announced and against the published digest, and only then is converted; the converted file
is written the same way (tinyconv.atomic.writing: a temporary in the same folder, renamed into place
when complete, removed on any failure or signal, and removed by the next run when the process was
killed outright). So the cache never holds a half-written or unverified file.

torchvision publishes, in each file name, the first hex digits of the file's SHA-256 (e.g.
vgg16-397923af.pth) and torch.hub checks exactly that prefix; Source.sha256 holds a full digest
or such a published prefix, and `verify_sha256` accepts a digest that starts with it.

A server is not trusted to end, to be quick or to be honest about sizes. A download stops with a
DownloadError (an OSError) when
- it takes longer than `deadline` seconds in all (DEADLINE; `weights fetch --timeout`);
- fewer than STALL_BYTES arrive in any `timeout` seconds, silence included (STALL_TIMEOUT;
  `--stall-timeout`): a server trickling a byte a second is stalled;
- the body passes the file's size limit: 1.1 x the size torchvision publishes for it
  (Source.size_mib), or DEFAULT_MAX_BYTES for a Source without one; a Content-Length above the
  limit is refused before the first byte, one that is not a number at once.
Two fetches into the same cache take turns (an flock on the downloads folder): the second waits,
says so, and then finds the weights the first one cached.
"""
import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ..atomic import writing
from ..cache import cache_dir
from ..progress import Progress
from .convert import attach_labels, convert, read_labels
from .format import is_tinyconv_file, read_source, read_weights, write_weights
from ..errors import UnknownName

try:
    import fcntl
except ImportError:  # not on Windows: fetches there do not take turns
    fcntl = None

CHUNK = 1 << 20
DEADLINE = 2 * 3600  # seconds for one download: vgg19 (548 MiB) at 80 kB/s
STALL_TIMEOUT = 60  # seconds in which at least STALL_BYTES must arrive
STALL_BYTES = 64 << 10
DEFAULT_MAX_BYTES = 2 << 30  # a Source without a published size
SIZE_MARGIN = 1.1
TORCHVISION_URL = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class Source:
    """One downloadable weight file: registry name, architecture, URL, SHA-256 (or prefix),
    and the file's published size in MiB (torchvision's `_file_size`), or None."""
    name: str
    arch: str
    url: str
    sha256: str
    size_mib: float = None

    @property
    def max_bytes(self):
        """The most bytes a download of this file may have: SIZE_MARGIN x its published size."""
        if self.size_mib is None:
            return DEFAULT_MAX_BYTES
        return int(self.size_mib * SIZE_MARGIN * (1 << 20))

    @property
    def filename(self):
        return self.url.rstrip("/").rsplit("/", 1)[-1]


REGISTRY = {s.name: s for s in (  # sizes: torchvision's published _file_size, MiB
    Source("alexnet", "alexnet", TORCHVISION_URL + "alexnet-owt-7be5be79.pth", "7be5be79",
           233.087),
    Source("vgg11", "vgg11", TORCHVISION_URL + "vgg11-8a719046.pth", "8a719046", 506.84),
    Source("vgg13", "vgg13", TORCHVISION_URL + "vgg13-19584684.pth", "19584684", 507.545),
    Source("vgg16", "vgg16", TORCHVISION_URL + "vgg16-397923af.pth", "397923af", 527.796),
    Source("vgg19", "vgg19", TORCHVISION_URL + "vgg19-dcbb9e9d.pth", "dcbb9e9d", 548.051),
    Source("squeezenet1_0", "squeezenet1_0", TORCHVISION_URL + "squeezenet1_0-b66bff10.pth",
           "b66bff10", 4.778),
    Source("squeezenet1_1", "squeezenet1_1", TORCHVISION_URL + "squeezenet1_1-b8a52dc0.pth",
           "b8a52dc0", 4.729),
    # ResNet: torchvision's IMAGENET1K_V1 files (the original ones; V2 has other file names)
    Source("resnet18", "resnet18", TORCHVISION_URL + "resnet18-f37072fd.pth", "f37072fd", 44.661),
    Source("resnet34", "resnet34", TORCHVISION_URL + "resnet34-b627a593.pth", "b627a593", 83.275),
    Source("resnet50", "resnet50", TORCHVISION_URL + "resnet50-0676ba61.pth", "0676ba61", 97.781),
    Source("resnet101", "resnet101", TORCHVISION_URL + "resnet101-63fe2227.pth", "63fe2227",
           170.511),
    Source("resnet152", "resnet152", TORCHVISION_URL + "resnet152-394f9c45.pth", "394f9c45",
           230.434),
    Source("mobilenet_v2", "mobilenet_v2", TORCHVISION_URL + "mobilenet_v2-b0353104.pth",
           "b0353104", 13.555),
    Source("densenet121", "densenet121", TORCHVISION_URL + "densenet121-a639ec97.pth",
           "a639ec97", 30.845),
    Source("densenet169", "densenet169", TORCHVISION_URL + "densenet169-b2777c0a.pth",
           "b2777c0a", 54.708),
    Source("densenet201", "densenet201", TORCHVISION_URL + "densenet201-c1103571.pth",
           "c1103571", 77.373),
    Source("googlenet", "googlenet", TORCHVISION_URL + "googlenet-1378be20.pth", "1378be20",
           49.731),
)}


class DownloadError(OSError):
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


def named_weights(name, cache=None):
    """Path of the weights a name stands for: the cache's file of that name, else the built-in
    model's for its name (tinyconv.builtin), else None."""
    from .. import builtin
    found = cached_weights(name, cache)
    if found is None and name == builtin.NAME:
        return builtin.weights_path()
    return found


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


def download(url, dest, sha256, progress=None, timeout=STALL_TIMEOUT, deadline=DEADLINE,
             max_bytes=DEFAULT_MAX_BYTES):
    """Download `url` to `dest` atomically, checking length and SHA-256 (or published prefix).

    progress: False for none; True or None: on stderr (tinyconv.progress: a bar redrawn on a
    terminal, a line every tenth of the file in a log). timeout: the stall timeout, deadline:
    seconds in all, max_bytes: the size limit (see the module's docstring). Returns dest.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with writing(dest) as tmp, open(tmp, "wb") as out:
        try:
            response = urllib.request.urlopen(url, timeout=timeout)
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
            raise DownloadError(f"cannot download {url}: {_why(e)}") from None
        with response:
            total = announced_length(response, url, max_bytes)
            bar = Progress(f"downloading {dest.name}", total or None) \
                if progress is not False else None
            done, digest = _copy_body(response, out, url, _Budget(timeout, deadline, max_bytes),
                                      bar, total)
        if total is not None and done != total:
            raise DownloadError(f"download of {url} is truncated: {done} of {total} bytes")
        verify_sha256(digest, sha256, url)
    return dest


def _why(error):
    """A failed request's reason on one line (urllib's redirect loop message has three)."""
    reason = getattr(error, "reason", None) or f"{type(error).__name__}: {error}"
    return " ".join(str(reason).split())[:300]


def announced_length(response, url, max_bytes):
    """The Content-Length of `response` as an int (None when absent); DownloadError when it is
    not a number or is above max_bytes."""
    text = response.headers.get("Content-Length")
    if text is None:
        return None
    if not text.strip().isdigit():
        raise DownloadError(f"cannot download {url}: the server's Content-Length is not a "
                            f"number ({text[:40]!r})")
    if int(text) > max_bytes:
        raise DownloadError(f"cannot download {url}: the server announces {int(text)} bytes, "
                            f"above this file's limit of {max_bytes} bytes")
    return int(text)


@dataclass
class _Budget:
    """What a download may take: `stall` seconds for STALL_BYTES, `deadline` seconds in all,
    `max_bytes` bytes."""
    stall: float
    deadline: float
    max_bytes: int

    def __post_init__(self):
        self.started = self.mark_time = time.monotonic()
        self.mark_bytes = 0

    def check(self, url, done):
        """DownloadError when `done` bytes, now, pass the size limit, the deadline or the stall
        timeout."""
        now = time.monotonic()
        if done > self.max_bytes:
            raise DownloadError(f"download of {url} passed this file's limit of "
                                f"{self.max_bytes} bytes; stopped")
        if now - self.started > self.deadline:
            raise DownloadError(f"download of {url} passed its deadline of {self.deadline:g} s "
                                f"({done} bytes so far); --timeout SECONDS allows more")
        if done - self.mark_bytes >= STALL_BYTES:
            self.mark_time, self.mark_bytes = now, done
        elif now - self.mark_time > self.stall:
            raise DownloadError(f"download of {url} stalled: {done - self.mark_bytes} bytes in "
                                f"{self.stall:g} s (fewer than {STALL_BYTES}); "
                                f"--stall-timeout SECONDS waits longer")


def _copy_body(response, out, url, budget, bar, total):
    """Stream the body into file `out` within `budget` -> (bytes, hex SHA-256)."""
    digest, done = hashlib.sha256(), 0
    while True:
        try:  # read1: at most one receive, so a trickle cannot hold the loop past the budget
            block = response.read1(CHUNK)
        except TimeoutError:
            raise DownloadError(f"download of {url} stalled: nothing for {budget.stall:g} s "
                                f"after {done} bytes; --stall-timeout SECONDS waits "
                                f"longer") from None
        except (OSError, ValueError, http.client.HTTPException) as e:  # reset, IncompleteRead
            raise DownloadError(f"download of {url} broke off after {done} bytes "
                                f"({type(e).__name__})") from None
        done += len(block)
        budget.check(url, done)
        if not block:
            break
        out.write(block)
        digest.update(block)
        if bar:
            bar.update(done, status=download_status(done, total,
                                                    time.monotonic() - budget.started))
    if bar:
        bar.close()
    return done, digest.hexdigest()


@contextmanager
def taking_turns(folder, what):
    """Hold an exclusive lock on `folder` (flock on the folder itself, so nothing is left
    behind): a second fetch into the same cache says it waits, and waits for the first."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"tinyconv: waiting for another process fetching into {folder} ({what})",
                  file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def resolve_source(name_or_source, mirror=None):
    """The Source for a registry name (or a Source), its URL moved to `mirror` when given."""
    if isinstance(name_or_source, Source):
        source = name_or_source
    elif name_or_source in REGISTRY:
        source = REGISTRY[name_or_source]
    else:
        raise UnknownName(f"no downloadable weights named {name_or_source!r}; known: "
                       f"{', '.join(REGISTRY)}")
    mirror = mirror or os.environ.get("TINYCONV_MIRROR")
    if mirror:
        source = replace(source, url=mirror.rstrip("/") + "/" + source.filename)
    return source


def fetch(name_or_source, cache=None, labels=None, progress=None, force=False, mirror=None,
          timeout=STALL_TIMEOUT, deadline=DEADLINE):
    """Path of the converted weights of `name_or_source`, downloading and converting once.

    cache: cache folder (default cache_dir()); labels: a labels file (or list of names) stored
    with the weights, also into weights already cached;
    force: download again even when cached; mirror: base URL replacing the official one
    (also TINYCONV_MIRROR); timeout (stall) and deadline: seconds, as `download` takes them.
    """
    source = resolve_source(name_or_source, mirror)
    cache = Path(cache or cache_dir())
    target = cached_path(source.name, cache)
    if isinstance(labels, (str, Path)):
        read_labels(labels)  # a missing or unreadable labels file fails before any download
    if not force and official_in_cache(target, source):
        if labels is not None:  # asked for labels: store them in the cached file
            write_weights(target, attach_labels(read_weights(target), labels))
        return target
    download_dir = cache / "downloads"
    download_dir.mkdir(parents=True, exist_ok=True)
    with taking_turns(download_dir, source.filename):
        if not force and official_in_cache(target, source):  # another process fetched it
            return target
        raw = download(source.url, download_dir / source.filename, source.sha256, progress,
                       timeout, deadline, source.max_bytes)
        try:
            wf = convert(raw, arch=source.arch, labels=labels)
            wf.source_file = source.url
            write_weights(target, wf)
        finally:
            raw.unlink()  # the converted file is what the cache keeps
    return target


def official_in_cache(target, source):
    """Whether the cache's `target` holds `source`'s weights; FileExistsError when it holds
    others under that name."""
    if not cached_weights(source.name, target.parent):
        return False
    if is_download_of(target, source):
        return True
    raise FileExistsError(
        f"the cache's {target} holds weights converted from "
        f"{read_source(target)[0] or 'another file'}, not the official {source.filename}; "
        f"to replace them with the official ones, fetch again with --force (force=True in "
        f"Python)")
