"""Group-by string keys from a small join side are grouped as Polars Categoricals and cast back at
the aggregate (planner/dictionary_keys.py): the results stay DuckDB's.

Differential tests against DuckDB over Parquet files: dimension names with NULLs, one name under
several keys, fact rows with NULL keys and keys the dimension lacks, a left join's unmatched rows,
names whose lexical order is not their order of appearance (an ORDER BY above the group-by), the
key joined, filtered, aggregated or computed on (then it stays a string), a union of two grouped
joins. The program checks say where the lowering encoded (MIN_OTHER_ROWS lowered to these tables' sizes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from planner_helpers import duckdb_over, rounded_rows

import thresher as th
from thresher.planner import dictionary_keys, polars_plan
from thresher.planner.physical import compile as compile_plan

N = 3000
DIM = pa.table({
    "k": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
    "name": pa.array(["zeta", "alpha", None, "zeta", "mid", "Alpha"]),
    "grp": pa.array(["b", "a", "a", None, "b", "a"]),
    "n": pa.array([10, 20, 30, 40, 50, 60], pa.int64()),
})
FACT = pa.table({
    # keys 1..6 the dimension has, 7..300 it lacks (many: an eager aggregation's estimate stays
    # far above the dimension's rows), and NULLs
    "fk": pa.array([None if i % 13 == 0 else (i % 8 + 1 if i % 2 else i % 300 + 1) for i in range(N)], pa.int64()),
    "v": pa.array([float(i % 17) if i % 11 else None for i in range(N)], pa.float64()),
    "s": pa.array([f"s{i % 5}" for i in range(N)]),
    "fe": pa.array([i % 4 for i in range(N)], pa.int64()),
})
# a second dimension: a group-by over a star join (over one join, eager aggregation groups the
# fact rows by their key first, and the dimension is no smaller than that)
DIM2 = pa.table({"ek": pa.array([0, 1, 2, 3], pa.int64()), "label": pa.array(["q", None, "p", "q"])})
OTHER = pa.table({"name": pa.array(["zeta", "alpha", "mid", None, "nope"]), "w": pa.array([1, 2, 3, 4, 5], pa.int64())})


@pytest.fixture(autouse=True)
def small_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    # (the encoding waits for a join side of 100,000 rows: these tables are smaller)
    monkeypatch.setattr(dictionary_keys, "MIN_OTHER_ROWS", 0.0)


@pytest.fixture
def tables(tmp_path: Path) -> tuple[dict[str, th.DataFrame], Any]:
    paths = {}
    for name, t in (("d", DIM), ("f", FACT), ("o", OTHER), ("e", DIM2)):
        paths[name] = tmp_path / f"{name}.parquet"
        pq.write_table(t, paths[name])
    return {n: th.read_parquet(str(p)) for n, p in paths.items()}, duckdb_over(paths)


def _program(df: th.DataFrame) -> str:
    physical = compile_plan(df.plan)
    return str(physical.root.spec.program([]).explain(optimized=False))


def _check(tables: tuple[dict[str, th.DataFrame], Any], sql: str, ordered: bool = False) -> str:
    frames, con = tables
    df = th.sql(sql, **frames)
    got = df.to_arrow()
    ref = con.sql(sql).to_arrow_table()
    assert got.schema.names == ref.schema.names
    assert pa.types.is_string(got.schema.field(0).type) or pa.types.is_large_string(got.schema.field(0).type)
    assert rounded_rows(got, 6, ordered) == rounded_rows(ref, 6, ordered)
    return _program(df)


ENCODED = {
    "inner": ("SELECT d.name, d.grp, e.label, sum(f.v) AS s, count(*) AS c FROM f JOIN d ON f.fk = d.k "
              "JOIN e ON f.fe = e.ek GROUP BY d.name, d.grp, e.label"),
    "filtered on the scan": "SELECT d.name, count(*) AS c FROM f JOIN d ON f.fk = d.k WHERE d.grp = 'a' GROUP BY d.name",
    "fact column key too": "SELECT d.name, f.s, count(f.v) AS c FROM f JOIN d ON f.fk = d.k GROUP BY d.name, f.s",
    "joined above": ("SELECT a.name, a.label, a.c, o.w FROM (SELECT d.name, e.label, count(*) AS c FROM f "
                     "JOIN d ON f.fk = d.k JOIN e ON f.fe = e.ek GROUP BY d.name, e.label) a JOIN o ON a.name = o.name"),
    "union": ("SELECT d.name, count(*) AS c FROM f JOIN d ON f.fk = d.k GROUP BY d.name UNION ALL "
              "SELECT d.grp, sum(d.n) FROM f JOIN d ON f.fk = d.k GROUP BY d.grp"),
    "string ops above": ("SELECT upper(d.name) || '-' || d.grp || e.label AS t, count(*) AS c FROM f "
                         "JOIN d ON f.fk = d.k JOIN e ON f.fe = e.ek GROUP BY d.name, d.grp, e.label"),
}


@pytest.mark.parametrize("case", list(ENCODED))
def test_encoded_keys_match_duckdb(tables: tuple[dict[str, th.DataFrame], Any], case: str) -> None:
    program = _check(tables, ENCODED[case])
    assert "Categorical" in program


def test_order_by_encoded_key_is_lexical(tables: tuple[dict[str, th.DataFrame], Any]) -> None:
    # the dimension holds zeta before alpha: a Categorical's own order would put zeta first
    sql = ("SELECT d.name, d.grp, e.label, count(*) AS c FROM f JOIN d ON f.fk = d.k JOIN e ON f.fe = e.ek "
           "GROUP BY d.name, d.grp, e.label ORDER BY d.name NULLS FIRST, d.grp NULLS FIRST, e.label NULLS FIRST")
    assert "Categorical" in _check(tables, sql, ordered=True)


KEPT = {
    "aggregated too": "SELECT d.grp, count(DISTINCT d.name) AS c, min(d.name) AS m FROM f JOIN d ON f.fk = d.k GROUP BY d.grp, d.name",
    "computed key": "SELECT upper(d.name) AS u, count(*) AS c FROM f JOIN d ON f.fk = d.k GROUP BY upper(d.name)",
    "filtered above the join": ("SELECT d.name, count(*) AS c FROM f JOIN d ON f.fk = d.k "
                                "WHERE d.name || f.s <> 'zetas1' GROUP BY d.name"),
    "join key": "SELECT o.name, count(*) AS c FROM f JOIN d ON f.fk = d.k JOIN o ON o.name = d.name GROUP BY o.name",
    "no join": "SELECT s, count(*) AS c FROM f GROUP BY s",
    "distinct": "SELECT DISTINCT d.grp FROM f JOIN d ON f.fk = d.k",  # (a Distinct node: not encoded)
    "left join": ("SELECT d.name, e.label, count(*) AS c, sum(d.n) AS sn FROM f LEFT JOIN d ON f.fk = d.k "
                  "LEFT JOIN e ON f.fe = e.ek GROUP BY d.name, e.label"),
}


@pytest.mark.parametrize("case", list(KEPT))
def test_keys_read_otherwise_stay_strings(tables: tuple[dict[str, th.DataFrame], Any], case: str) -> None:
    program = _check(tables, KEPT[case])
    if case in ("computed key", "no join", "distinct", "left join"):
        assert "Categorical" not in program


def test_switch_off(tables: tuple[dict[str, th.DataFrame], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(polars_plan, "ENCODE_GROUP_KEYS", False)
    assert "Categorical" not in _check(tables, ENCODED["inner"])


def test_shared_join_stays_shared(tables: tuple[dict[str, th.DataFrame], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # a ROLLUP groups one join (computed once, cached) three ways; encoding each level's keys
    # inside it would compute the join once per level (TPC-DS q27): the plan stays as it was
    sql = ("WITH r AS (SELECT d.name, e.label, f.v FROM f JOIN d ON f.fk = d.k JOIN e ON f.fe = e.ek) "
           "SELECT name, label, sum(v) AS s, count(*) AS c FROM r GROUP BY ROLLUP (name, label)")
    on = _check(tables, sql)
    monkeypatch.setattr(polars_plan, "ENCODE_GROUP_KEYS", False)
    off = _check(tables, sql)
    assert on.count("f.parquet") == off.count("f.parquet")
    assert on.count("INNER JOIN") == off.count("INNER JOIN")


# a dimension of 100 rows next to the fact's 3,000: 30 times fewer, below MIN_RATIO (64) but above
# MIN_RATIO_TABLE (20)
G = pa.table({
    "gk": pa.array(list(range(1, 101)), pa.int64()),
    "gname": pa.array([None if i % 10 == 0 else f"g{(i * 7) % 37}" for i in range(100)]),
    "gsize": pa.array([i % 9 for i in range(100)], pa.int64()),
})


@pytest.fixture
def with_g(tables: tuple[dict[str, th.DataFrame], Any], tmp_path: Path) -> tuple[dict[str, th.DataFrame], Any]:
    frames, _con = tables
    path = tmp_path / "g.parquet"
    pq.write_table(G, path)
    paths = {n: tmp_path / f"{n}.parquet" for n in ("d", "f", "o", "e", "g")}
    return {**frames, "g": th.read_parquet(str(path))}, duckdb_over(paths)


def test_a_one_table_side_is_small_at_a_lower_ratio(with_g: tuple[dict[str, th.DataFrame], Any]) -> None:
    # TPC-H Q16: part's brand and type (filtered) next to partsupp, a distinct count per group
    sql = ("SELECT g.gname, g.gsize, count(DISTINCT f.s) AS c, count(*) AS n FROM f JOIN g ON f.fk = g.gk "
           "WHERE g.gsize <> 3 GROUP BY g.gname, g.gsize ORDER BY n DESC, gname NULLS FIRST, gsize")
    assert "Categorical" in _check(with_g, sql, ordered=True)


def test_a_joined_side_needs_the_full_ratio(with_g: tuple[dict[str, th.DataFrame], Any]) -> None:
    # the same dimension joined with another table first: its estimate multiplies the joins'
    sql = ("SELECT x.gname, count(*) AS n FROM f JOIN (SELECT g.gk, g.gname FROM g JOIN d ON g.gsize = d.k) x "
           "ON f.fk = x.gk GROUP BY x.gname")
    assert "Categorical" not in _check(with_g, sql)


def test_a_side_next_to_a_joined_side_needs_the_full_ratio(with_g: tuple[dict[str, th.DataFrame], Any]) -> None:
    # the fact joined with another dimension first: its estimate keeps every fact row whatever
    # that dimension's filter keeps
    sql = ("SELECT g.gname, count(DISTINCT x.s) AS c, count(*) AS n FROM "
           "(SELECT f.fk, f.s FROM f JOIN e ON f.fe = e.ek WHERE e.label = 'q') x JOIN g ON x.fk = g.gk GROUP BY g.gname")
    assert "Categorical" not in _check(with_g, sql)
