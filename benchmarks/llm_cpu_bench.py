"""CPU generation with the transformers provider: prefix KV reuse on vs off, and HF ``generate``.

A tiny random-weight Llama (hidden 64, 2 layers; :mod:`thresher.udfs.ai.testing`, built offline,
the same weights in every process) so it runs anywhere. Prompts share one of ``prefixes`` long
system prompts followed by a short unique question; every engine gets the same token ids
(encoded at start-up) and produces ``new_tokens`` greedy tokens per prompt.

* ``prefix_reuse``: our continuous-batching loop computing each shared prefix once;
* ``no_reuse``: the same loop recomputing every prompt;
* ``hf_generate_static``: ``model.generate`` on length-sorted, left-padded static batches.

The prefix KV cache is emptied before every round (``reset``), so no round reuses what an
earlier round or the warm-up computed; ``cached_prompt_tokens`` shows what reuse saved within the
round. Outputs (the greedy token ids) must be identical on all three sides.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from benchmarks.harness import Bench, Engine

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Torch's OpenMP threads wait for work by spinning (GOMP's active wait). On a machine with more
# runnable threads than cores a spinning helper steals the time slice its own master needs, and
# every parallel op waits for both to be scheduled: 16 prompts through one replica took 139 s
# with 2 intra-op threads, 1.1 s with OMP_WAIT_POLICY=PASSIVE and 11 s (32 prompts) with 1 thread,
# at load average ~25 on 2 cores (see llm_prompt_bench). Read by libgomp when torch loads: every
# engine of these benchmarks runs under the same policy.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

WORDS = "the a engine data frame image video audio text column plan lazy model prompt token cache".split()


def make_prompts(n: int, n_prefixes: int, prefix_words: int) -> list[list[dict[str, str]]]:
    rng = np.random.default_rng(0)
    prefixes = [" ".join(rng.choice(WORDS, prefix_words)) for _ in range(n_prefixes)]
    return [[{"role": "system", "content": prefixes[i % n_prefixes]},
             {"role": "user", "content": f"question {i}: " + " ".join(rng.choice(WORDS, 12))}] for i in range(n)]


def _start(p: dict[str, Any]) -> dict[str, Any]:
    import torch

    from thresher.udfs.ai.providers.base import GenerationParams
    from thresher.udfs.ai.providers.transformers import TransformersProvider
    from thresher.udfs.ai.testing import tiny_causal_lm_dir

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    params = GenerationParams(max_new_tokens=p["new_tokens"])
    prov = TransformersProvider(tiny_causal_lm_dir(), max_running=p["max_running"], prefix_reuse=p["mode"] == "reuse")
    prompts = make_prompts(p["prompts"], p["prefixes"], p["prefix_words"])
    ids = prov.encode_prompts(prompts, params)
    prov.load()
    return {"p": p, "prov": prov, "ids": ids, "params": params}


def _start_reuse(p: dict[str, Any]) -> dict[str, Any]:
    return _start(p | {"mode": "reuse"})


def _start_plain(p: dict[str, Any]) -> dict[str, Any]:
    return _start(p | {"mode": "plain"})


def _reset(state: dict[str, Any]) -> None:
    from thresher.udfs.ai.providers.base import TokenUsage

    state["prov"].clear_prefix_cache()
    state["prov"].usage = TokenUsage()


def _run_provider(state: dict[str, Any], case: str) -> list[list[int]]:
    return state["prov"].generate_ids(state["ids"], state["params"])  # type: ignore[no-any-return]


def _run_hf(state: dict[str, Any], case: str) -> list[list[int]]:
    import torch

    prov, ids, n_new, size = state["prov"], state["ids"], state["p"]["new_tokens"], state["p"]["max_running"]
    tok, model = prov._tok, prov._model
    tok.padding_side = "left"
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    eos = tok.eos_token_id
    out: list[list[int]] = [[] for _ in ids]
    for s in range(0, len(order), size):
        rows = order[s : s + size]
        batch = tok.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="pt")
        with torch.inference_mode():
            gen = model.generate(**batch, max_new_tokens=n_new, do_sample=False, pad_token_id=tok.pad_token_id)
        for j, i in enumerate(rows):
            g = gen[j, batch["input_ids"].shape[1] :].tolist()
            out[i] = g[: g.index(eos)] if eos in g else g
    return out


def _check(state: dict[str, Any], case: str, out: list[list[int]]) -> dict[str, Any]:
    return {"prompts": len(out), "generated": sum(map(len, out)),
            "digest": hashlib.sha256(json.dumps(out).encode()).hexdigest()[:16]}


def _metrics(state: dict[str, Any], case: str, out: list[list[int]]) -> dict[str, Any]:
    prompt_tokens = sum(map(len, state["ids"]))
    return {"prompt_tokens": prompt_tokens, "cached_prompt_tokens": state["prov"].usage.cached_tokens,
            "generated_tokens": sum(map(len, out))}


REQ = ("thresher", "torch", "transformers")
ENGINES = (
    Engine("prefix_reuse", _start_reuse, _run_provider, _check, reset=_reset, metrics=_metrics, requires=REQ,
           note="continuous batching, shared prefixes computed once per round (cache emptied before each)"),
    Engine("no_reuse", _start_plain, _run_provider, _check, reset=_reset, metrics=_metrics, requires=REQ,
           note="the same loop, every prompt prefilled in full"),
    Engine("hf_generate_static", _start_plain, _run_hf, _check, requires=REQ,
           note="model.generate on length-sorted static batches of max_running"),
)

QUICK = {"prompts": 64, "prefixes": 4, "prefix_words": 300, "new_tokens": 16, "max_running": 32, "rounds": 3}
BENCH = Bench(
    name="llm_cpu",
    title="CPU generation, tiny random-weight Llama: prefix reuse vs none vs HF generate",
    engines=ENGINES,
    reference="no_reuse",
    baseline="no_reuse",
    units="prompts",
    quick=QUICK,
    full=QUICK | {"prompts": 256, "rounds": 5},
    count=lambda p: p["prompts"],
    notes="Greedy token ids must be identical on all sides; caches are emptied before every round.",
)
