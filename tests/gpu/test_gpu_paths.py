"""Real GPU paths: CuPy fuzzy dedup, vLLM generation and embeddings, transformers on CUDA.

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
        pytest.skip("cupy or a CUDA device missing")
    assert gpu_dedup._known_answer_check() == (True, "")
    docs, _ = planted_corpus(3000, seed=5)
    texts = pa.array(docs, pa.large_string())
    for verify in (False, True):
        cpu = fuzzy_duplicates(texts, 0.8, 128, 3, "word", verify=verify)
        gpu = gpu_dedup.fuzzy_duplicates_gpu(texts, 0.8, 128, 3, "word", verify=verify)
        assert (~cpu[1]).sum() > 100
        assert np.array_equal(cpu[0], gpu[0]) and np.array_equal(cpu[1], gpu[1])
    assert gpu_dedup.gpu_path_verified()


def test_gpu_kernels_equal_cpu_across_blocks_and_random_graphs() -> None:
    """The two device kernels (MinHash atomic-min, the components' scatter-min) on odd sizes."""
    from thresher.operators.kernels import gpu_dedup
    from thresher.operators.kernels.components import connected_components
    from thresher.operators.kernels.lsh import band_hashes, candidate_pairs
    from thresher.operators.kernels.minhash import minhash_signatures
    from thresher.testing.text import planted_corpus

    if not gpu_dedup.gpu_available():
        pytest.skip("cupy or a CUDA device missing")
    docs, _ = planted_corpus(2000, seed=9)
    texts = pa.array(docs[:700] + [None, "", "x"] + docs[700:], pa.large_string())
    for unit, ngram, perms in (("word", 3, 128), ("char", 5, 96), ("word", 1, 7)):
        cpu = minhash_signatures(texts, perms, ngram, unit, seed=4)  # type: ignore[arg-type]
        for block, chunk in ((997, 65536), (1 << 24, 65536), (1 << 24, 129)):  # cut documents; threaded chunks
            dev = gpu_dedup.signatures_device(texts, perms, ngram, unit, seed=4,  # type: ignore[arg-type]
                                              block_shingles=block, docs_per_chunk=chunk)
            assert np.array_equal(gpu_dedup.backend().asnumpy(dev), cpu), (unit, ngram, perms, block)
    sig = minhash_signatures(texts, 128, 3, "word")
    bh = band_hashes(sig, 16, 8)
    valid = ~(sig == 0xFFFFFFFF).all(axis=1)
    left, right = candidate_pairs(bh, valid=valid)
    gl, gr = gpu_dedup.candidate_pairs_gpu(bh, valid)
    assert len(left) > 100 and np.array_equal(gl, left) and np.array_equal(gr, right)
    rng = np.random.default_rng(1)
    for n, m in ((1, 0), (50, 10), (5000, 4000), (200_000, 300_000)):
        a, b = rng.integers(0, n, m), rng.integers(0, n, m)
        assert np.array_equal(gpu_dedup.components_gpu(a, b, n), connected_components(a, b, n=n)), (n, m)


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
