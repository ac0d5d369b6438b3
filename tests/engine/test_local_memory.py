"""The local executor keeps memory bounded: a dataset several times the budget streams through
scan → filter → project → write without the process growing with the data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, resource, sys, time
import thresher as th
from thresher import col
src, out, budget = sys.argv[1], sys.argv[2], sys.argv[3]
th.set_memory_budget(budget)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
df = (th.read_parquet(src)
        .filter(col("c0") > 0.2)
        .with_columns(s=col("c1") + col("c2"), r=col("c3") * 2)
        .select("s", "r", "c4", "c5"))
res = df.write_parquet(out)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
rows = sum(res.to_pydict()["num_rows"])
print(json.dumps({"base": base, "peak": peak, "rows": rows, "seconds": time.perf_counter() - t0}))
"""


def make_dataset(path: Path, files: int, rows_per_file: int) -> int:
    path.mkdir(parents=True, exist_ok=True)
    total = 0
    rng = np.random.default_rng(0)
    for i in range(files):
        f = path / f"part-{i}.parquet"
        if not f.exists():
            cols = {f"c{j}": rng.random(rows_per_file) for j in range(12)}
            pq.write_table(pa.table(cols), f, row_group_size=128 * 1024, compression="none")
        total += f.stat().st_size
    return total


def run_child(src: Path, out: Path, budget: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(src), str(out), budget], capture_output=True, text=True,
                          cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check(tmp_path: Path, files: int, rows_per_file: int, budget: str, budget_bytes: int) -> None:
    src = ROOT / ".data" / f"membound-{files}x{rows_per_file}"
    size = make_dataset(src, files, rows_per_file)
    r = run_child(src, tmp_path / "out", budget)
    growth = r["peak"] - r["base"]
    expected_rows = None  # the filter keeps ~80%
    assert r["rows"] > 0.75 * files * rows_per_file, (r, expected_rows)
    # the bound: the budget for queued batches, plus per-thread working batches and reader
    # buffers (a few row groups), plus writer buffers -- far below the data size
    bound = 2 * budget_bytes + 350 * (1 << 20)
    assert growth < bound, f"RSS grew {growth >> 20} MiB on {size >> 20} MiB of data (bound {bound >> 20} MiB)"
    assert growth < size / 2


def test_memory_bounded_small(tmp_path: Path) -> None:
    # ~500 MB of uncompressed parquet through a 64 MB budget
    check(tmp_path, files=5, rows_per_file=1_000_000, budget="64MB", budget_bytes=64 << 20)


@pytest.mark.slow
def test_memory_bounded_2gb(tmp_path: Path) -> None:
    # ~2 GB of parquet through a 256 MB budget (the foundation issue's acceptance test)
    check(tmp_path, files=20, rows_per_file=1_050_000, budget="256MB", budget_bytes=256 << 20)
