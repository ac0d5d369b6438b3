"""The GPU dedup path's code, run on the CPU with NumPy standing in for CuPy.

The stand-in lives here only: a module ``cupy`` exposing the NumPy functions the code uses (plus
``asnumpy`` and a fake device count) and no ``RawModule``, so the two device kernels run as their
``np.minimum.at`` equivalents; ``make test-gpu`` (tests/gpu) runs the kernels themselves. Every
result is compared with the CPU kernels, bit for bit.
"""

from __future__ import annotations

import sys
import types
import warnings
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest

import thresher as th
from thresher.operators.kernels import gpu_dedup
from thresher.operators.kernels.components import connected_components
from thresher.operators.kernels.lsh import band_hashes, candidate_pairs, fuzzy_duplicates
from thresher.operators.kernels.minhash import minhash_signatures
from thresher.testing.text import planted_corpus

_CUPY_NAMES = ("uint32", "uint64", "int64", "full", "asarray", "ascontiguousarray", "arange", "broadcast_to",
               "concatenate", "unique", "minimum", "maximum", "empty", "lexsort", "stack")


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    cupy = types.ModuleType("cupy")
    for name in _CUPY_NAMES:
        setattr(cupy, name, getattr(np, name))
    cupy.asnumpy = np.asarray  # type: ignore[attr-defined]
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setattr(gpu_dedup, "_VERIFIED", None)  # each test's (fake) device is checked afresh
    assert gpu_dedup.gpu_available()
    yield


def _texts() -> pa.Array:
    docs, _ = planted_corpus(120, seed=3)
    return pa.array(docs[:100] + [None, "", "x", "a b"] + docs[100:], pa.large_string())


def test_no_gpu_here_means_unsupported() -> None:
    if gpu_dedup.gpu_available():
        pytest.skip("a GPU is present")
    with pytest.raises(th.errors.UnsupportedError, match="gpu"):
        gpu_dedup.backend()
    with pytest.raises(th.errors.UnsupportedError):
        th.from_pydict({"t": ["a"]}).dedup.fuzzy("t", device="gpu").collect()


@pytest.mark.parametrize(("unit", "ngram"), [("word", 3), ("char", 5)])
def test_signatures_equal_the_cpu_ones(fake_gpu: None, unit: str, ngram: int) -> None:
    texts = _texts()
    cpu = minhash_signatures(texts, 64, ngram, unit, seed=7)  # type: ignore[arg-type]
    # small blocks: documents are cut across blocks and must still get their minimum
    dev = gpu_dedup.signatures_device(texts, 64, ngram, unit, seed=7, block_shingles=1000)  # type: ignore[arg-type]
    assert np.array_equal(np.asarray(dev), cpu)
    # chunks of documents shingled on threads (odd sizes: the nulls and empty texts fall inside one)
    for docs_per_chunk in (1, 7, 33):
        dev = gpu_dedup.signatures_device(texts, 64, ngram, unit, seed=7, block_shingles=50,  # type: ignore[arg-type]
                                          docs_per_chunk=docs_per_chunk)
        assert np.array_equal(np.asarray(dev), cpu), docs_per_chunk
    assert np.array_equal(gpu_dedup.minhash_signatures_gpu(texts, 64, ngram, unit, 7), cpu)  # type: ignore[arg-type]


def test_bands_pairs_and_components_equal_the_cpu_ones(fake_gpu: None) -> None:
    texts = _texts()
    sig = minhash_signatures(texts, 128, 3, "word")
    bh = band_hashes(sig, 9, 13)
    assert np.array_equal(gpu_dedup.band_hashes_device(sig, 9, 13), bh)
    valid = ~(sig == 0xFFFFFFFF).all(axis=1)
    left, right = candidate_pairs(bh, valid=valid)
    gl, gr = gpu_dedup.candidate_pairs_gpu(bh, valid)
    assert len(left) > 20 and np.array_equal(gl, left) and np.array_equal(gr, right)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 500, 400), rng.integers(0, 500, 400)
    assert np.array_equal(gpu_dedup.components_gpu(a, b, 500), connected_components(a, b, n=500))


