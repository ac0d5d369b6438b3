"""MinHash throughput: Thresher vs datasketch (update loop, update_batch) vs Daft, side by side.

200-word documents, word 3-grams, 128 permutations. Prints docs/s and the ratio of Thresher to
each peer, writes ``benchmarks/results/minhash.json``. ``--fuzzy-docs N`` also times the whole
fuzzy pipeline (signatures, bands, candidate pairs, connected components) on N short documents
and reports its peak RSS.

    python benchmarks/minhash_bench.py --docs 20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from thresher.operators.kernels.components import connected_components
from thresher.operators.kernels.lsh import band_hashes, candidate_pairs, optimal_bands_rows
from thresher.operators.kernels.minhash import minhash_signatures

NUM_PERM = 128
NGRAM = 3


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


def best_of(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_thresher(texts: list[str], threads: int | None) -> Callable[[], object]:
    arr = pa.array(texts, pa.large_string())
    return lambda: minhash_signatures(arr, NUM_PERM, NGRAM, "word", num_threads=threads)


def bench_datasketch(texts: list[str], batch: bool) -> Callable[[], object]:
    from datasketch import MinHash

    def run() -> None:
        for t in texts:
            w = t.split()
            sh = [" ".join(w[i : i + NGRAM]).encode() for i in range(max(len(w) - NGRAM + 1, 1))]
            m = MinHash(NUM_PERM, seed=1)
            if batch:
                m.update_batch(sh)
            else:
                for s in sh:
                    m.update(s)

    return run


def bench_daft(texts: list[str]) -> Callable[[], object]:
    import daft

    def run() -> object:
        df = daft.from_pydict({"t": texts}).with_column(
            "m", daft.col("t").minhash(num_hashes=NUM_PERM, ngram_size=NGRAM)
        )
        return df.to_arrow()

    return run


def fuzzy_pipeline(n: int, threshold: float = 0.8) -> dict[str, float]:
    import psutil

    proc = psutil.Process()
    peak = [proc.memory_info().rss]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.02)

    docs = make_corpus(n, 20, seed=1, vocab_size=50000)
    # plant near-duplicates: 5% exact copies, 5% with their last word changed (word 3-gram J = 17/19)
    rng = np.random.default_rng(2)
    src = rng.choice(n, size=n // 10, replace=False)
    dst = rng.choice(n, size=n // 10, replace=False)
    for k, (i, j) in enumerate(zip(src.tolist(), dst.tolist())):
        docs[j] = docs[i] if k % 2 else docs[i].rsplit(" ", 1)[0] + " changed"
    texts = pa.array(docs, pa.large_string())
    base_rss = proc.memory_info().rss
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    sig = minhash_signatures(texts, NUM_PERM, NGRAM, "word")
    t_sig = time.perf_counter()
    bands, rows = optimal_bands_rows(threshold, NUM_PERM)
    bh = band_hashes(sig, bands, rows)
    left, right = candidate_pairs(bh)
    t_pairs = time.perf_counter()
    labels = connected_components(left, right, n)
    t_end = time.perf_counter()
    stop.set()
    sampler.join()
    return {
        "docs": n,
        "docs_per_s": n / (t_end - t),
        "signatures_s": t_sig - t,
        "bands_pairs_s": t_pairs - t_sig,
        "components_s": t_end - t_pairs,
        "edges": int(len(left)),
        "duplicates_removed": int(n - len(np.unique(labels))),
        "peak_rss_mb": peak[0] / 2**20,
        "rss_before_mb": base_rss / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop-docs", type=int, default=2000, help="docs for the slow datasketch loops")
    parser.add_argument("--fuzzy-docs", type=int, default=0, help="also time the fuzzy pipeline on N short docs")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "minhash.json"))
    args = parser.parse_args()

    texts = make_corpus(args.docs, args.words)
    small = texts[: args.loop_docs]
    rows: dict[str, float] = {}
    rows["thresher"] = args.docs / best_of(bench_thresher(texts, 1), args.repeats)
    rows["thresher (all cores)"] = args.docs / best_of(bench_thresher(texts, None), args.repeats)
    rows["datasketch update loop"] = len(small) / best_of(bench_datasketch(small, False), 1)
    rows["datasketch update_batch"] = len(small) / best_of(bench_datasketch(small, True), 1)
    try:
        run_daft = bench_daft(texts)
        run_daft()  # warm-up: Daft's first query pays for its runtime start
        rows["daft minhash"] = args.docs / best_of(run_daft, args.repeats)
    except ImportError:
        print("daft not installed: skipped")

    base = rows["thresher"]
    base_all = rows["thresher (all cores)"]
    print(
        f"\n{args.docs} docs x {args.words} words, word {NGRAM}-grams, {NUM_PERM} permutations, {os.cpu_count()} cores"
    )
    print(f"{'engine':<26}{'docs/s':>12}{'1 thread / it':>16}{'all cores / it':>16}")
    for name, dps in rows.items():
        print(f"{name:<26}{dps:>12,.0f}{base / dps:>15.2f}x{base_all / dps:>15.2f}x")
    result: dict[str, object] = {
        "docs": args.docs,
        "words_per_doc": args.words,
        "ngram": NGRAM,
        "num_perm": NUM_PERM,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "docs_per_s": rows,
        "thresher_1_thread_over": {k: base / v for k, v in rows.items()},
        "thresher_all_cores_over": {k: base_all / v for k, v in rows.items()},
    }
    if args.fuzzy_docs:
        fz = fuzzy_pipeline(args.fuzzy_docs)
        print(
            f"\nfuzzy pipeline on {fz['docs']:,} x 20-word docs: {fz['docs_per_s']:,.0f} docs/s, "
            f"peak RSS {fz['peak_rss_mb']:.0f} MiB (signatures {fz['signatures_s']:.1f}s, "
            f"bands+pairs {fz['bands_pairs_s']:.1f}s, components {fz['components_s']:.1f}s)"
        )
        result["fuzzy_pipeline"] = fz
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out.name}")


if __name__ == "__main__":
    main()
