"""``benchmarks/gpu_check.py`` runs end to end without a GPU: fake CuPy/vLLM stand in.

The first session that gets a GPU has minutes of device time; a typo in the script would waste
them. Here its vLLM step drives a fake ``vllm`` module with a real block-level prefix cache (LRU
over 16-token blocks, so the order of the prompts changes the hit rate as on a GPU), and its dedup
step runs on a NumPy stand-in for CuPy (as ``tests/operators/kernels/test_gpu_dedup.py`` does).
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from benchmarks import gpu_check

from thresher.operators.kernels import gpu_dedup

BLOCK = 16


class _FakeLLM:
    """vLLM's offline ``LLM``: greedy answers that depend on the prompt only, and prefix-cache counters."""

    def __init__(self, model: str, num_gpu_blocks_override: int, **kwargs: Any) -> None:
        self.blocks: OrderedDict[int, None] = OrderedDict()
        self.capacity = num_gpu_blocks_override
        self.queries = self.hits = 0
        self.kwargs = kwargs
        self.llm_engine = _FakeEngine(self, kwargs.get("max_num_seqs", 8))

    def reset_prefix_cache(self) -> None:
        self.blocks.clear()

    def generate(self, prompts: list[dict[str, list[int]]], sp: Any, use_tqdm: bool = True) -> list[Any]:
        outs = []
        for p in prompts:
            ids = p["prompt_token_ids"]
            h, cached = 0, True
            for b in range(len(ids) // BLOCK):  # a block hits only if every block before it hit
                h = hash((h, tuple(ids[b * BLOCK : (b + 1) * BLOCK])))
                self.queries += BLOCK
                if cached and h in self.blocks:
                    self.hits += BLOCK
                    self.blocks.move_to_end(h)
                else:
                    cached = False
                    self.blocks[h] = None
                    while len(self.blocks) > self.capacity:
                        self.blocks.popitem(last=False)
            answer = [(sum(ids) * (k + 7)) % 1000 for k in range(sp.max_tokens)]
            outs.append(types.SimpleNamespace(outputs=[types.SimpleNamespace(token_ids=answer, text=str(answer))],
                                              prompt_token_ids=ids, finished=True))
        return outs

    def get_metrics(self) -> list[Any]:
        return [types.SimpleNamespace(name="vllm:prefix_cache_queries", value=self.queries),
                types.SimpleNamespace(name="vllm:prefix_cache_hits", value=self.hits)]


class _FakeEngine:
    """vLLM's engine-level API over the fake ``LLM``: a request finishes ``len // 16`` steps after it was added."""

    def __init__(self, llm: _FakeLLM, max_num_seqs: int) -> None:
        self.llm = llm
        self.scheduler_config = types.SimpleNamespace(max_num_seqs=max_num_seqs)
        self.live: dict[str, list[Any]] = {}
        self.max_running = 0

    added = 0  # requests added through this API, over all engines

    def add_request(self, request_id: str, prompt: dict[str, list[int]], params: Any) -> None:
        _FakeEngine.added += 1
        self.live[request_id] = [len(prompt["prompt_token_ids"]) // 16, prompt, params]
        self.max_running = max(self.max_running, len(self.live))

    def step(self) -> list[Any]:
        out = []
        for rid, state in list(self.live.items()):
            state[0] -= 1
            if state[0] <= 0:
                del self.live[rid]
                (o,) = self.llm.generate([state[1]], state[2])
                o.request_id = rid
                out.append(o)
        return out

    def abort_request(self, request_ids: list[str]) -> None:
        for rid in request_ids:
            self.live.pop(rid, None)


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    vllm = types.ModuleType("vllm")
    vllm.LLM = _FakeLLM  # type: ignore[attr-defined]
    vllm.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)  # type: ignore[attr-defined]
    vllm.__spec__ = types.SimpleNamespace(name="vllm")  # type: ignore[assignment]
    monkeypatch.setitem(sys.modules, "vllm", vllm)


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    cupy = types.ModuleType("cupy")
    for name in ("uint32", "uint64", "int64", "full", "asarray", "ascontiguousarray", "arange", "broadcast_to",
                 "concatenate", "unique", "minimum", "maximum", "empty", "lexsort", "stack"):
        setattr(cupy, name, getattr(np, name))
    cupy.asnumpy = np.asarray  # type: ignore[attr-defined]
    cupy.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1, deviceSynchronize=lambda: None))
    cupy.__spec__ = types.SimpleNamespace(name="cupy")  # type: ignore[assignment]
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setattr(gpu_dedup, "_VERIFIED", None)


