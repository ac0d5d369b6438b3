"""Fuzzy dedup at scale, Thresher alone: memory per document, scaling, and Ray vs local.

Not a side-by-side benchmark (see ``minhash_bench.py`` for that): ``df.dedup.fuzzy`` end to end
on the local executor over N (and N/4) short documents from Parquet: docs/s, peak RSS, bytes per
document held by each step, candidate edges per document, and the estimate for 10M documents;
``--ray-docs N`` also compares the Ray executor with the local one (kept ids must be identical).

    python -m benchmarks.fuzzy_memory --fuzzy-docs 1000000 --ray-docs 200000
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from benchmarks.minhash_bench import NGRAM, make_corpus


class _PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 10 ms)."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> _PeakRSS:
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def planted_short_docs(n: int) -> pa.Table:
    """``n`` 20-word docs; 5% exact copies and 5% with the last word changed (word 3-gram J = 17/19)."""
    docs = make_corpus(n, 20, seed=1, vocab_size=50000)
    rng = np.random.default_rng(2)
    src = rng.choice(n, size=n // 10, replace=False)
    dst = rng.choice(n, size=n // 10, replace=False)
    for k, (i, j) in enumerate(zip(src.tolist(), dst.tolist())):
        docs[j] = docs[i] if k % 2 else docs[i].rsplit(" ", 1)[0] + " changed"
    return pa.table({"id": pa.array(np.arange(n, dtype=np.int64)), "text": pa.array(docs, pa.large_string())})


def fuzzy_end_to_end(n: int, threshold: float = 0.8, batch_rows: int = 65536, verify: bool = False) -> dict[str, object]:
    """``df.dedup.fuzzy`` on the local executor over a Parquet file of ``n`` short docs.

    Three measurements: (1) the whole DataFrame pipeline (read Parquet, keys, decision, re-read
    and filter, write Parquet): docs/s and peak RSS; (2) the same steps run one by one on the
    operator with ``tracemalloc`` (NumPy reports its buffers to it), giving the bytes per
    document each step holds at its peak, and the candidate edges per document (these must not
    grow with ``n``); (3) the estimate for 10M documents from (2).
    """
    import gc
    import tempfile
    import tracemalloc

    import pyarrow.parquet as pq

    import thresher as th
    from thresher.expressions.expr import Column
    from thresher.operators.dedup import DedupOperator, DedupState
    from thresher.operators.kernels.lsh import candidate_pairs

    tmp = Path(tempfile.mkdtemp(prefix="fuzzy-bench-"))
    src = tmp / "docs.parquet"
    table = planted_short_docs(n)
    text_bytes = table.nbytes
    pq.write_table(table, src, row_group_size=batch_rows)
    del table
    gc.collect()
    df = th.read_parquet(str(src))
    q = df.dedup.fuzzy("text", threshold=threshold, ngram=NGRAM, unit="word", device="cpu", verify=verify)
    with _PeakRSS() as rss:
        t = time.perf_counter()
        q.write_parquet(str(tmp / "out"))
        wall = time.perf_counter() - t
    kept = pq.read_table(tmp / "out").num_rows

    # -- step by step (the operator's own code), bytes per document at each step's peak ----------
    op = DedupOperator("fuzzy", Column("text"), {"threshold": threshold, "ngram": NGRAM, "unit": "word",
                                                 "device": "cpu", "verify": verify}, df.schema)
    state = DedupState()
    pf = pq.ParquetFile(src)
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    for b in pf.iter_batches(batch_size=batch_rows):
        one = DedupState()
        op.keys(b, one)
        op.merge(state, one)  # as the executor does
    t_keys = time.perf_counter() - t0
    held, keys_peak = tracemalloc.get_traced_memory()
    bands_copy = np.concatenate(state.keys)  # for the edge count below (not traced as the decision's)
    valid_copy = np.concatenate(state.extra)
    store_bytes = state.shingles.total * 4 if state.shingles is not None else 0
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    t0 = time.perf_counter()
    group, is_kept = op.decide(state)
    t_decide = time.perf_counter() - t0
    after, decide_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    left, _ = candidate_pairs(bands_copy, valid=valid_copy)
    edges = len(left)
    del bands_copy, valid_copy, left
    keys_bytes = held  # band hashes + valid flags of every document, held until the decision
    per_doc = {
        "keys held until the decision (band hashes, valid" + (", shingles" if verify else "") + ")":
            keys_bytes / n,
        "decision peak (keys, one band's sort, edges, labels)": (decide_peak - base + keys_bytes) / n,
        "decision output (group, keep mask)": (group.nbytes + is_kept.nbytes) / n,
    }
    batch_working_set = keys_peak - held  # one batch's signatures and shingles: per thread, not per doc
    worst = max(per_doc.values())
    big = 10_000_000
    rss_extra = rss.peak - rss.base
    # what the end-to-end run needed above its start, less what grows with the documents: Arrow
    # and Parquet buffers, batch working sets of the pool's threads, queues between stages
    fixed = max(0.0, rss_extra - worst * n)
    total = rss.base + fixed + worst * big
    estimate = {
        "bytes_per_doc_worst_step": worst,
        "fixed_bytes": fixed,
        "batch_working_set_bytes": batch_working_set,
        "rss_base_bytes": rss.base,
        "estimate_10M_bytes": total,
        "arithmetic": (f"{rss.base / 2**30:.2f} GiB process at start + {fixed / 2**30:.2f} GiB pipeline (not per doc) + "
                       f"{worst:.0f} B/doc x 10M = {total / 2**30:.2f} GiB"),
    }
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "docs": n,
        "verify": verify,
        "shingle_bytes_per_doc": store_bytes / n,
        "input_bytes": text_bytes,
        "docs_per_s": n / wall,
        "wall_s": wall,
        "kept": kept,
        "peak_rss_mb": rss.peak / 2**20,
        "rss_before_mb": rss.base / 2**20,
        "steps_s": {"keys (1 thread)": t_keys, "decision (pairs + components)": t_decide},
        "edges": edges,
        "edges_per_doc": edges / n,
        "bytes_per_doc": per_doc,
        "estimate_10M": estimate,
    }


def fuzzy_ray_vs_local(n: int, threshold: float = 0.8) -> dict[str, object]:
    """The same ``df.dedup.fuzzy`` (ids kept) on the local and the Ray executor, from one Parquet file.

    Ray is started and warmed up on a small run first; best of two interleaved rounds each; the
    kept ids must be identical.
    """
    import tempfile

    import pyarrow.parquet as pq

    import thresher as th

    tmp = Path(tempfile.mkdtemp(prefix="fuzzy-ray-"))
    pq.write_table(planted_short_docs(n), tmp / "docs.parquet", row_group_size=65536)
    q = th.read_parquet(str(tmp / "docs.parquet")).dedup.fuzzy(
        "text", threshold=threshold, ngram=NGRAM, unit="word", device="cpu").select("id")
    q.limit(10).to_pydict(runner="ray")  # start Ray and its workers
    times: dict[str, float] = {"local": float("inf"), "ray": float("inf")}
    kept: dict[str, list[int]] = {}
    stats: dict[str, object] = {}
    for _ in range(2):  # interleaved rounds, best of each (the machine is shared)
        for runner in ("local", "ray"):
            t = time.perf_counter()
            out = q.collect(runner=runner)
            times[runner] = min(times[runner], time.perf_counter() - t)
            kept[runner] = out.to_pydict()["id"]
            if runner == "ray":
                stats = next((dict(s.extra) for s in out.stats().stages.values() if "component_rounds" in s.extra),
                             {})
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    if kept["local"] != kept["ray"]:
        raise AssertionError("the Ray executor kept other rows than the local one")
    return {"docs": n, "local_s": times["local"], "ray_s": times["ray"], "kept": len(kept["local"]),
            "ray_over_local": times["ray"] / times["local"], "ray_stage": stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fuzzy-docs", type=int, default=100_000)
    parser.add_argument("--ray-docs", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "fuzzy_memory.json"))
    args = parser.parse_args()
    result: dict[str, object] = {}
    if args.fuzzy_docs:
        sizes = sorted({max(1, args.fuzzy_docs // 4), args.fuzzy_docs})  # a smaller run shows the scaling
        for size, verify in [(size, False) for size in sizes] + [(args.fuzzy_docs, True)]:
            fz = fuzzy_end_to_end(size, verify=verify)
            steps = fz["steps_s"]
            assert isinstance(steps, dict)
            print(
                f"\nfuzzy dedup{' verify=True' if verify else ''} (DataFrame, local executor, Parquet in and out) "
                f"of {size:,} x 20-word docs: "
                f"{fz['docs_per_s']:,.0f} docs/s, peak RSS {fz['peak_rss_mb']:,.0f} MiB "
                f"(process before: {fz['rss_before_mb']:,.0f} MiB), {fz['kept']:,} kept, "
                f"{fz['edges_per_doc']:.3f} candidate edges/doc"
            )
            print("  steps alone: " + ", ".join(f"{k} {v:.1f}s" for k, v in steps.items()))
            per_doc = fz["bytes_per_doc"]
            assert isinstance(per_doc, dict)
            for k, v in per_doc.items():
                print(f"  {k:<46}{v:>8.1f} B/doc")
            est = fz["estimate_10M"]
            assert isinstance(est, dict)
            print(f"  one batch's keys working set (per thread): {est['batch_working_set_bytes'] / 2**20:.0f} MiB")
            print(f"  10M estimate: {est['arithmetic']}")
            result[f"fuzzy_end_to_end_{size}{'_verify' if verify else ''}"] = fz
    if args.ray_docs:
        rv = fuzzy_ray_vs_local(args.ray_docs)
        print(f"\nfuzzy dedup of {args.ray_docs:,} docs: local {rv['local_s']:.1f}s, Ray {rv['ray_s']:.1f}s "
              f"(Ray/local {rv['ray_over_local']:.2f}x), same {rv['kept']:,} rows kept; Ray stage: {rv['ray_stage']}")
        result["fuzzy_ray_vs_local"] = rv
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out.name}")


if __name__ == "__main__":
    main()
