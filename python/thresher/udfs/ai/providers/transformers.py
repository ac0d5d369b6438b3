"""Hugging Face ``transformers`` providers: causal-LM generation, text embeddings, CLIP image embeddings.

:class:`TransformersProvider` runs a causal LM on CPU or GPU with its own decode loop:

- **continuous batching** -- an in-flight batch of at most ``max_running`` sequences; as soon as a
  sequence ends (EOS or ``max_new_tokens``) it leaves the batch and waiting prompts are prefilled
  and merged in, so short answers never wait for long ones;
- **prefix reuse** -- prompts are bucketed by shared token prefix (the same
  :class:`~thresher.udfs.ai.scheduling.PrefixScheduler` buckets as the distributed policy); the KV
  cache of a bucket's shared prefix is computed once (a ``DynamicCache``, kept in a small LRU) and
  a copy of it seeds every prompt of the bucket, so only the suffixes are prefilled.

Sequences of different lengths share one cache: each row is left-padded and carries its own
attention mask and explicit position ids, so the outputs are those of running each prompt alone.

Examples
--------
>>> from thresher.udfs.ai.testing import tiny_causal_lm_dir
>>> p = TransformersProvider(tiny_causal_lm_dir(), max_running=4)
>>> len(p.generate(["hello", "world"], GenerationParams(max_new_tokens=4)))
2
"""

from __future__ import annotations

import copy
import inspect
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from thresher.errors import UnsupportedError
from thresher.udfs.ai.batching import common_prefix_len, group_by_prefix, token_budget_batches
from thresher.udfs.ai.providers.base import GenerationParams, PromptInput, TokenUsage, to_messages

# every provider and replica of this process, so their prefix caches can be dropped at once
_INSTANCES: weakref.WeakSet[TransformersProvider] = weakref.WeakSet()


def clear_prefix_caches() -> None:
    """Drop the prefix KV caches of every transformers provider and replica in this process.

    Benchmarks call it between rounds so no round is timed with a cache an earlier one filled.
    """
    for p in list(_INSTANCES):
        p.clear_prefix_cache()

__all__ = [
    "TransformersProvider",
    "TransformersEmbeddingProvider",
    "TransformersImageEmbeddingProvider",
]


def _device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class _Running:
    """The in-flight batch: one shared left-padded KV cache, per-row mask, position and output."""

    def __init__(self, cache: Any, mask: Any, pos: Any, rows: list[int], last: Any) -> None:
        self.cache, self.mask, self.pos, self.rows, self.last = cache, mask, pos, rows, last

    def __len__(self) -> int:
        return len(self.rows)


