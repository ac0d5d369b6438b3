"""``python -m benchmarks [all | NAME ... | list | docs] [options]``: run benchmarks under one harness.

The rules every benchmark follows are at the top of ``benchmarks/harness.py`` (each engine in its
own process, the same warm-up and interleaved rounds for all, start-up reported apart, caches
reset between rounds, outputs compared before a time counts). Names are the module names without
``_bench.py``; ``all`` runs every benchmark and then regenerates ``docs/benchmarks.md`` from
``benchmarks/results/*.json`` (tables, and the PNG plots copied under ``docs/img/benchmarks/``).
``make bench`` is ``all --full`` (the published sizes, hours on 2 cores); ``make bench
BENCH_SCALE=quick`` is ``all`` at the quick sizes (67 min on a loaded 2-core machine).

Options: ``--full`` (the published sizes; the default is the quick sizes), ``--rounds N``, ``--warmup N``,
``--processes K`` (spread the rounds over K worker processes per engine, every engine's worker
restarted before the same rounds with the same warm-up; default 1, ``tpch_df --full`` 3), ``--set KEY=VALUE``
(a benchmark parameter, repeatable), ``--engines a,b`` (run only these, plus the reference),
``--python ENGINE=PATH`` (run a peer with another interpreter, e.g. a venv with daft; or set
``THRESHER_BENCH_PYTHON_DAFT``), ``--no-docs``. ``docs`` rewrites the page from the JSON files
there are, keeping the tables of the benchmarks that have none.

    python -m benchmarks all
    python -m benchmarks minhash --set docs=5000 --rounds 3
    python -m benchmarks image --python daft=/opt/daft-venv/bin/python
"""

from __future__ import annotations

import argparse
import ast
import os
import shlex
import sys
import time

from benchmarks.harness import HERE, RESULTS, run_bench, write_docs_page


def available() -> list[str]:
    return sorted(p.name[: -len("_bench.py")] for p in HERE.glob("*_bench.py"))


def _value(s: str) -> object:
    try:
        return ast.literal_eval(s)
    except (ValueError, SyntaxError):
        return s


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=["all"])
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--processes", type=int, metavar="K",
                    help="worker processes per engine the rounds are spread over: the rounds are split into K "
                         "consecutive blocks and before each block every engine's worker is restarted and warmed up "
                         "again, the same for all engines; the median is over all rounds, per-process medians are "
                         "in the JSON (default: the benchmark's setting, 1; tpch_df --full: 3)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--engines", default="")
    ap.add_argument("--python", action="append", default=[], metavar="ENGINE=PATH")
    ap.add_argument("--no-docs", action="store_true")
    args = ap.parse_args(argv)
    names = args.names or ["all"]
    if names == ["list"]:
        print("\n".join(available()))
        return 0
    if names == ["docs"]:  # the tables of benchmarks not re-run here stay as they are
        print(f"wrote {write_docs_page(keep_others=True)}")
        return 0
    run_all = names == ["all"]
    if run_all:
        names = available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    overrides = {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
    pythons = dict(s.split("=", 1) for s in args.python)
    only = [e for e in args.engines.split(",") if e] or None
    # the one command that reproduces these results, recorded in each JSON and shown on the docs page
    command = os.environ.get("THRESHER_BENCH_COMMAND") or " ".join(["python -m benchmarks", *map(shlex.quote, argv)])
    failed = []
    if run_all and not args.no_docs:  # the page must come from this run only: no table left from an older one
        for old in RESULTS.glob("*.*"):
            if old.suffix in (".json", ".md", ".png") and old.stem in available():
                old.unlink()
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        t = time.perf_counter()
        try:
            run_bench(name, full=args.full, rounds=args.rounds, warmup=args.warmup, overrides=overrides,
                      pythons=pythons, only=only, command=command, processes=args.processes)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            print(f"{name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed.append(f"{name} ({type(exc).__name__}: {exc})"[:300])
        print(f"({name}: {time.perf_counter() - t:.0f}s)", flush=True)
    if run_all and not args.no_docs:
        print(f"wrote {write_docs_page(failed=failed)}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
