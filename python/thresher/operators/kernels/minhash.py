"""Vectorized MinHash signatures over Arrow string arrays.

The hot path has no per-document Python loop. A batch of documents is cut into chunks of about
``chunk_bytes`` of UTF-8 text; for each chunk:

1. **Tokens** are found on the raw UTF-8 buffer with NumPy: code points (``unit="char"``: every
   byte that is not a UTF-8 continuation byte starts one) or words (``unit="word"``: maximal runs
   of bytes that are not ASCII whitespace).
2. **Shingles** are the ``ngram`` consecutive tokens starting at every token; a document with at
   least one but fewer than ``ngram`` tokens has exactly one shingle, its whole token sequence; a
   document with no token (empty, whitespace only, null) has none. Word shingles are the words
   joined by one space, so ``"a  b\\n c"`` and ``"a b c"`` have the same shingles. Every shingle is
   a contiguous span of one buffer (the text itself for chars; the words re-joined by single
   spaces for words), so it is hashed in O(1) from prefix sums.
3. **Shingle hashes** (32 bit): ``hash="poly64"`` (the fast default) is the polynomial
   ``sum (byte_j + 1) * P**(len-1-j) mod 2**64`` of the shingle's UTF-8 bytes, finished with the
   MurmurHash3 64-bit finalizer and cut to its high 32 bits; it is computed for all shingles at
   once from prefix sums of the buffer. ``"sha1_32"`` (datasketch's default hash function),
   ``"xxh32"`` and ``"xxh64"`` (low 32 bits of XXH64) call those libraries once per *distinct*
   shingle of the chunk: they are for compatibility, not speed.
4. **Permutations** follow datasketch exactly, so ``signatures[i]`` equals
   ``datasketch.MinHash(num_perm, seed, hashfunc=H, scheme=scheme)`` updated with the shingles of
   document ``i`` (bytes), ``H`` being the 32-bit hash above. ``scheme="affine32"`` (datasketch
   >= 2.0 default): ``fmix32(h) * a + b mod 2**32``; ``scheme="legacy"`` (datasketch < 2.0):
   ``(h * a + b) mod (2**61 - 1)`` cut to 32 bits, with datasketch's uint64 wrap-around of the
   product. The minimum over each document's shingles is a segmented ``np.minimum.reduceat`` over
   blocks of a few thousand shingles, laid out ``[num_perm, shingles]`` so every row is contiguous.

Chunks run on a thread pool (NumPy releases the GIL). The result does not depend on the chunk
size, the number of threads or how the caller splits its batches.

Empty documents and documents without tokens get the all-``0xFFFFFFFF`` signature (datasketch's
initial state); null documents get the same row from :func:`minhash_signatures` and a null from
:func:`minhash_array`.

Differences from datasketch: datasketch has no shingling, so "the same shingles" means those
:func:`shingle` returns; the ``"affine64"`` scheme is not offered (signatures are uint32).
Unicode whitespace other than ASCII (e.g. U+00A0) does not separate words; normalize text first
if it should. ``poly64`` is not a cryptographic hash; inputs crafted against it can collide.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.errors import ThresherTypeError
from thresher.operators.kernels.hashing import fmix32, fmix64

if TYPE_CHECKING:
    import pyarrow.compute as pc
else:
    pc = lazy_module("pyarrow.compute")  # ~9 MiB: a job that computes nothing with it never loads it

Unit = Literal["char", "word"]
HashName = Literal["poly64", "sha1_32", "xxh32", "xxh64"]
Scheme = Literal["affine32", "legacy"]

MAX_HASH = np.uint32(0xFFFFFFFF)
_MERSENNE = np.uint64((1 << 61) - 1)
_P = 0x9E3779B97F4A7C15  # odd, so invertible mod 2**64
_Q = pow(_P, -1, 1 << 64)
_WS = np.zeros(256, dtype=bool)
_WS[[0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D]] = True
_BLOCK_SHINGLES = 8192  # shingles per permutation block: [num_perm, block] uint32 stays in L2
_U64 = np.uint64


# ----------------------------------------------------------------------------------------- hashing
_POW_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}
_POW_LOCK = threading.Lock()


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``P**k`` and ``Q**k`` (``Q = P**-1``) mod 2**64 for ``k < n``; cached and grown by doubling.

    The pair is cached as one tuple under a lock: threads hashing batches of different sizes
    must never see a grown ``P`` table next to a stale ``Q`` one.
    """
    have = _POW_CACHE.get("pq")
    if have is not None and len(have[0]) >= n:
        return have
    with _POW_LOCK:
        have = _POW_CACHE.get("pq")
        if have is None or len(have[0]) < n:
            size = max(1 << 16, 1 << int(np.ceil(np.log2(max(n, 2)))))
            with np.errstate(over="ignore"):
                p = np.multiply.accumulate(np.full(size, _P, dtype=np.uint64))
                q = np.multiply.accumulate(np.full(size, _Q, dtype=np.uint64))
            have = (np.concatenate([np.ones(1, np.uint64), p[:-1]]), np.concatenate([np.ones(1, np.uint64), q[:-1]]))
            _POW_CACHE["pq"] = have
        return have