def _args(**kw: Any) -> argparse.Namespace:
    base = {"prompts": 600, "prefixes": 24, "prefix_tokens": 64, "new_tokens": 4, "max_num_seqs": 32,
            "kv_blocks": 60, "docs": 3000}
    return argparse.Namespace(**(base | kw))


def test_no_gpu_is_a_clean_exit_that_says_what_it_found(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr(gpu_check, "has_gpu", lambda: False)
    assert gpu_check.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no GPU: nothing to check here") and "vllm:" in out and "docs/guide/gpu.md" in out


def test_vllm_orders_read_the_prefix_cache_counters_and_compare_answers(fake_vllm: None) -> None:
    rows = gpu_check.vllm_orders(_args())
    assert [r["check"] for r in rows] == ["vLLM naive order", "vLLM sorted order", "vLLM bucketed order"]
    assert all(r["ok"] is True for r in rows)  # the answers are the same whatever the order
    hit = {r["check"].split()[1]: r["hit_rate"] for r in rows}
    assert all(0.0 <= h <= 1.0 for h in hit.values())
    # with a cache of 60 blocks for 24 prefixes of 4 blocks, grouping prompts by prefix must pay off
    assert hit["sorted"] > hit["naive"] and hit["bucketed"] > hit["naive"]
    assert rows[0]["vs_naive"] == 1.0 and "hit rate" in rows[1]["detail"]


def test_vllm_stepped_runs_both_provider_paths_and_compares_answers(fake_vllm: None) -> None:
    before = _FakeEngine.added
    rows = gpu_check.vllm_stepped(_args(prompts=1100))
    assert _FakeEngine.added - before == 3 * 1100  # warm-up + 2 timed rounds went through add_request/step
    assert [r["check"] for r in rows] == ["vLLM provider batch by batch", "vLLM provider stepped"]
    assert all(r["ok"] is True for r in rows), rows  # same answers, none failed
    assert all(r["prompts_per_s"] > 0 for r in rows) and "x batch by batch" in rows[1]["detail"]


def test_gpu_dedup_step_runs_and_compares_with_the_cpu(fake_gpu: None) -> None:
    kernels, frame = gpu_check.gpu_dedup_vs_cpu(_args())
    assert kernels["ok"] is True and "groups identical: True" in kernels["detail"]
    assert "auto verified: True" in kernels["detail"] and set(kernels["phases_s"]) >= {"band hashes", "components"}
    assert frame["ok"] is True and "results identical: True" in frame["detail"]
    assert len(frame["gpu_s"]) == len(frame["cpu_s"]) == 2  # interleaved, each twice


def test_missing_libraries_are_skip_rows_not_failures(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      capsys: Any) -> None:
    monkeypatch.setattr(gpu_check, "has_gpu", lambda: True)  # e.g. CUDA torch, but no vLLM/CuPy installed
    monkeypatch.setattr(gpu_check, "_missing", lambda *mods: f"not installed: {', '.join(mods)}")
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--skip", "tests", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "skip" in table and "not installed: vllm" in table
    assert [r["ok"] for r in json.loads(out.read_text())["rows"]] == [None, None, None]


def test_whole_script_on_fakes_prints_one_table(fake_vllm: None, fake_gpu: None, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path, capsys: Any) -> None:
    monkeypatch.setattr(gpu_check, "has_gpu", lambda: True)
    out = tmp_path / "gpu_check.json"
    rc = gpu_check.main(["--skip", "tests", "--prompts", "300", "--prefixes", "12", "--prefix-tokens", "32",
                         "--kv-blocks", "40", "--docs", "2000", "--out", str(out)])
    table = capsys.readouterr().out
    assert rc == 0, table
    assert table.count("yes") == 7 and "GPU fuzzy dedup kernels, 2,000 docs" in table
    assert "df.dedup.fuzzy, 2,000 docs" in table
    assert len(json.loads(out.read_text())["rows"]) == 7
