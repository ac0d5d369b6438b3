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
