"""A real S3-compatible server (moto's server mode on a free local port), one per test session.

Clients reach it over HTTP exactly as they reach S3 (no mocks of the client). Every request the
server sees is logged, so tests can count what a reader fetched.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class S3Server:
    endpoint: str
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, range header)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def config(self) -> Any:
        import thresher as th

        return th.IOConfig(s3=th.S3Config(endpoint_url=self.endpoint, key_id="testing", access_key="testing",
                                          region_name="us-east-1", num_tries=2))

    def new_bucket(self) -> str:
        import pyarrow.fs as pafs

        name = f"b-{uuid.uuid4().hex[:12]}"
        host = self.endpoint.split("://", 1)[1]
        fs = pafs.S3FileSystem(endpoint_override=host, scheme="http", access_key="testing", secret_key="testing",
                               region="us-east-1", allow_bucket_creation=True)
        fs.create_dir(name)
        return name

    def requests_for(self, path_part: str) -> list[tuple[str, str, str]]:
        with self.lock:
            return [r for r in self.requests if path_part in r[1]]


class _Counting:
    """WSGI middleware recording every request before moto handles it."""

    def __init__(self, app: Any, server: S3Server) -> None:
        self.app = app
        self.server = server

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.server.lock:
            self.server.requests.append((environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""),
                                         environ.get("HTTP_RANGE", "")))
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server_mod = pytest.importorskip("moto.server")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    srv = S3Server(f"http://{host}:{port}")
    moto._server.app = _Counting(moto._server.app, srv)  # the handler reads server.app per request
    try:
        yield srv
    finally:
        moto.stop()


@pytest.fixture
def s3(s3_server: S3Server) -> tuple[S3Server, str, Any]:
    """``(server, a fresh bucket, the IOConfig that reaches it)``."""
    return s3_server, s3_server.new_bucket(), s3_server.config()
