"""``prompt``, ``embed_text`` and ``embed_image`` as typed model calls inside expressions.

Each call builds a :class:`~thresher.expressions.expr.UDFCall` whose ``udf`` is a
:class:`ModelFunction`: a class-UDF-like object the planner reads resources from (it runs in an
actor stage of its own) and the evaluator runs batch by batch. The provider — and so the model —
is loaded once per worker process and shared by its threads; the output type is known when the
plan is built (embedding dimensions come from the model config, structured outputs from the
pydantic model or JSON schema).
"""

from __future__ import annotations

import functools
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.datatypes import DataType, Field
from thresher.errors import ThresherExecutionError, ThresherTypeError
from thresher.expressions.expr import Expr, UDFCall, lit_if_needed
from thresher.udfs.ai.providers import GenerationParams, TokenUsage, make_provider
from thresher.udfs.service import SharedService

_PROVIDERS: dict[tuple[Any, ...], Any] = {}
_PROVIDERS_LOCK = threading.Lock()


def _freeze(d: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, repr(v)) for k, v in d.items()))


def shared_provider(provider: str, model: str, options: dict[str, Any]) -> Any:
    """One provider (one loaded model) per process for a given configuration."""
    import os

    # model libraries print loading bars and warnings per load; users see Thresher's progress instead
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    key = (provider, model, _freeze(options))
    with _PROVIDERS_LOCK:
        p = _PROVIDERS.get(key)
        if p is None:
            kwargs = dict(options)
            if provider == "openai":
                kwargs.setdefault("model", model)
                p = make_provider(provider, **kwargs)
            else:
                from thresher.udfs.ai.models import quiet_model_loading, resolve_model

                quiet_model_loading()
                # each process resolves the name itself: an installed copy, the local cache, or
                # (only when the hub is usable) a download; never a retry loop offline
                p = make_provider(provider, resolve_model(model), **kwargs)
            _PROVIDERS[key] = p
    return p


