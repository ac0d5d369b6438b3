"""url.download against local files and a local HTTP server; GlobSource; config; display."""

from __future__ import annotations

import http.server
import os
import threading
import time

import pyarrow as pa
import pytest

from thresher.config import config, get_config
from thresher.display import table_to_html, table_to_text
from thresher.io.glob import GlobSource
from thresher.operators.kernels.base import RowError
from thresher.operators.kernels.registry import get_kernel
from thresher.testing.media import make_jpeg


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    (root / "a.jpg").write_bytes(make_jpeg(32, 16))
    (root / "big.bin").write_bytes(b"x" * 5000)
    hits = {"flaky": 0}
    released = threading.Event()  # /slow answers only when the module's tests are done

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path == "/slow":
                released.wait(600)
            if self.path == "/flaky":
                hits["flaky"] += 1
                if hits["flaky"] < 3:
                    self.send_error(503)
                    return
                self.path = "/a.jpg"
            return super().do_GET()

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # the timeout test hangs up on /slow on purpose

    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", root, hits
    released.set()
    srv.shutdown()


def download(urls, **options):
    return get_kernel("url.download")([pa.array(urls, pa.large_string())], options)


def test_local_paths(server) -> None:
    _, root, _ = server
    p = str(root / "a.jpg")
    out = download([p, "file://" + p, None, str(root / "missing.jpg")])
    vals = out.values.to_pylist()
    assert out.values.type.extension_name == "thresher.file"
    assert vals[0] == vals[1] == (root / "a.jpg").read_bytes() and vals[2] is None and vals[3] is None
    assert "missing.jpg" in out.errors[3].as_py() and "row 3" in out.errors[3].as_py()


def test_http_ok_404_retry(server) -> None:
    base, root, hits = server
    out = download([base + "/a.jpg", base + "/nope.jpg", base + "/flaky"], max_connections=2)
    vals = out.values.to_pylist()
    assert vals[0] == (root / "a.jpg").read_bytes()
    assert vals[1] is None and "404" in out.errors[1].as_py() and "nope.jpg" in out.errors[1].as_py()
    assert vals[2] == vals[0] and hits["flaky"] == 3  # two 503s retried with backoff
    dec = get_kernel("image.width")([out.values], {})
    assert dec.values.to_pylist()[0] == 32


def test_timeout(server) -> None:
    """The server never answers /slow while the test runs: the download can only end by its own
    timeout. (It was timed against a 5 s hold, < 4 s, and failed at load 60: the timed part also
    imports httpx and builds the client's SSL context, 4.7 s and 1.2 s of wall time there.)"""
    base, _, _ = server
    t = time.perf_counter()
    out = download([base + "/slow"], timeout=0.5)
    assert time.perf_counter() - t >= 0.5  # a lower bound holds at any load
    assert out.values.null_count == 1 and "timed out after 0.5 s" in out.errors[0].as_py()


def test_max_bytes(server) -> None:
    base, root, _ = server
    out = download([base + "/big.bin", str(root / "big.bin"), base + "/a.jpg"], max_bytes=1000)
    assert out.values.to_pylist()[:2] == [None, None]
    assert all("max_bytes=1000" in e for e in out.errors.to_pylist()[:2])
    with config(max_download_bytes=100):
        out = download([base + "/a.jpg"], max_bytes=10**9)  # the config caps the option
        assert "max_bytes=100" in out.errors[0].as_py()


def test_scheme_refusal(server) -> None:
    base, root, _ = server
    out = download(["ftp://example.com/x.jpg", "gopher://h/x"])
    assert out.values.null_count == 2 and "'ftp' is not allowed" in out.errors[0].as_py()
    with config(allowed_url_schemes=("https",)):
        out = download([base + "/a.jpg", str(root / "a.jpg")])
        assert out.values.null_count == 2 and "'http' is not allowed" in out.errors[0].as_py()
    with pytest.raises(RowError, match=r"row 0 \(ftp://example.com/x.jpg\)"):
        download(["ftp://example.com/x.jpg"], on_error="raise")


def test_config_override_restores() -> None:
    before = get_config()
    with config(download_timeout=1.0) as c:
        assert c.download_timeout == 1.0 and config.download_timeout == 1.0
    assert get_config() == before
    with pytest.raises(ValueError, match="unknown setting"):
        config.set(nope=1)


def test_glob_source(tmp_path) -> None:
    for i in range(7):
        (tmp_path / f"f{i}.jpg").write_bytes(b"x" * i)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "g.jpg").write_bytes(b"y")
    (tmp_path / "note.txt").write_bytes(b"z")
    src = GlobSource(str(tmp_path / "**" / "*.jpg"), files_per_partition=3)
    parts = src.partitions(None, None)
    assert [p.num_rows for p in parts] == [3, 3, 2]
    assert [p.id for p in parts] == [p.id for p in GlobSource(src.pattern, 3).partitions(None, None)]
    t = src.read_all()
    assert t.schema.names == ["path", "size", "modified"] and t.num_rows == 8
    assert t.column("path").to_pylist() == sorted(t.column("path").to_pylist())
    assert os.path.basename(t.column("path")[0].as_py()) == "f0.jpg"
    assert src.statistics().num_rows == 8


def test_display() -> None:
    imgs = get_kernel("image.decode")([pa.array([make_jpeg(64, 32), None], pa.large_binary())], {}).values
    t = pa.table({"img": imgs, "n": [1, 2]})
    text = table_to_text(t)
    assert "<image 64x32 RGB>" in text and "null" in text
    html = table_to_html(t, max_rows=1)
    assert html.count("data:image/jpeg;base64,") == 1 and "showing 1" in html
