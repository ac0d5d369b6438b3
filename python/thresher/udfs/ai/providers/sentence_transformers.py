"""Text embeddings with ``sentence-transformers``, loaded by model name or path.

Examples
--------
>>> from thresher.udfs.ai.testing import minilm_path
>>> p = SentenceTransformersProvider(minilm_path())
>>> p.embedding_dim(), p.embed(["a cat", "a dog"]).shape
(384, (2, 384))
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thresher.errors import UnsupportedError
from thresher.udfs.ai.providers.base import GenerationParams, PromptInput, TokenUsage

__all__ = ["SentenceTransformersProvider"]


class SentenceTransformersProvider:
    """A ``SentenceTransformer`` model; embeddings are L2-normalized float32.

    Parameters
    ----------
    model : str
        Model directory or a name in the local cache.
    device : str, optional
        Torch device (default: CUDA when available).
    batch_size : int
        Texts per forward pass.
    normalize : bool
        L2-normalize the embeddings.
    """

    name = "sentence_transformers"

    def __init__(self, model: str, *, device: str | None = None, batch_size: int = 64, normalize: bool = True) -> None:
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self.normalize = normalize
        self.usage = TokenUsage()
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.model_name, device=self.device)

    def embedding_dim(self) -> int:
        """From the pooling config (or the transformer config) on disk; the model is not run."""
        root = Path(self.model_name)
        pooling = root / "1_Pooling" / "config.json"
        if pooling.is_file():
            return int(json.loads(pooling.read_text())["word_embedding_dimension"])
        if (root / "config.json").is_file():
            return int(json.loads((root / "config.json").read_text())["hidden_size"])
        self.load()
        return int(self._model.get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.load()
        out = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        lengths = self._model.tokenizer(list(texts), truncation=True, max_length=self._model.max_seq_length)
        self.usage.add(prompt=sum(len(ids) for ids in lengths["input_ids"]), requests=len(texts))
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)

    def generate(self, prompts: Sequence[PromptInput], params: GenerationParams | None = None) -> list[str]:
        raise UnsupportedError(f"{self.model_name} is an embedding model; it cannot generate text")
