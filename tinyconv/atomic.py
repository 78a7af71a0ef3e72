"""One way to write a file: `writing(path)`, used by every file tinyconv writes.

The rule, and why:
- The data goes to a temporary file in the target's folder (same file system, so the rename is
  atomic), named `.tinyconv-tmp-<pid>-<random>-<name>` (the name last, so that writers that pick
  the format from the extension see it). It is flushed to disk (fsync) and renamed over the
  target only when the writer finished without an exception or a signal. So the target is
  either the old file or the whole new one, whatever fails: a full disk, a file-size limit,
  Ctrl-C, SIGTERM, a bug in the writer.
- Only a regular file or nothing is replaced. A folder, a FIFO, a device, a socket is refused
  (replacing /dev/null as root would break the system), and so is a symbolic link: writing
  through it would write outside the path given, and replacing it would silently turn a link
  into a file; refusing says which and lets the user choose.
- The replaced file's permission bits are kept (without setuid/setgid/sticky); a new file gets
  0666 less the umask, as open() would have given it.
- The temporary is removed on every exit path (finally, KeyboardInterrupt and SystemExit
  included). A run killed outright (SIGKILL, power loss) leaves one behind: the next write into
  that folder removes temporaries whose process is gone (the pid in the name).
- A SIGINT or SIGTERM that arrives during the write cancels it even when the writer's C code
  swallows the exception (h5py prints "Exception ignored in ..." and goes on): the signal is
  counted, and a counted signal stops the rename.

`handle_sigterm()` (called by the CLI's main) turns SIGTERM into SystemExit(143), so the
finally blocks run and the temporaries are removed.
"""
import errno
import os
import re
import secrets
import signal
import stat
import threading
from contextlib import contextmanager
from pathlib import Path

PREFIX = ".tinyconv-tmp-"
_STALE = re.compile(re.escape(PREFIX) + r"(\d+)-")
_NAME_BYTES = 160   # the target's name kept in a temporary's name (file names are <= 255 bytes)
_cleaned = set()    # folders whose stale temporaries this process already removed
SIGTERM_EXIT = 128 + signal.SIGTERM


class OutputError(ValueError, OSError):
    """A file cannot be written where it was asked for; the message names the path and why."""


def handle_sigterm():
    """Make SIGTERM raise SystemExit(143) in the main thread, so that finally blocks run (and
    temporaries are removed) before the process ends. A second SIGTERM kills at once."""
    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise SystemExit(SIGTERM_EXIT)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, terminate)


def _kind(mode):
    for test, name in ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"  # a door, a whiteout: whatever the system has


def check_target(path):
    """The permission bits the written file gets, after refusing a target that is not a regular
    file or nothing (OutputError naming it). Creates the target's folder when missing."""
    path, info = _file_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        check_folder(path.parent)  # says which part is a file or not writable
        raise _output_error(path, e) from None
    if info is not None:
        return stat.S_IMODE(info.st_mode) & 0o777
    return 0o666 & ~_umask()


def check_file(path):
    """OutputError now, before any work, when `path` cannot be a file tinyconv writes: not a
    regular file, or under a folder that is a file or not writable. Changes nothing."""
    path, _ = _file_target(path)
    check_folder(path.parent)
    return path


def check_folder(folder):
    """OutputError now when files cannot be written into `folder`: it, or the nearest part of
    it that exists, is not a folder or not writable. Changes nothing."""
    folder = Path(folder)
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if os.path.lexists(existing) and not existing.is_dir():
        what = "is" if existing == folder else f"is under {existing}, which is"
        raise OutputError(f"{folder}: {what} {_kind(os.stat(existing).st_mode)}, not a folder; "
                          f"give a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: cannot write there (folder {existing} is not writable)")
    return folder