def poly64(data: bytes) -> int:
    """The 32-bit ``poly64`` hash of one shingle, in plain Python (reference and datasketch ``hashfunc``).

    Examples
    --------
    >>> poly64(b"hello") == int(_span_hashes(np.frombuffer(b"hello", np.uint8), np.array([0]), np.array([5]))[0])
    True
    """
    h = 0
    for byte in data:
        h = (h * _P + byte + 1) & 0xFFFFFFFFFFFFFFFF
    return int(fmix64(np.array([h], dtype=np.uint64))[0] >> _U64(32))


def _prefix(buf: np.ndarray) -> np.ndarray:
    """``pre[k] = sum_{j<k} (buf[j] + 1) * Q**j`` mod 2**64 (``n + 1`` values)."""
    n = len(buf)
    _, qpow = _powers(n + 1)
    pre = np.empty(n + 1, dtype=np.uint64)
    pre[0] = 0
    with np.errstate(over="ignore"):
        body = buf.astype(np.uint64)
        body += _U64(1)
        body *= qpow[:n]
        pre[1:] = np.cumsum(body)  # faster than cumsum(out=) into a strided-offset view
    return pre


def _raw_span_hashes(pre: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Polynomial hash (before finalizing) of every non-empty span, from :func:`_prefix`."""
    ppow, _ = _powers(len(pre))
    with np.errstate(over="ignore"):
        return ppow[ends - 1] * (pre[ends] - pre[starts])


def _finish(h: np.ndarray) -> np.ndarray:
    h = fmix64(h)  # a new array: the input is not touched
    h >>= _U64(32)
    return h.astype(np.uint32)


def _span_hashes(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``poly64`` of every span ``buf[starts[i]:ends[i]]`` (non-empty spans), as uint32."""
    return _finish(_raw_span_hashes(_prefix(buf), starts, ends))


def _library_hash(name: str) -> Callable[[bytes], int]:
    if name == "sha1_32":
        import hashlib
        import struct

        return lambda b: struct.unpack("<I", hashlib.sha1(b).digest()[:4])[0]
    import xxhash

    if name == "xxh32":
        return lambda b: xxhash.xxh32_intdigest(b)
    if name == "xxh64":
        return lambda b: xxhash.xxh64_intdigest(b) & 0xFFFFFFFF
    raise ValueError(f"unknown hash {name!r}; expected one of poly64, sha1_32, xxh32, xxh64")


# --------------------------------------------------------------------------------------- shingling
@dataclass
class _Chunk:
    """The shingles of a run of documents: token spans of one UTF-8 buffer and, per shingle, its tokens."""

    buf: np.ndarray  # uint8
    unit: str
    tok_s: np.ndarray  # int64 token start byte
    tok_e: np.ndarray  # int64 token end byte (exclusive)
    first: np.ndarray  # int64 first token of each shingle
    last: np.ndarray  # int64 last token of each shingle (inclusive)
    offsets: np.ndarray  # int64 [docs + 1]: shingles of doc d are offsets[d]:offsets[d + 1]
    ngram: int

    def spans(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A buffer in which every shingle is one contiguous span, and the spans."""
        if self.unit == "char":
            return self.buf, self.tok_s[self.first], self.tok_e[self.last]
        # re-join the words with single spaces
        lens = self.tok_e - self.tok_s
        pos = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens + 1, out=pos[1:])
        nbuf = np.full(int(pos[-1]), 0x20, dtype=np.uint8)
        src = np.flatnonzero(~_WS[self.buf])  # every non-space byte belongs to exactly one word, in order
        nbuf[src + np.repeat(pos[:-1] - self.tok_s, lens)] = self.buf[src]
        return nbuf, pos[:-1][self.first], pos[:-1][self.last] + lens[self.last]

    def poly64(self) -> np.ndarray:
        """``poly64`` of every shingle, without materializing them."""
        pre = _prefix(self.buf)
        if self.unit == "char":
            return _finish(_raw_span_hashes(pre, self.tok_s[self.first], self.tok_e[self.last]))
        # word shingle = w1 + " " + w2 ...: H(x + " " + y) = (H(x) * P + 0x21) * P**len(y) + H(y).
        # Composed for the shingle starting at every token with shifted slices, then picked.
        ppow, _ = _powers(len(pre))
        tok_h = _raw_span_hashes(pre, self.tok_s, self.tok_e)
        scale = ppow[self.tok_e - self.tok_s]
        m = len(tok_h) - self.ngram + 1
        # every shingle has ngram words unless some document has fewer (then its one shingle is shorter)
        full = len(self.first) == 0 or int(self.last[-1] - self.first[-1]) == self.ngram - 1 and bool(
            (self.last - self.first == self.ngram - 1).all())
        with np.errstate(over="ignore"):
            if m > 0:
                at = tok_h[:m].copy()
                for j in range(1, self.ngram):
                    at *= _U64(_P)
                    at += _U64(0x21)
                    at *= scale[j : j + m]
                    at += tok_h[j : j + m]
                if full:  # first <= m - 1 already; finish the m composed values, then gather 32-bit ones
                    return _finish(at)[self.first]
                h = at[np.minimum(self.first, m - 1)]
            else:
                h = np.zeros(len(self.first), dtype=np.uint64)
            if not full:  # documents with fewer than ngram words: their one shingle is all their words
                short = np.flatnonzero(self.last - self.first < self.ngram - 1)
                hs = tok_h[self.first[short]]
                for j in range(1, self.ngram):
                    t = self.first[short] + j
                    keep = t > self.last[short]
                    t = np.minimum(t, self.last[short])
                    hs = np.where(keep, hs, (hs * _U64(_P) + _U64(0x21)) * scale[t] + tok_h[t])
                h[short] = hs
        return _finish(h)


def _text_buffers(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UTF-8 data, int64 offsets (``n + 1``, from 0) and validity of a string array."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if not (
        pa.types.is_string(texts.type)
        or pa.types.is_large_string(texts.type)
        or pa.types.is_string_view(texts.type)
        or pa.types.is_null(texts.type)
    ):
        raise ThresherTypeError(f"minhash needs a string array, got {texts.type}")
    valid = np.ones(len(texts), dtype=bool)
    if texts.null_count:
        valid = texts.is_valid().to_numpy(zero_copy_only=False)
        texts = pc.fill_null(texts.cast(pa.large_string()), "")
    texts = texts.cast(pa.large_string())
    bufs = texts.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.empty(0, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    return data, offsets - offsets[0], valid


def _tokens(buf: np.ndarray, doc_off: np.ndarray, unit: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token spans (starts, ends) and per-document token offsets."""
    n = len(buf)
    if unit == "char":
        if n == 0 or int(buf.max()) < 0x80:  # ASCII: every byte is a character
            starts = np.arange(n, dtype=np.int64)
            return starts, starts + 1, doc_off.astype(np.int64)
        starts = np.flatnonzero((buf & 0xC0) != 0x80).astype(np.int64)
        ends = np.empty_like(starts)
        ends[:-1] = starts[1:]
        ends[-1:] = n
        return starts, ends, np.searchsorted(starts, doc_off).astype(np.int64)
    if unit != "word":
        raise ValueError(f"unit must be 'char' or 'word', got {unit!r}")
    if n == 0:
        empty = np.empty(0, np.int64)
        return empty, empty, np.zeros(len(doc_off), np.int64)
    padded = np.ones(n + 2, dtype=bool)
    # ASCII whitespace: space, \t \n \v \f \r (9..13); comparisons beat a table lookup
    np.bitwise_or(buf == 0x20, (buf - np.uint8(9)) <= np.uint8(4), out=padded[1:-1])
    nz = np.flatnonzero(padded[1:] ^ padded[:-1])  # space/word changes: start, end, start, end, ...
    starts, ends = nz[0::2].astype(np.int64), nz[1::2].astype(np.int64)
    # a word running over a document boundary is two words
    inner = doc_off[(doc_off > 0) & (doc_off < n)]
    cross = np.unique(inner[(padded[inner] == 0) & (padded[inner + 1] == 0)])
    if len(cross):
        starts = np.insert(starts, np.searchsorted(starts, cross), cross)
        ends = np.insert(ends, np.searchsorted(ends, cross), cross)
    return starts, ends, np.searchsorted(starts, doc_off).astype(np.int64)


def _repeat_arange(counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(c) for c in counts])`` without the loop."""
    total = int(counts.sum())
    offs = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(offs, counts)


def _chunk_shingles(buf: np.ndarray, doc_off: np.ndarray, ngram: int, unit: str) -> _Chunk:
    tok_s, tok_e, tok_off = _tokens(buf, doc_off, unit)
    ntok = np.diff(tok_off)
    counts = np.where(ntok >= ngram, ntok - ngram + 1, (ntok > 0).astype(np.int64))
    sh_off = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=sh_off[1:])
    first = np.repeat(tok_off[:-1], counts) + _repeat_arange(counts)
    last = np.minimum(first + (ngram - 1), np.repeat(tok_off[1:] - 1, counts))
    return _Chunk(buf, unit, tok_s, tok_e, first, last, sh_off, ngram)


def _gather_spans(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lens = ends - starts
    off = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=off[1:])
    idx = np.repeat(starts - off[:-1], lens) + np.arange(int(off[-1]), dtype=np.int64)
    return buf[idx], off


def _chunk_bounds(offsets: np.ndarray, chunk_bytes: int, chunk_docs: int = 4096) -> list[tuple[int, int]]:
    n = len(offsets) - 1
    bounds: list[tuple[int, int]] = []
    i = 0
    while i < n:
        j = int(np.searchsorted(offsets, offsets[i] + chunk_bytes, side="right")) - 1
        j = min(max(j, i + 1), n, i + chunk_docs)
        bounds.append((i, j))
        i = j
    return bounds


def _validate(ngram: int, unit: str) -> None:
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    if unit not in ("char", "word"):
        raise ValueError(f"unit must be 'char' or 'word', got {unit!r}")


def shingle(texts: pa.Array | pa.ChunkedArray, ngram: int = 5, unit: Unit = "char") -> pa.LargeListArray:
    """The shingles of every document, in order, duplicates kept.

    Parameters
    ----------
    texts
        A string array; nulls give null lists.
    ngram
        Tokens per shingle.
    unit
        ``"char"`` (Unicode code points) or ``"word"`` (runs of non-ASCII-whitespace bytes,
        re-joined with one space).

    Returns
    -------
    pa.LargeListArray
        ``large_list<large_string>``: see the module docstring for short and empty documents.

    Examples
    --------
    >>> shingle(pa.array(["a b  c d", "xy", None]), ngram=3, unit="word").to_pylist()
    [['a b c', 'b c d'], ['xy'], None]
    >>> shingle(pa.array(["héllo"]), ngram=4).to_pylist()
    [['héll', 'éllo']]
    """
    _validate(ngram, unit)
    data, offsets, valid = _text_buffers(texts)
    ck = _chunk_shingles(data, offsets, ngram, unit)
    values, voff = _gather_spans(*ck.spans())
    strings = pa.LargeStringArray.from_buffers(len(ck.first), pa.py_buffer(voff), pa.py_buffer(values))
    mask = None if valid.all() else pa.array(~valid)
    return pa.LargeListArray.from_arrays(pa.array(ck.offsets, pa.int64()), strings, mask=mask)


def _chunk_hashes(ck: _Chunk, hash: str) -> np.ndarray:
    if hash == "poly64":
        return ck.poly64()
    fn = _library_hash(hash)
    values, voff = _gather_spans(*ck.spans())
    binary = pa.Array.from_buffers(pa.large_binary(), len(ck.first), [None, pa.py_buffer(voff), pa.py_buffer(values)])
    enc = binary.dictionary_encode()
    uniq = np.array([fn(b) for b in enc.dictionary.to_pylist()], dtype=np.uint32)  # one call per distinct shingle
    return uniq[enc.indices.to_numpy(zero_copy_only=False)]


def shingle_hashes(
    texts: pa.Array | pa.ChunkedArray, ngram: int = 5, unit: Unit = "char", hash: HashName = "poly64"
) -> tuple[np.ndarray, np.ndarray]:
    """The 32-bit hash of every shingle, flat, with per-document offsets (CSR layout).

    Examples
    --------
    >>> h, off = shingle_hashes(pa.array(["abcd", "", "abc"]), ngram=3)
    >>> off.tolist(), bool(h[0] == h[2])
    ([0, 2, 2, 3], True)
    """
    _validate(ngram, unit)
    data, offsets, _ = _text_buffers(texts)
    ck = _chunk_shingles(data, offsets, ngram, unit)
    return _chunk_hashes(ck, hash), ck.offsets


# ------------------------------------------------------------------------------------ permutations
def permutations(num_perm: int = 128, seed: int = 1, scheme: Scheme = "affine32") -> tuple[np.ndarray, np.ndarray]:
    """Datasketch's permutation parameters ``(a, b)`` for ``num_perm`` and ``seed``.

    uint32 for ``"affine32"`` (``a`` odd), uint64 for ``"legacy"``.

    Examples
    --------
    >>> a, b = permutations(4, seed=1)
    >>> a.dtype, bool((a % 2 == 1).all())
    (dtype('uint32'), True)
    """
    if num_perm < 1:
        raise ValueError(f"num_perm must be >= 1, got {num_perm}")
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        ab = np.array(
            [
                (gen.randint(1, _MERSENNE, dtype=np.uint64), gen.randint(0, _MERSENNE, dtype=np.uint64))
                for _ in range(num_perm)
            ],
            dtype=np.uint64,
        ).T
        return ab[0].copy(), ab[1].copy()
    if scheme != "affine32":
        raise ValueError(f"scheme must be 'affine32' or 'legacy', got {scheme!r}")
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _segment_min(
    h: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray, scheme: str, block: int = _BLOCK_SHINGLES
) -> np.ndarray:
    """Signatures ``[num_perm, docs]`` (uint32) from shingle hashes in CSR layout."""
    num_perm, docs = len(a), len(offsets) - 1
    out = np.full((num_perm, docs), MAX_HASH, dtype=np.uint32)
    nonempty = np.flatnonzero(np.diff(offsets) > 0)
    if len(nonempty) == 0:
        return out
    seg_start = offsets[nonempty]
    seg_end = offsets[nonempty + 1]
    dense = np.empty((num_perm, len(nonempty)), dtype=np.uint32)  # one column per non-empty document
    hv = h.astype(np.uint64) if scheme == "legacy" else fmix32(h)
    a2, b2 = a[:, None], b[:, None]
    total = int(offsets[-1])
    buf = np.empty((num_perm, min(block, total)), dtype=np.uint32)
    s0, k = 0, 0  # block start; first segment intersecting the block
    carried = False  # segment k started in an earlier block
    while s0 < total:
        s1 = min(s0 + block, total)
        k_end = int(np.searchsorted(seg_start, s1, side="left"))  # segments starting before s1
        idx = seg_start[k:k_end] - s0
        idx[0] = 0
        chunk = hv[s0:s1]
        with np.errstate(over="ignore"):
            if scheme == "legacy":
                wide = (chunk[None, :] * a2 + b2) % _MERSENNE
                phv = np.bitwise_and(wide, _U64(0xFFFFFFFF)).astype(np.uint32)
            else:
                phv = np.multiply(a2, chunk[None, :], out=buf[:, : s1 - s0])
                phv += b2
        mins = np.minimum.reduceat(phv, idx, axis=1)
        if carried:
            np.minimum(mins[:, 0], dense[:, k], out=mins[:, 0])
        dense[:, k:k_end] = mins
        carried = bool(seg_end[k_end - 1] > s1)  # the last segment continues into the next block
        k = k_end - 1 if carried else k_end
        s0 = s1
    if len(nonempty) == docs:
        return dense
    out[:, nonempty] = dense
    return out


# ---------------------------------------------------------------------------------------- public
def minhash_signatures(
    texts: pa.Array | pa.ChunkedArray,
    num_perm: int = 128,
    ngram: int = 5,
    unit: Unit = "char",
    seed: int = 1,
    hash: HashName = "poly64",
    scheme: Scheme = "affine32",
    *,
    num_threads: int | None = 1,
    chunk_bytes: int = 1 << 18,
) -> np.ndarray:
    """MinHash signatures of a batch of documents, ``uint32 [n, num_perm]``.

    Parameters
    ----------
    texts
        A string array (string, large_string or string_view; chunked is fine).
    num_perm
        Permutations (signature length).
    ngram, unit
        Shingling, see :func:`shingle`.
    seed
        Seed of the permutations (datasketch's ``seed``).
    hash
        Shingle hash: ``"poly64"`` (vectorized, default), ``"sha1_32"`` (datasketch's default
        ``hashfunc``), ``"xxh32"``, ``"xxh64"`` (low 32 bits).
    scheme
        ``"affine32"`` (datasketch >= 2.0) or ``"legacy"`` (datasketch < 2.0).
    num_threads
        Chunks processed in parallel on a thread pool; ``None`` uses every core. The default, 1,
        runs inline: the executor already runs batches in parallel, so a kernel should not.
    chunk_bytes
        Text per chunk; bounds the working memory (about 40 bytes per text byte).

    Returns
    -------
    np.ndarray
        Row ``i`` is document ``i``'s signature; null, empty and token-less documents get
        all ``0xFFFFFFFF``.

    Examples
    --------
    >>> sig = minhash_signatures(pa.array(["the quick brown fox", "the quick brown fox", ""]), num_perm=8)
    >>> sig.shape, bool((sig[0] == sig[1]).all()), bool((sig[2] == 0xFFFFFFFF).all())
    ((3, 8), True, True)
    """
    _validate(ngram, unit)
    if hash != "poly64":
        _library_hash(hash)  # fail fast on an unknown name
    a, b = permutations(num_perm, seed, scheme)
    data, offsets, _ = _text_buffers(texts)
    n = len(offsets) - 1
    out = np.empty((n, num_perm), dtype=np.uint32)
    bounds = _chunk_bounds(offsets, chunk_bytes)

    def run(bound: tuple[int, int]) -> None:
        i, j = bound
        base = int(offsets[i])
        ck = _chunk_shingles(data[base : int(offsets[j])], offsets[i : j + 1] - base, ngram, unit)
        out[i:j] = _segment_min(_chunk_hashes(ck, hash), ck.offsets, a, b, scheme).T

    threads = num_threads if num_threads is not None else (os.cpu_count() or 1)
    if threads <= 1 or len(bounds) <= 1:
        for bound in bounds:
            run(bound)
    else:
        with ThreadPoolExecutor(max_workers=min(threads, len(bounds))) as pool:
            list(pool.map(run, bounds))
    return out


def signatures_from_shingle_hashes(
    hashes: np.ndarray, offsets: np.ndarray, num_perm: int = 128, seed: int = 1, scheme: Scheme = "affine32"
) -> np.ndarray:
    """MinHash signatures ``uint32 [docs, num_perm]`` from shingle hashes already computed (CSR).

    Equal to :func:`minhash_signatures` of the texts :func:`shingle_hashes` hashed; for callers
    that need the shingle hashes too (verification) and should not shingle twice.

    Examples
    --------
    >>> texts = pa.array(["the quick brown fox", "", "a b"])
    >>> h, off = shingle_hashes(texts, 2, "word")
    >>> bool((signatures_from_shingle_hashes(h, off, 16) == minhash_signatures(texts, 16, 2, "word")).all())
    True
    """
    a, b = permutations(num_perm, seed, scheme)
    return _segment_min(np.asarray(hashes, np.uint32), np.asarray(offsets, np.int64), a, b, scheme).T.copy()


def minhash_array(
    texts: pa.Array | pa.ChunkedArray,
    num_perm: int = 128,
    ngram: int = 5,
    unit: Unit = "char",
    seed: int = 1,
    hash: HashName = "poly64",
    scheme: Scheme = "affine32",
    *,
    num_threads: int | None = 1,
) -> pa.FixedSizeListArray:
    """:func:`minhash_signatures` as ``fixed_size_list<uint32>[num_perm]``; null documents give null.

    Examples
    --------
    >>> arr = minhash_array(pa.array(["abcdef", None]), num_perm=4)
    >>> arr.type, arr.null_count
    (FixedSizeListType(fixed_size_list<item: uint32>[4]), 1)
    """
    sig = minhash_signatures(texts, num_perm, ngram, unit, seed, hash, scheme, num_threads=num_threads)
    _, _, valid = _text_buffers(texts)
    mask = None if valid.all() else pa.array(~valid)
    return pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1), pa.uint32()), num_perm, mask=mask)
