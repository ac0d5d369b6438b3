"""What ``import thresher`` loads: heavy libraries stay out until a job uses them.

Each check runs in a fresh interpreter (this one has imported everything already). PyArrow would
import pandas (~40 MiB) on its first conversion of a Python value; ``thresher._lazy`` answers that
probe "no" while pandas is not imported and tells PyArrow the truth as soon as anything imports
pandas, so pandas behaves exactly as without thresher (checked against a process without it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import thresher
from thresher.planner.optimizer.runner import JOIN_ONLY_RULES

#: libraries `import thresher` must not load (each costs MiBs of RSS or a second of start-up)
HEAVY = ("pandas", "polars", "sqlglot", "pyiceberg", "lance", "ray", "transformers", "torch", "PIL", "fsspec",
         "httpx", "duckdb", "sklearn", "datasketch", "av", "pydantic", "tqdm", "asyncio", "ssl", "pyarrow.fs",
         "pyarrow.dataset", "pyarrow.parquet", "pyarrow.compute")


def _run(code: str) -> str:
    root = str(Path(thresher.__file__).resolve().parents[1])  # this very thresher
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, *(p for p in sys.path if p)])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_import_thresher_loads_no_heavy_library() -> None:
    loaded = json.loads(_run(f"import sys, json, thresher\nprint(json.dumps([m for m in {HEAVY!r} "
                             "if m in sys.modules]))"))
    assert loaded == [], f"`import thresher` loads {loaded}: import them where they are used"


def test_typed_conversions_do_not_import_pandas() -> None:
    # (inferring the type of a Python list still does: PyArrow's C++ inference looks for pandas.NA
    # once per process, and that probe is left alone, or pandas values would never convert)
    code = ("import sys, numpy as np, pyarrow as pa, pyarrow.compute as pc, thresher as th\n"
            "t = th.from_arrow(pa.table({'x': np.arange(5)})).to_arrow()\n"
            "a = pa.array(np.arange(3)); pa.array(['a'], pa.string()); pa.scalar(1.5, pa.float64())\n"
            "assert pc.sum(a).as_py() == 3 and t.num_rows == 5\n"
            "print('pandas' in sys.modules)")
    assert _run(code) == "False"


# pandas values that PyArrow converts through its pandas integration (type inference from a list
# meets pandas.NA/NaT/DateOffset; a Series goes through the array path; from_pandas through compat)
_PANDAS_CASES = """
import json, sys
import numpy as np, pyarrow as pa
PRE
import pandas as pd
cases = {
    "na": lambda: pa.array([pd.NA, 1]),
    "nat": lambda: pa.array([pd.NaT, pd.Timestamp("2020-01-01")]),
    "object_series": lambda: pa.array(pd.Series([1, None, pd.NA], dtype=object)),
    "categorical": lambda: pa.array(pd.Series(pd.Categorical(["a", "b", "a"]))),
    "nullable_int": lambda: pa.array(pd.Series([1, None], dtype="Int64")),
    "tz_series": lambda: pa.array(pd.Series(pd.to_datetime(["2020-01-01"]).tz_localize("Europe/Paris"))),
    "offset": lambda: pa.array([pd.DateOffset(months=1)]),
    "scalar_na": lambda: pa.scalar(pd.NA),
    "table": lambda: pa.Table.from_pandas(pd.DataFrame({"a": [1, None], "c": pd.Categorical(["x", "y"])})),
    "nan_from_pandas": lambda: pa.array(np.array([np.nan, 1.0]), from_pandas=True),
    "to_pandas": lambda: pa.table({"a": [1, 2]}).to_pandas().dtypes.astype(str).to_dict(),
}
out = {}
for name, f in cases.items():
    try:
        r = f()
        if isinstance(r, pa.Table):
            out[name] = f"{r.schema} {r.to_pylist()}"
        elif isinstance(r, (pa.Array, pa.Scalar)):
            out[name] = f"{r.type} {r.to_pylist() if isinstance(r, pa.Array) else r.as_py()}"
        else:
            out[name] = str(r)
    except Exception as e:
        out[name] = "error " + type(e).__name__
