"""The router driving an engine step by step (``run_routed`` with a ``PromptStepper``).

vLLM needs a GPU, so the engine here is a deterministic stand-in with the same small API: a
request finishes a number of steps after it was added that grows with its length; answers are a
function of the prompt's tokens, so each answer can be checked against its row.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from thresher.udfs.ai.routing import PromptFailure, PromptRouter, ReplicaSlots, run_routed

BAD = 99_999  # a prompt starting with this token is rejected by the engine when added


def answer_of(toks: Sequence[int]) -> str:
    return f"{len(toks)}:{sum(toks)}:{toks[-1]}"


class FakeEngine:
    """Continuous batching stand-in: ``capacity`` requests at most; one finishes ``len // 8 + 1`` steps
    after it was added. Records every violation of the calling contract it sees."""

    def __init__(self, capacity: int, fail_step: int | None = None) -> None:
        self.capacity = capacity
        self.fail_step = fail_step
        self.steps = 0
        self.live: dict[int, tuple[int, list[int]]] = {}  # key -> (finish step, tokens)
        self.max_running = 0
        self.added: list[int] = []
        self.lock = threading.Lock()

    def add(self, key: int, token_ids: Sequence[int]) -> None:
        if token_ids[0] == BAD:
            raise ValueError("prompt rejected")
        assert key not in self.live
        self.live[key] = (self.steps + len(token_ids) // 8 + 1, list(token_ids))
        self.added.append(key)
        self.max_running = max(self.max_running, len(self.live))

    def running(self) -> int:
        return len(self.live)

    def step(self) -> list[tuple[int, Any]]:
        assert self.lock.acquire(blocking=False), "two threads step one engine at once"
        try:
            self.steps += 1
            if self.steps == self.fail_step:
                raise RuntimeError("engine step failed")
            done = [k for k, (at, _) in self.live.items() if at <= self.steps]
            return [(k, answer_of(self.live.pop(k)[1])) for k in done]
        finally:
            self.lock.release()

    def abort(self) -> list[int]:
        keys = list(self.live)
        self.live.clear()
        return keys


class CheckedRouter:
    """A PromptRouter that checks each request for work asks for exactly the engine's free slots."""

    def __init__(self, engines: dict[int, FakeEngine], **kwargs: Any) -> None:
        self.router = PromptRouter(**kwargs)
        self.engines = engines
        self.asks: list[tuple[int, int, int]] = []  # (replica, asked, free slots)

    def register(self) -> int:
        return self.router.register()

    def submit(self, ticket: str, token_ids: Any) -> None:
        self.router.submit(ticket, token_ids)

    def wait(self, ticket: str, timeout: float) -> Any:
        return self.router.wait(ticket, timeout)

    def _check(self, replica: int, max_prompts: int) -> None:
        e = self.engines[replica]
        self.asks.append((replica, max_prompts, e.capacity - e.running()))

    def step(self, replica: int, ticket: str, finished: Any, max_prompts: int, timeout: float = 0.05) -> Any:
        self._check(replica, max_prompts)
        return self.router.step(replica, ticket, finished, max_prompts, timeout=timeout)

    def issue(self, replica: int, finished: Any, max_prompts: int) -> Any:
        self._check(replica, max_prompts)
        return self.router.issue(replica, finished, max_prompts)


def _calls(n_calls: int, per_call: int, bad: set[int] = frozenset()) -> list[list[list[int]]]:  # type: ignore[assignment]
    rng = np.random.default_rng(3)
    prefixes = rng.integers(1, 5000, size=(6, 48)).tolist()
    toks = [
        prefixes[int(rng.integers(6))] + rng.integers(1, 5000, size=int(rng.integers(4, 40))).tolist()
        for _ in range(n_calls * per_call)
    ]
    for i in bad:
        toks[i] = [BAD, *toks[i][1:]]
    return [toks[i * per_call : (i + 1) * per_call] for i in range(n_calls)]


