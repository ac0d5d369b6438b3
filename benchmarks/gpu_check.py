"""The first GPU session's checklist in one command (installs nothing): ``python -m benchmarks.gpu_check``.

1. ``pytest -m gpu tests/gpu``: real CuPy fuzzy dedup against the CPU kernels, transformers
   on CUDA against CPU, vLLM generation and embeddings (``runner="pooling"``).
2. vLLM prompt throughput on one GPU with a random-weight model built offline
   (:func:`thresher.udfs.ai.testing.tiny_causal_lm_dir`): the same token-id prompts (shared
   prefixes) submitted in three orders - ``naive`` (arrival order), ``sorted`` (global sort by
   prefix) and ``bucketed`` (:func:`thresher.udfs.ai.scheduling.schedule_prompts`) - with the
   KV cache capped (``num_gpu_blocks_override``) so that order matters; prefix-cache hit rate
   from vLLM's own counters (``vllm:prefix_cache_hits`` / ``vllm:prefix_cache_queries``), the
   prefix cache reset between orders, the outputs compared (greedy: the same answers per prompt).
3. The ``vllm`` provider's two ways of running routed prompts on that engine: batch by batch
   (``LLM.generate`` calls of ``step_prompts``) and step by step (``VLLMProvider.stepper()``: the
   router asked after every engine step for exactly the freed slots), the same prompts submitted
   as 512-prompt calls from 4 threads: prompts/s each and whether the answers are the same.
4. GPU (CuPy) fuzzy dedup vs the CPU kernels on ``--docs`` short documents (1M by default):
   seconds each and whether the groups are identical.

Prints one table; exits 0 with "no GPU" (and what it found instead) where there is none, as on the
CPU-only machines; a step whose library is not installed is a ``skip`` row; exits 1 if a check
ran and failed. Budget: about 5 minutes on one modern GPU (``--quick`` for less).

Setup (once, its own environment: vLLM pins its own torch): see ``docs/guide/gpu.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def has_gpu() -> bool:
    """A CUDA device visible to torch or CuPy (whichever is installed)."""
    try:
        import torch

        if torch.cuda.is_available():
            return True
    except ImportError:
        pass
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount()) > 0
    except Exception:  # noqa: BLE001
        return False


def found() -> str:
    """What this environment has of the GPU stack (for the "no GPU" line and the table's header)."""
    import importlib.util

    parts = []
    try:
        import torch

        parts.append(f"torch {torch.__version__} ({'CUDA ' + str(torch.version.cuda) if torch.version.cuda else 'CPU build'}"
                     f", {torch.cuda.device_count() if torch.version.cuda else 0} CUDA devices)")
    except ImportError:
        parts.append("torch: not installed")
    for mod in ("cupy", "vllm"):
        parts.append(f"{mod}: {'installed' if importlib.util.find_spec(mod) is not None else 'not installed'}")
    return "; ".join(parts)


def _missing(*mods: str) -> str | None:
    import importlib.util

    gone = [m for m in mods if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(gone)} (see docs/guide/gpu.md)" if gone else None


def run_gpu_tests() -> dict[str, Any]:
    t = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "python"), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-n", "0", "-rs", "tests/gpu"],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    tail = (p.stdout.strip().splitlines() or ["no output"])[-1]
    return {"check": "pytest -m gpu tests/gpu", "ok": p.returncode == 0, "detail": tail,
            "seconds": time.perf_counter() - t, "output": p.stdout[-4000:]}


def _prompts(n: int, prefixes: int, prefix_tokens: int, unique_tokens: int, vocab: int, seed: int = 0
             ) -> tuple[list[list[int]], list[int]]:
    rng = np.random.default_rng(seed)
    heads = [rng.integers(10, vocab, prefix_tokens).tolist() for _ in range(prefixes)]
    which = rng.zipf(1.3, n) % prefixes  # skewed: a few prefixes are common, many are rare
    return [heads[w] + rng.integers(10, vocab, unique_tokens).tolist() for w in which], which.tolist()


def _counter(llm: Any, name: str) -> float | None:
    try:
        return float(sum(getattr(m, "value", 0) or 0 for m in llm.get_metrics() if m.name == name))
    except Exception:  # noqa: BLE001 - older vLLM: no metrics API
        return None