@dataclass(eq=False)
class ModelFunction:
    """A model call the engine runs like a class UDF (model loaded once per worker)."""

    name: str
    task: str  # "prompt" | "embed_text" | "embed_image"
    provider: str
    model: str
    provider_options: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)
    return_format: Any = None
    normalize: bool = True
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: int | None = None
    concurrency: int | tuple[int, int] | None = None
    batch_size: int | None = None
    on_error: str = "null"
    max_retries: int = 1
    is_class: bool = True
    cost: str = "model"
    cost_per_row: float | None = None
    thread_safe: bool = False
    #: options of the shared :class:`~thresher.udfs.ai.routing.PromptRouter` (``cache_blocks``, ``load_slack``, ...)
    routing_options: dict[str, Any] = field(default_factory=dict)
    #: testing hook: the router records which replica ran each prompt (``stats()["routing"]["placements"]``)
    record_routing: bool = False
    _has_images: bool = False
    _dim: int | None = None
    _router: Any = None  # Ray actor handle of the stage's router, bound by the executor (shared_service)
    _local: Any = None  # (router, slots) of the local executor
    _steppers: Any = None  # engine id -> its PromptStepper (kept: a call may hand running prompts over)

    # -- planning ---------------------------------------------------------------------------------
    @property
    def is_generator(self) -> bool:
        return False

    @property
    def explain_name(self) -> str:
        return self.name

    def _embedding_dim(self) -> int:
        if self._dim is None:
            self._dim = int(shared_provider(self.provider, self.model, self.provider_options).embedding_dim())
        return self._dim

    def resolve_return_dtype(self, fields: Sequence[Field]) -> DataType:
        first = fields[0]
        if self.task in ("prompt", "embed_text"):
            ok = (
                first.dtype.is_string()
                or first.dtype.is_null()
                or (self.task == "prompt" and first.dtype.is_list() and first.dtype.inner().is_struct())
            )
            if not ok:
                raise ThresherTypeError(
                    f"{self.task}: column {first.name!r} has type {first.dtype}, expected string"
                    + (" or a list of {role, content} messages" if self.task == "prompt" else "")
                )
        if self.task == "prompt" and len(fields) > 1 and fields[1].dtype.kind not in ("image", "null"):
            raise ThresherTypeError(
                f"prompt: images column {fields[1].name!r} has type {fields[1].dtype}, expected image"
            )
        if self.task == "embed_image" and first.dtype.kind != "image":
            raise ThresherTypeError(
                f"embed_image: column {first.name!r} has type {first.dtype}, expected image (decode it first)"
            )
        if self.task == "prompt":
            if self.return_format is not None:
                from thresher.udfs.ai.structured import arrow_type_for

                return DataType(arrow_type_for(self.return_format))
            return DataType.string()
        return DataType.embedding("float32", self._embedding_dim())

    # -- replicas -----------------------------------------------------------------------------------
    def _routed(self) -> bool:
        """Prompts go through one shared prefix router (token-level engines, text-only prompts)."""
        return self.task == "prompt" and self.provider in _ROUTED_PROVIDERS and not self._has_images

    def shared_service(self, max_replicas: int) -> SharedService | None:
        """The stage's prompt router, shared by every replica of a Ray actor pool (None: not routed).

        The executor starts it and binds its handle here before the pool's payload is shipped,
        so the handle travels with this object to every actor.
        """
        if not self._routed():
            return None
        from thresher.udfs.ai.routing import PromptRouter

        return SharedService(PromptRouter, {"record": self.record_routing, **self.routing_options},
                             max_concurrency=max(8, 2 * max_replicas + 4), bind=self._bind_router,
                             stats_key="routing")

    def _bind_router(self, handle: Any) -> None:
        self._router = handle

    def _local_replicas(self, provider: Any) -> Any:
        """The in-process router and model instances (``concurrency`` of them) shared by all threads."""
        from thresher.udfs.ai.routing import PromptRouter, ReplicaSlots

        with _PROVIDERS_LOCK:
            if self._local is None:
                c = self.concurrency
                n = max(1, (c[1] if isinstance(c, tuple) else c) or 1) if hasattr(provider, "replica") else 1
                router = PromptRouter(record=self.record_routing, **self.routing_options)
                engines = [provider.replica() if hasattr(provider, "replica") else provider for _ in range(n)]
                self._local = (router, ReplicaSlots(engines, [router.register() for _ in engines]))
            return self._local

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_local"] = None  # in-process engines and locks stay in their process
        state["_steppers"] = None
        fmt = self.return_format
        if isinstance(fmt, type) and hasattr(fmt, "model_json_schema"):
            import cloudpickle

            try:
                cloudpickle.dumps(fmt)
            except Exception:  # noqa: BLE001 - e.g. a model defined in a function drags that function's locals
                from thresher.udfs.ai.structured import json_schema_of

                # Workers validate against the model's JSON schema instead (same struct type).
                state["return_format"] = json_schema_of(fmt)
        return state

    # -- running ----------------------------------------------------------------------------------
    def make_runner(self) -> Callable[[list[pa.Array], dict[str, Any], Field], Any]:
        provider = shared_provider(self.provider, self.model, self.provider_options)
        provider.load()
        return _Runner(self, provider)

    def _embeddings(self, fn: Any, values: list[Any], out: Field) -> pa.Array:
        dim = out.dtype.params["dim"]
        idx = [i for i, v in enumerate(values) if v is not None]
        mat = np.zeros((len(values), dim), dtype=np.float32)
        if idx:
            got = np.asarray(fn([values[i] for i in idx]), dtype=np.float32)
            if got.shape != (len(idx), dim):
                raise ThresherExecutionError(
                    f"{self.name}: model returned shape {got.shape}, expected ({len(idx)}, {dim})"
                )
            if self.normalize:
                norms = np.linalg.norm(got, axis=1, keepdims=True)
                got = (got / np.where(norms == 0, 1, norms)).astype(np.float32)
            mat[idx] = got
        mask = np.ones(len(values), dtype=bool)
        mask[idx] = False
        storage = pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1)), dim, mask=pa.array(mask))
        return storage

    def _run_prompt(self, runner: _Runner, args: list[pa.Array], out: Field) -> Any:
        from thresher.udfs.ai.routing import PromptFailure

        provider = runner.provider
        texts = args[0].to_pylist()
        images = args[1].to_pylist() if len(args) > 1 else None
        params = GenerationParams(**self.generation)
        idx = [i for i, t in enumerate(texts) if t is not None]
        prompts: list[Any] = []
        for i in idx:
            t = texts[i]
            if images is not None and images[i] is not None:
                content = [{"type": "image", "image": _to_pil(images[i])}, {"type": "text", "text": t}]
                prompts.append([{"role": "user", "content": content}])
            else:
                prompts.append(t)
        answers: list[str | None] = [None] * len(texts)
        errors: list[str | None] = [None] * len(texts)
        if prompts:
            try:
                if self._routed():
                    with runner.lock:  # a tokenizer is not safe to share between threads
                        ids = provider.encode_prompts(prompts, params)
                    got: list[Any] = runner.routed(ids, params)
                else:
                    with runner.lock, runner.metered(provider):
                        if images is not None and hasattr(provider, "generate_multimodal"):
                            got = provider.generate_multimodal(prompts, params)
                        else:
                            got = provider.generate(prompts, params)
            except Exception as exc:
                if self.on_error == "raise":
                    raise ThresherExecutionError(f"{self.name} ({self.provider}:{self.model}) failed: {exc}") from exc
                got = [PromptFailure(f"{type(exc).__name__}: {exc}")] * len(prompts)
            for i, a in zip(idx, got):
                if isinstance(a, PromptFailure):
                    if self.on_error == "raise":
                        raise ThresherExecutionError(f"{self.name} ({self.provider}:{self.model}) failed: {a.message}")
                    errors[i] = f"{self.name} failed: {a.message}"
                else:
                    answers[i] = a
        if self.return_format is None:
            err = pa.array(errors, pa.large_string()) if any(errors) else None
            return pa.array(answers, pa.large_string()), err
        from thresher.udfs.ai.structured import parse_outputs

        values, parse_errors = parse_outputs(
            answers, self.return_format, on_error="raise" if self.on_error == "raise" else "null"
        )
        merged = [e or p for e, p in zip(errors, parse_errors)]
        return values, (pa.array(merged, pa.large_string()) if any(merged) else None)

    def __repr__(self) -> str:
        return f"{self.name}[{self.provider}:{self.model}]"


