"""Downloads from a server that is slow, endless, lying or broken (issue 15): each ends in
seconds with one DownloadError line and leaves nothing behind; fetches into one cache take
turns. The server is http.server on 127.0.0.1; limits and timeouts are tiny."""
import hashlib
import importlib
import http.server
import threading
import time

import pytest

from tinyconv.cli import main
from tinyconv.weights import Source, fetch
from tinyconv.weights.fetch import DownloadError, download, taking_turns

fetch_module = importlib.import_module("tinyconv.weights.fetch")
BODY = bytes(range(256)) * 8  # 2 KiB
SHA = hashlib.sha256(BODY).hexdigest()


class _Hostile(http.server.BaseHTTPRequestHandler):
    hits = {}

    def do_GET(self):
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        getattr(self, "serve_" + self.path.strip("/").split(".")[0], self.serve_missing)()

    def _head(self, length=None, status=200, **headers):
        self.send_response(status)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _trickle(self, seconds):
        self._head(len(BODY))
        for byte in BODY:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(seconds)

    def serve_trickle(self):  # a byte every 20 ms
        self._trickle(0.02)

    def serve_silent(self):  # headers, then nothing
        self._head(len(BODY))
        self.wfile.flush()
        time.sleep(2)

    def serve_endless(self):  # no Content-Length, a body without end
        self.close_connection = True
        self._head()
        while True:
            self.wfile.write(b"\0" * 65536)

    def serve_badlength(self):
        self._head("abc")
        self.wfile.write(BODY)

    def serve_big(self):  # announces 10 MB
        self._head(10_000_000)
        self.wfile.write(BODY)

    def serve_truncated(self):  # announces 2 KiB, sends half, hangs up
        self._head(len(BODY))
        self.wfile.write(BODY[:1024])
        self.close_connection = True

    def serve_empty(self):
        self._head(0)

    def serve_loop(self):
        self._head(0, 302, Location="/loop.pth")

    def serve_close(self):  # hangs up without a word
        self.close_connection = True

    def serve_garbage(self):
        self.wfile.write(b"HELLO THERE\r\n\r\n")
        self.close_connection = True

    def serve_good(self):
        time.sleep(0.3)  # long enough for a second fetch to arrive meanwhile
        self._head(len(BODY))
        self.wfile.write(BODY)

    def serve_missing(self):
        self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, address: None  # a client hanging up on the endless body
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("name, limits, error", [
    ("trickle", {}, r"stalled: \d+ bytes in 0.3 s \(fewer than 65536\); --stall-timeout"),
    ("silent", {}, r"stalled: nothing for 0.3 s after 0 bytes"),
    ("endless", {}, r"passed this file's limit of 100000 bytes; stopped"),
    ("badlength", {}, r"the server's Content-Length is not a number \('abc'\)"),
    ("big", {}, r"announces 10000000 bytes, above this file's limit of 100000 bytes"),
    ("truncated", {}, r"broke off after \d+ bytes|truncated: 1024 of 2048"),
    ("empty", {}, r"SHA-256 mismatch"),
    ("loop", {}, r"cannot download .*redirect"),
    ("close", {}, r"cannot download .*(closed|Remote)"),
    ("garbage", {}, r"cannot download"),
    ("missing", {}, r"cannot download .*Not Found"),
])
def test_hostile_servers_end_quickly_with_one_line(server, tmp_path, name, limits, error):
    started = time.monotonic()
    with pytest.raises(DownloadError, match=error) as raised:
        download(f"{server}/{name}.pth", tmp_path / "x.pth", SHA, progress=False, timeout=0.3,
                 deadline=3, max_bytes=100_000)
    assert time.monotonic() - started < 3 and "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_deadline_stops_a_download_that_never_stalls(server, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_module, "STALL_BYTES", 1)  # a byte per 20 ms is progress
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"passed its deadline of 0.5 s \(\d+ bytes so far\)"):
        download(f"{server}/trickle.pth", tmp_path / "x.pth", SHA, progress=False, timeout=5,
                 deadline=0.5)
    assert time.monotonic() - started < 2 and list(tmp_path.iterdir()) == []


def test_registry_sizes_give_the_limit():
    vgg11 = fetch_module.REGISTRY["vgg11"]
    assert vgg11.max_bytes == int(506.84 * 1.1 * 2 ** 20)  # 1.1 x the published size
    assert Source("x", "vgg11", "http://h/x.pth", SHA).max_bytes == fetch_module.DEFAULT_MAX_BYTES


def test_fetches_into_one_cache_take_turns(server, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fetch_module, "convert", _fake_convert)
    monkeypatch.setattr(fetch_module, "write_weights", lambda target, wf: target.write_text("w"))
    monkeypatch.setattr(fetch_module, "official_in_cache", lambda target, source: target.exists())
    source = Source("sq", "squeezenet1_1", f"{server}/good.pth", SHA)
    results, errors = [], []

    def one():
        try:
            results.append(fetch(source, cache=tmp_path, progress=False))
        except Exception as e:  # noqa: BLE001 - shown by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(10)
    assert errors == [] and results == [tmp_path / "sq.h5"] * 2
    assert _Hostile.hits["/good.pth"] == 1  # the second found what the first cached
    assert "waiting for another process fetching into" in capsys.readouterr().err


def _fake_convert(raw, arch, labels):
    class WeightFile:
        source_file = None
    assert raw.read_bytes() == BODY
    return WeightFile()


def test_the_lock_says_that_it_waits(tmp_path, capsys):
    with taking_turns(tmp_path, "a.pth"):
        waiter = threading.Thread(target=lambda: taking_turns(tmp_path, "a.pth").__enter__())
        waiter.start()
        time.sleep(0.2)
        assert waiter.is_alive()
    waiter.join(5)
    assert not waiter.is_alive() and "waiting for another process" in capsys.readouterr().err


def test_cli_download_errors_and_options(server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TINYCONV_CACHE", str(tmp_path))
    code = main(["weights", "fetch", "squeezenet1_1", "--quiet", "--mirror", f"{server}/nope",
                 "--stall-timeout", "0.3"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("tinyconv weights: error: cannot download") \
        and "Traceback" not in err
    for bad in (["--timeout", "nan"], ["--stall-timeout", "0"], ["--timeout", "-1"]):
        with pytest.raises(SystemExit):
            main(["weights", "fetch", "squeezenet1_1"] + bad)
        assert "must be a finite number" in capsys.readouterr().err
