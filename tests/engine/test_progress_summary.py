"""Progress (issue 17 item 10): an overall bar with a total from scan metadata, stage bars below,
labels cut at token boundaries, and one summary line that stays when the bars go."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher.engine.progress import cut_label as _cut


def test_overall_total_and_summary_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        pq.write_table(pa.table({"x": list(range(i * 1000, i * 1000 + 1000))}), tmp_path / f"f{i}.parquet",
                       row_group_size=100)
    df = th.read_parquet(str(tmp_path / "*.parquet")).with_columns(y=th.col("x") * 2)
    assert df.collect(progress=True).height == 3000
    err = capsys.readouterr().err
    assert "/3000" in err  # was: no total (and so no ETA) on any bar
    last = [line for line in err.replace("\r", "\n").splitlines() if line.strip()][-1]
    assert last.startswith("thresher: 3,000 rows read -> 3,000 rows out in ")  # was: everything vanished


def test_stage_labels_are_cut_between_tokens() -> None:
    label = 'Project [col("path"), col("size"), col("modified"), col("path").url.download()]'
    cut = _cut(label, 40)
    assert len(cut) <= 40 and cut.endswith("…")
    assert cut[:-1] in label and not cut[:-1].endswith(("co", "col(", '"pa'))
    df = th.from_pydict({"path": ["a"], "size": [1], "modified": [2]}).with_columns(n=th.col("path").str.len_bytes())
    df.collect()
    names = [st.name for st in df.stats().stages.values()]
    assert all(len(n) <= 60 for n in names)  # was: cut at 60 characters, mid-name
    assert all(n.endswith(("…", "]", ")")) or "[" not in n for n in names), names


def test_a_stage_read_twice_counts_its_rows_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was (make demo): "Scan json ... 0 -> 1,600 rows" for an 800-row file, because the dedup
    # reads its input a second time to filter it; and the overall bar ran to 1,600/800
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(f'{{"id": {i}, "text": "doc {i % 30}"}}\n' for i in range(80)))
    df = th.read_json(str(path)).dedup.exact("text")
    assert df.collect(progress=True).height == 30
    scan = next(d for d in df.stats().to_dicts() if d["name"].startswith("Scan"))
    assert scan["rows_out"] == 80, scan
    assert (scan["passes"], scan["reread_rows"]) == (2, 80)  # the second pass is shown, not added
    assert "read 2 times" in repr(df.stats())
    last = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line.strip()][-1]
    assert last.startswith("thresher: 80 rows read -> 30 rows out in "), last


def test_a_cut_after_a_whole_argument_says_so() -> None:
    label = 'Dedup fuzzy(col("text"), ngram=3, num_perm=128, seed=1, bands=16, threshold=0.7)'
    assert _cut(label, 60) == 'Dedup fuzzy(col("text"), ngram=3, num_perm=128, seed=1, …'
