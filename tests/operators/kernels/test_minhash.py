"""MinHash kernel: datasketch compatibility, shingling, null/empty rows, batch-split invariance."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.errors import ThresherTypeError
from thresher.operators.kernels.minhash import (
    MAX_HASH,
    minhash_array,
    minhash_signatures,
    permutations,
    poly64,
    shingle,
    shingle_hashes,
)

datasketch = pytest.importorskip("datasketch")

TEXTS = [
    "Hello wörld, this is   a\ttest of the   thing",
    "",
    "ab",
    None,
    "naïve café résumé 日本語のテキスト 🎉🎉 emoji",
    "x " * 50,
    "  lead trail  ",
    "\n\n",
    "the quick brown fox jumps over the lazy dog",
]


def ref_shingles(text: str | None, ngram: int, unit: str) -> list[str] | None:
    """Plain-Python definition of the shingles."""
    if text is None:
        return None
    tokens = re.split(r"[ \t\n\x0b\x0c\r]+", text.strip(" \t\n\x0b\x0c\r")) if unit == "word" else list(text)
    tokens = [t for t in tokens if t]
    if not tokens:
        return []
    sep = " " if unit == "word" else ""
    if len(tokens) < ngram:
        return [sep.join(tokens)]
    return [sep.join(tokens[i : i + ngram]) for i in range(len(tokens) - ngram + 1)]


def datasketch_sig(shingles: list[str] | None, num_perm: int, seed: int, scheme: str, hashfunc=None) -> np.ndarray:
    m = datasketch.MinHash(num_perm, seed=seed, hashfunc=hashfunc, scheme=scheme)
    for s in shingles or []:
        m.update(s.encode("utf-8"))
    return m.hashvalues.astype(np.uint32)


@pytest.mark.parametrize("unit,ngram", [("char", 5), ("char", 1), ("word", 3), ("word", 1)])
def test_shingle_matches_reference(unit: str, ngram: int) -> None:
    got = shingle(pa.array(TEXTS), ngram, unit).to_pylist()
    assert got == [ref_shingles(t, ngram, unit) for t in TEXTS]


def test_words_do_not_cross_document_boundaries() -> None:
    assert shingle(pa.array(["ab", "cd", "", "ef gh"]), 2, "word").to_pylist() == [["ab"], ["cd"], [], ["ef gh"]]


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("unit,ngram", [("char", 5), ("word", 3)])
def test_datasketch_default_hash_identical(scheme: str, unit: str, ngram: int) -> None:
    sig = minhash_signatures(pa.array(TEXTS), 32, ngram, unit, seed=7, hash="sha1_32", scheme=scheme)
    for i, text in enumerate(TEXTS):
        want = datasketch_sig(ref_shingles(text, ngram, unit), 32, 7, scheme)
        np.testing.assert_array_equal(sig[i], want, err_msg=f"row {i}")


@pytest.mark.parametrize("hash_name", ["poly64", "xxh32", "xxh64"])
def test_other_hashes_equal_datasketch_with_that_hashfunc(hash_name: str) -> None:
    import xxhash

    fn = {
        "poly64": poly64,
        "xxh32": xxhash.xxh32_intdigest,
        "xxh64": lambda b: xxhash.xxh64_intdigest(b) & 0xFFFFFFFF,
    }[hash_name]
    sig = minhash_signatures(pa.array(TEXTS), 16, 3, "word", seed=3, hash=hash_name)
    for i, text in enumerate(TEXTS):
        np.testing.assert_array_equal(sig[i], datasketch_sig(ref_shingles(text, 3, "word"), 16, 3, "affine32", fn))


def test_permutations_match_datasketch() -> None:
    for scheme in ("affine32", "legacy"):
        a, b = permutations(64, 11, scheme)  # type: ignore[arg-type]
        ref = datasketch.MinHash(64, seed=11, scheme=scheme).permutations
        np.testing.assert_array_equal(a, np.asarray(ref[0]))
        np.testing.assert_array_equal(b, np.asarray(ref[1]))


def test_null_and_empty_rows() -> None:
    arr = pa.array(["", None, "   ", "abcdef"])
    sig = minhash_signatures(arr, 8)
    assert (sig[:2] == MAX_HASH).all() and not (sig[2:] == MAX_HASH).all(axis=1).any()
    words = minhash_signatures(arr, 8, 3, "word")  # whitespace only: no word, no shingle
    assert (words[:3] == MAX_HASH).all() and not (words[3] == MAX_HASH).all()
    fsl = minhash_array(arr, 8)
    assert fsl.type == pa.list_(pa.uint32(), 8)
    assert fsl.is_null().to_pylist() == [False, True, False, False]
    assert shingle(arr, 3).to_pylist() == [[], None, ["   "], ["abc", "bcd", "cde", "def"]]


def test_rejects_non_strings() -> None:
    with pytest.raises(ThresherTypeError):
        minhash_signatures(pa.array([1, 2]))
    with pytest.raises(ValueError):
        minhash_signatures(pa.array(["a"]), unit="line")  # type: ignore[arg-type]


def _corpus(n: int, seed: int = 0) -> list[str | None]:
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "δέλτα", "eps", "zeta", "eta", "θ", "iota", "k"]
    out: list[str | None] = []
    for i in range(n):
        if i % 17 == 5:
            out.append(None)
            continue
        k = int(rng.integers(0, 60))
        seps = rng.choice([" ", "  ", "\n", "\t "], size=k)
        out.append("".join(w + s for w, s in zip(rng.choice(words, size=k), seps)))
    return out


@pytest.mark.parametrize("unit,ngram", [("char", 5), ("word", 3)])
def test_independent_of_batch_split_chunks_and_threads(unit: str, ngram: int) -> None:
    texts = _corpus(600)
    whole = minhash_signatures(pa.array(texts), 64, ngram, unit, num_threads=1)
    parts = np.concatenate(
        [minhash_signatures(pa.array(texts[a:b]), 64, ngram, unit) for a, b in [(0, 1), (1, 250), (250, 600)]]
    )
    np.testing.assert_array_equal(whole, parts)
    small = minhash_signatures(pa.array(texts), 64, ngram, unit, num_threads=2, chunk_bytes=100)
    np.testing.assert_array_equal(whole, small)
    chunked = pa.chunked_array([pa.array(texts[:300], pa.string()), pa.array(texts[300:], pa.string())])
    np.testing.assert_array_equal(whole, minhash_signatures(chunked, 64, ngram, unit))
    sliced = pa.array(["pad"] * 3 + texts, pa.string_view() if hasattr(pa, "string_view") else pa.string())[3:]
    np.testing.assert_array_equal(whole, minhash_signatures(sliced, 64, ngram, unit))


def test_long_document_spans_many_blocks() -> None:
    text = " ".join(f"w{i}" for i in range(30000))
    sig = minhash_signatures(pa.array(["a b c", text, "d e f"]), 16, 3, "word")
    np.testing.assert_array_equal(sig[1], datasketch_sig(ref_shingles(text, 3, "word"), 16, 1, "affine32", poly64))


@pytest.mark.parametrize("short", [False, True])
def test_word_shingle_hashes_match_reference_across_chunks(short: bool) -> None:
    # every document has >= ngram words (the composed-hash fast path) unless `short` adds a 2-word one
    rng = np.random.default_rng(5)
    words = ["a", "bb", "ccc", "dddd", "\u00e9t\u00e9", "x" * 40]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(3, 30)))) for _ in range(80)]
    if short:
        texts[40] = "lone pair"
    sig = minhash_signatures(pa.array(texts), 16, 3, "word", chunk_bytes=300)
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(sig[i], datasketch_sig(ref_shingles(text, 3, "word"), 16, 1, "affine32", poly64))


def test_signature_estimates_jaccard() -> None:
    rng = np.random.default_rng(1)
    base = [f"t{i}" for i in rng.permutation(10000)[:400]]
    other = base[:300] + [f"u{i}" for i in range(100)]  # Jaccard 300 / 500 = 0.6
    sig = minhash_signatures(pa.array([" ".join(base), " ".join(other)]), 512, 1, "word")
    assert abs(float((sig[0] == sig[1]).mean()) - 0.6) < 0.07


def test_shingle_hashes_csr() -> None:
    h, off = shingle_hashes(pa.array(["abcd", None, "abc"]), 3)
    assert off.tolist() == [0, 2, 2, 3] and h.dtype == np.uint32 and h[0] == h[2]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from("ab cé\t\n日"), max_size=30)), max_size=8),
    st.integers(1, 4),
    st.sampled_from(["char", "word"]),
)
def test_property_matches_reference(texts: list[str | None], ngram: int, unit: str) -> None:
    assert shingle(pa.array(texts, pa.string()), ngram, unit).to_pylist() == [  # type: ignore[arg-type]
        ref_shingles(t, ngram, unit) for t in texts
    ]
    sig = minhash_signatures(pa.array(texts, pa.string()), 8, ngram, unit, seed=5)  # type: ignore[arg-type]
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(sig[i], datasketch_sig(ref_shingles(t, ngram, unit), 8, 5, "affine32", poly64))
