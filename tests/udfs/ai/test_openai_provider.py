from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from thresher.udfs.ai.providers.base import GenerationParams
from thresher.udfs.ai.providers.openai import OpenAIProvider, OpenAIRequestError


class FakeServer:
    """An OpenAI-compatible server on 127.0.0.1 that injects 429s and 500s on a schedule."""

    def __init__(self, faults: list[int] | None = None, retry_after: str = "0.05", delay: float = 0.0) -> None:
        self.faults = list(faults or [])
        self.retry_after = retry_after
        self.delay = delay
        self.lock = threading.Lock()
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code, body, headers=None):
                data = json.dumps(body).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    # the client hung up (its deadline passed): nobody to answer, nothing to report
                    self.close_connection = True

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.calls += 1
                    fault = server.faults.pop(0) if server.faults else 200
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server.requests.append(body)
                try:
                    time.sleep(server.delay)
                    if fault == 429:
                        return self._send(429, {"error": "slow down"}, {"Retry-After": server.retry_after})
                    if fault != 200:
                        return self._send(fault, {"error": "boom"})
                    if self.path.endswith("/chat/completions"):
                        text = "echo: " + body["messages"][-1]["content"]
                        return self._send(
                            200,
                            {
                                "choices": [{"message": {"role": "assistant", "content": text}}],
                                "usage": {
                                    "prompt_tokens": 5,
                                    "completion_tokens": 2,
                                    "prompt_tokens_details": {"cached_tokens": 3},
                                },
                            },
                        )
                    if self.path.endswith("/embeddings"):
                        rows = [
                            {"index": i, "embedding": [float(len(t)), 1.0, 0.0]} for i, t in enumerate(body["input"])
                        ]
                        return self._send(200, {"data": rows[::-1], "usage": {"prompt_tokens": len(rows)}})
                    return self._send(404, {"error": "no such path"})
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _provider(url: str, **kw) -> OpenAIProvider:
    kw.setdefault("backoff_s", 0.01)
    return OpenAIProvider(url, model="fake", api_key="k", **kw)


def test_chat_completions_in_order_with_usage_and_system_prompt():
    with FakeServer() as srv:
        p = _provider(srv.url)
        out = p.generate([f"q{i}" for i in range(10)], GenerationParams(system_prompt="sys", max_new_tokens=4))
    assert out == [f"echo: q{i}" for i in range(10)]
    assert p.usage.prompt_tokens == 50 and p.usage.completion_tokens == 20 and p.usage.cached_tokens == 30
    assert srv.requests[0]["messages"][0] == {"role": "system", "content": "sys"}
    assert srv.requests[0]["max_tokens"] == 4


def test_retries_500_and_honors_retry_after_on_429():
    with FakeServer(faults=[500, 429, 503, 429], retry_after="0.2") as srv:
        p = _provider(srv.url, max_concurrency=1)
        t0 = time.perf_counter()
        out = p.generate(["a", "b"])
        elapsed = time.perf_counter() - t0
    assert out == ["echo: a", "echo: b"]
    assert p.retries == 4 and srv.calls == 6
    assert elapsed >= 0.4  # two 429s, each waited its Retry-After


def test_gives_up_after_max_retries_and_does_not_retry_4xx():
    with FakeServer(faults=[500] * 10) as srv:
        with pytest.raises(OpenAIRequestError, match="gave up after 2 retries"):
            _provider(srv.url, max_retries=2).generate(["a"])
        assert srv.calls == 3
    with FakeServer(faults=[400]) as srv:
        with pytest.raises(OpenAIRequestError, match="HTTP 400"):
            _provider(srv.url).generate(["a"])
        assert srv.calls == 1


def test_bounded_concurrency_and_deadline():
    with FakeServer(delay=0.05) as srv:
        p = _provider(srv.url, max_concurrency=3)
        assert len(p.generate([str(i) for i in range(12)])) == 12
        assert 1 < srv.max_in_flight <= 3
    with FakeServer(delay=0.5) as srv:
        with pytest.raises(OpenAIRequestError, match="deadline"):
            _provider(srv.url, deadline_s=0.2).generate(["slow"])


def test_connection_errors_are_retried_then_fail():
    p = _provider("http://127.0.0.1:9", max_retries=1, timeout_s=1.0)
    with pytest.raises(OpenAIRequestError, match="gave up"):
        p.generate(["x"])
    assert p.retries == 1


def test_embeddings_batched_and_reordered_by_index():
    with FakeServer(faults=[500]) as srv:
        p = _provider(srv.url)
        out = p.embed(["a", "bb", "ccc", "dddd", "e"], batch_size=2)
        assert p.embedding_dim() == 3
    assert out.shape == (5, 3) and out.dtype == np.float32
    assert out[:, 0].tolist() == [1, 2, 3, 4, 1]