@pytest.mark.parametrize("verify", [False, True])
def test_fuzzy_duplicates_equal_the_cpu_path(fake_gpu: None, verify: bool) -> None:
    texts = _texts()
    cpu = fuzzy_duplicates(texts, 0.8, 128, 3, "word", verify=verify)
    gpu = gpu_dedup.fuzzy_duplicates_gpu(texts, 0.8, 128, 3, "word", verify=verify)
    assert (~cpu[1]).sum() > 20
    assert np.array_equal(cpu[0], gpu[0]) and np.array_equal(cpu[1], gpu[1])


def test_dataframe_fuzzy_on_device_equals_cpu(fake_gpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"keys": 0, "pairs": 0, "components": 0}

    def spy(name: str, key: str) -> None:
        real = getattr(gpu_dedup, name)

        def wrapped(*args: object, **kwargs: object) -> object:
            calls[key] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(gpu_dedup, name, wrapped)

    spy("fuzzy_band_hashes_gpu", "keys")
    spy("candidate_pairs_gpu", "pairs")
    spy("components_gpu", "components")
    docs, _ = planted_corpus(150, seed=1)
    df = th.from_pydict({"id": list(range(len(docs))), "t": docs}).into_batches(40)
    cpu = df.dedup.fuzzy("t", ngram=3, unit="word", device="cpu", return_groups=True, id_column="id").to_pydict()
    gpu = df.dedup.fuzzy("t", ngram=3, unit="word", device="gpu", return_groups=True, id_column="id").to_pydict()
    auto = df.dedup.fuzzy("t", ngram=3, unit="word").to_pydict()  # "auto" takes the (fake) device
    assert gpu == cpu
    assert calls["keys"] >= 4 and calls["pairs"] >= 1 and calls["components"] >= 1  # the device path ran
    assert auto["id"] == [i for i, k in zip(cpu["id"], cpu["is_kept"]) if k]


def _planted_frame() -> th.DataFrame:
    docs, _ = planted_corpus(150, seed=1)
    return th.from_pydict({"id": list(range(len(docs))), "t": docs}).into_batches(40)


def test_auto_checks_the_device_once_per_process(fake_gpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = []
    real = gpu_dedup._known_answer_check
    monkeypatch.setattr(gpu_dedup, "_known_answer_check", lambda: checks.append(1) or real())
    df = _planted_frame()
    cpu = df.dedup.fuzzy("t", ngram=3, unit="word", device="cpu").to_pydict()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a device that agrees is used without a word
        first = df.dedup.fuzzy("t", ngram=3, unit="word").to_pydict()
        second = df.dedup.fuzzy("t", ngram=3, unit="word").to_pydict()
    assert first == second == cpu
    assert checks == [1] and gpu_dedup._VERIFIED == (True, "")


def test_auto_falls_back_to_cpu_with_a_warning_when_the_device_disagrees(
    fake_gpu: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = gpu_dedup.signatures_device

    def wrong(*args: object, **kwargs: object) -> object:  # a broken device: one bit off
        return real(*args, **kwargs) ^ np.uint32(1)  # type: ignore[operator]

    monkeypatch.setattr(gpu_dedup, "signatures_device", wrong)
    used = []
    real_keys = gpu_dedup.fuzzy_band_hashes_gpu
    monkeypatch.setattr(gpu_dedup, "fuzzy_band_hashes_gpu", lambda *a, **k: used.append(1) or real_keys(*a, **k))
    df = _planted_frame()
    cpu = df.dedup.fuzzy("t", ngram=3, unit="word", device="cpu").to_pydict()
    with pytest.warns(RuntimeWarning, match="disagreed with the CPU kernels.*signatures"):
        auto = df.dedup.fuzzy("t", ngram=3, unit="word").to_pydict()
    assert auto == cpu and used == []  # the device path never ran
    assert gpu_dedup._VERIFIED is not None and gpu_dedup._VERIFIED[0] is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per process, not per query
        assert df.dedup.fuzzy("t", ngram=3, unit="word").to_pydict() == cpu


def test_auto_falls_back_when_the_device_raises(fake_gpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(gpu_dedup, "candidate_pairs_device", boom)
    with pytest.warns(RuntimeWarning, match="illegal memory access"):
        assert gpu_dedup.gpu_path_verified() is False