def vllm_orders(args: argparse.Namespace) -> list[dict[str, Any]]:
    if (why := _missing("vllm")) is not None:
        return [{"check": "vLLM prompt orders", "ok": None, "detail": why}]
    from vllm import LLM, SamplingParams

    from thresher.udfs.ai.scheduling import schedule_prompts
    from thresher.udfs.ai.testing import tiny_causal_lm_dir

    model = tiny_causal_lm_dir()
    t0 = time.perf_counter()
    llm = LLM(model=model, dtype="float32", enable_prefix_caching=True, max_num_seqs=args.max_num_seqs,
              max_model_len=2048, num_gpu_blocks_override=args.kv_blocks, gpu_memory_utilization=0.5,
              disable_log_stats=False, enforce_eager=True)
    load_s = time.perf_counter() - t0
    vocab = 1000
    prompts, which = _prompts(args.prompts, args.prefixes, args.prefix_tokens, 32, vocab)
    parts = [list(enumerate(prompts))[i : i + 512] for i in range(0, len(prompts), 512)]
    orders = {
        "naive": list(range(len(prompts))),
        "sorted": sorted(range(len(prompts)), key=lambda i: which[i]),
        "bucketed": schedule_prompts(parts, replicas=1, policy="bucketed")[0],
    }
    sp = SamplingParams(max_tokens=args.new_tokens, temperature=0.0, ignore_eos=True)
    llm.generate([{"prompt_token_ids": p} for p in prompts[:64]], sp, use_tqdm=False)  # warm-up
    rows, answers = [], {}
    for name, order in orders.items():
        assert sorted(order) == list(range(len(prompts))), name
        llm.reset_prefix_cache()
        q0, h0 = _counter(llm, "vllm:prefix_cache_queries"), _counter(llm, "vllm:prefix_cache_hits")
        t = time.perf_counter()
        outs = llm.generate([{"prompt_token_ids": prompts[i]} for i in order], sp, use_tqdm=False)
        secs = time.perf_counter() - t
        q1, h1 = _counter(llm, "vllm:prefix_cache_queries"), _counter(llm, "vllm:prefix_cache_hits")
        hit = (h1 - h0) / (q1 - q0) if None not in (q0, q1, h0, h1) and q1 != q0 else None  # type: ignore[operator]
        answers[name] = {i: list(o.outputs[0].token_ids) for i, o in zip(order, outs)}
        rows.append({"check": f"vLLM {name} order", "ok": True, "prompts_per_s": len(prompts) / secs,
                     "hit_rate": hit, "seconds": secs, "load_s": load_s})
    same = all(answers[k] == answers["naive"] for k in answers)
    base = rows[0]["prompts_per_s"]
    for r in rows:
        r["vs_naive"] = r["prompts_per_s"] / base
        r["detail"] = (f"{r['prompts_per_s']:.0f} prompts/s, {r['vs_naive']:.2f}x naive, hit rate "
                       + (f"{r['hit_rate']:.3f}" if r["hit_rate"] is not None else "n/a (no metrics API)")
                       + ("" if same else "; ANSWERS DIFFER between orders"))
        r["ok"] = same
    return rows