_ROUTED_PROVIDERS = ("transformers", "vllm")


class _Runner:
    """What the evaluator calls per batch: one per worker pipeline, sharing the process's model.

    Counts the tokens its calls cost (``take_metrics``), which the executors add to the stage stats.
    """

    def __init__(self, fn: ModelFunction, provider: Any) -> None:
        self.fn = fn
        self.provider = provider
        self.lock = _provider_lock(provider)  # one model per process: threads take turns
        self._usage = TokenUsage()
        self._usage_lock = threading.Lock()
        self._remote: tuple[Any, Any] | None = None  # (router handle, slots) inside a Ray actor

    def __call__(self, args: list[pa.Array], kwargs: dict[str, Any], out: Field) -> Any:
        fn, provider = self.fn, self.provider
        if fn.task == "prompt":
            return fn._run_prompt(self, args, out)
        with self.lock, self.metered(provider):
            if fn.task == "embed_text":
                return fn._embeddings(provider.embed, args[0].to_pylist(), out)
            images = [_to_numpy_image(v) for v in args[0].to_pylist()]
            return fn._embeddings(provider.embed_images, images, out)

    @contextmanager
    def metered(self, engine: Any) -> Iterator[None]:
        """Add the engine's token usage during the block to this runner's counters."""
        usage = getattr(engine, "usage", None)
        before = dict(usage.as_dict()) if usage is not None else None
        try:
            yield
        finally:
            if usage is not None and before is not None:
                after = usage.as_dict()
                with self._usage_lock:
                    self._usage.add(
                        prompt=after["prompt_tokens"] - before["prompt_tokens"],
                        completion=after["completion_tokens"] - before["completion_tokens"],
                        cached=after["cached_tokens"] - before["cached_tokens"],
                        requests=after["requests"] - before["requests"],
                    )

    def routed(self, token_ids: list[list[int]], params: GenerationParams) -> list[Any]:
        """Run tokenized prompts through the stage's shared router (see :mod:`.routing`)."""
        from thresher.udfs.ai.routing import run_routed

        def execute(engine: Any, toks: list[Any]) -> list[Any]:
            with self.metered(engine):
                return list(engine.complete_ids(toks, params))

        step = int(getattr(self.provider, "step_prompts", 64))
        stepper = functools.partial(self._stepper, params=params)
        if self.fn._router is not None:  # inside a Ray actor: one replica, this actor's engine
            import ray

            # The actor id survives restarts: a restarted actor takes its replica back and the
            # router re-queues what the dead process was running.
            key = ray.get_runtime_context().get_actor_id() or f"pid-{os.getpid()}"
            if self._remote is None:
                from thresher.udfs.ai.routing import ReplicaSlots

                router = self.fn._router
                engine = self.provider.replica() if hasattr(self.provider, "replica") else self.provider
                self._remote = (router, ReplicaSlots([engine], [ray.get(router.register.remote(key))]))
            router, slots = self._remote
            ticket = f"{key}:{uuid.uuid4().hex}"
            return run_routed(
                router, ticket, token_ids, slots.acquire, slots.release, execute, step, ray.get, stepper=stepper
            )
        ticket = f"{os.getpid()}:{uuid.uuid4().hex}"
        router, slots = self.fn._local_replicas(self.provider)
        # Locally every call still owed answers polls for a free slot, so a call may hand its
        # engine over still running other calls' prompts.
        return run_routed(
            router, ticket, token_ids, slots.acquire, slots.release, execute, step, stepper=stepper, hand_over=True
        )

    def _stepper(self, engine: Any, params: GenerationParams) -> Any:
        """The engine's :class:`~thresher.udfs.ai.routing.PromptStepper` for this stage (one per engine,
        kept across calls), metered; ``None`` for an engine run batch by batch."""
        make = getattr(engine, "stepper", None)
        if make is None:
            return None
        with _PROVIDERS_LOCK:
            steppers = self.fn._steppers
            if steppers is None:
                steppers = self.fn._steppers = {}
            if id(engine) not in steppers:
                inner = make(params)
                steppers[id(engine)] = None if inner is None else _MeteredStepper(inner, engine, self)
            stepper = steppers[id(engine)]
            if stepper is not None:
                stepper.runner = self  # the call taking the slot now drives it: its runner counts the tokens
            return stepper

    def take_metrics(self) -> dict[str, Any]:
        """Token counters since the last call (and the local router's stats), then reset."""
        with self._usage_lock:
            u, self._usage = self._usage, TokenUsage()
        out: dict[str, Any] = {}
        if u.requests or u.prompt_tokens or u.completion_tokens:
            out = {
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "cached_prompt_tokens": u.cached_tokens,
                "model_requests": u.requests,
            }
        if self.fn._local is not None and self.fn._router is None:
            out["routing"] = self.fn._local[0].take_stats()
        return out