class TransformersProvider:
    """A causal LM loaded by name or path, generating with continuous batching and prefix reuse.

    Parameters
    ----------
    model : str
        Model directory (or a name already in the local Hugging Face cache; nothing is downloaded
        unless ``HF_HUB_OFFLINE`` is unset).
    device : str, optional
        ``"cpu"``, ``"cuda"``, ... (default: CUDA when available).
    dtype : str, optional
        Torch dtype name, e.g. ``"bfloat16"`` (default: the checkpoint's).
    max_running : int
        Sequences in the in-flight batch.
    prefix_reuse : bool
        Compute each bucket's shared prefix once and reuse its KV cache.
    min_prefix_tokens : int
        Shorter shared prefixes are not worth a separate cache.
    prefix_cache_size : int
        Prefix KV caches kept (LRU).
    max_prefill_tokens : int
        Padded-token budget of one prefill call.

    Examples
    --------
    >>> from thresher.udfs.ai.testing import tiny_causal_lm_dir
    >>> TransformersProvider(tiny_causal_lm_dir()).embedding_dim()
    64
    """

    name = "transformers"

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: str | None = None,
        max_running: int = 32,
        prefix_reuse: bool = True,
        min_prefix_tokens: int = 16,
        prefix_cache_size: int = 16,
        max_prefill_tokens: int = 16384,
        trust_remote_code: bool = False,
    ) -> None:
        self.model_name = model
        self.device = device
        self.dtype = dtype
        self.max_running = max_running
        self.prefix_reuse = prefix_reuse
        self.min_prefix_tokens = min_prefix_tokens
        self.prefix_cache_size = prefix_cache_size
        self.max_prefill_tokens = max_prefill_tokens
        self.trust_remote_code = trust_remote_code
        self.usage = TokenUsage()
        self._model: Any = None
        self._tok: Any = None
        self._processor: Any = None
        self._prefix_cache: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self._cache_kw = "past_key_values"
        _INSTANCES.add(self)

    # -- loading -----------------------------------------------------------------------------------
    def load(self) -> None:
        """Load the tokenizer and weights once (thread-safe)."""
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

            self.device = _device(self.device)
            config = AutoConfig.from_pretrained(self.model_name, trust_remote_code=self.trust_remote_code)
            if getattr(config, "vision_config", None) is not None:
                self._load_vision_language()  # a VLM: its processor, and the image-text-to-text head
                return
            kwargs: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
            if self.dtype:
                kwargs["dtype"] = getattr(torch, self.dtype)
            tok = AutoTokenizer.from_pretrained(self.model_name, trust_remote_code=self.trust_remote_code)
            model = AutoModelForCausalLM.from_pretrained(self.model_name, **kwargs).to(self.device).eval()
            if tok.pad_token_id is None:
                tok.pad_token = tok.eos_token
            self._tok, self._model = tok, model
            # transformers >= 5.2x renamed ``past_key_values`` to ``cache``; accept both.
            self._cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    def replica(self) -> TransformersProvider:
        """Another engine over the same weights: its own in-flight batch, prefix KV caches and usage.

        A local stage with ``concurrency > 1`` runs one replica per model instance; sharing the
        (read-only) weights keeps memory flat while the shared router feeds each replica its buckets.
        """
        self.load()
        twin = copy.copy(self)
        twin.usage = TokenUsage()
        twin._prefix_cache = OrderedDict()
        twin._lock = threading.Lock()
        _INSTANCES.add(twin)
        return twin

    def clear_prefix_cache(self) -> None:
        """Drop the cached prefix KV states (a benchmark's rounds must each start cold)."""
        self._prefix_cache.clear()

    #: prompts a shared router hands this engine per step (refilled into its in-flight batch)
    @property
    def step_prompts(self) -> int:
        return 2 * self.max_running

    def complete_ids(self, prompt_ids: Sequence[Sequence[int]], params: GenerationParams | None = None) -> list[str]:
        """Decoded answers for tokenized prompts (what a routed replica runs)."""
        params = params or GenerationParams()
        outs = self.generate_ids(prompt_ids, params)
        return [_cut_stop(self._tok.decode(o, skip_special_tokens=True), params.stop) for o in outs]

    def embedding_dim(self) -> int:
        """Hidden size from the config (the LM is not run)."""
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(self.model_name, trust_remote_code=self.trust_remote_code)
        cfg = getattr(cfg, "text_config", None) or cfg
        return int(cfg.hidden_size)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Mean-pooled, normalized last hidden states of the LM (prefer a dedicated embedding model)."""
        return _mean_pool_embed(self, texts, causal=True)

    # -- prompt formatting -------------------------------------------------------------------------
    def encode_prompts(self, prompts: Sequence[PromptInput], params: GenerationParams) -> list[list[int]]:
        """Apply the chat template (system prompt, multi-message input) and tokenize."""
        self.load()
        tok = self._tok
        use_template = params.use_chat_template and getattr(tok, "chat_template", None)
        out = []
        for p in prompts:
            messages = to_messages(p, params.system_prompt)
            if any(not isinstance(m["content"], str) for m in messages):
                raise UnsupportedError("image or multi-part message content needs generate_multimodal()")
            if use_template:
                text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
                out.append(list(tok(text, add_special_tokens=False)["input_ids"]))
            else:
                text = "\n\n".join(m["content"] for m in messages)
                out.append(list(tok(text)["input_ids"]))
        return out

    # -- generation --------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[PromptInput], params: GenerationParams | None = None) -> list[str]:
        """Complete each prompt; returns the decoded continuations in input order.

        Examples
        --------
        >>> from thresher.udfs.ai.testing import tiny_causal_lm_dir
        >>> p = TransformersProvider(tiny_causal_lm_dir())
        >>> out = p.generate([[{"role": "user", "content": "hi"}]], GenerationParams(max_new_tokens=2))
        >>> isinstance(out[0], str)
        True
        """
        params = params or GenerationParams()
        return self.complete_ids(self.encode_prompts(prompts, params), params)

    def generate_ids(
        self, prompt_ids: Sequence[Sequence[int]], params: GenerationParams | None = None
    ) -> list[list[int]]:
        """Generate token ids for tokenized prompts (the continuous-batching loop)."""
        import torch

        self.load()
        params = params or GenerationParams()
        n = len(prompt_ids)
        results: list[list[int]] = [[] for _ in range(n)]
        if n == 0:
            return results
        eos = self._eos_ids()
        gen = torch.Generator(device="cpu")
        if params.seed is not None:
            gen.manual_seed(params.seed)
        # Admission queue: buckets of prompts with a shared prefix, largest first.
        groups = group_by_prefix(prompt_ids) if self.prefix_reuse else [list(range(n))]
        queue: deque[list[int]] = deque(groups)
        running: _Running | None = None
        with torch.inference_mode():
            while queue or running is not None:
                free = self.max_running - (len(running) if running else 0)
                while free > 0 and queue:
                    group = queue.popleft()
                    take, rest = group[:free], group[free:]
                    if rest:
                        queue.appendleft(rest)
                    for chunk in self._prefill_chunks(prompt_ids, take):
                        new = self._prefill(prompt_ids, chunk, params, gen, results)
                        running = new if running is None else self._merge(running, new)
                    free -= len(take)
                assert running is not None
                running = self._retire(running, results, eos, params)
                if running is None:
                    continue
                running = self._decode(running, params, gen, results)
                running = self._retire(running, results, eos, params)
        for i, o in enumerate(results):
            self.usage.add(prompt=len(prompt_ids[i]), completion=len(o))
        return results

    def _eos_ids(self) -> set[int]:
        eos = set()
        for src in (self._tok.eos_token_id, getattr(self._model.generation_config, "eos_token_id", None)):
            if isinstance(src, int):
                eos.add(src)
            elif src:
                eos.update(src)
        return eos

    def _prefill_chunks(self, prompt_ids: Sequence[Sequence[int]], rows: list[int]) -> list[list[int]]:
        lengths = [len(prompt_ids[r]) for r in rows]
        if self.prefix_reuse and len(rows) > 1:
            return [rows]  # one bucket: its shared prefix is computed once
        return [[rows[i] for i in b] for b in token_budget_batches(lengths, self.max_prefill_tokens, len(rows))]

    def _prefix_kv(self, prefix: tuple[int, ...]) -> Any:
        import torch

        cache = self._prefix_cache.get(prefix)
        if cache is not None:
            self._prefix_cache.move_to_end(prefix)
            return cache
        ids = torch.tensor([prefix], device=self.device)
        cache = _out_cache(self._model(input_ids=ids, use_cache=True, logits_to_keep=1))
        self._prefix_cache[prefix] = cache
        while len(self._prefix_cache) > self.prefix_cache_size:
            self._prefix_cache.popitem(last=False)
        return cache

    def _prefill(
        self,
        prompt_ids: Sequence[Sequence[int]],
        rows: list[int],
        params: GenerationParams,
        gen: Any,
        results: list[list[int]],
    ) -> _Running:
        import torch

        seqs = [list(prompt_ids[r]) for r in rows]
        p = 0
        if self.prefix_reuse:
            shared = common_prefix_len(seqs) if len(seqs) > 1 else 0
            shared = min(shared, min(len(s) for s in seqs) - 1)  # every row keeps >= 1 token to prefill
            if shared >= self.min_prefix_tokens:
                p = shared
        pad = self._tok.pad_token_id
        suffixes = [s[p:] for s in seqs]
        width = max(len(s) for s in suffixes)
        b = len(rows)
        ids = torch.full((b, width), pad, dtype=torch.long)
        mask = torch.zeros((b, p + width), dtype=torch.long)
        pos = torch.zeros((b, width), dtype=torch.long)
        mask[:, :p] = 1
        for i, s in enumerate(suffixes):
            k = len(s)
            ids[i, width - k :] = torch.tensor(s)
            mask[i, p + width - k :] = 1
            pos[i, width - k :] = torch.arange(p, p + k)
        cache = None
        if p:
            cache = copy.deepcopy(self._prefix_kv(tuple(seqs[0][:p])))  # never mutate the shared prefix
            if b > 1:
                cache.batch_repeat_interleave(b)
            self.usage.add(cached=p * b, requests=0)
        dev = self.device
        out = self._model(
            input_ids=ids.to(dev),
            attention_mask=mask.to(dev),
            position_ids=pos.to(dev),
            use_cache=True,
            logits_to_keep=1,  # only the last position's logits are needed
            **{self._cache_kw: cache},
        )
        last = self._sample(out.logits[:, -1, :], params, gen)
        for i, r in enumerate(rows):
            results[r].append(int(last[i]))
        next_pos = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        return _Running(_out_cache(out), mask.to(dev), next_pos.to(dev), list(rows), last.to(dev))

    def _merge(self, a: _Running, b: _Running) -> _Running:
        import torch
        import torch.nn.functional as F

        ta, tb = a.mask.shape[1], b.mask.shape[1]
        t = max(ta, tb)
        for la, lb in zip(a.cache.layers, b.cache.layers):
            ka, va, kb, vb = la.keys, la.values, lb.keys, lb.values
            if ta < t:
                ka, va = F.pad(ka, (0, 0, t - ta, 0)), F.pad(va, (0, 0, t - ta, 0))
            if tb < t:
                kb, vb = F.pad(kb, (0, 0, t - tb, 0)), F.pad(vb, (0, 0, t - tb, 0))
            la.keys, la.values = torch.cat([ka, kb]), torch.cat([va, vb])
        mask = torch.cat([F.pad(a.mask, (t - ta, 0)), F.pad(b.mask, (t - tb, 0))])
        return _Running(a.cache, mask, torch.cat([a.pos, b.pos]), a.rows + b.rows, torch.cat([a.last, b.last]))

    def _decode(self, run: _Running, params: GenerationParams, gen: Any, results: list[list[int]]) -> _Running:
        import torch

        mask = torch.cat([run.mask, torch.ones_like(run.mask[:, :1])], dim=1)
        out = self._model(
            input_ids=run.last[:, None],
            attention_mask=mask,
            position_ids=run.pos[:, None],
            use_cache=True,
            **{self._cache_kw: run.cache},
        )
        last = self._sample(out.logits[:, -1, :], params, gen).to(run.last.device)
        for i, r in enumerate(run.rows):
            results[r].append(int(last[i]))
        return _Running(_out_cache(out), mask, run.pos + 1, run.rows, last)

    def _retire(
        self, run: _Running, results: list[list[int]], eos: set[int], params: GenerationParams
    ) -> _Running | None:
        import torch

        keep = [
            i for i, r in enumerate(run.rows) if len(results[r]) < params.max_new_tokens and results[r][-1] not in eos
        ]
        for r in run.rows:
            if results[r] and results[r][-1] in eos:
                results[r].pop()  # the EOS token is not part of the answer
        if not keep:
            return None
        if len(keep) == len(run.rows):
            return run
        idx = torch.tensor(keep, device=run.mask.device)
        mask = run.mask[idx]
        used = mask.any(dim=0).nonzero()
        start = int(used[0]) if len(used) else 0  # drop columns that are padding in every remaining row
        for layer in run.cache.layers:
            layer.keys = layer.keys[idx, :, start:]
            layer.values = layer.values[idx, :, start:]
        return _Running(run.cache, mask[:, start:], run.pos[idx], [run.rows[i] for i in keep], run.last[idx])

    @staticmethod
    def _sample(logits: Any, params: GenerationParams, gen: Any) -> Any:
        import torch

        logits = logits.float().cpu()
        if params.greedy:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits / params.temperature, dim=-1)
        if params.top_p < 1.0:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            drop = sorted_p.cumsum(-1) - sorted_p > params.top_p
            sorted_p[drop] = 0.0
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
        return torch.multinomial(probs, 1, generator=gen)[:, 0]

    # -- multimodal (best effort) ------------------------------------------------------------------
    def generate_multimodal(self, prompts: Sequence[PromptInput], params: GenerationParams | None = None) -> list[str]:
        """Best effort for vision-language models: messages whose content lists ``{"type": "image", ...}`` parts.

        Uses the model's ``AutoProcessor`` chat template and ``model.generate`` one prompt at a time
        (no continuous batching or prefix reuse). Raises :class:`~thresher.errors.UnsupportedError`
        when the checkpoint has no processor that accepts images.
        """
        params = params or GenerationParams()
        if self._processor is None:
            with self._lock:
                self._load_vision_language()
        out = []
        for p in prompts:
            inputs = self._processor.apply_chat_template(
                to_messages(p, params.system_prompt),
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
            ).to(self._model.device)
            ids = self._model.generate(**inputs, max_new_tokens=params.max_new_tokens, do_sample=not params.greedy)
            new = ids[0, inputs["input_ids"].shape[1] :]
            self.usage.add(prompt=int(inputs["input_ids"].shape[1]), completion=int(new.shape[0]))
            out.append(_cut_stop(self._processor.decode(new, skip_special_tokens=True), params.stop))
        return out

    def _load_vision_language(self) -> None:
        """Load the checkpoint's ``AutoProcessor`` and ``AutoModelForImageTextToText`` (caller holds the lock)."""
        if self._processor is not None:
            return
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            processor = AutoProcessor.from_pretrained(self.model_name, trust_remote_code=self.trust_remote_code)
            model = AutoModelForImageTextToText.from_pretrained(
                self.model_name, trust_remote_code=self.trust_remote_code
            )
        except Exception as exc:  # noqa: BLE001 - any failure means "not a VLM"
            raise UnsupportedError(f"{self.model_name} has no image-capable processor: {exc}") from exc
        self.device = _device(self.device)
        self._processor = processor
        self._model = model.to(self.device).eval()
        self._tok = getattr(processor, "tokenizer", processor)