def vllm_stepped(args: argparse.Namespace) -> list[dict[str, Any]]:
    if (why := _missing("vllm")) is not None:
        return [{"check": "vLLM provider stepped", "ok": None, "detail": why}]
    import threading

    from thresher.udfs.ai.providers import GenerationParams
    from thresher.udfs.ai.providers.vllm import VLLMProvider
    from thresher.udfs.ai.routing import PromptRouter, ReplicaSlots, run_routed
    from thresher.udfs.ai.testing import tiny_causal_lm_dir

    provider = VLLMProvider(tiny_causal_lm_dir(), dtype="float32", max_num_seqs=args.max_num_seqs, max_model_len=2048,
                            num_gpu_blocks_override=args.kv_blocks, gpu_memory_utilization=0.3, enforce_eager=True)
    provider.load()
    if provider.stepper() is None:
        return [{"check": "vLLM provider stepped", "ok": None, "detail": "this vLLM has no engine-level API"}]
    params = GenerationParams(max_new_tokens=args.new_tokens, temperature=0.0)
    prompts, _ = _prompts(args.prompts, args.prefixes, args.prefix_tokens, 32, 1000, seed=1)
    calls = [prompts[i : i + 512] for i in range(0, len(prompts), 512)]

    def run(stepped: bool) -> tuple[list[Any], float]:
        router = PromptRouter()
        slots = ReplicaSlots([provider], [router.register()])
        steppers: dict[int, Any] = {}

        def stepper(e: Any) -> Any:
            return steppers.setdefault(id(e), e.stepper(params)) if stepped else None

        out: list[Any] = [None] * len(calls)
        todo = iter(range(len(calls)))
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                out[i] = run_routed(router, f"c{i}", calls[i], slots.acquire, slots.release,
                                    lambda e, ts: e.complete_ids(ts, params), provider.step_prompts,
                                    stepper=stepper, hand_over=True)

        if hasattr(provider._llm, "reset_prefix_cache"):
            provider._llm.reset_prefix_cache()
        t = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return out, time.perf_counter() - t

    run(True)  # warm-up (both paths share the engine)
    rows, answers = [], {}
    for name, stepped in (("batch by batch", False), ("stepped", True), ("batch by batch", False), ("stepped", True)):
        got, secs = run(stepped)
        answers.setdefault(name, got)
        rows.append((name, len(prompts) / secs))
    rate = {n: float(np.median([r for k, r in rows if k == n])) for n in ("batch by batch", "stepped")}
    same = answers["stepped"] == answers["batch by batch"]
    errors = sum(not isinstance(a, str) for c in answers["stepped"] for a in c)
    return [{"check": f"vLLM provider {n}", "ok": same and errors == 0, "prompts_per_s": rate[n],
             "detail": f"{rate[n]:.0f} prompts/s, {rate[n] / rate['batch by batch']:.2f}x batch by batch"
             + ("" if same else "; ANSWERS DIFFER") + (f"; {errors} failed prompts" if errors else "")}
            for n in rate]


def _sync(xp: Any) -> None:
    sync = getattr(getattr(xp.cuda, "runtime", None), "deviceSynchronize", None)
    if sync is not None:
        sync()


