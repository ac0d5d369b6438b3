"""No batch reaches the driver: a read -> map -> dedup -> write job on Ray receives, through
``ray.get`` in the driver process, under 1% of its input's bytes (metadata only) — issue 18.

``count_driver_bytes`` wraps the ``ray.get`` function of the process, so every caller is seen
(executor, shuffles, dedup, the write's commit records); ``ray.wait`` hands back only refs.
The slow test runs the issue's >= 500 MB job; the fast one the same job over ~24 MB.
The written output is compared with the local executor's (the check must not pass by
dropping work).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher import col

ray = pytest.importorskip("ray")

PAYLOAD = 1024  # random bytes per row: Parquet cannot compress them, so file bytes ~ data bytes


@pytest.fixture(scope="module")
def ray_runtime() -> Any:
    from thresher.engine.ray_runtime import ensure_ray

    return ensure_ray(num_cpus=2)


def make_input(folder: Path, total_bytes: int, files: int) -> tuple[str, int]:
    """Parquet files of about ``total_bytes`` (id, a text key duplicated ~1 in 5, random payload).

    Returns the glob and the bytes on disk.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rows = max(1, total_bytes // (PAYLOAD + 40) // files)
    rng = np.random.default_rng(18)
    for i in range(files):
        ids = np.arange(i * rows, (i + 1) * rows, dtype=np.int64)
        # a key shared by other rows (also across files) for about a fifth of them
        dup = rng.random(rows) < 0.2
        key_num = np.where(dup, rng.integers(0, max(1, rows * files // 10), rows), ids + 10 * rows * files)
        keys = pc.binary_join_element_wise("k-", pa.array(key_num).cast(pa.string()), "")
        offsets = pa.py_buffer((np.arange(rows + 1, dtype=np.int32) * PAYLOAD).tobytes())
        payload = pa.Array.from_buffers(pa.binary(), rows, [None, offsets, pa.py_buffer(rng.bytes(PAYLOAD * rows))])
        pq.write_table(pa.table({"id": ids, "key": keys, "payload": payload}), folder / f"part-{i:03d}.parquet",
                       row_group_size=max(1, rows // 2), compression="none")
    size = sum(os.path.getsize(folder / f) for f in os.listdir(folder))
    return str(folder / "*.parquet"), size


@th.udf(return_dtype="int64", batch=True)
def payload_checksum(a: pa.Array) -> pa.Array:
    """A Python map stage over the payload: its length plus its first byte (vectorised)."""
    first = pc.cast(pc.binary_slice(a, 0, 1), pa.binary())
    return pc.add(pc.cast(pc.binary_length(a), pa.int64()), pc.cast(pc.binary_length(first), pa.int64()))


def job(src: str) -> th.DataFrame:
    return (th.read_parquet(src)
            .with_columns(n=payload_checksum(col("payload")), id2=col("id") * 2)
            .dedup.exact("key"))


def read_back(out: str) -> pa.Table:
    files = sorted(f for f in os.listdir(out) if f.endswith(".parquet"))
    t = pa.concat_tables([pq.read_table(os.path.join(out, f)) for f in files])
    return t.sort_by("id")


def run_and_measure(src: str, input_bytes: int, tmp_path: Path) -> tuple[float, Any]:
    from thresher.engine.ray_runtime import count_driver_bytes

    with count_driver_bytes() as got:
        result = job(src).write_parquet(str(tmp_path / "ray"), runner="ray")
    assert set(result.to_pydict()["status"]) == {"committed"}
    fraction = got.bytes / input_bytes
    print(f"\ndriver received {got.bytes:,} bytes in {got.calls} ray.get calls ({got.objects} objects, "
          f"largest {got.largest:,}) for {input_bytes:,} input bytes: {fraction:.4%}")
    return fraction, got


def check(src: str, input_bytes: int, tmp_path: Path) -> None:
    fraction, got = run_and_measure(src, input_bytes, tmp_path)
    job(src).write_parquet(str(tmp_path / "local"), runner="local")
    ray_out, local_out = read_back(str(tmp_path / "ray")), read_back(str(tmp_path / "local"))
    assert ray_out.num_rows < th.read_parquet(src).count_rows()  # the dedup dropped rows
    assert ray_out.equals(local_out), "the Ray job's output differs from the local executor's"
    assert fraction < 0.01, f"{got} came back to the driver: {fraction:.2%} of the {input_bytes:,}-byte input"


def test_driver_receives_metadata_only(ray_runtime: Any, tmp_path: Path) -> None:
    src, size = make_input(tmp_path / "in", 24 << 20, files=8)
    assert size >= 20 << 20
    check(src, size, tmp_path)


@pytest.mark.slow
def test_driver_receives_metadata_only_500mb(ray_runtime: Any, tmp_path: Path) -> None:
    src, size = make_input(tmp_path / "in", 520 * 10**6, files=24)
    assert size >= 500 * 10**6
    check(src, size, tmp_path)
