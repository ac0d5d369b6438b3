"""Progress bars per stage (rows out with rows/s, rows in beside them) and ``df.stats()`` per-stage
rows, bytes, wall and busy time, on both executors."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import thresher as th
from thresher import col


@th.udf(return_dtype="int64", batch=True)
def slow_double(a: pa.Array) -> pa.Array:
    import time

    time.sleep(0.01)
    return pc.multiply(a, 2)


def frame() -> th.DataFrame:
    return (th.from_pydict({"x": list(range(2000))}).into_batches(100)
            .with_columns(y=slow_double(col("x"))).filter(col("x") % 4 != 0))


def test_bars_show_rows_in_out_and_rate(runner: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from thresher.engine import progress

    out = io.StringIO()
    real = progress.ProgressReporter.__init__

    def to_buffer(self, plan, stats, enabled=None):  # type: ignore[no-untyped-def]
        import tqdm.auto

        monkeypatch.setattr(tqdm.auto, "tqdm", lambda *a, **k: _Tqdm(*a, file=out, **k))
        real(self, plan, stats, enabled)

    from tqdm import tqdm as _Tqdm

    monkeypatch.setattr(progress.ProgressReporter, "__init__", to_buffer)
    monkeypatch.setattr(progress.ProgressReporter, "refresh", 0.0)
    result = frame().collect(runner=runner, progress=True)
    assert result.count_rows() == 1500
    text = out.getvalue()
    assert "rows/s" in text and "in=" in text, text[-2000:]
    assert "map" in text and "scan" in text  # one bar per stage, named by kind


def test_stats_per_stage(runner: str) -> None:
    result = frame().collect(runner=runner)
    stats = result.stats()
    assert stats is not None and stats.executor == runner
    rows = stats.to_dicts()
    # the filter runs first (pushed down), then the UDF over 1,500 rows in batches of <= 100
    mapped = next(d for d in rows if "slow_double" in d["name"])
    assert (mapped["rows_in"], mapped["rows_out"]) == (1500, 1500)
    assert mapped["bytes_in"] == 1500 * 8 and mapped["bytes_out"] == 1500 * 16
    assert mapped["busy_s"] >= 15 * 0.01 * 0.9  # at least 15 batches sleeping 10 ms each
    assert mapped["wall_s"] > 0
    filtered = next(d for d in rows if d["name"].startswith("Filter"))
    assert (filtered["rows_in"], filtered["rows_out"], filtered["bytes_in"]) == (2000, 1500, 2000 * 8)
    rebatch = next(d for d in rows if d["name"].startswith("IntoBatches"))
    assert rebatch["rows_in"] == rebatch["rows_out"] == 1500
    assert "bytes" in repr(stats) and "busy" in repr(stats)
