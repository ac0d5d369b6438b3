"""Object-store reads: Thresher vs pyarrow.fs directly, against a local S3-compatible server (moto).

Two workloads, same work on both sides, outputs compared before a time counts:

- ``small``: N small objects (JPEG-sized) listed and downloaded: ``th.from_glob_path`` +
  ``url.download()`` vs a pyarrow ``FileSelector`` listing and 32 threads of ``open_input_stream``.
- ``large``: one Parquet file read whole: ``th.read_parquet(...).to_arrow()`` vs
  ``pyarrow.parquet.read_table(..., filesystem=S3FileSystem)``.

The server is a Python process on the same machine, so absolute numbers mostly measure it; the
ratios in one run are what to read. Usage::

    python -m benchmarks.storage_bench --small 2000 --large-mb 64 --rounds 3 --out storage_bench.json
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def _best(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--small-bytes", type=int, default=30_000)
    ap.add_argument("--large-mb", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    from moto.server import ThreadedMotoServer

    import thresher as th

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    fs = pafs.S3FileSystem(endpoint_override=f"{host}:{port}", scheme="http", access_key="testing",
                           secret_key="testing", region="us-east-1", allow_bucket_creation=True)
    cfg = th.IOConfig(s3=th.S3Config(endpoint_url=endpoint, key_id="testing", access_key="testing",
                                     region_name="us-east-1"))
    fs.create_dir("bench")
    rng = np.random.default_rng(0)
    payloads = [rng.integers(0, 256, args.small_bytes, dtype=np.uint8).tobytes() for _ in range(args.small)]

    def put(i: int) -> None:
        with fs.open_output_stream(f"bench/img/{i:06d}.jpg") as f:
            f.write(payloads[i])

    with cf.ThreadPoolExecutor(16) as ex:
        list(ex.map(put, range(args.small)))
    rows = args.large_mb * (1 << 20) // 40
    big = pa.table({"id": np.arange(rows, dtype=np.int64), "x": rng.random(rows), "y": rng.random(rows),
                    "g": rng.integers(0, 1000, rows), "z": rng.random(rows)})
    pq.write_table(big, "bench/large.parquet", filesystem=fs, row_group_size=1 << 20)
    size = fs.get_file_info("bench/large.parquet").size

    def small_pyarrow() -> list[bytes]:
        infos = fs.get_file_info(pafs.FileSelector("bench/img", recursive=True))
        paths = sorted(i.path for i in infos if i.type == pafs.FileType.File)

        def read(p: str) -> bytes:
            with fs.open_input_stream(p) as f:
                return bytes(f.read())

        with cf.ThreadPoolExecutor(32) as ex:
            return list(ex.map(read, paths))

    def small_thresher() -> list[bytes]:
        df = th.from_glob_path("s3://bench/img/*.jpg", io_config=cfg).with_columns(
            data=th.col("path").url.download(io_config=cfg))
        return [bytes(b) for b in df.select("data").to_arrow().column("data").to_pylist()]

    def large_pyarrow() -> pa.Table:
        return pq.read_table("bench/large.parquet", filesystem=fs)

    def large_thresher() -> pa.Table:
        return th.read_parquet("s3://bench/large.parquet", io_config=cfg).to_arrow()

    results: dict[str, Any] = {"small_objects": args.small, "small_bytes": args.small_bytes, "large_bytes": size}
    t_pa, out_pa = _best(small_pyarrow, args.rounds)
    t_th, out_th = _best(small_thresher, args.rounds)
    assert out_pa == out_th == payloads, "small objects differ"
    results["small"] = {"pyarrow.fs": t_pa, "thresher": t_th, "thresher_vs_pyarrow": t_pa / t_th}
    t_pa, out_pa = _best(large_pyarrow, args.rounds)
    t_th, out_th = _best(large_thresher, args.rounds)
    assert out_th.sort_by("id").equals(out_pa.cast(out_th.schema).sort_by("id")), "large file differs"
    results["large"] = {"pyarrow.fs": t_pa, "thresher": t_th, "thresher_vs_pyarrow": t_pa / t_th,
                        "thresher_MBps": size / t_th / 1e6}
    try:
        import daft  # noqa: F401
    except ImportError:
        results["daft"] = "not installed in this environment (install it in a separate venv: it pins pyarrow)"
    server.stop()
    print(json.dumps(results, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    os._exit(0)


if __name__ == "__main__":
    main()