class _MeteredStepper:
    """A :class:`~thresher.udfs.ai.routing.PromptStepper` whose token usage goes to the stage stats
    (to the runner of the call stepping it: :meth:`_Runner._stepper` sets it as a call takes the slot)."""

    def __init__(self, inner: Any, engine: Any, runner: _Runner) -> None:
        self.inner, self.engine, self.runner = inner, engine, runner

    @property
    def capacity(self) -> int:
        return int(self.inner.capacity)

    def add(self, key: int, token_ids: Any) -> None:
        self.inner.add(key, token_ids)

    def running(self) -> int:
        return int(self.inner.running())

    def step(self) -> list[tuple[int, Any]]:
        with self.runner.metered(self.engine):
            return list(self.inner.step())

    def abort(self) -> list[int]:
        return list(self.inner.abort())


_ENGINE_LOCKS: dict[int, threading.Lock] = {}


def _provider_lock(provider: Any) -> threading.Lock:
    with _PROVIDERS_LOCK:
        return _ENGINE_LOCKS.setdefault(id(provider), threading.Lock())


def _to_numpy_image(v: Any) -> Any:
    if v is None:
        return None
    channels = {"L": 1, "RGB": 3, "RGBA": 4}.get(v.get("mode") or "RGB", 3)
    arr = np.frombuffer(v["data"], dtype=np.uint8).reshape(v["height"], v["width"], channels)
    if channels == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif channels == 4:
        arr = arr[:, :, :3]
    return arr


