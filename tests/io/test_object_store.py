"""Every reader and writer against a real S3-compatible server (moto, see conftest), with an explicit
io_config; results compared with pyarrow reading the same objects directly."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher.errors import ThresherIOError


def _pafs(server):
    return pafs.S3FileSystem(endpoint_override=server.endpoint.split("://")[1], scheme="http",
                             access_key="testing", secret_key="testing", region="us-east-1")


def _table(n: int = 50) -> pa.Table:
    return pa.table({"id": pa.array(range(n), pa.int64()), "k": pa.array([i % 3 for i in range(n)], pa.int64()),
                     "s": pa.array([f"v{i}" for i in range(n)], pa.large_string())})


def test_io_config_pickles_and_session_default(s3):
    server, bucket, cfg = s3
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    pq.write_table(_table(), f"{bucket}/t.parquet", filesystem=_pafs(server))
    th.set_io_config(cfg)
    try:
        df = th.read_parquet(f"s3://{bucket}/t.parquet")  # no io_config: the session default
    finally:
        th.set_io_config()
    # captured when the plan was built: still reads after the default is reset
    assert df.to_arrow().num_rows == 50
    src = pickle.loads(pickle.dumps(df.plan.source))
    assert src.io_config == cfg


def test_parquet_dataset_roundtrip(s3):
    server, bucket, cfg = s3
    t = _table()
    out = f"s3://{bucket}/ds"
    res = th.from_arrow(t).write_parquet(out, partition_by=["k"], io_config=cfg, job_id="j1").to_pydict()
    assert set(res["status"]) == {"committed"}
    # pyarrow reading the bucket directly sees exactly the committed rows
    direct = pq.read_table(f"{bucket}/ds", filesystem=_pafs(server), partitioning="hive")
    assert sorted(direct.column("id").to_pylist()) == list(range(50))
    back = th.read_parquet(out, io_config=cfg).to_arrow()
    assert sorted(back.column("id").to_pylist()) == list(range(50))
    assert sorted(th.read_parquet(f"{out}/**/*.parquet", io_config=cfg).to_arrow().column("id").to_pylist()) \
        == list(range(50))
    # a re-run of the job commits nothing twice
    again = th.from_arrow(t).write_parquet(out, partition_by=["k"], io_config=cfg, job_id="j1").to_pydict()
    assert "committed" not in set(again["status"])
    assert th.read_parquet(out, io_config=cfg).to_arrow().num_rows == 50
    # nothing staged is left, job records live next to the data
    keys = [i.path for i in _pafs(server).get_file_info(pafs.FileSelector(f"{bucket}/ds", recursive=True))
            if i.type == pafs.FileType.File]
    assert not [k for k in keys if "/_staging/" in k]
    assert [k for k in keys if "/_thresher/checkpoints/" in k]


def test_single_file_and_empty_frame(s3, tmp_path):
    _, bucket, cfg = s3
    t = _table(7)
    for target in (f"s3://{bucket}/one.parquet", str(tmp_path / "one.parquet")):
        th.from_arrow(t).write_parquet(target, io_config=cfg)
        assert th.read_parquet(target, io_config=cfg).to_arrow().sort_by("id").equals(t)
    empty = th.from_arrow(t).filter(th.col("id") < 0)
    for target in (f"s3://{bucket}/empty.parquet", str(tmp_path / "empty.parquet"), f"s3://{bucket}/emptyds"):
        empty.write_parquet(target, io_config=cfg)
        back = th.read_parquet(target, io_config=cfg).to_arrow()
        assert back.num_rows == 0 and back.schema.names == ["id", "k", "s"]


def test_csv_json_roundtrip(s3):
    _, bucket, cfg = s3
    t = _table(20)
    th.from_arrow(t).write_csv(f"s3://{bucket}/csv", io_config=cfg)
    th.from_arrow(t).write_json(f"s3://{bucket}/json", io_config=cfg)
    got_csv = th.read_csv(f"s3://{bucket}/csv", io_config=cfg).sort("id").to_pydict()
    got_json = th.read_json(f"s3://{bucket}/json/*.json", io_config=cfg).sort("id").to_pydict()
    assert got_csv["id"] == got_json["id"] == list(range(20))
    assert got_csv["s"] == got_json["s"] == [f"v{i}" for i in range(20)]


def test_glob_and_download(s3):
    server, bucket, cfg = s3
    fs = _pafs(server)
    for i in range(5):
        with fs.open_output_stream(f"{bucket}/img/{i}.bin") as f:
            f.write(bytes([i]) * (i + 1))
    with fs.open_output_stream(f"{bucket}/img/sub/x.txt") as f:
        f.write(b"no")
    df = th.from_glob_path(f"s3://{bucket}/img/*.bin", io_config=cfg)
    d = df.with_columns(data=th.col("path").url.download(io_config=cfg)).to_pydict()
    assert d["path"] == [f"s3://{bucket}/img/{i}.bin" for i in range(5)]
    assert d["size"] == [1, 2, 3, 4, 5]
    assert [bytes(b) for b in d["data"]] == [bytes([i]) * (i + 1) for i in range(5)]
    assert len(th.from_glob_path(f"s3://{bucket}/img/**", io_config=cfg).to_pydict()["path"]) == 6
    missing = th.from_pydict({"u": [f"s3://{bucket}/img/nope.bin"]}).with_columns(
        d=th.col("u").url.download(io_config=cfg)).to_pydict()
    assert missing["d"] == [None]


def test_filtered_read_fetches_only_needed_row_groups(s3):
    server, bucket, cfg = s3
    n, rg = 40_000, 4_000
    t = pa.table({"id": pa.array(range(n), pa.int64()), "pad": pa.array([b"x" * 64] * n)})
    pq.write_table(t, f"{bucket}/rg.parquet", filesystem=_pafs(server), row_group_size=rg)
    md = pq.read_metadata(f"{bucket}/rg.parquet", filesystem=_pafs(server))
    assert md.num_row_groups == 10
    before = len(server.requests_for("rg.parquet"))
    out = th.read_parquet(f"s3://{bucket}/rg.parquet", io_config=cfg).filter(th.col("id") < 100).to_pydict()
    assert out["id"] == list(range(100))
    gets = [r for r in server.requests_for("rg.parquet")[before:] if r[0] == "GET"]
    # ranged GETs only: the footer (the file's tail) and the bytes of row group 0, nothing else
    assert gets and all(r[2].startswith("bytes=") for r in gets), gets
    size = _pafs(server).get_file_info(f"{bucket}/rg.parquet").size
    spans = [tuple(int(x) for x in r[2][len("bytes="):].split("-")) for r in gets]
    data_spans = [sp for sp in spans if sp[1] < size - 1]
    c1 = md.row_group(1).column(0)
    rg1_start = c1.dictionary_page_offset if c1.has_dictionary_page else c1.data_page_offset
    assert data_spans and all(end < rg1_start for _, end in data_spans), (spans, rg1_start, size)


def test_whole_read_asks_size_once_and_reads_footer_once(s3):
    server, bucket, cfg = s3
    t = pa.table({"id": pa.array(range(20_000), pa.int64()), "x": pa.array([i * 0.5 for i in range(20_000)])})
    pq.write_table(t, f"{bucket}/whole.parquet", filesystem=_pafs(server), row_group_size=5_000)
    size = _pafs(server).get_file_info(f"{bucket}/whole.parquet").size
    before = len(server.requests_for("whole.parquet"))
    out = th.read_parquet(f"s3://{bucket}/whole.parquet", io_config=cfg).to_arrow()
    reqs = server.requests_for("whole.parquet")[before:]
    assert out.sort_by("id").equals(pq.read_table(f"{bucket}/whole.parquet", filesystem=_pafs(server)))
    # one HEAD (the listing that finds the file and its size) and the footer fetched once:
    # opening with the known size needs no HEAD, the footer read at planning serves the scan
    assert [r for r in reqs if r[0] == "HEAD"] == [reqs[0]] and reqs[0][0] == "HEAD", reqs
    tails = [r for r in reqs if r[0] == "GET" and r[2].endswith(f"-{size - 1}")]
    assert len(tails) == 1, reqs


def test_missing_bucket_key_and_corrupt_object(s3):
    server, bucket, cfg = s3
    with pytest.raises(ThresherIOError, match="bucket 'no-such-bucket-x' does not exist"):
        th.read_parquet("s3://no-such-bucket-x/t.parquet", io_config=cfg)
    with pytest.raises(ThresherIOError, match="file not found"):
        th.read_parquet(f"s3://{bucket}/missing.parquet", io_config=cfg)
    with pytest.raises(ThresherIOError, match="no files match"):
        th.read_parquet(f"s3://{bucket}/nothing/*.parquet", io_config=cfg)
    with pytest.raises(ThresherIOError, match="does not exist"):
        th.from_glob_path("s3://no-such-bucket-x/*.jpg", io_config=cfg).to_pydict()
    with _pafs(server).open_output_stream(f"{bucket}/bad.parquet") as f:
        f.write(b"this is not parquet at all, just text" * 10)
    with pytest.raises(ThresherIOError, match=f"s3://{bucket}/bad.parquet.*not a valid Parquet file"):
        th.read_parquet(f"s3://{bucket}/bad.parquet", io_config=cfg).to_pydict()
    with pytest.raises(ThresherIOError, match="bucket"):
        th.from_pydict({"a": [1]}).write_parquet("s3://no-such-bucket-x/out", io_config=cfg)


def test_sinks_refuse_unwritable_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = th.from_pydict({"a": [1]})
    for url in ("https://example.com/out", "hf://datasets/x/y", "ftp://host/out", "memory://x"):
        with pytest.raises(ThresherIOError, match="cannot write|unsupported|unknown"):
            df.write_parquet(url)
        with pytest.raises(ThresherIOError, match="cannot write|unsupported|unknown"):
            df.write_lance(url)
    assert list(tmp_path.iterdir()) == []  # never a local folder named after a url


def test_lance_on_s3(s3):
    pytest.importorskip("lance")
    _, bucket, cfg = s3
    t = _table(30)
    uri = f"s3://{bucket}/ds.lance"
    th.from_arrow(t).write_lance(uri, io_config=cfg, job_id="l1")
    assert th.read_lance(uri, io_config=cfg).sort("id").to_arrow().equals(t)
    with pytest.raises(ThresherIOError, match="already exists"):
        th.from_arrow(t).write_lance(uri, io_config=cfg)  # mode="create": refused before running
    df = th.from_arrow(t)
    df.write_lance(uri, mode="append", io_config=cfg, job_id="l2")
    df.write_lance(uri, mode="append", io_config=cfg, job_id="l2")  # the same job again
    assert th.read_lance(uri, io_config=cfg).to_arrow().num_rows == 60


def test_iceberg_warehouse_on_s3(s3, tmp_path):
    pytest.importorskip("pyiceberg")
    _, bucket, cfg = s3
    cat = th.iceberg_catalog(f"s3://{bucket}/wh", database=str(tmp_path / "cat.db"), io_config=cfg)
    t = _table(25)
    df = th.from_arrow(t)  # in-memory partition ids are per frame: the same frame re-runs the job
    df.write_iceberg("db.events", catalog=cat, job_id="i1", io_config=cfg)
    df.write_iceberg("db.events", catalog=cat, job_id="i1", io_config=cfg)
    back = th.read_iceberg("db.events", catalog=cat, io_config=cfg).sort("id").to_arrow()
    assert back.column("id").to_pylist() == list(range(25))
    table = cat.load_table("db.events")
    assert table.location().startswith(f"s3://{bucket}/wh")
    with pytest.raises(ThresherIOError, match="namespace"):
        th.from_arrow(t).write_iceberg("events", catalog=cat)
