"""Fan-out under a budget on the Ray executor: one video-like row becomes 1,000 rows of 64 KiB,
and the bytes in flight in Ray (plus the batches queued on the driver) stay under the bounds
while the output is many times larger."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import thresher as th
from thresher import col

pytest.importorskip("ray")

ROW = 64 * 1024
FAN_OUT = 1000


@th.udf(return_dtype={"frame": "int64", "pixels": "binary"}, batch_size=16)
def decode_frames(video: str):  # type: ignore[no-untyped-def]
    blob = video.encode() * (ROW // len(video))
    for i in range(FAN_OUT):
        yield {"frame": i, "pixels": blob}


@th.udf(return_dtype="int64", batch=True)
def frame_size(a: pa.Array) -> pa.Array:
    return pc.binary_length(a)


def test_fan_out_stays_under_the_in_flight_bound() -> None:
    videos = [f"video{i:04d}" for i in range(4)]
    budget = 16 << 20
    df = (th.from_pydict({"video": videos})
          .flat_map(decode_frames, "video", keep=["video"])
          .with_columns(size=frame_size(col("pixels")))
          .select("video", "frame", "size"))
    rows = 0
    out = df.collect(runner="ray", memory_budget=budget, in_flight_budget=budget)
    rows = out.count_rows()
    assert rows == len(videos) * FAN_OUT
    total = len(videos) * FAN_OUT * (ROW - ROW % 9)
    stats = out.stats()
    assert stats is not None
    in_flight = stats.peak_in_flight_bytes  # type: ignore[attr-defined]
    assert 0 < in_flight <= budget, stats
    assert stats.peak_buffered_bytes <= budget + 16 * ROW, stats
    assert total > 10 * budget
    flat = next(s for s in stats.stages.values() if s.extra.get("peak_in_flight_bytes") and s.rows_out > s.rows_in)
    assert flat.rows_in == len(videos) and flat.rows_out == len(videos) * FAN_OUT
    assert flat.extra["worker_rss_max"] > 0  # worker heap is reported
    assert out.to_pydict()["frame"][:3] == [0, 1, 2]

