"""Providers on tiny local models and a fake OpenAI-compatible server (429s, 500s, retries)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import thresher as th
from thresher import col
from thresher.udfs.ai.providers import GenerationParams
from thresher.udfs.ai.providers.openai import OpenAIProvider


class _Fake(BaseHTTPRequestHandler):
    calls: list[str] = []
    fail_plan: list[int] = []  # status codes to answer first, then succeed

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(self.path)
        if type(self).fail_plan:
            status = type(self).fail_plan.pop(0)
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(b'{"error": "try again"}')
            return
        if self.path.endswith("/chat/completions"):
            text = body["messages"][-1]["content"]
            out = {
                "choices": [{"message": {"role": "assistant", "content": f"echo: {text}"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2},
            }
        else:
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            out = {"data": [{"index": i, "embedding": [float(len(t)), 1.0, 0.0]} for i, t in enumerate(inputs)]}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _Fake.calls, _Fake.fail_plan = [], []
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()


def test_openai_generate_retries_rate_limits_and_server_errors(server: str) -> None:
    _Fake.fail_plan = [429, 500, 503]
    p = OpenAIProvider(server, "fake-model", backoff_s=0.01, max_backoff_s=0.05)
    assert p.generate(["hello", "world"], GenerationParams(max_new_tokens=4)) == ["echo: hello", "echo: world"]
    assert len(_Fake.calls) == 5  # three failures, then the two prompts


def test_openai_gives_up_after_max_retries(server: str) -> None:
    _Fake.fail_plan = [500] * 10
    p = OpenAIProvider(server, "fake-model", backoff_s=0.01, max_backoff_s=0.02, max_retries=2)
    with pytest.raises(th.ThresherError):
        p.generate(["x"])


def test_prompt_and_embed_through_dataframe_with_openai(server: str) -> None:
    df = th.from_pydict({"t": ["ab", "abcd"]})
    out = df.with_columns(
        a=th.functions.prompt(col("t"), model="fake-model", provider="openai", base_url=server, backoff_s=0.01),
        e=th.functions.embed_text(
            col("t"), model="fake-model", provider="openai", base_url=server, embedding_dim=3, normalize=False
        ),
    ).to_pydict()
    assert out["a"] == ["echo: ab", "echo: abcd"]
    assert out["e"] == [[2.0, 1.0, 0.0], [4.0, 1.0, 0.0]]


def test_transformers_prefix_reuse_gives_the_same_greedy_output() -> None:
    pytest.importorskip("torch")
    from thresher.udfs.ai.providers.transformers import TransformersProvider
    from thresher.udfs.ai.testing import tiny_causal_lm_dir

    shared = "You are a careful assistant. Describe the following item in detail for a catalogue: "
    prompts = [shared + item for item in ("a red apple", "a blue boat", "an old clock", "a green lamp")]
    params = GenerationParams(max_new_tokens=8, use_chat_template=False)
    with_reuse = TransformersProvider(tiny_causal_lm_dir(), prefix_reuse=True, min_prefix_tokens=4)
    without = TransformersProvider(tiny_causal_lm_dir(), prefix_reuse=False)
    assert with_reuse.generate(prompts, params) == without.generate(prompts, params)
    assert with_reuse.usage.total_tokens > 0
