"""``F.prompt`` through the DataFrame: one model instance vs two replicas behind the prefix router.

The same prompts as ``llm_cpu`` (a shared system prompt, then a question), a tiny random-weight
Llama built offline. Each engine is its own process; the model loads during start-up (one
untimed warm-up round as for everybody), and the prefix KV caches of every provider and replica
are emptied before each round. The answers must be identical with 1 and 2 replicas.

The "1 replica: 215 s, 2 replicas: 9.5 s" anomaly of an earlier run was not the engine: batches
were the same (4 prompts per decode step with 1 and 2 replicas; 152 and 208 forward calls for 32
prompts, no collapse to batch size 1), no lock serialized them. It was torch's OpenMP pool
spinning on an oversubscribed machine (load average 25-80 on 2 cores): the single replica's model
ran with 2 intra-op threads that must meet at every parallel op; 32 prompts took 140-170 s, and 11 s
with ``torch.set_num_threads(1)``; 16 prompts 139 s, and 0.8-1.1 s with ``OMP_WAIT_POLICY=PASSIVE``.
Both engines now run under the passive policy (set at the top of ``llm_cpu_bench``).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from benchmarks.harness import Bench, Engine
from benchmarks.llm_cpu_bench import QUICK, make_prompts

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Torch's OpenMP threads wait for work by spinning (GOMP's active wait). On a machine with more
# runnable threads than cores a spinning helper steals the time slice its own master needs, and
# every parallel op waits for both to be scheduled: 16 prompts through one replica took 139 s
# with 2 intra-op threads, 1.1 s with OMP_WAIT_POLICY=PASSIVE and 11 s (32 prompts) with 1 thread,
# at load average ~25 on 2 cores (see llm_prompt_bench). Read by libgomp when torch loads: every
# engine of these benchmarks runs under the same policy.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _start(p: dict[str, Any], replicas: int) -> dict[str, Any]:
    import thresher as th
    from thresher import col, lit
    from thresher import functions as F
    from thresher.udfs.ai.testing import tiny_causal_lm_dir

    prompts = make_prompts(p["prompts"], p["prefixes"], p["prefix_words"])
    batch = max(1, p["prompts"] // 8)
    frame = th.from_pydict({"system": [m[0]["content"] for m in prompts], "q": [m[1]["content"] for m in prompts]})
    expr = F.prompt(col("system") + lit("\n\n") + col("q"), model=tiny_causal_lm_dir(), max_tokens=p["new_tokens"],
                    batch_size=batch, concurrency=replicas, max_running=p["max_running"])
    return {"df": frame.into_batches(batch).with_columns(a=expr)}


def _start_1(p: dict[str, Any]) -> dict[str, Any]:
    return _start(p, 1)


def _start_2(p: dict[str, Any]) -> dict[str, Any]:
    return _start(p, 2)


def _reset(state: dict[str, Any]) -> None:
    from thresher.udfs.ai.providers.transformers import clear_prefix_caches

    clear_prefix_caches()


def _run(state: dict[str, Any], case: str) -> list[str]:
    return state["df"].to_pydict()["a"]  # type: ignore[no-any-return]


def _check(state: dict[str, Any], case: str, out: list[str]) -> dict[str, Any]:
    return {"rows": len(out), "nulls": sum(a is None for a in out),
            "digest": hashlib.sha256(json.dumps(out).encode()).hexdigest()[:16]}


def _metrics(state: dict[str, Any], case: str, out: list[str]) -> dict[str, Any]:
    st = next((d for d in state["df"].stats().to_dicts() if "prompt_tokens" in d), {})
    return {k: st.get(k) for k in ("prompt_tokens", "cached_prompt_tokens", "completion_tokens")}


REQ = ("thresher", "torch", "transformers")
BENCH = Bench(
    name="llm_prompt",
    title="F.prompt through the DataFrame: 1 model instance vs 2 replicas with the prefix router",
    engines=(
        Engine("dataframe_1_replica", _start_1, _run, _check, reset=_reset, metrics=_metrics, requires=REQ),
        Engine("dataframe_2_replicas", _start_2, _run, _check, reset=_reset, metrics=_metrics, requires=REQ),
    ),
    reference="dataframe_1_replica",
    baseline="dataframe_1_replica",
    units="prompts",
    quick=QUICK,
    full=QUICK | {"prompts": 256, "rounds": 5},
    count=lambda p: p["prompts"],
)
