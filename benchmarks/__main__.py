"""``python -m benchmarks [NAME ...] [-- extra args]``: run benchmark scripts, one run each.

Every script runs Thresher and its peers on the same data in one process run, prints a table of
times and Thresher/peer ratios, and writes JSON under ``benchmarks/results/``. Names are the
script names without ``_bench.py`` (``tpch_df``, ``tpch_sql``, ``image``, ``video``, ``audio``,
``minhash``, ``optimizer``, ``map_pipeline``, ``write``, ``prefix_cache``, ``llm_cpu``); ``all``
runs every script with its quick settings.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# quick settings used by `all` so a full sweep fits in a few minutes on 2 cores
QUICK: dict[str, list[str]] = {
    "image": ["--n", "300"],
    "optimizer": ["--n", "2000", "--repeat", "1"],
    "minhash": ["--docs", "20000"],
    "write": ["--rows", "300000", "--repeat", "1"],
    "prefix_cache": ["--prompts", "4000", "--sweep", ""],
}


def available() -> list[str]:
    return sorted(p.name[: -len("_bench.py")] for p in HERE.glob("*_bench.py"))


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    names = argv or ["all"]
    if names == ["list"]:
        print("\n".join(available()))
        return 0
    run_all = names == ["all"]
    if run_all:
        names = available()
    failed = []
    for name in names:
        script = HERE / f"{name}_bench.py"
        if not script.exists():
            print(f"unknown benchmark {name!r}; available: {', '.join(available())}", file=sys.stderr)
            return 2
        args = (QUICK.get(name, []) if run_all else []) + extra
        print(f"\n=== {name} ===", flush=True)
        rc = subprocess.call([sys.executable, str(script), *args], cwd=HERE.parent)
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
