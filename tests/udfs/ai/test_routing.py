"""The shared prompt router: one prefix scheduler feeding several replicas, in the engine.

Unit tests drive :class:`PromptRouter` with fake engines on threads (as the local executor does);
DataFrame tests run ``prompt()`` with two replicas on the local and Ray executors and check that
prompts of one prefix stay on one replica, answers equal the single-replica run, and the stage
stats carry token usage.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest

from thresher.udfs.ai.routing import PromptFailure, PromptRouter, ReplicaSlots, run_routed, token_digest


def _prefix_prompts(n: int, prefixes: int, prefix_len: int = 48) -> list[list[int]]:
    return [[100 + i % prefixes] * prefix_len + [1000 + i] * 8 for i in range(n)]


def _fake_engine(toks: list[list[int]]) -> list[str]:
    return [f"sum={sum(t)}" for t in toks]


def _pairs(router: PromptRouter, prompts: list[list[int]], prefixes: int) -> dict[int, set[int]]:
    where = dict((d, r) for r, d in router.stats()["placements"])
    out: dict[int, set[int]] = defaultdict(set)
    for i, t in enumerate(prompts):
        out[i % prefixes].add(where[token_digest(t)])
    return out


def test_router_threads_share_one_scheduler_and_keep_prefixes_on_one_replica() -> None:
    router = PromptRouter(cache_blocks=256, record=True)
    slots = ReplicaSlots(["e0", "e1"], [router.register(), router.register()])
    prompts = _prefix_prompts(96, prefixes=4)
    calls = [prompts[i : i + 12] for i in range(0, 96, 12)]  # every call mixes all four prefixes
    results: dict[int, list[str]] = {}
    sem = threading.Semaphore(2)  # two calls in flight, like a stage with concurrency=2

    def call(k: int) -> None:
        with sem:
            results[k] = run_routed(
                router, f"t{k}", calls[k], slots.acquire, slots.release, lambda e, t: _fake_engine(t), 8
            )

    threads = [threading.Thread(target=call, args=(k,)) for k in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(results[k] == _fake_engine(calls[k]) for k in range(len(calls)))
    stats = router.stats()
    assert len(stats["prompts_per_replica"]) == 2 and sum(stats["prompts_per_replica"]) == 96
    assert min(stats["prompts_per_replica"]) > 0
    pairs = _pairs(router, prompts, 4)
    # a prefix leaves its replica only when a bucket is stolen by an idle one
    assert sum(len(v) for v in pairs.values()) <= 4 + stats["steals"]
    assert stats["cache_routed_buckets"] > 0


def test_prompts_on_a_replica_whose_worker_left_are_taken_over() -> None:
    router = PromptRouter(cache_blocks=256, stale_after=0.1)
    r0, r1 = router.register(), router.register()
    prompts = [[1] * 32 + [i] * 4 for i in range(3)] + [[2] * 32 + [i] * 4 for i in range(3)]
    only_r0 = ReplicaSlots(["e0"], [r0])  # replica 1's worker never comes back
    got = run_routed(router, "t", prompts, only_r0.acquire, only_r0.release, lambda e, t: _fake_engine(t), 4)
    assert got == _fake_engine(prompts)
    assert router.stats()["prompts_per_replica"][r1] == 0 and router.stats()["steals"] >= 1


def test_engine_failure_reaches_the_owning_call_as_a_failure() -> None:
    router = PromptRouter()
    slots = ReplicaSlots(["e0"], [router.register()])

    def engine(e: str, toks: list[list[int]]) -> list[str]:
        if any(t[-1] == 666 for t in toks):
            raise RuntimeError("CUDA out of memory")
        return _fake_engine(toks)

    ok = [[5] * 20]
    bad = [[7] * 20 + [666]]
    assert run_routed(router, "a", ok, slots.acquire, slots.release, engine, 4) == _fake_engine(ok)
    (failure,) = run_routed(router, "b", bad, slots.acquire, slots.release, engine, 4)
    assert isinstance(failure, PromptFailure) and "CUDA out of memory" in failure.message


# -- through the DataFrame API ------------------------------------------------------------------------
PREFIXES = [
    f"You are agent number {k}. " + "Follow the house policy carefully and answer briefly. " * 3 for k in range(4)
]


def _frame():  # type: ignore[no-untyped-def]
    import thresher as th

    rows = [PREFIXES[i % 4] + f"question {i}?" for i in range(48)]
    return rows, th.from_pydict({"q": rows}).into_batches(6)


def _check_routed_run(runner: str) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from thresher import col
    from thresher import functions as F
    from thresher.udfs.ai.model_functions import shared_provider
    from thresher.udfs.ai.providers import GenerationParams
    from thresher.udfs.ai.testing import tiny_causal_lm_dir

    model = tiny_causal_lm_dir()
    rows, df = _frame()
    single = F.prompt(col("q"), model=model, max_tokens=5, batch_size=6)
    expected = df.with_columns(a=single).to_pydict(runner="local")["a"]
    two = F.prompt(col("q"), model=model, max_tokens=5, batch_size=6, concurrency=2)
    two.udf.record_routing = True  # testing hook: placements in the stage stats
    out = df.with_columns(a=two)
    for _ in range(2 if runner == "local" else 1):  # locally the second run reuses the warm replicas
        assert out.to_pydict(runner=runner)["a"] == expected  # greedy: the replicas answer as one engine would
    (st,) = [d for d in out.stats().to_dicts() if "routing" in d]
    routing = st["routing"]
    assert len(routing["prompts_per_replica"]) == 2 and min(routing["prompts_per_replica"]) > 0
    assert sum(routing["prompts_per_replica"]) == 48  # this run's prompts only
    provider = shared_provider("transformers", model, {})
    ids = provider.encode_prompts(rows, GenerationParams(**two.udf.generation))
    where = dict((d, r) for r, d in routing["placements"])
    per_prefix: dict[int, set[int]] = defaultdict(set)
    for i, t in enumerate(ids):
        per_prefix[i % 4].add(where[token_digest(t)])
    # a prefix gains a replica only by a steal or a bucket moved to even the replicas out
    moved = routing["steals"] + routing["rebalanced_buckets"]
    assert sum(len(v) for v in per_prefix.values()) <= 4 + moved, (per_prefix, routing)
    # token usage of the stage, as the engines counted it
    assert st["prompt_tokens"] == sum(map(len, ids))
    assert 0 < st["completion_tokens"] <= 48 * 5
    assert 0 < st["cached_prompt_tokens"] < st["prompt_tokens"]
    assert st["model_requests"] == 48 and st["tokens_per_s"] > 0


def test_prompt_with_two_local_replicas_routes_by_prefix() -> None:
    _check_routed_run("local")
    # locally a call whose replica has no work takes over a free one, so nothing needs stealing
    import thresher as th  # noqa: F401


def test_prompt_with_two_ray_actors_routes_by_prefix() -> None:
    pytest.importorskip("ray")
    _check_routed_run("ray")


def test_a_restarted_worker_gets_its_replica_back_and_its_lost_prompts_run_again() -> None:
    router = PromptRouter(cache_blocks=256, stale_after=60.0)  # no stealing: only the restart can save them
    r0, r1 = router.register("actor-a"), router.register("actor-b")
    prompts = [[1] * 32 + [i] * 4 for i in range(3)] + [[2] * 32 + [i] * 4 for i in range(3)]
    router.submit("actor-a:t", prompts)  # actor a's call: one prefix bucket is routed to each replica
    router.submit("actor-b:dead", [[9] * 40])  # a call of actor b's that dies with it
    lost, _ = router.step(r1, "actor-a:t", [], max_prompts=8, timeout=0.0)
    assert lost and all(toks in prompts for _, toks in lost)  # b was running a's prompts when it died
    assert router.register("actor-b") == r1  # restarted under the same actor id
    assert "actor-b:dead" not in router._tickets  # its own call is forgotten (Ray retries it)
    finished: dict[int, list] = {r0: [], r1: []}
    answers = None
    for _ in range(100):  # both replicas work (one thread taking turns) until a's call is answered
        for r in (r0, r1):
            work, answers = router.step(r, "actor-a:t", finished[r], max_prompts=8, timeout=0.0)
            finished[r] = [(pid, f"sum={sum(t)}") for pid, t in work]
            if answers is not None:
                break
        if answers is not None:
            break
    assert answers == _fake_engine(prompts)