def _out_cache(out: Any) -> Any:
    cache = out.get("cache")
    return out.get("past_key_values") if cache is None else cache


def _cut_stop(text: str, stop: Sequence[str]) -> str:
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return text[:cut] if cut >= 0 else text


def _mean_pool_embed(provider: Any, texts: Sequence[str], causal: bool = False) -> np.ndarray:
    import torch

    provider.load()
    tok, model = provider._tok, provider._model
    max_len = getattr(provider, "max_length", 512)
    lengths = [len(t) for t in texts]
    out = np.zeros((len(texts), provider.embedding_dim()), dtype=np.float32)
    with torch.inference_mode():
        for batch in token_budget_batches(lengths, max_tokens=64 * 1024, max_items=getattr(provider, "batch_size", 64)):
            enc = tok([texts[i] for i in batch], padding=True, truncation=True, max_length=max_len, return_tensors="pt")
            enc.pop("token_type_ids", None) if causal else None
            enc = {k: v.to(model.device) for k, v in enc.items()}
            kwargs = {"output_hidden_states": True} if causal else {}
            res = model(**enc, **kwargs)
            hidden = res.hidden_states[-1] if causal else res.last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
            out[batch] = pooled.cpu().numpy()
            provider.usage.add(prompt=int(enc["attention_mask"].sum()), requests=len(batch))
    return out


