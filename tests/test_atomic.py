"""tinyconv.atomic: every file is written to a temporary beside it and renamed into place; only
regular files are replaced, their mode kept; nothing is left behind by a failure, a file-size
limit, SIGINT or SIGTERM, and stale temporaries of killed runs are removed by the next write.
Also the CLI's output arguments (checked before the work) and unique output names."""
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyconv import atomic, models
from tinyconv.atomic import OutputError, write_bytes, writing
from tinyconv.cli import main
from tinyconv.cli.common import output_stems
from tinyconv.image import save_image
from tinyconv.weights import write_pth
from tinyconv.weights.convert import torchvision_key_map

REPO = Path(__file__).resolve().parent.parent


def temporaries(folder):
    return [p.name for p in Path(folder).iterdir() if p.name.startswith(atomic.PREFIX)]


def error_of(capsys, argv):
    """(exit code, stderr) of `tinyconv ARGV`."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def test_a_new_file_gets_the_umask_and_a_replaced_file_keeps_its_mode(tmp_path):
    old = os.umask(0o027)
    try:
        write_bytes(tmp_path / "new.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.bin").stat().st_mode) == 0o640
    for mode in (0o644, 0o755, 0o600):
        target = tmp_path / f"keep{mode:o}.png"
        target.write_bytes(b"old")
        target.chmod(mode)
        save_image(target, np.zeros((4, 4, 3), np.uint8))
        assert stat.S_IMODE(target.stat().st_mode) == mode and target.read_bytes() != b"old"
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("kind", ["fifo", "char device", "symlink", "folder", "trailing slash"])
def test_only_regular_files_are_replaced(tmp_path, kind):
    target, outside = tmp_path / "target", tmp_path / "outside.txt"
    outside.write_text("keep me")
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "char device":
        target = Path("/dev/null")
    elif kind == "symlink":
        target.symlink_to(outside)
    else:
        target.mkdir()
    given_path = f"{target}/" if kind == "trailing slash" else target
    words = {"fifo": "a FIFO", "char device": "a character device", "symlink": "a symbolic link",
             "folder": "a folder", "trailing slash": "names a folder"}[kind]
    with pytest.raises(OutputError, match=words):
        write_bytes(given_path, b"new")
    assert outside.read_text() == "keep me"
    assert kind != "symlink" or target.is_symlink()
    assert kind != "char device" or Path("/dev/null").is_char_device()
    assert temporaries(tmp_path) == []


def test_a_writer_that_fails_midway_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "weights.h5"
    target.write_bytes(b"the old, good file")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with writing(target) as tmp:
            tmp.write_bytes(b"half of the new")
            raise RuntimeError("disk on fire")
    with pytest.raises(OutputError, match=rf"cannot write {target}: No space left on device"):
        with writing(target) as tmp:
            raise OSError(28, "No space left on device")
    assert target.read_bytes() == b"the old, good file" and temporaries(tmp_path) == []


def test_the_file_size_limit_leaves_the_old_picture_whole(tmp_path):
    # the issue's `ulimit -f 2`: a 3,878-byte PNG became a 2,048-byte truncated one
    target = tmp_path / "filters.png"
    save_image(target, np.zeros((8, 8, 3), np.uint8))
    before = target.read_bytes()
    script = textwrap.dedent(f"""
        import resource, sys
        import numpy as np
        from tinyconv.image import save_image
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))
        noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        try:
            save_image({str(target)!r}, noise)
        except ValueError as e:
            print(e)
            sys.exit(1)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "File too large (the file-size limit, ulimit -f)" in done.stdout
    assert target.read_bytes() == before and temporaries(tmp_path) == []


