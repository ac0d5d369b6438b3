"""Output a user reads (issue 17 item 9): tab completion, type names and floats in tables, quiet Lance."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

import thresher as th
from thresher.display import table_to_html, table_to_text


def test_lazy_parts_are_in_dir_for_tab_completion() -> None:
    # was: th.functions / th.udf / th.config missing from dir(th)
    names = dir(th)
    assert {"functions", "udf", "config", "col", "read_parquet"} <= set(names)


def test_tables_show_thresher_type_names_and_rounded_floats() -> None:
    t = pa.table({"s": pa.array(["a"], pa.large_string()), "f": [0.1 + 0.2], "big": [1 / 3 * 1e9]})
    h = table_to_html(t)
    assert "<small>string</small>" in h and "large_string" not in h  # was: Arrow's large_string
    assert "0.30000000000000004" not in h and ">0.3<" in h
    text = table_to_text(t)
    assert "0.3 " in text + " " and "3.33333e+08" in text
    emb = th.from_pydict({"e": [[1.0, 2.0]]}, schema={"e": th.DataType.embedding("float32", 2)}).collect()
    assert "embedding[float32, 2]" in emb._repr_html_()


def test_lance_create_prints_no_rust_warning(tmp_path: Path) -> None:
    # was: "[... WARN lance::dataset::write::insert] No existing dataset at ..., it will be created"
    target = str(tmp_path / "x.lance")
    code = f"import thresher as th; th.from_pydict({{'a': [1]}}).write_lance({target!r}, job_id='j')"
    env = {k: v for k, v in os.environ.items() if k != "LANCE_LOG"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env["THRESHER_PROGRESS"] = "0"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "WARN" not in out.stderr
