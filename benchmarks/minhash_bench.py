"""MinHash signatures: Thresher vs datasketch (update loop, update_batch) vs Daft, same documents.

``docs`` documents of ``words`` Zipf words (10% of them planted near-copies of another document
with about a tenth of the words replaced), word 3-grams joined by one space, 128 permutations,
seed 1. Every round starts from the same Arrow table (read from Parquet at start-up); turning it
into the engine's own input (an Arrow array, Python strings, a Daft frame) is inside the round.

The same work: datasketch's shingles are hashed with SHA-1 (its default ``hashfunc``) and
permuted by its affine32 scheme; ``thresher_sha1`` uses the same hash and scheme, so its
signatures must equal datasketch's bit for bit (compared by digest: engines of one hash scheme
must give identical signatures, an estimate within the tolerance is not enough for them). Thresher's default hash
(``poly64``, vectorized) and Daft's own hash give other signatures of the same sets; for them the
check is the estimate: over 200 planted pairs, the mean absolute error of the estimated Jaccard
against the exact Jaccard (computed in Python from the shingle sets) must be at most 0.06 (128
permutations give ~0.035). Both hashes are reported so a reader sees what the faster hash buys.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.harness import Bench, Engine

NUM_PERM = 128
NGRAM = 3
PAIRS = 200


def make_corpus(n: int, words_per_doc: int, seed: int = 0, vocab_size: int = 20000) -> list[str]:
    """Zipf-distributed words from a random vocabulary."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lens = rng.integers(2, 10, vocab_size)
    flat = letters[rng.integers(0, 26, int(lens.sum()))]
    cuts = np.cumsum(lens)[:-1]
    vocab = np.array(["".join(w) for w in np.split(flat, cuts)])
    words = vocab[(rng.zipf(1.2, size=(n, words_per_doc)) - 1) % vocab_size]
    return [" ".join(w) for w in words]


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    n, w = p["docs"], p["words"]
    docs = make_corpus(n, w)
    rng = np.random.default_rng(1)
    k = max(1, n // 10)
    src = rng.choice(n // 2, size=k, replace=False)
    dst = n // 2 + rng.choice(n - n // 2, size=k, replace=False)
    for s, d in zip(src.tolist(), dst.tolist()):
        toks = docs[s].split()
        for j in rng.choice(len(toks), size=max(1, len(toks) // 10), replace=False).tolist():
            toks[j] = f"x{j}"
        docs[d] = " ".join(toks)
    pq.write_table(pa.table({"text": pa.array(docs, pa.large_string())}), work / "docs.parquet")
    return {"_pairs": [src[:PAIRS].tolist(), dst[:PAIRS].tolist()]}


def _shingles(text: str) -> list[bytes]:
    w = text.split()
    return [" ".join(w[i : i + NGRAM]).encode() for i in range(max(len(w) - NGRAM + 1, 1))]


def _start(p: dict[str, Any]) -> dict[str, Any]:
    return {"table": pq.read_table(Path(p["workdir"]) / "docs.parquet"), "pairs": p["_pairs"]}


SHA1 = "sha1+affine32"  # datasketch's scheme: engines using it must agree bit for bit


def _canonical(state: dict[str, Any], sig: np.ndarray, scheme: str) -> dict[str, Any]:
    sig = np.ascontiguousarray(sig, dtype=np.uint32)
    src, dst = (np.asarray(x) for x in state["pairs"])
    est = (sig[src] == sig[dst]).mean(axis=1)
    if "exact" not in state:
        texts = state["table"].column("text").to_pylist()
        state["exact"] = [len(a & b) / len(a | b) for a, b in
                          ((set(_shingles(texts[s])), set(_shingles(texts[d]))) for s, d in zip(src, dst))]
    mae = float(np.mean(np.abs(est - np.asarray(state["exact"]))))
    return {"rows": int(sig.shape[0]), "scheme": scheme, "digest": hashlib.sha256(sig.tobytes()).hexdigest()[:16],
            "jaccard_mae": round(mae, 4)}


def compare(ref: dict[str, Any], other: dict[str, Any]) -> bool:
    """Same hash scheme: identical signatures. Another hash: a Jaccard estimate as good as MinHash gives."""
    if ref["rows"] != other["rows"]:
        return False
    if ref["scheme"] == other["scheme"]:
        return bool(other["digest"] == ref["digest"])
    return bool(other["jaccard_mae"] <= 0.06)


def _thresher(hash_name: str, threads: int | None) -> Engine:
    def run(state: dict[str, Any], case: str) -> np.ndarray:
        from thresher.operators.kernels.minhash import minhash_signatures

        arr = state["table"].column("text").combine_chunks()
        return minhash_signatures(arr, NUM_PERM, NGRAM, "word", seed=1, hash=hash_name, num_threads=threads)

    run.__name__ = f"run_thresher_{hash_name}_{threads}"
    return Engine(f"thresher_{hash_name}" + ("_all_cores" if threads is None else ""), start=_start, run=run,
                  check=lambda s, c, out: _canonical(s, out, SHA1 if hash_name == "sha1_32" else hash_name),
                  requires=("thresher",),
                  note=f"minhash_signatures, hash={hash_name}, {'every core' if threads is None else '1 thread'}")


def _run_datasketch_loop(state: dict[str, Any], case: str) -> list[np.ndarray]:
    from datasketch import MinHash

    out = []
    for t in state["table"].column("text").to_pylist():
        m = MinHash(NUM_PERM, seed=1)
        for s in _shingles(t):
            m.update(s)
        out.append(m.hashvalues)
    return out


def _run_datasketch_batch(state: dict[str, Any], case: str) -> list[np.ndarray]:
    from datasketch import MinHash

    out = []
    for t in state["table"].column("text").to_pylist():
        m = MinHash(NUM_PERM, seed=1)
        m.update_batch(_shingles(t))
        out.append(m.hashvalues)
    return out


def _run_daft(state: dict[str, Any], case: str) -> Any:
    import daft

    df = daft.from_arrow(state["table"]).with_column(
        "m", daft.col("text").minhash(num_hashes=NUM_PERM, ngram_size=NGRAM, seed=1))
    return df.select("m").to_arrow()


def _check_rows(state: dict[str, Any], case: str, out: list[np.ndarray]) -> dict[str, Any]:
    return _canonical(state, np.stack(out), SHA1)


def _check_daft(state: dict[str, Any], case: str, out: Any) -> dict[str, Any]:
    col = out.column("m").combine_chunks()
    return _canonical(state, col.flatten().to_numpy(zero_copy_only=False).reshape(len(col), NUM_PERM), "daft")


ENGINES = (
    _thresher("sha1_32", 1),
    _thresher("poly64", 1),
    _thresher("poly64", None),
    Engine("datasketch_update_batch", _start, _run_datasketch_batch, _check_rows, requires=("datasketch",),
           note="MinHash.update_batch per document (SHA-1, affine32)"),
    Engine("datasketch_update_loop", _start, _run_datasketch_loop, _check_rows, requires=("datasketch",),
           note="MinHash.update per shingle"),
    Engine("daft", _start, _run_daft, _check_daft, requires=("daft",), group="daft",
           note="Expression.minhash (Daft's own hash)"),
)

BENCH = Bench(
    name="minhash",
    title="MinHash signatures (word 3-grams, 128 permutations)",
    engines=ENGINES,
    reference="thresher_sha1_32",
    baseline="datasketch_update_batch",
    units="docs",
    quick={"docs": 3000, "words": 200, "rounds": 3},
    full={"docs": 20000, "words": 200, "rounds": 5},
    prepare=prepare,
    count=lambda p: p["docs"],
    compare=compare,
    notes="thresher_sha1_32 and datasketch must agree bit for bit; the others must estimate Jaccard "
          "within 0.06 mean absolute error of the exact value on 200 planted near-duplicate pairs.",
)
