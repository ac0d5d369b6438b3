"""The vLLM provider's engine arguments, with a stand-in ``vllm`` module (vLLM needs a GPU)."""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import pytest

from thresher.udfs.ai.providers.vllm import VLLMProvider


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    started: list[dict[str, Any]] = []

    class LLM:
        def __init__(self, model: str, **kwargs: Any) -> None:
            self.kwargs = kwargs
            started.append({"model": model, **kwargs})

        def embed(self, texts: list[str], use_tqdm: bool = False) -> list[Any]:
            if self.kwargs.get("runner") != "pooling":  # what vLLM does for a generation runner
                raise ValueError("LLM.embed() is only supported for pooling models")
            return [types.SimpleNamespace(outputs=types.SimpleNamespace(embedding=[float(len(t)), 1.0]))
                    for t in texts]

    mod = types.ModuleType("vllm")
    mod.LLM = LLM  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", mod)
    return started


def test_embed_starts_a_pooling_engine(fake_vllm: list[dict[str, Any]]) -> None:
    p = VLLMProvider("m", gpu_memory_utilization=0.5)
    e = p.embed(["ab", "abc"])
    np.testing.assert_array_equal(e, [[2.0, 1.0], [3.0, 1.0]])
    assert fake_vllm == [{"model": "m", "gpu_memory_utilization": 0.5, "runner": "pooling"}]
    p.embed(["x"])
    assert len(fake_vllm) == 1  # started once


def test_generation_engine_keeps_prefix_caching_and_a_pooling_provider_reuses_its_engine(
    fake_vllm: list[dict[str, Any]],
) -> None:
    gen = VLLMProvider("m")
    gen.load()
    assert fake_vllm[-1] == {"model": "m", "enable_prefix_caching": True}
    pooled = VLLMProvider("m", runner="pooling")
    pooled.embed(["a"])
    pooled.embed(["b"])
    assert [s.get("runner") for s in fake_vllm] == [None, "pooling"]
