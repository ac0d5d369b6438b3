"""read_json reads JSON array files as well as NDJSON (issue 17 item 8), compared with Polars."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import thresher as th
from thresher import col

ROWS = [
    {"id": 1, "name": "ann", "score": 1.5, "tags": ["a", "b"], "pos": {"x": 1, "y": 2}},
    {"id": 2, "name": None, "score": 2.0, "tags": [], "pos": {"x": 3, "y": 4}},
    {"id": 3, "name": "cy", "score": None, "tags": ["c"], "pos": None},
]


def test_json_array_file_matches_polars(tmp_path: Path) -> None:
    # was: pyarrow.json read the array as one row and failed ("JSON parse error ... Expected object")
    p = tmp_path / "rows.json"
    p.write_text(json.dumps(ROWS, indent=2))
    got = th.read_json(str(p)).sort("id").to_pydict()
    want = pl.read_json(p).sort("id").to_dict(as_series=False)
    assert got == want
    assert th.read_json(str(p)).filter(col("score") > 1.6).select("id").to_pydict() == {"id": [2]}


def test_array_and_ndjson_files_in_one_glob(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(ROWS[:2]))
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS[2:]) + "\n")
    got = th.read_json(str(tmp_path / "*")).sort("id").select("id", "name").to_pydict()
    assert got == {"id": [1, 2, 3], "name": ["ann", None, "cy"]}


def test_array_of_non_objects_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "nums.json"
    p.write_text("[1, 2, 3]")
    with pytest.raises(th.ThresherIOError, match="nums.json"):
        th.read_json(str(p)).collect()