@pytest.fixture
def takes_ctrl_c():
    """Python's SIGINT handler during the test: a shell's background job (where a test run may
    be) starts with SIGINT ignored, and the writer rightly leaves an ignored signal ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_signal_swallowed_by_the_writer_still_cancels_the_write(tmp_path, takes_ctrl_c):
    # h5py calls back into Python where exceptions are "ignored": the write went on, exit 0
    target = tmp_path / "old.h5"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt, match="was not written"):
        with writing(target) as tmp:
            tmp.write_bytes(b"new")
            try:
                os.kill(os.getpid(), signal.SIGINT)
            except KeyboardInterrupt:
                pass  # what "Exception ignored in ..." amounts to
    assert target.read_bytes() == b"old" and temporaries(tmp_path) == []


# the child takes Ctrl-C even when started from a background job (see takes_ctrl_c)
SLOW_CONVERT = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import h5py
from tinyconv.cli import main
create = h5py.Group.create_dataset
def slow(self, *args, **kwargs):
    print("writing", flush=True)
    time.sleep(0.05)
    return create(self, *args, **kwargs)
h5py.Group.create_dataset = slow
sys.exit(main(["convert", sys.argv[1], "-o", sys.argv[2]]))
"""


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_convert_keeps_the_old_target(tmp_path, sig, code):
    source = tmp_path / "sq.pth"
    ours = models.build("squeezenet1_1", seed=0).state_dict()
    write_pth(source, OrderedDict((k, ours[v]) for k, v in
                                  torchvision_key_map("squeezenet1_1", 1000).items()))
    target = tmp_path / "out" / "existing.h5"
    target.parent.mkdir()
    target.write_bytes(b"the old target")
    process = subprocess.Popen([sys.executable, "-c", SLOW_CONVERT, str(source), str(target)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=REPO)
    assert process.stdout.readline() == "writing\n"
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert target.read_bytes() == b"the old target"
    assert temporaries(target.parent) == []


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_cleaned", set())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{atomic.PREFIX}{dead.pid}-0a1b2c3d-big.h5"
    running = tmp_path / f"{atomic.PREFIX}{os.getppid()}-0a1b2c3d-big.h5"  # a live process
    for path in (stale, running):
        path.write_bytes(b"partial")
    save_image(tmp_path / "new.png", np.zeros((4, 4, 3), np.uint8))
    assert not stale.exists() and running.exists()


def test_concurrent_writers_leave_one_whole_file(tmp_path):
    target = tmp_path / "report.json"
    contents = [bytes([65 + i]) * 200_000 for i in range(6)]
    threads = [threading.Thread(target=write_bytes, args=(target, c)) for c in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_bytes() in contents and temporaries(tmp_path) == []


def test_long_and_unicode_names(tmp_path):
    name = "é" * 120 + "\n.png"  # 241 bytes: the temporary's name keeps only its end
    path = save_image(tmp_path / name, np.zeros((4, 4, 3), np.uint8))
    assert path.read_bytes()[:4] == b"\x89PNG" and temporaries(tmp_path) == []


def test_output_arguments_are_checked_before_the_work(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    image = tmp_path / "dog.png"
    save_image(image, np.zeros((8, 8, 3), np.uint8))
    code, err = error_of(capsys, ["filters", "--model", "squeezenet1_1", "--out", str(a_file)])
    assert code == 2 and f"argument --out: {a_file}: is a file, not a folder; give a folder" in err
    code, err = error_of(capsys, ["filters", "--model", "squeezenet1_1", "--out",
                                  str(a_file / "sub")])
    assert code == 2 and f"is under {a_file}" in err
    for target, words in ((tmp_path, "a folder"), ("/dev/null", "a character device")):
        code, err = error_of(capsys, ["convert", str(image), "-o", str(target)])
        assert code == 2 and f"argument -o/--output: {target}: {words}" in err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        code, err = error_of(capsys, ["filters", "--model", "squeezenet1_1", "--out",
                                      str(locked / "sub")])
        assert code == 2 and f"folder {locked} is not writable" in err


def test_output_names_are_unique_and_unchanged_when_stems_are():
    paths = [Path(p) for p in ("a/dog.jpg", "a/dog.png", "a/cat.jpg", "b/dog.jpg",
                               "a/dog_jpg.png", "a/cat.jpg")]
    names = output_stems(paths)
    assert [names[p] for p in paths] == ["dog_jpg_2", "dog_png", "cat", "dog_jpg_3", "dog_jpg",
                                         "cat"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["dog", "dog_jpg", "x"]),
                          st.sampled_from([".jpg", ".png", ".JPG"])), max_size=8))
def test_output_names_property(files):
    paths = [Path(folder) / f"{stem}{ext}" for folder, stem, ext in files]
    names = output_stems(paths)
    distinct = {p.resolve() for p in paths}
    assert len({names[p] for p in paths}) == len(distinct)
    for p in paths:
        if sum(q.stem == p.stem for q in distinct) == 1:
            assert names[p] == p.stem


def test_fgsm_over_dog_jpg_and_dog_png_writes_both(tmp_path, capsys):
    folder = tmp_path / "a"
    rng = np.random.default_rng(0)
    for name in ("dog.jpg", "dog.png"):
        save_image(folder / name, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    out = tmp_path / "out"
    assert main(["fgsm", "--model", "squeezenet1_1", "--epsilon", "1", "--out", str(out),
                 str(folder)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["dog_jpg_fgsm_e1.png", "dog_png_fgsm_e1.png"]