def gpu_dedup_vs_cpu(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The kernels on one array of ``--docs`` documents (phase by phase), then the DataFrame path."""
    from benchmarks.fuzzy_memory import planted_short_docs
    from thresher.operators.kernels import gpu_dedup
    from thresher.operators.kernels.lsh import fuzzy_duplicates, resolve_bands_rows
    from thresher.operators.kernels.minhash import MAX_HASH, shingle_hashes

    if (why := _missing("cupy")) is not None:
        return [{"check": "GPU fuzzy dedup", "ok": None, "detail": why}]
    if not gpu_dedup.gpu_available():
        return [{"check": "GPU fuzzy dedup", "ok": False, "detail": "cupy installed but no device visible to it"}]
    table = planted_short_docs(args.docs)
    texts = table.column("text")
    gpu_dedup.fuzzy_duplicates_gpu(texts.slice(0, 1000), 0.8, 128, 3, "word")  # warm-up (kernels, pools)
    fuzzy_duplicates(texts.slice(0, 1000), 0.8, 128, 3, "word")  # the same for the CPU side
    # every core on both sides (num_threads=None), interleaved, best of two
    t_gpu, t_cpu = [], []
    for side in ("gpu", "cpu", "cpu", "gpu"):
        t = time.perf_counter()
        if side == "gpu":
            g = gpu_dedup.fuzzy_duplicates_gpu(texts, 0.8, 128, 3, "word", num_threads=None)
            t_gpu.append(time.perf_counter() - t)
        else:
            c = fuzzy_duplicates(texts, 0.8, 128, 3, "word", num_threads=None)
            t_cpu.append(time.perf_counter() - t)
    same = bool(np.array_equal(g[0], c[0]) and np.array_equal(g[1], c[1]))
    # the GPU path's phases, each synchronized: where its time goes
    xp = gpu_dedup.backend()
    bands, rows = resolve_bands_rows(0.8, 128, None, None, (0.5, 0.5))
    phases: dict[str, float] = {}
    t = time.perf_counter()
    shingle_hashes(texts, 3, "word", "poly64")
    phases["host shingling, one thread, one piece"] = time.perf_counter() - t
    t = time.perf_counter()
    sig = gpu_dedup.signatures_device(texts, 128, 3, "word", 1, num_threads=None)
    _sync(xp)
    phases["signatures (incl. shingling)"] = time.perf_counter() - t
    t = time.perf_counter()
    bh = gpu_dedup.band_hashes_device(sig, bands, rows)
    valid = xp.asnumpy(~(sig == MAX_HASH).all(axis=1))
    _sync(xp)
    phases["band hashes"] = time.perf_counter() - t
    t = time.perf_counter()
    left, right = gpu_dedup.candidate_pairs_device(bh, np.asarray(valid, dtype=bool))
    _sync(xp)
    phases["candidate pairs"] = time.perf_counter() - t
    t = time.perf_counter()
    gpu_dedup.connected_components_device(left, right, len(texts))
    _sync(xp)
    phases["components"] = time.perf_counter() - t
    tg, tc = min(t_gpu), min(t_cpu)
    rows_out = [{"check": f"GPU fuzzy dedup kernels, {args.docs:,} docs", "ok": same, "gpu_s": t_gpu, "cpu_s": t_cpu,
                 "phases_s": phases,
                 "detail": f"GPU path {tg:.2f}s vs CPU kernels {tc:.2f}s ({tc / tg:.1f}x; {os.cpu_count()} threads "
                           "each, best of 2 interleaved), "
                           f"groups identical: {same}, {int((~c[1]).sum()):,} dropped, auto verified: "
                           f"{gpu_dedup.gpu_path_verified()}; phases: "
                           + ", ".join(f"{k} {v:.2f}s" for k, v in phases.items())}]
    rows_out.append(_dataframe_dedup(table))
    return rows_out


def _dataframe_dedup(table: Any) -> dict[str, Any]:
    """``df.dedup.fuzzy`` on the local executor, device="gpu" against device="cpu": the user's path."""
    if (why := _missing("polars")) is not None:
        return {"check": "df.dedup.fuzzy gpu vs cpu", "ok": None, "detail": why}
    import thresher as th

    def run(device: str, tbl: Any) -> tuple[Any, float]:
        df = th.from_arrow(tbl).into_batches(65536)
        t = time.perf_counter()
        out = df.dedup.fuzzy("text", ngram=3, unit="word", device=device, return_groups=True, id_column="id")
        res = out.to_arrow().sort_by("id")
        return res, time.perf_counter() - t

    run("gpu", table.slice(0, 2000))
    run("cpu", table.slice(0, 2000))
    times: dict[str, list[float]] = {"gpu": [], "cpu": []}
    results = {}
    for device in ("gpu", "cpu", "cpu", "gpu"):  # interleaved, each twice
        results[device], dt = run(device, table)
        times[device].append(dt)
    same = results["gpu"].equals(results["cpu"])
    g, c = min(times["gpu"]), min(times["cpu"])
    return {"check": f"df.dedup.fuzzy, {table.num_rows:,} docs", "ok": same, "gpu_s": times["gpu"],
            "cpu_s": times["cpu"],
            "detail": f"device='gpu' {g:.2f}s vs device='cpu' {c:.2f}s ({c / g:.1f}x; best of 2 interleaved, "
                      f"{os.cpu_count()} cores), results identical: {same}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    ap.add_argument("--prompts", type=int, default=8000)
    ap.add_argument("--prefixes", type=int, default=256)
    ap.add_argument("--prefix-tokens", type=int, default=256)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--max-num-seqs", type=int, default=128)
    ap.add_argument("--kv-blocks", type=int, default=4096, help="KV cache blocks (16 tokens) so that order matters")
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--skip", default="", help="comma-separated: tests,vllm,stepped,dedup")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gpu_check.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.prompts, args.docs = 2000, 100_000
    if not has_gpu():
        print(f"no GPU: nothing to check here ({found()}). Run it on a machine with a CUDA device, from the "
              "GPU environment described in docs/guide/gpu.md.")
        return 0
    print(f"GPU stack: {found()}", flush=True)
    skip = set(filter(None, args.skip.split(",")))
    rows: list[dict[str, Any]] = []
    steps = [("tests", lambda: [run_gpu_tests()]), ("vllm", lambda: vllm_orders(args)),
             ("stepped", lambda: vllm_stepped(args)), ("dedup", lambda: gpu_dedup_vs_cpu(args))]
    for key, fn in steps:
        if key in skip:
            continue
        try:
            rows += fn()
        except Exception as exc:  # noqa: BLE001 - one failing check must not hide the others
            rows.append({"check": key, "ok": False, "detail": f"{type(exc).__name__}: {exc}"[:300]})
    print(f"\n{'check':<42}{'ok':<5}detail")
    for r in rows:
        ok = "skip" if r["ok"] is None else "yes" if r["ok"] else "NO"
        print(f"{r['check']:<42}{ok:<5}{r.get('detail', '')}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2, default=str))
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