print(json.dumps(out, sort_keys=True))
"""


@pytest.mark.parametrize("before", ["frame", "array"])
def test_pandas_after_thresher_converts_as_without_it(before: str) -> None:
    pytest.importorskip("pandas")
    # thresher imported and used (PyArrow's probe answered) before pandas is imported
    use = {"frame": "th.from_arrow(pa.table({'x': np.arange(3)})).to_arrow()",
           "array": "pa.array(np.arange(3)); pa.array(['a'], pa.string())"}[before]
    pre = f"import thresher as th\n{use}\nassert 'pandas' not in sys.modules"
    got = json.loads(_run(_PANDAS_CASES.replace("PRE", pre)))
    want = json.loads(_run(_PANDAS_CASES.replace("PRE", "")))
    assert got == want
    # the cases that need PyArrow's pandas integration convert in the reference
    assert not [k for k in ("categorical", "nullable_int", "object_series", "offset", "tz_series", "to_pandas")
                if want[k].startswith("error")], want


def test_pandas_imported_first_is_left_alone() -> None:
    pytest.importorskip("pandas")
    code = ("import sys, pandas as pd, pyarrow as pa, thresher\n"
            "assert not any(type(f).__name__ == '_PandasWatch' for f in sys.meta_path)\n"
            "print(pa.array(pd.Series(pd.Categorical(['a']))).type)")
    assert _run(code).startswith("dictionary")


#: what a local video job (glob -> download -> video.frames -> explode) must still not load: the
#: hand-written PyAV loop it is measured against loads none of them (hashlib loads OpenSSL, ~3.5 MiB;
#: pyarrow.compute ~9 MiB, its function registry included; numpy.ma ~1 MiB, on ``pa.array(ndarray)``)
VIDEO_JOB_HEAVY = ("pandas", "polars", "sqlglot", "PIL", "fsspec", "asyncio", "ssl", "hashlib", "_hashlib",
                   "pyarrow.fs", "pyarrow.dataset", "pyarrow.parquet", "pyarrow.compute", "pyarrow._compute",
                   "numpy.ma", "thresher.engine.checkpoint", "difflib",
                   # no join in the plan: no join rules; no relational stage: no Polars lowering
                   *(f"thresher.planner.optimizer.rules.{r}" for r in sorted(JOIN_ONLY_RULES)),
                   "thresher.planner.polars_plan", "thresher.planner.distributions", "thresher.planner.stats")


def test_local_video_job_loads_no_heavy_library(tmp_path: Path) -> None:
    pytest.importorskip("av")
    from thresher.testing.media import write_videos

    write_videos(tmp_path, 2, seconds=2.0, width=64, height=48)
    code = ("import sys, json, os, thresher as th\n"
            f"df = th.from_glob_path(os.path.join({str(tmp_path)!r}, '*.mp4')).select('path', th.col('path')"
            ".url.download().video.frames(every_seconds=1, width=16, height=16).alias('f')).explode('f')\n"
            "n = sum(b.num_rows for b in df.iter_batches())\n"
            f"print(json.dumps([n, [m for m in {VIDEO_JOB_HEAVY!r} if m in sys.modules]]))")
    n, loaded = json.loads(_run(code))
    assert n == 4  # two frames from each of the two videos: the job ran
    assert loaded == [], f"a local video job loads {loaded}: import them where they are used"


def test_mimalloc_huge_pages_off_unless_asked() -> None:
    # set before PyArrow loads libarrow (mimalloc reads it then); a user's own setting wins
    code = "import os, thresher\nprint(os.environ.get('MIMALLOC_ALLOW_THP'))"
    env_before = os.environ.pop("MIMALLOC_ALLOW_THP", None)
    try:
        assert _run(code) == "0"
        os.environ["MIMALLOC_ALLOW_THP"] = "1"
        assert _run(code) == "1"
    finally:
        os.environ.pop("MIMALLOC_ALLOW_THP", None)
        if env_before is not None:
            os.environ["MIMALLOC_ALLOW_THP"] = env_before


_ARENAS = """
import ctypes, os, sys, threading
PRE
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
n = 6 * (os.cpu_count() or 1) + 2
barrier = threading.Barrier(n)
def work():
    libc.malloc(4096)  # this thread's own arena, if glibc gives it one
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(n)]
for t in threads: t.start()
for t in threads: t.join()
libc.malloc_stats()  # one 'Arena N:' block per arena, on stderr
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc arenas")
@pytest.mark.parametrize("user_setting", [None, "64"])
def test_malloc_arenas_capped_unless_asked(user_setting: str | None) -> None:
    root = str(Path(thresher.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    env["PYTHONPATH"] = os.pathsep.join([root, *(p for p in sys.path if p)])
    if user_setting is not None:
        env["MALLOC_ARENA_MAX"] = user_setting

    def arenas(pre: str) -> int:
        out = subprocess.run([sys.executable, "-c", _ARENAS.replace("PRE", pre)], capture_output=True, text=True,
                             env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        if "Arena 0:" not in out.stderr:
            pytest.skip("not glibc's malloc")
        return out.stderr.count("Arena ")

    cap = 2 * (os.cpu_count() or 1)
    without = arenas("")
    with_thresher = arenas("import thresher")
    assert without > cap  # the threads do spread over more arenas than the cap by default
    if user_setting is None:
        assert with_thresher <= cap
    else:
        assert with_thresher > cap  # the user's own setting wins