def _run(calls: list[list[list[int]]], engines: list[FakeEngine], hand_over: bool) -> tuple[list[Any], CheckedRouter]:
    by_replica: dict[int, FakeEngine] = {}
    router = CheckedRouter(by_replica, cache_blocks=32)
    replicas = [router.register() for _ in engines]
    by_replica.update(zip(replicas, engines))
    slots = ReplicaSlots(engines, replicas)

    def never(engine: Any, toks: Any) -> Any:
        raise AssertionError("the batch-by-batch path ran although the engine steps")

    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            results[i] = run_routed(
                router,
                f"t{i}",
                calls[i],
                slots.acquire,
                slots.release,
                never,
                64,
                stepper=lambda e: e,
                hand_over=hand_over,
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert all(not t.is_alive() for t in threads)
    return results, router


@pytest.mark.parametrize("hand_over", [True, False])
def test_every_prompt_answered_once_on_its_row_within_capacity(hand_over: bool) -> None:
    calls = _calls(6, 40)
    engines = [FakeEngine(8), FakeEngine(8)]
    results, router = _run(calls, engines, hand_over)
    for call, got in zip(calls, results):
        assert got == [answer_of(t) for t in call]
    added = [k for e in engines for k in e.added]
    assert sorted(added) == list(range(sum(map(len, calls))))  # each prompt ran exactly once
    assert all(e.max_running <= e.capacity for e in engines)
    assert max(e.max_running for e in engines) == 8  # and the engines were kept full
    assert router.asks and all(asked == free for _, asked, free in router.asks)
    assert all(not e.live for e in engines)  # nothing left running inside an engine


def test_a_rejected_prompt_is_its_rows_error_and_the_rest_complete() -> None:
    calls = _calls(3, 30, bad={5, 47})
    results, _ = _run(calls, [FakeEngine(6)], hand_over=True)
    flat = [a for r in results for a in r]
    toks = [t for c in calls for t in c]
    for i, (a, t) in enumerate(zip(flat, toks)):
        if i in (5, 47):
            assert isinstance(a, PromptFailure) and "prompt rejected" in a.message
        else:
            assert a == answer_of(t)


def test_a_failed_engine_step_fails_only_the_prompts_running_in_it() -> None:
    calls = _calls(2, 30)
    engine = FakeEngine(5, fail_step=3)
    results, _ = _run(calls, [engine], hand_over=False)
    flat = [a for r in results for a in r]
    toks = [t for c in calls for t in c]
    failed = [i for i, a in enumerate(flat) if isinstance(a, PromptFailure)]
    assert 0 < len(failed) <= 5  # the ones running at step 3
    assert all("engine step failed" in flat[i].message for i in failed)
    assert all(a == answer_of(t) for i, (a, t) in enumerate(zip(flat, toks)) if i not in failed)


def test_without_a_stepper_the_batch_path_answers_the_same() -> None:
    calls = _calls(3, 20)
    router = PromptRouter(cache_blocks=32)
    slots = ReplicaSlots(["engine"], [router.register()])
    got = [
        run_routed(
            router,
            f"t{i}",
            c,
            slots.acquire,
            slots.release,
            lambda e, ts: [answer_of(t) for t in ts],
            16,
            stepper=lambda e: None,
        )
        for i, c in enumerate(calls)
    ]
    assert got == [[answer_of(t) for t in c] for c in calls]


# -- the vLLM provider's stepper, on a stand-in ``LLM`` with vLLM's engine-level API -----------------


class FakeLLMEngine:
    """``add_request(request_id, prompt, params)`` / ``step()`` / ``abort_request(ids)`` as vLLM's
    ``LLMEngine``: step returns a ``RequestOutput``-like object per running request (finished or not)."""

    def __init__(self, max_num_seqs: int) -> None:
        self.vllm_config = types.SimpleNamespace(scheduler_config=types.SimpleNamespace(max_num_seqs=max_num_seqs))
        self.live: dict[str, list[Any]] = {}  # id -> [steps left, token ids]
        self.max_running = 0

    def add_request(self, request_id: str, prompt: dict[str, Any], params: Any) -> None:
        toks = prompt["prompt_token_ids"]
        if len(toks) > params["max_model_len"]:
            raise ValueError(f"prompt of {len(toks)} tokens is longer than the model")
        self.live[request_id] = [len(toks) // 8 + 1, toks]
        self.max_running = max(self.max_running, len(self.live))

    def step(self) -> list[Any]:
        out = []
        for rid, state in list(self.live.items()):
            state[0] -= 1
            done = state[0] <= 0
            if done:
                del self.live[rid]
            out.append(_output(rid, state[1], done))
        return out

    def abort_request(self, request_ids: list[str]) -> None:
        for rid in request_ids:
            self.live.pop(rid, None)


def _output(rid: str, toks: list[int], finished: bool) -> Any:
    text = answer_of(toks)
    return types.SimpleNamespace(
        request_id=rid,
        finished=finished,
        prompt_token_ids=toks,
        num_cached_tokens=0,
        outputs=[types.SimpleNamespace(text=text, token_ids=[1, 2])],
    )


class FakeLLM:
    def __init__(self, with_engine: bool, max_num_seqs: int = 4) -> None:
        if with_engine:
            self.llm_engine = FakeLLMEngine(max_num_seqs)

    def generate(self, prompts: list[dict[str, Any]], params: Any, use_tqdm: bool = False) -> list[Any]:
        return [_output(str(i), p["prompt_token_ids"], True) for i, p in enumerate(prompts)]


def _provider(monkeypatch: pytest.MonkeyPatch, llm: FakeLLM) -> Any:
    from thresher.udfs.ai.providers.vllm import VLLMProvider

    p = VLLMProvider("m")
    p._llm = llm
    monkeypatch.setattr(VLLMProvider, "_sampling", staticmethod(lambda params: {"max_model_len": 100}))
    return p


def test_vllm_stepper_matches_generate_and_keeps_rejections_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _calls(3, 25)
    calls[1][3] = [7] * 150  # longer than the model: rejected when added, an error on its row only
    stepped = _provider(monkeypatch, FakeLLM(with_engine=True, max_num_seqs=4))
    batch = _provider(monkeypatch, FakeLLM(with_engine=False))
    assert batch.stepper() is None  # no engine-level API: the generate() path
    st = stepped.stepper()
    assert st is not None and st.capacity == 4

    def run(p: Any) -> list[list[Any]]:
        router = PromptRouter(cache_blocks=32)
        slots = ReplicaSlots([p], [router.register()])
        steppers: dict[int, Any] = {}

        def stepper(e: Any) -> Any:
            return steppers.setdefault(id(e), e.stepper()) if e.stepper() is not None else None

        return [
            run_routed(
                router,
                f"t{i}",
                c,
                slots.acquire,
                slots.release,
                lambda e, ts: e.complete_ids(ts),
                8,
                stepper=stepper,
                hand_over=True,
            )
            for i, c in enumerate(calls)
        ]

    got, want = run(stepped), run(batch)
    assert isinstance(got[1][3], PromptFailure) and "longer than the model" in got[1][3].message
    got[1][3] = want[1][3]
    assert got == want == [[answer_of(t) for t in c] for c in calls]
    assert stepped._llm.llm_engine.max_running == 4
    assert not stepped._llm.llm_engine.live
    assert stepped.usage.as_dict()["requests"] == batch.usage.as_dict()["requests"] - 1


def test_prompt_stage_runner_drives_the_vllm_engine_step_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the stage's runner (as the executor calls it): calls on several threads share one
    stepped engine, each gets its own rows' answers, and the token usage reaches the stage stats."""
    from thresher.udfs.ai.model_functions import ModelFunction, _Runner
    from thresher.udfs.ai.providers import GenerationParams

    provider = _provider(monkeypatch, FakeLLM(with_engine=True, max_num_seqs=6))
    monkeypatch.setattr(provider, "complete_ids", lambda *a, **k: pytest.fail("generate() path used"))
    fn = ModelFunction(name="prompt", task="prompt", provider="vllm", model="m")
    runners = [_Runner(fn, provider) for _ in range(3)]
    calls = _calls(6, 20)
    got: list[Any] = [None] * len(calls)

    def one(i: int) -> None:
        got[i] = runners[i % 3].routed(calls[i], GenerationParams())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert got == [[answer_of(t) for t in c] for c in calls]
    engine = provider._llm.llm_engine
    assert engine.max_running == 6 and not engine.live
    metrics = [r.take_metrics() for r in runners]
    assert sum(m.get("prompt_tokens", 0) for m in metrics) == sum(len(t) for c in calls for t in c)
    assert sum(m.get("model_requests", 0) for m in metrics) == 120


def test_the_runner_driving_the_stepper_counts_its_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's stepper is kept across calls; a later call's runner (not the one that created
    it, which the executor may have dropped) gets that call's token usage."""
    from thresher.udfs.ai.model_functions import ModelFunction, _Runner
    from thresher.udfs.ai.providers import GenerationParams

    provider = _provider(monkeypatch, FakeLLM(with_engine=True, max_num_seqs=4))
    fn = ModelFunction(name="prompt", task="prompt", provider="vllm", model="m")
    first, later = _Runner(fn, provider), _Runner(fn, provider)
    calls = _calls(2, 10)
    assert first.routed(calls[0], GenerationParams()) == [answer_of(t) for t in calls[0]]
    assert later.routed(calls[1], GenerationParams()) == [answer_of(t) for t in calls[1]]
    assert first.take_metrics()["prompt_tokens"] == sum(map(len, calls[0]))
    assert later.take_metrics()["prompt_tokens"] == sum(map(len, calls[1]))
