"""th.sql beyond the TPC-H shapes: NULL-aware NOT IN, scalar subqueries in SELECT, FILTER,
CONCAT, LAG/LEAD, functions registered by SQL name; each checked against DuckDB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pytest

import thresher as th

duckdb = pytest.importorskip("duckdb")

T = {"k": ["a", "b", "a", "c", None], "v": [1, 2, 3, 4, 5], "s": ["Hello", "world", "HeLLo", "x", "y"]}
U = {"k": ["a", "b", "d"], "w": [10, 20, 30]}
N = {"k": ["a", None]}


def _check(query: str) -> None:
    frames = {"t": th.from_pydict(T), "u": th.from_pydict(U), "n": th.from_pydict(N)}
    con = duckdb.connect()
    for name, data in (("t", T), ("u", U), ("n", N)):
        con.register(name, pa.table(data))
    got = th.sql(query, **frames).to_arrow()
    ref = con.sql(query).to_arrow_table()
    assert got.column_names == ref.column_names
    assert got.to_pylist() == ref.to_pylist(), query


@pytest.mark.parametrize("query", [
    # NULL on the left never passes NOT IN; a NULL in the subquery makes it pass nothing
    "select k, v from t where k not in (select k from u) order by v",
    "select k, v from t where k not in (select k from n) order by v",
    "select k, v from t where k not in (select k from n where k is not null) order by v",
    "select k, v, (select max(w) from u) as mw from t order by v",
    "select k, v, (select max(w) from u where w > 100) as none from t order by v",
    "select k, count(*) filter (where v > 1) as c, min(v) filter (where v > 2) as m from t group by k order by k",
    "select concat(k, '-', s) as c, k || '_' || s as c2 from t order by v",
    "select k, v, lag(v) over (partition by k order by v) as prev, lead(v, 2) over (order by v) as nxt "
    "from t order by v",
    # RANK / DENSE_RANK: several keys, NULLs ranked where ORDER BY puts them
    "select k, v, rank() over (order by k) r, dense_rank() over (order by k desc nulls last) d from t order by v",
    "select k, v, rank() over (order by k nulls first, v) r, dense_rank() over (order by v desc, k desc) d "
    "from t order by v",
])
def test_matches_duckdb(query: str) -> None:
    _check(query)


def test_function_registered_by_sql_name() -> None:
    from thresher.datatypes import DataType, Field
    from thresher.expressions.registry import FunctionSpec, register
    from thresher.operators.expr_to_polars import register_lowering

    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        if not args[0].dtype.is_integer():
            raise th.ThresherTypeError(f"twice_it needs an integer column, got {args[0].dtype}")
        return DataType.int64()

    register(FunctionSpec("test.twice_it", rule, sql_names=("twice_it",)))
    register_lowering("test.twice_it", lambda a, e, t: a[0].cast(int) * 2)
    t = th.from_pydict(T)
    assert th.sql("select twice_it(v) as d from t order by v", t=t).to_pydict() == {"d": [2, 4, 6, 8, 10]}
    with pytest.raises(th.ThresherError, match="twice_it needs an integer"):
        th.sql("select twice_it(s) from t", t=t)


def test_errors_carry_the_position() -> None:
    t = th.from_pydict(T)
    with pytest.raises(th.ThresherError, match="line 2"):
        th.sql("select k,\n  sum(v ignore nulls) over (order by v) from t", t=t)
    with pytest.raises(th.ThresherError, match=r"unknown table 'nothere' .*line 1, column 21.*known tables: \['t'\]"):
        th.sql("select k from nothere", t=t)
    with pytest.raises(th.ThresherError, match="syntax error") as info:
        th.sql("select k from t where k = ", t=t)
    assert "\x1b" not in str(info.value)  # no terminal colour codes in messages


@pytest.mark.parametrize("query", [
    # MIN / MAX of the distinct values (was "DISTINCT is only supported in COUNT")
    "SELECT min(DISTINCT v) AS a, max(DISTINCT s) AS b FROM t",
    "SELECT k, max(DISTINCT v) AS a, count(DISTINCT s) AS c FROM t GROUP BY k ORDER BY k NULLS FIRST",
    "SELECT k, min(DISTINCT v) OVER (PARTITION BY k) AS a FROM t ORDER BY v",
])
def test_min_max_distinct_as_duckdb(query: str) -> None:
    _check(query)


def test_between_symmetric_is_refused() -> None:
    """``x BETWEEN SYMMETRIC 5 AND 2`` was read as ``x BETWEEN 5 AND 2`` (no row); DuckDB refuses
    the syntax, so Thresher refuses it by name."""
    t = th.from_arrow(pa.table({"v": [1, 3, 6]}))
    with pytest.raises(th.ThresherError, match="BETWEEN SYMMETRIC"):
        th.sql("SELECT v FROM t WHERE v BETWEEN SYMMETRIC 5 AND 2", t=t).to_arrow()


@pytest.mark.parametrize("query", ["SELECT v FROM t ORDER BY v LIMIT 50 PERCENT", "SELECT v FROM t ORDER BY v LIMIT 20%",
                                   "SELECT v FROM t ORDER BY v FETCH FIRST 2 ROWS WITH TIES",
                                   "SELECT v FROM t ORDER BY v LIMIT 2.5", "SELECT v FROM t ORDER BY v LIMIT NULL"])
def test_limit_percent_with_ties_and_non_integer_counts_are_refused(query: str) -> None:
    """``LIMIT 50 PERCENT`` was read as ``LIMIT 50`` (every row of a small table), ``FETCH ...
    WITH TIES`` crashed (AttributeError), ``LIMIT 2.5`` and ``LIMIT NULL`` raised a ValueError:
    each is refused by name now."""
    t = th.from_arrow(pa.table({"v": [3, 1, 2, 2]}))
    with pytest.raises(th.ThresherError, match="PERCENT|WITH TIES|integer constant"):
        th.sql(query, t=t).to_arrow()


@pytest.mark.parametrize("query", ["SELECT v FROM t ORDER BY v FETCH FIRST 2 ROWS ONLY",
                                   "SELECT v FROM t ORDER BY v OFFSET 1 ROWS FETCH NEXT 2 ROWS ONLY",
                                   "SELECT v FROM t ORDER BY v LIMIT '2'"])
def test_fetch_first_rows_only_as_duckdb(query: str) -> None:
    """``FETCH FIRST n ROWS ONLY`` crashed (AttributeError): it is a LIMIT, as DuckDB reads it."""
    t = pa.table({"v": [3, 1, 2, 2]})
    con = duckdb.connect()
    con.register("t", t)
    assert th.sql(query, t=th.from_arrow(t)).to_arrow().to_pylist() == con.sql(query).to_arrow_table().to_pylist()
