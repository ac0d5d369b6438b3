"""vLLM offline engine with automatic prefix caching (GPU machines; an optional extra).

vLLM pins its own torch/transformers, so it lives in a separate environment; it is imported only
in :meth:`VLLMProvider.load`. Feed it prompts in the order the
:class:`~thresher.udfs.ai.scheduling.PrefixScheduler` issues them so shared prefixes hit the cache.

Examples
--------
>>> VLLMProvider("some/model", max_num_seqs=64).engine_args["enable_prefix_caching"]
True
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from thresher.udfs.ai.providers.base import GenerationParams, PromptInput, TokenUsage, to_messages

__all__ = ["VLLMProvider"]


class VLLMProvider:
    """Generation (and embedding, for pooling models) through ``vllm.LLM``.

    Parameters
    ----------
    model : str
        Model path or name.
    **engine_args
        Passed to ``vllm.LLM`` (e.g. ``tensor_parallel_size``, ``gpu_memory_utilization``,
        ``max_num_seqs``); ``enable_prefix_caching`` defaults to True.
    """

    name = "vllm"

    def __init__(self, model: str, **engine_args: Any) -> None:
        self.model_name = model
        self._user_args = dict(engine_args)
        self.engine_args = {"enable_prefix_caching": True, **engine_args}
        self.usage = TokenUsage()
        self._llm: Any = None
        self._pooler: Any = None
        self._lock = threading.Lock()
        self._feed: _EngineFeed | None = None

    def _pooling_llm(self) -> Any:
        """The engine ``embed`` runs on: vLLM serves embeddings only from a pooling runner.

        A generation engine (``runner`` auto-detected as "generate" for a causal LM) rejects
        ``LLM.embed``; so embeddings get their own engine started with ``runner="pooling"``
        (vLLM converts a ``*ForCausalLM``/``*Model`` to an embedding model), unless the user
        started this provider as a pooling engine already.
        """
        with self._lock:
            if self._user_args.get("runner") == "pooling":
                if self._llm is None:
                    from vllm import LLM

                    self._llm = LLM(model=self.model_name, **self.engine_args)
                return self._llm
            if self._pooler is None:
                from vllm import LLM

                self._pooler = LLM(model=self.model_name, **{**self._user_args, "runner": "pooling"})
            return self._pooler

    def load(self) -> None:
        with self._lock:
            if self._llm is None:
                from vllm import LLM

                self._llm = LLM(model=self.model_name, **self.engine_args)

    def embedding_dim(self) -> int:
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(self.model_name)
        return int((getattr(cfg, "text_config", None) or cfg).hidden_size)

    #: prompts a shared router hands this engine per step (vLLM's scheduler batches them continuously)
    step_prompts = 256

    @staticmethod
    def _sampling(params: GenerationParams) -> Any:
        from vllm import SamplingParams

        kwargs: dict[str, Any] = {}
        schema = params.extra.get("json_schema")
        if schema is not None:  # structured output: decoding constrained to the JSON schema
            try:
                from vllm.sampling_params import StructuredOutputsParams

                kwargs["structured_outputs"] = StructuredOutputsParams(json=schema)
            except ImportError:  # vLLM < 0.11 names it guided decoding
                from vllm.sampling_params import GuidedDecodingParams

                kwargs["guided_decoding"] = GuidedDecodingParams(json=schema)
        return SamplingParams(
            max_tokens=params.max_new_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stop=list(params.stop) or None,
            seed=params.seed,
            **kwargs,
        )

    def encode_prompts(self, prompts: Sequence[PromptInput], params: GenerationParams) -> list[list[int]]:
        """Token ids after the chat template: what the router buckets and the engine's prefix cache keys on."""
        self.load()
        tok = self._llm.get_tokenizer()
        use_template = params.use_chat_template and getattr(tok, "chat_template", None)
        out = []
        for p in prompts:
            messages = to_messages(p, params.system_prompt)
            if use_template:
                text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
                out.append(list(tok(text, add_special_tokens=False)["input_ids"]))
            else:
                out.append(list(tok("\n\n".join(m["content"] for m in messages))["input_ids"]))
        return out

    def complete_ids(self, prompt_ids: Sequence[Sequence[int]], params: GenerationParams | None = None) -> list[str]:
        """Generate from token ids (prompts issued by the shared router, in its order)."""
        self.load()
        params = params or GenerationParams()
        outs = self._llm.generate(
            [{"prompt_token_ids": list(t)} for t in prompt_ids], self._sampling(params), use_tqdm=False
        )
        return self._texts(outs)

    def _texts(self, outs: Any) -> list[str]:
        return [self._text(o) for o in outs]

    def _text(self, o: Any) -> str:
        completion = o.outputs[0]
        cached = getattr(o, "num_cached_tokens", None) or 0
        self.usage.add(prompt=len(o.prompt_token_ids or ()), completion=len(completion.token_ids), cached=cached)
        return str(completion.text)

    def stepper(self, params: GenerationParams | None = None) -> _Stepper | None:
        """This engine driven request by request (a :class:`~thresher.udfs.ai.routing.PromptStepper`)
        through vLLM's engine-level API -- ``llm.llm_engine``'s ``add_request``/``step`` -- so a
        shared router can refill exactly the slots that free at every step. ``None`` when the
        installed vLLM has no such API (then :meth:`complete_ids` runs batch by batch)."""
        self.load()
        with self._lock:
            if self._feed is None:
                engine = getattr(self._llm, "llm_engine", None)
                if engine is None or not all(hasattr(engine, a) for a in ("add_request", "step", "abort_request")):
                    return None
                self._feed = _EngineFeed(engine, self._capacity(engine))
        sampling = self._sampling(params or GenerationParams())
        try:  # only the finished output of each request, as LLM.generate asks for it
            from vllm.sampling_params import RequestOutputKind

            sampling.output_kind = RequestOutputKind.FINAL_ONLY
        except (ImportError, AttributeError):  # an older vLLM: every step's outputs, the finished ones kept
            pass
        return _Stepper(self._feed, sampling, self._text)

    def _capacity(self, engine: Any) -> int:
        """Requests the engine runs at once: its scheduler's ``max_num_seqs``."""
        for cfg in (
            getattr(getattr(engine, "vllm_config", None), "scheduler_config", None),
            getattr(engine, "scheduler_config", None),
        ):
            n = getattr(cfg, "max_num_seqs", None)
            if isinstance(n, int) and n > 0:
                return n
        return int(self.engine_args.get("max_num_seqs") or self.step_prompts)

    def generate(self, prompts: Sequence[PromptInput], params: GenerationParams | None = None) -> list[str]:
        self.load()
        params = params or GenerationParams()
        sp = self._sampling(params)
        conversations = [to_messages(p, params.system_prompt) for p in prompts]
        if params.use_chat_template:
            outs = self._llm.chat(conversations, sp, use_tqdm=False)
        else:
            outs = self._llm.generate(["\n\n".join(m["content"] for m in c) for c in conversations], sp, use_tqdm=False)
        return self._texts(outs)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings from a pooling engine (started with ``runner="pooling"``, see :meth:`_pooling_llm`)."""
        outs = self._pooling_llm().embed(list(texts), use_tqdm=False)
        self.usage.add(requests=len(texts))
        return np.asarray([o.outputs.embedding for o in outs], dtype=np.float32)


class _EngineFeed:
    """One vLLM ``LLMEngine`` shared by the steppers of this provider: request ids, and which
    stepper each finished request belongs to (an engine step returns every caller's outputs)."""

    def __init__(self, engine: Any, capacity: int) -> None:
        self.engine = engine
        self.capacity = capacity
        self.lock = threading.Lock()
        self.owner: dict[str, tuple[_Stepper, int]] = {}  # request id -> (stepper, prompt key)
        self.ids = itertools.count()


class _Stepper:
    """One router's view of the provider's engine (see :meth:`VLLMProvider.stepper`)."""

    def __init__(self, feed: _EngineFeed, sampling: Any, text: Any) -> None:
        self._feed = feed
        self._sampling = sampling
        self._text = text
        self._running: dict[int, str] = {}  # prompt key -> request id
        self._done: list[tuple[int, Any]] = []  # finished in another stepper's engine step

    @property
    def capacity(self) -> int:
        """The engine's capacity less what other steppers run on it now."""
        feed = self._feed
        with feed.lock:
            return feed.capacity - (len(feed.owner) - len(self._running))

    def add(self, key: int, token_ids: Sequence[int]) -> None:
        feed = self._feed
        with feed.lock:
            rid = f"thresher-{next(feed.ids)}"
            feed.engine.add_request(rid, {"prompt_token_ids": list(token_ids)}, self._sampling)
            feed.owner[rid] = (self, key)
            self._running[key] = rid

    def running(self) -> int:
        return len(self._running) + len(self._done)

    def step(self) -> list[tuple[int, Any]]:
        feed = self._feed
        with feed.lock:
            if self._done:  # finished during another stepper's engine step
                done, self._done = self._done, []
                return done
            for o in feed.engine.step():
                if not o.finished:
                    continue
                owner = feed.owner.pop(o.request_id, None)
                if owner is None:
                    continue
                stepper, key = owner
                del stepper._running[key]
                stepper._done.append((key, self._text(o)))
            done, self._done = self._done, []
            return done

    def abort(self) -> list[int]:
        feed = self._feed
        with feed.lock:
            keys = list(self._running) + [k for k, _ in self._done]
            self._done.clear()
            rids = list(self._running.values())
            for rid in rids:
                feed.owner.pop(rid, None)
            self._running.clear()
            try:
                feed.engine.abort_request(rids)
            except Exception:  # noqa: BLE001, S110 - the engine already failed; the prompts fail anyway
                pass
            return keys
