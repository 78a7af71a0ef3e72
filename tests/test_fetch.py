"""`weights fetch` against a local HTTP server on 127.0.0.1: download, progress, SHA-256,
conversion, atomic cache writes, offline reuse; corrupted, truncated and missing files."""
import hashlib
import http.server
import io
import threading
from collections import OrderedDict

import numpy as np
import pytest

import tinyconv
from tinyconv import models
from tinyconv.cli import main
from tinyconv.weights import Source, fetch, write_pth
from tinyconv.weights.convert import torchvision_key_map
from tinyconv.weights.fetch import DownloadError, download


class _Handler(http.server.BaseHTTPRequestHandler):
    files = {}  # path -> bytes; "/short/<name>" announces the full length but sends half

    def do_GET(self):
        short = self.path.startswith("/short/")
        body = self.files.get(self.path.replace("/short/", "/", 1))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if short else body)
        self.wfile.flush()
        if short:
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """Bytes of a torchvision-layout SqueezeNet 1.1 .pth (random weights) and its SHA-256."""
    model = models.build("squeezenet1_1", seed=7)
    ours = model.state_dict()
    state = OrderedDict((k, ours[v]) for k, v in torchvision_key_map("squeezenet1_1").items())
    path = write_pth(tmp_path_factory.mktemp("srv") / "sq.pth", state)
    data = path.read_bytes()
    _Handler.files["/sq.pth"] = data
    corrupted = bytearray(data)
    corrupted[len(data) // 2] ^= 0xFF
    _Handler.files["/corrupt.pth"] = bytes(corrupted)
    _Handler.files["/cut.pth"] = data[:len(data) // 3]
    _Handler.files["/squeezenet1_1-b8a52dc0.pth"] = data  # not the published file
    return data, hashlib.sha256(data).hexdigest(), model


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_fetch_downloads_verifies_converts_and_reuses_offline(server, weights_file, tmp_path,
                                                              capsys):
    data, sha, model = weights_file
    source = Source("squeezenet1_1", "squeezenet1_1", f"{server}/sq.pth", sha)
    path = fetch(source, cache=tmp_path, progress=True, labels=[str(i) for i in range(1000)])
    assert path == tmp_path / "squeezenet1_1.h5"
    assert _leftovers(tmp_path) == ["squeezenet1_1.h5"]  # no download, no temporary file
    progress = capsys.readouterr().err
    assert "downloading sq.pth" in progress and "100.0%" in progress and "MB/s" in progress

    loaded = tinyconv.load_model(path)
    x = tinyconv.Tensor(np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32))
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    assert loaded.labels[5] == "5"

    offline = Source("squeezenet1_1", "squeezenet1_1", "http://127.0.0.1:9/gone.pth", sha)
    before = path.stat().st_mtime_ns
    assert fetch(offline, cache=tmp_path) == path and path.stat().st_mtime_ns == before
    with pytest.raises(DownloadError, match="cannot download http://127.0.0.1:9/gone.pth"):
        fetch(offline, cache=tmp_path, force=True)
    assert _leftovers(tmp_path) == ["squeezenet1_1.h5"]


@pytest.mark.parametrize("name, error", [
    ("corrupt.pth", "SHA-256 mismatch"),     # one byte flipped
    ("cut.pth", "SHA-256 mismatch"),         # a short file served with its own length
    ("short/sq.pth", "truncated|broke off"),  # the connection ends before Content-Length
    ("missing.pth", "Not Found"),
])
def test_bad_downloads_leave_nothing_behind(server, weights_file, tmp_path, name, error):
    _, sha, _ = weights_file
    source = Source("squeezenet1_1", "squeezenet1_1", f"{server}/{name}", sha)
    with pytest.raises(DownloadError, match=error):
        fetch(source, cache=tmp_path, progress=False)
    assert _leftovers(tmp_path) == []


def test_published_prefix_is_checked(server, weights_file, tmp_path):
    data, sha, _ = weights_file
    dest = download(f"{server}/sq.pth", tmp_path / "a.pth", sha[:8], progress=False)
    assert dest.read_bytes() == data
    with pytest.raises(DownloadError, match=f"expected {sha[1:9]}..."):
        download(f"{server}/sq.pth", tmp_path / "b.pth", sha[1:9], progress=False)
    assert _leftovers(tmp_path) == ["a.pth"]


def test_cli_fetch_through_a_mirror_refuses_a_file_that_is_not_the_published_one(
        server, weights_file, tmp_path, capsys, monkeypatch):
    """The official name with other bytes: the published prefix b8a52dc0 does not match."""
    monkeypatch.setenv("TINYCONV_CACHE", str(tmp_path))
    code = main(["weights", "fetch", "squeezenet1_1", "--mirror", server, "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "SHA-256 mismatch" in err and "expected b8a52dc0..." in err
    assert _leftovers(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="tinyconv weights fetch squeezenet1_1"):
        tinyconv.load_model("squeezenet1_1")
    main(["weights", "list"])
    assert "squeezenet1_1  -" in capsys.readouterr().out


def test_load_model_by_name_uses_the_cache(server, weights_file, tmp_path, monkeypatch):
    _, sha, _ = weights_file
    monkeypatch.setenv("TINYCONV_CACHE", str(tmp_path))
    fetch(Source("squeezenet1_1", "squeezenet1_1", f"{server}/sq.pth", sha), progress=False)
    assert tinyconv.load_model("squeezenet1_1").arch == "squeezenet1_1"
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        main(["weights", "list"])
    assert "squeezenet1_1  cached" in out.getvalue()
