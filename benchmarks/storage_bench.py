"""Object-store reads: Thresher vs pyarrow.fs directly, against a local S3-compatible server (moto).

Two cases, same work on both sides:

- ``small``: ``small`` objects of ``small_bytes`` random bytes (JPEG-sized) listed and
  downloaded: ``th.from_glob_path`` + ``url.download()`` vs a pyarrow ``FileSelector`` listing
  and 32 threads of ``open_input_stream``.
- ``large``: one Parquet file of ``large_mb`` MiB read whole: ``th.read_parquet(...).to_arrow()``
  vs ``pyarrow.parquet.read_table(..., filesystem=S3FileSystem)``.

The driver starts the server (moto's ``ThreadedMotoServer``, in the driver process, so it serves
every engine alike) and uploads the objects once; each engine opens its client at start-up. The
check, outside the timer: the small objects' count and the digest of their bytes in key order,
and the large table's rows and a digest of its columns sorted by id; both must equal what was
uploaded (``written`` in the output), not just the other engine's. The server is a Python
process on the same machine, so absolute numbers mostly measure it; read the ratios.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from benchmarks.harness import Bench, Engine

_SERVER: list[Any] = []  # the running server of this driver process (stopped at exit or by the next prepare)


def _stop_server() -> None:
    while _SERVER:
        _SERVER.pop().stop()


def _fs(endpoint: str) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(endpoint_override=endpoint.removeprefix("http://"), scheme="http", access_key="testing",
                             secret_key="testing", region="us-east-1", allow_bucket_creation=True)


def _large_table(mb: int) -> pa.Table:
    rng = np.random.default_rng(1)
    rows = mb * (1 << 20) // 40
    return pa.table({"id": np.arange(rows, dtype=np.int64), "x": rng.random(rows), "y": rng.random(rows),
                     "g": rng.integers(0, 1000, rows), "z": rng.random(rows)})


def _digest_small(blobs: list[bytes]) -> str:
    h = hashlib.sha256()
    for b in blobs:
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()[:16]


def _digest_large(t: pa.Table) -> str:
    t = t.sort_by("id")
    h = hashlib.sha256()
    for name in ("id", "x", "y", "g", "z"):
        h.update(name.encode())
        h.update(t.column(name).combine_chunks().to_numpy().astype(np.float64 if name in "xyz" else np.int64).tobytes())
    return h.hexdigest()[:16]


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _stop_server()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _SERVER.append(server)
    atexit.register(_stop_server)
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    fs = _fs(endpoint)
    fs.create_dir("bench")
    rng = np.random.default_rng(0)
    payloads = [rng.integers(0, 256, p["small_bytes"], dtype=np.uint8).tobytes() for _ in range(p["small"])]

    def put(i: int) -> None:
        with fs.open_output_stream(f"bench/img/{i:06d}.jpg") as f:
            f.write(payloads[i])

    with cf.ThreadPoolExecutor(16) as ex:
        list(ex.map(put, range(p["small"])))
    big = _large_table(p["large_mb"])
    pq.write_table(big, "bench/large.parquet", filesystem=fs, row_group_size=1 << 20)
    return {"_endpoint": endpoint, "_small_digest": _digest_small(payloads), "_large_digest": _digest_large(big),
            "_large_rows": big.num_rows}


def _start(p: dict[str, Any]) -> dict[str, Any]:
    return {"p": p, "fs": _fs(p["_endpoint"])}


def _start_thresher(p: dict[str, Any]) -> dict[str, Any]:
    import thresher as th

    s = _start(p)
    s["cfg"] = th.IOConfig(s3=th.S3Config(endpoint_url=p["_endpoint"], key_id="testing", access_key="testing",
                                          region_name="us-east-1"))
    return s


def _run_pyarrow(state: dict[str, Any], case: str) -> Any:
    fs = state["fs"]
    if case == "large":
        return pq.read_table("bench/large.parquet", filesystem=fs)
    infos = fs.get_file_info(pafs.FileSelector("bench/img", recursive=True))
    paths = sorted(i.path for i in infos if i.type == pafs.FileType.File)

    def read(path: str) -> bytes:
        with fs.open_input_stream(path) as f:
            return bytes(f.read())

    with cf.ThreadPoolExecutor(32) as ex:
        return list(ex.map(read, paths))


def _run_thresher(state: dict[str, Any], case: str) -> Any:
    import thresher as th

    cfg = state["cfg"]
    if case == "large":
        return th.read_parquet("s3://bench/large.parquet", io_config=cfg).to_arrow()
    df = th.from_glob_path("s3://bench/img/*.jpg", io_config=cfg).with_columns(
        data=th.col("path").url.download(io_config=cfg))
    t = df.select("path", "data").to_arrow().sort_by("path")
    return [bytes(b) for b in t.column("data").to_pylist()]


def _check(state: dict[str, Any], case: str, out: Any) -> dict[str, Any]:
    p = state["p"]
    if case == "large":
        digest = _digest_large(out)
        return {"rows": out.num_rows, "digest": digest,
                "written": out.num_rows == p["_large_rows"] and digest == p["_large_digest"]}
    digest = _digest_small(out)
    return {"rows": len(out), "digest": digest, "written": digest == p["_small_digest"]}


def _compare(ref: dict[str, Any], other: dict[str, Any]) -> bool:
    return bool(ref == other and other["written"])


BENCH = Bench(
    name="storage",
    title="Object-store reads (local moto S3): Thresher vs pyarrow.fs",
    engines=(
        Engine("pyarrow_fs", _start, _run_pyarrow, _check, requires=("moto",),
               note="FileSelector listing + 32 threads of open_input_stream; pq.read_table"),
        Engine("thresher", _start_thresher, _run_thresher, _check, requires=("thresher", "moto"),
               note="from_glob_path + url.download; read_parquet"),
    ),
    reference="pyarrow_fs",
    baseline="pyarrow_fs",
    units="objects",
    quick={"small": 500, "small_bytes": 30_000, "large_mb": 32, "rounds": 3},
    full={"small": 2000, "small_bytes": 30_000, "large_mb": 64, "rounds": 5},
    prepare=prepare,
    cases=lambda p: ["small", "large"],
    compare=_compare,
    notes="Ratio = pyarrow_fs median / engine median; both must return exactly the uploaded bytes (small) and "
          "table (large). The moto server runs in the driver process and dominates absolute times.",
)
