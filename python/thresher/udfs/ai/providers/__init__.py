"""Model providers for ``prompt()`` / ``embed_text()`` / ``embed_image()``.

Importing this package is light: each provider imports torch, transformers, sentence-transformers
or vLLM only when it loads. :func:`make_provider` builds one by name.

Examples
--------
>>> make_provider("openai", base_url="http://127.0.0.1:1", model="m").name
'openai'
"""

from __future__ import annotations

from typing import Any

from thresher.udfs.ai.providers.base import GenerationParams, Message, PromptInput, Provider, TokenUsage, to_messages

__all__ = ["GenerationParams", "Message", "PromptInput", "Provider", "TokenUsage", "to_messages", "make_provider"]

_PROVIDERS = {
    "transformers": ("thresher.udfs.ai.providers.transformers", "TransformersProvider"),
    "transformers-embed": ("thresher.udfs.ai.providers.transformers", "TransformersEmbeddingProvider"),
    "transformers-image": ("thresher.udfs.ai.providers.transformers", "TransformersImageEmbeddingProvider"),
    "sentence_transformers": ("thresher.udfs.ai.providers.sentence_transformers", "SentenceTransformersProvider"),
    "openai": ("thresher.udfs.ai.providers.openai", "OpenAIProvider"),
    "vllm": ("thresher.udfs.ai.providers.vllm", "VLLMProvider"),
}


def make_provider(name: str, *args: Any, **kwargs: Any) -> Any:
    """Build a provider by name (``"transformers"``, ``"transformers-embed"``, ``"transformers-image"``,
    ``"sentence_transformers"``, ``"openai"``, ``"vllm"``); nothing is loaded until ``load()``."""
    import importlib

    try:
        module, cls = _PROVIDERS[name]
    except KeyError:
        raise ValueError(f"unknown provider {name!r}; expected one of {sorted(_PROVIDERS)}") from None
    return getattr(importlib.import_module(module), cls)(*args, **kwargs)
