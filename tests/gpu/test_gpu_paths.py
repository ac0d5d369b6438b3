"""Real GPU paths: cuDF/CuPy fuzzy dedup, vLLM generation and embeddings, transformers on CUDA.

Marked ``gpu`` and skipped without a device (``make test-gpu`` selects them; the default suite
skips them). Nothing is downloaded: the models are random-weight ones built from a config.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pyarrow as pa
import pytest

pytestmark = pytest.mark.gpu


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


needs_cuda_torch = pytest.mark.skipif(not _cuda(), reason="no CUDA device visible to torch")
needs_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is None or not _cuda(), reason="vLLM or a GPU missing")


def test_gpu_fuzzy_dedup_equals_cpu_on_the_device() -> None:
    from thresher.operators.kernels import gpu_dedup
    from thresher.operators.kernels.lsh import fuzzy_duplicates
    from thresher.testing.text import planted_corpus

    if not gpu_dedup.gpu_available():
        pytest.skip("cudf/cupy or a CUDA device missing")
    assert gpu_dedup._known_answer_check() == (True, "")
    docs, _ = planted_corpus(3000, seed=5)
    texts = pa.array(docs, pa.large_string())
    for verify in (False, True):
        cpu = fuzzy_duplicates(texts, 0.8, 128, 3, "word", verify=verify)
        gpu = gpu_dedup.fuzzy_duplicates_gpu(texts, 0.8, 128, 3, "word", verify=verify)
        assert (~cpu[1]).sum() > 100
        assert np.array_equal(cpu[0], gpu[0]) and np.array_equal(cpu[1], gpu[1])
    assert gpu_dedup.gpu_path_verified()


@needs_cuda_torch
def test_transformers_on_cuda_matches_cpu_greedy() -> None:
    from thresher.udfs.ai.providers.base import GenerationParams
    from thresher.udfs.ai.providers.transformers import TransformersProvider
    from thresher.udfs.ai.testing import tiny_causal_lm_dir

    prompts = [f"item {i}: describe the thing" for i in range(8)]
    params = GenerationParams(max_new_tokens=8)
    cpu = TransformersProvider(tiny_causal_lm_dir(), device="cpu", dtype="float32").generate(prompts, params)
    gpu = TransformersProvider(tiny_causal_lm_dir(), device="cuda", dtype="float32").generate(prompts, params)
    # random weights give near-ties; float32 on both sides keeps almost every greedy choice
    agree = np.mean([a == b for a, b in zip(cpu, gpu)])
    assert agree >= 0.75


@needs_vllm
def test_vllm_generates_and_embeds_with_a_random_weight_model() -> None:
    from thresher.udfs.ai.providers.base import GenerationParams
    from thresher.udfs.ai.providers.vllm import VLLMProvider
    from thresher.udfs.ai.testing import tiny_causal_lm_dir

    p = VLLMProvider(tiny_causal_lm_dir(), dtype="float32", gpu_memory_utilization=0.3, max_model_len=1024,
                     enforce_eager=True)
    out = p.generate([f"question {i}" for i in range(16)], GenerationParams(max_new_tokens=8))
    assert len(out) == 16 and all(isinstance(o, str) for o in out)
    e = VLLMProvider(tiny_causal_lm_dir(), dtype="float32", gpu_memory_utilization=0.3, max_model_len=1024,
                     enforce_eager=True).embed(["a cat", "a dog", "a tax form"])
    assert e.shape == (3, p.embedding_dim()) and np.isfinite(e).all()