def _to_pil(v: Any) -> Any:
    from PIL import Image

    return Image.fromarray(_to_numpy_image(v))


def _call(fn: ModelFunction, *args: Any) -> Expr:
    if fn.provider != "openai":  # a server's model names are the server's business
        from thresher.udfs.ai.models import resolve_model

        resolve_model(fn.model, fn.task, build=False)  # an unknown name fails here, in one line
    return UDFCall(fn, tuple(lit_if_needed(a) for a in args))


def prompt(
    messages_or_text: Any,
    *,
    model: str,
    provider: str = "transformers",
    system: str | None = None,
    images: Any = None,
    return_format: Any = None,
    max_tokens: int = 64,
    temperature: float = 0.0,
    concurrency: int | tuple[int, int] | None = None,
    num_gpus: float = 0.0,
    batch_size: int | None = 64,
    on_error: str = "null",
    **provider_options: Any,
) -> Expr:
    """Generate text (or, with ``return_format``, a typed struct) for every row.

    ``messages_or_text`` is a string column or a list of ``{role, content}`` messages; ``images``
    an image column for vision-language models. ``provider``: "transformers" (CPU/GPU),
    "vllm" (GPU, prefix caching) or "openai" (any OpenAI-compatible server: pass ``base_url``).
    """
    if on_error not in ("null", "raise", "column"):
        raise ValueError("on_error must be 'null', 'raise' or 'column'")
    generation: dict[str, Any] = {"max_new_tokens": max_tokens, "temperature": temperature, "system_prompt": system}
    if return_format is not None:
        from thresher.udfs.ai.structured import json_schema_of, response_format

        # Engines that can constrain decoding to the schema are asked to; the output is parsed and
        # validated either way (the transformers provider does not constrain).
        if provider == "openai":
            generation["extra"] = {"response_format": response_format(return_format)}
        elif provider == "vllm":
            generation["extra"] = {"json_schema": json_schema_of(return_format)}
    fn = ModelFunction(
        name="prompt",
        task="prompt",
        provider=provider,
        model=model,
        provider_options=provider_options,
        generation=generation,
        return_format=return_format,
        num_gpus=num_gpus,
        concurrency=concurrency,
        batch_size=batch_size,
        on_error=on_error,
        _has_images=images is not None,
    )
    return _call(fn, messages_or_text, *([images] if images is not None else []))


def embed_text(
    text: Any,
    *,
    model: str,
    provider: str = "sentence_transformers",
    normalize: bool = True,
    batch_size: int | None = 256,
    concurrency: int | tuple[int, int] | None = None,
    num_gpus: float = 0.0,
    **provider_options: Any,
) -> Expr:
    """Embed a string column: ``embedding(float32, dim)`` with ``dim`` read from the model config.

    ``provider``: "sentence_transformers", "transformers" (mean pooling), "openai" or "vllm".
    """
    name = {"transformers": "transformers-embed"}.get(provider, provider)
    return _embed("embed_text", name, text, model, normalize, batch_size, concurrency, num_gpus, provider_options)


def embed_image(
    image: Any,
    *,
    model: str,
    provider: str = "transformers",
    normalize: bool = True,
    batch_size: int | None = 64,
    concurrency: int | tuple[int, int] | None = None,
    num_gpus: float = 0.0,
    **provider_options: Any,
) -> Expr:
    """Embed a decoded image column with a CLIP-like model: ``embedding(float32, dim)``."""
    name = {"transformers": "transformers-image"}.get(provider, provider)
    return _embed("embed_image", name, image, model, normalize, batch_size, concurrency, num_gpus, provider_options)


def _embed(
    task: str,
    provider: str,
    arg: Any,
    model: str,
    normalize: bool,
    batch_size: int | None,
    concurrency: int | tuple[int, int] | None,
    num_gpus: float,
    provider_options: dict[str, Any],
) -> Expr:
    fn = ModelFunction(
        name=task,
        task=task,
        provider=provider,
        model=model,
        provider_options=provider_options,
        normalize=normalize,
        batch_size=batch_size,
        concurrency=concurrency,
        num_gpus=num_gpus,
    )
    return _call(fn, arg)