class TransformersEmbeddingProvider:
    """Text embeddings from an encoder (``AutoModel``): mean pooling over tokens, then L2-normalize.

    Examples
    --------
    >>> from thresher.udfs.ai.testing import minilm_path
    >>> p = TransformersEmbeddingProvider(minilm_path())
    >>> p.embedding_dim(), p.embed(["a cat"]).shape
    (384, (1, 384))
    """

    name = "transformers-embed"

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        max_length: int = 512,
        batch_size: int = 64,
        trust_remote_code: bool = False,
    ) -> None:
        self.model_name = model
        self.device = device
        self.max_length = max_length
        self.batch_size = batch_size
        self.trust_remote_code = trust_remote_code
        self.usage = TokenUsage()
        self._model: Any = None
        self._tok: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from transformers import AutoModel, AutoTokenizer

            self.device = _device(self.device)
            self._tok = AutoTokenizer.from_pretrained(self.model_name, trust_remote_code=self.trust_remote_code)
            self._model = (
                AutoModel.from_pretrained(self.model_name, trust_remote_code=self.trust_remote_code)
                .to(self.device)
                .eval()
            )

    def embedding_dim(self) -> int:
        from transformers import AutoConfig

        return int(AutoConfig.from_pretrained(self.model_name, trust_remote_code=self.trust_remote_code).hidden_size)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return _mean_pool_embed(self, texts)

    def generate(self, prompts: Sequence[PromptInput], params: GenerationParams | None = None) -> list[str]:
        raise UnsupportedError(f"{self.model_name} is an embedding model; it cannot generate text")


class TransformersImageEmbeddingProvider:
    """Image (and text) embeddings from a CLIP-like model: ``get_image_features``, L2-normalized.

    Images may be PIL images, ``numpy`` HxWxC uint8 arrays, or encoded bytes.

    Examples
    --------
    >>> from thresher.udfs.ai.testing import tiny_clip_dir
    >>> p = TransformersImageEmbeddingProvider(tiny_clip_dir())
    >>> p.embed_images([np.zeros((40, 30, 3), np.uint8)]).shape
    (1, 32)
    """

    name = "transformers-image"

    def __init__(self, model: str, *, device: str | None = None, batch_size: int = 32) -> None:
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self.usage = TokenUsage()
        self._model: Any = None
        self._processor: Any = None
        self._tok: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

            self.device = _device(self.device)
            self._processor = AutoImageProcessor.from_pretrained(self.model_name)
            try:
                self._tok = AutoTokenizer.from_pretrained(self.model_name)
            except (OSError, ValueError):
                self._tok = None
            self._model = AutoModel.from_pretrained(self.model_name).to(self.device).eval()

    def embedding_dim(self) -> int:
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(self.model_name)
        return int(getattr(cfg, "projection_dim", None) or cfg.hidden_size)

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        import torch

        self.load()
        out = np.zeros((len(images), self.embedding_dim()), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = [_to_pil(im) for im in images[start : start + self.batch_size]]
                pix = self._processor(images=batch, return_tensors="pt")["pixel_values"].to(self.device)
                feats = self._model.get_image_features(pixel_values=pix)
                feats = getattr(feats, "pooler_output", feats)
                out[start : start + len(batch)] = torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()
                self.usage.add(requests=len(batch))
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Text embeddings in the same space as the images (needs the model's tokenizer)."""
        import torch

        self.load()
        if self._tok is None:
            raise UnsupportedError(f"{self.model_name} ships no tokenizer; it embeds images only")
        enc = self._tok(list(texts), padding=True, truncation=True, max_length=64, return_tensors="pt")
        with torch.inference_mode():
            feats = self._model.get_text_features(
                input_ids=enc["input_ids"].to(self.device), attention_mask=enc["attention_mask"].to(self.device)
            )
            feats = getattr(feats, "pooler_output", feats)
        return torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()

    def generate(self, prompts: Sequence[PromptInput], params: GenerationParams | None = None) -> list[str]:
        raise UnsupportedError(f"{self.model_name} is an embedding model; it cannot generate text")


def _to_pil(image: Any) -> Any:
    import io

    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, (bytes, bytearray, memoryview)):
        return Image.open(io.BytesIO(bytes(image))).convert("RGB")
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return Image.fromarray(arr.astype(np.uint8)).convert("RGB")
