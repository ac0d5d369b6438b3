"""The model-provider protocol and the values that cross it.

A provider wraps one model (local weights, an engine, or an HTTP endpoint). It is built cheaply
(no weights touched), loaded once per worker by :meth:`Provider.load`, then called on batches:
:meth:`Provider.generate` for prompts and :meth:`Provider.embed` for texts. ``embedding_dim`` is
known from the model's config without running it, so the planner can type an ``embed_text``
column as ``embedding[dim]`` when the plan is built.

Examples
--------
>>> GenerationParams(max_new_tokens=8).greedy
True
>>> u = TokenUsage(); u.add(prompt=10, completion=3, cached=4); u.total_tokens
13
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Union, runtime_checkable

import numpy as np

__all__ = ["Message", "PromptInput", "GenerationParams", "TokenUsage", "Provider", "to_messages"]

#: One chat message: ``{"role": "user", "content": "..."}``.
Message = Mapping[str, Any]
#: A prompt: a plain string (the user turn) or a list of chat messages.
PromptInput = Union[str, Sequence[Message]]


@dataclass(frozen=True)
class GenerationParams:
    """Sampling and formatting options for :meth:`Provider.generate`.

    Attributes
    ----------
    max_new_tokens : int
        Cap on generated tokens per prompt.
    temperature : float
        0 (default) decodes greedily.
    top_p : float
        Nucleus sampling mass when sampling.
    system_prompt : str or None
        Prepended as a ``system`` message to prompts that do not carry one.
    stop : tuple[str, ...]
        Strings that end generation (cut from the output).
    seed : int or None
        Sampling seed.
    use_chat_template : bool
        Format prompts with the tokenizer's chat template (when it has one).
    extra : dict
        Provider-specific options (e.g. ``response_format`` for OpenAI-compatible servers).
    """

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    system_prompt: str | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    use_chat_template: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def greedy(self) -> bool:
        """True when decoding is deterministic (temperature 0)."""
        return self.temperature <= 0.0


@dataclass
class TokenUsage:
    """Token counters a provider accumulates across calls (prompt, completion, prefix-cached)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    requests: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, prompt: int = 0, completion: int = 0, cached: int = 0, requests: int = 1) -> None:
        """Add one request's counts."""
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.cached_tokens += cached
        self.requests += requests

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "total_tokens": self.total_tokens,
            "requests": self.requests,
        }


@runtime_checkable
class Provider(Protocol):
    """What ``prompt()`` / ``embed_text()`` / ``embed_image()`` call on a worker.

    Implementations: :class:`~thresher.udfs.ai.providers.transformers.TransformersProvider`,
    :class:`~thresher.udfs.ai.providers.sentence_transformers.SentenceTransformersProvider`,
    :class:`~thresher.udfs.ai.providers.openai.OpenAIProvider`,
    :class:`~thresher.udfs.ai.providers.vllm.VLLMProvider`.
    """

    name: str
    usage: TokenUsage

    def load(self) -> None:
        """Load weights / open clients. Idempotent: a second call does nothing."""
        ...

    def generate(self, prompts: Sequence[PromptInput], params: GenerationParams | None = None) -> list[str]:
        """Complete each prompt; one string per prompt, in order."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts: a float32 array of shape ``(len(texts), embedding_dim())``."""
        ...

    def embedding_dim(self) -> int:
        """Embedding size, read from the model config without running the model."""
        ...


def to_messages(prompt: PromptInput, system_prompt: str | None = None) -> list[dict[str, Any]]:
    """Normalize a prompt to a list of chat messages, adding the system prompt if it has none.

    Examples
    --------
    >>> to_messages("hi", system_prompt="be brief")
    [{'role': 'system', 'content': 'be brief'}, {'role': 'user', 'content': 'hi'}]
    """
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    else:
        messages = [dict(m) for m in prompt]
        for m in messages:
            if "role" not in m or "content" not in m:
                raise ValueError(f"a chat message needs 'role' and 'content', got keys {sorted(m)}")
    if system_prompt is not None and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages
