"""Columns a Parquet schema declares NOT NULL, in the SQL constructs whose translation reads nullability.

``x NOT IN (subquery)`` is a bare anti join where neither side can be NULL (TPC-H q16), and keeps
its NULL handling where either can; the left side of a RIGHT JOIN can be NULL whatever its
file says, so a SUM over it is NULL for a right row without a match. Results are compared with
DuckDB on the same files.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher as th
from thresher.planner.logical import Join

duckdb = pytest.importorskip("duckdb")


def _write(path: Path, cols: dict[str, tuple[list, pa.DataType, bool]]) -> Path:
    schema = pa.schema([pa.field(n, t, nullable) for n, (_, t, nullable) in cols.items()])
    pq.write_table(pa.table({n: pa.array(v, t) for n, (v, t, _) in cols.items()}, schema=schema), path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("notnull")
    i64 = pa.int64()
    return {
        # a and s: NOT NULL keys; an: the same keys in a nullable column, with a NULL
        "a": _write(root / "a.parquet", {"k": (list(range(20)), i64, False), "x": ([i * 10 for i in range(20)], i64, False)}),
        "s": _write(root / "s.parquet", {"sk": ([1, 3, 5, 7, 30], i64, False), "tag": (["p", "q", "p", "q", "p"], pa.string(), False)}),
        "an": _write(root / "an.parquet", {"nk": ([1, None, 5], i64, True)}),
        "b": _write(root / "b.parquet", {"k": ([1, 2, 25, 26], i64, False)}),
    }


QUERIES = {
    "not_in_not_null": "select k, x from a where k not in (select sk from s where tag = 'p')",
    "not_in_empty": "select count(*) as n from a where k not in (select sk from s where tag = 'none')",
    "not_in_nullable_sub": "select count(*) as n from a where k not in (select nk from an)",
    "not_in_nullable_sub_no_null": "select k from a where k not in (select nk from an where nk is not null)",
    "right_join_sum": "select b.k, sum(a.x) as s, count(a.x) as c, min(a.x) as lo from a right join b on a.k = b.k group by b.k",
    "right_join_rows": "select b.k as bk, a.x from a right join b on a.k = b.k",
}


def _rows(t: pa.Table) -> list[tuple]:
    return sorted((tuple(r.values()) for r in t.to_pylist()), key=repr)


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_same_rows_as_duckdb(files: dict[str, Path], name: str) -> None:
    con = duckdb.connect()
    for t, path in files.items():
        con.execute(f"create view {t} as select * from read_parquet('{path}')")
    sql = QUERIES[name]
    expected = _rows(con.sql(sql).to_arrow_table())
    got = th.sql(sql, **{t: th.read_parquet(str(p)) for t, p in files.items()})
    assert _rows(got.to_arrow()) == expected


def test_not_in_over_not_null_columns_is_a_bare_anti_join(files: dict[str, Path]) -> None:
    frames = {t: th.read_parquet(str(p)) for t, p in files.items()}
    bare = th.sql(QUERIES["not_in_not_null"], **frames).plan
    guarded = th.sql(QUERIES["not_in_nullable_sub"], **frames).plan
    assert not [n for n in bare.walk() if isinstance(n, Join) and n.how == "cross"]
    assert [n for n in guarded.walk() if isinstance(n, Join) and n.how == "cross"]


def test_right_join_left_columns_are_nullable(files: dict[str, Path]) -> None:
    frames = {t: th.read_parquet(str(p)) for t, p in files.items()}
    plan = th.sql("select a.x, b.k from a right join b on a.k = b.k", **frames).plan
    assert plan.schema.field("x").nullable