def _file_target(path):
    """(Path, its lstat or None when missing); OutputError unless it is a regular file or
    nothing."""
    text = os.fspath(path)
    if text.endswith(os.sep) or text in ("", ".", ".."):
        raise OutputError(f"{text or repr(text)}: names a folder; give a file path")
    path = Path(text)
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return path, None  # the folder check says what is wrong with the folder
    except OSError as e:
        raise _output_error(path, e) from None
    if not stat.S_ISREG(info.st_mode):
        link = f" to {os.readlink(path)}" if stat.S_ISLNK(info.st_mode) else ""
        raise OutputError(f"{path}: {_kind(info.st_mode)}{link}, not a regular file; tinyconv "
                          f"only replaces regular files: give a file path")
    return path, info


def _umask():
    mask = os.umask(0o022)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def _output_error(path, error):
    """OutputError for an OSError met while writing `path`."""
    reason = error.strerror or str(error)
    where = f" ({error.filename})" if error.filename and str(error.filename) != str(path) else ""
    if error.errno == errno.EFBIG:
        reason += " (the file-size limit, ulimit -f)"
    return OutputError(f"cannot write {path}: {reason}{where}; nothing was written there")


def remove_stale_temporaries(folder):
    """Remove the temporaries in `folder` left by tinyconv processes that no longer run."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = _STALE.match(entry.name)
        if match and not _alive(int(match.group(1))):
            try:
                if entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
            except OSError:
                pass  # another process removed it first, or it is not ours to remove


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _temporary_name(path):
    tail = path.name
    while len(tail.encode("utf-8", "surrogateescape")) > _NAME_BYTES:
        tail = tail[1:]  # keep the end: the extension tells writers the format
    return path.parent / f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{tail}"


@contextmanager
def writing(path):
    """Context manager yielding the temporary Path to write `path`'s new contents to; on a
    clean exit it is fsynced and renamed over `path`, on any other it is removed.

    OSErrors of the writer with an errno (disk full, file-size limit, permission) become
    OutputError naming `path`. A SIGINT/SIGTERM during the block cancels the write (see the module's doc)."""
    mode = check_target(path)  # before Path(), which drops a trailing slash
    path = Path(path)
    folder = path.parent
    if folder not in _cleaned:
        remove_stale_temporaries(folder)
        _cleaned.add(folder)
    tmp = _temporary_name(path)
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as e:
        raise _output_error(path, e) from None
    try:
        with _signals_counted() as signals:
            try:
                yield tmp
                _flush(tmp, mode)
            except OSError as e:
                if isinstance(e, OutputError) or e.errno is None:
                    raise  # already says what failed (e.g. a DownloadError of the source)
                raise _output_error(path, e) from None
        if signal.SIGTERM in signals:  # the writer swallowed the exception the signal raised
            raise SystemExit(SIGTERM_EXIT)
        if signals:
            raise KeyboardInterrupt(f"interrupted; {path} was not written")
        _replace(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass  # renamed into place


def _flush(tmp, mode):
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _replace(tmp, path):
    try:
        os.replace(tmp, path)
    except OSError as e:
        raise _output_error(path, e) from None
    try:  # the rename itself on disk; some file systems cannot fsync a folder
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


@contextmanager
def _signals_counted():
    """Count SIGINT and SIGTERM during the block (a list, one entry per signal), then pass
    each on to the handler that was there (KeyboardInterrupt, handle_sigterm's SystemExit)."""
    counted = []
    if threading.current_thread() is not threading.main_thread():
        yield counted  # only the main thread receives signals and may set handlers
        return
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def count(signum, frame):
        counted.append(signum)
        previous = before[signum]
        if callable(previous):
            previous(signum, frame)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            raise SystemExit(SIGTERM_EXIT)

    for sig, previous in before.items():
        if previous not in (signal.SIG_IGN, None):
            signal.signal(sig, count)
    try:
        yield counted
    finally:
        for sig, previous in before.items():
            if previous is not None:
                signal.signal(sig, previous)


def write_bytes(path, data):
    """Write bytes `data` to `path` through writing()."""
    with writing(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path, text):
    """Write str `text` (UTF-8) to `path` through writing()."""
    return write_bytes(path, text.encode("utf-8"))
