"""``prompt``, ``embed_text`` and ``embed_image`` as typed model calls inside expressions.

Each call builds a :class:`~thresher.expressions.expr.UDFCall` whose ``udf`` is a
:class:`ModelFunction`: a class-UDF-like object the planner reads resources from (it runs in an
actor stage of its own) and the evaluator runs batch by batch. The provider — and so the model —
is loaded once per worker process and shared by its threads; the output type is known when the
plan is built (embedding dimensions come from the model config, structured outputs from the
pydantic model or JSON schema).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.datatypes import DataType, Field
from thresher.errors import ThresherExecutionError, ThresherTypeError
from thresher.expressions.expr import Expr, UDFCall, lit_if_needed
from thresher.udfs.ai.providers import GenerationParams, make_provider

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
                p = make_provider(provider, model, **kwargs)
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
    _dim: int | None = None

    # -- planning ---------------------------------------------------------------------------------
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

    # -- running ----------------------------------------------------------------------------------
    def make_runner(self) -> Any:
        provider = shared_provider(self.provider, self.model, self.provider_options)
        provider.load()
        lock = threading.Lock()  # one model per process: threads take turns (torch is multi-threaded)

        def run(args: list[pa.Array], kwargs: dict[str, Any], out: Field) -> Any:
            with lock:
                if self.task == "prompt":
                    return self._run_prompt(provider, args, out)
                if self.task == "embed_text":
                    values = args[0].to_pylist()
                    return self._embeddings(provider.embed, values, out)
                images = [_to_numpy_image(v) for v in args[0].to_pylist()]
                return self._embeddings(provider.embed_images, images, out)

        return run

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

    def _run_prompt(self, provider: Any, args: list[pa.Array], out: Field) -> Any:
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
                if images is not None and hasattr(provider, "generate_multimodal"):
                    got = provider.generate_multimodal(prompts, params)
                else:
                    got = provider.generate(prompts, params)
            except Exception as exc:
                if self.on_error == "raise":
                    raise ThresherExecutionError(f"{self.name} ({self.provider}:{self.model}) failed: {exc}") from exc
                got = [None] * len(prompts)
                for i in idx:
                    errors[i] = f"{self.name} failed: {type(exc).__name__}: {exc}"
            for i, a in zip(idx, got):
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
    fn = ModelFunction(
        name="prompt",
        task="prompt",
        provider=provider,
        model=model,
        provider_options=provider_options,
        generation={"max_new_tokens": max_tokens, "temperature": temperature, "system_prompt": system},
        return_format=return_format,
        num_gpus=num_gpus,
        concurrency=concurrency,
        batch_size=batch_size,
        on_error=on_error,
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
    fn = ModelFunction(
        name="embed_text",
        task="embed_text",
        provider=name,
        model=model,
        provider_options=provider_options,
        normalize=normalize,
        batch_size=batch_size,
        concurrency=concurrency,
        num_gpus=num_gpus,
    )
    return _call(fn, text)


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
    fn = ModelFunction(
        name="embed_image",
        task="embed_image",
        provider=name,
        model=model,
        provider_options=provider_options,
        normalize=normalize,
        batch_size=batch_size,
        concurrency=concurrency,
        num_gpus=num_gpus,
    )
    return _call(fn, image)
