"""LATERAL joins against DuckDB: each form ``lateral_joins`` rewrites (see its docstring), the
forms it refuses with an error naming the construct, and the seeded fuzzer of ``lateral_fuzz.py``.
Every query here was refused before ("unsupported FROM item Lateral"; a derived table reading an
earlier FROM item: "unknown column")."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lateral_fuzz import lateral_case  # noqa: E402
from sql_fuzz import differences  # noqa: E402

import thresher as th  # noqa: E402

duckdb = pytest.importorskip("duckdb")

T = pa.table({"k": pa.array([1, 2, 3, None], pa.int64()), "x": pa.array([10, 20, 30, 40], pa.int32()),
              "s": pa.array(["a", "b", None, "a"])})
U = pa.table({"id": pa.array([0, 1, 2, 3, 4], pa.int64()), "k": pa.array([1, 1, 2, None, 4], pa.int32()),
              "y": pa.array([5, 6, 7, 8, None], pa.int64()), "g": pa.array(["a", "b", "a", "c", "a"])})


def run(query: str, data: dict[str, pa.Table] | None = None) -> str:
    """``"match"`` or ``"refused: ..."``; AssertionError on another answer than DuckDB's."""
    data = data or {"t": T, "u": U}
    con = duckdb.connect()
    for name, table in data.items():
        con.register(name, table)
    want = con.sql(query).to_arrow_table()
    try:
        got = th.sql(query, **{n: th.from_arrow(tb) for n, tb in data.items()}).to_arrow()
    except th.ThresherError as exc:
        return f"refused: {exc}"
    diff = differences(got, want)
    assert diff is None, f"{query}\n{diff}"
    assert got.schema.names == want.schema.names, (got.schema.names, want.schema.names)
    return "match"


MATCHING = [
    # plain SELECT correlated by an equality, a comparison, outer columns in the select list
    "SELECT * FROM t CROSS JOIN LATERAL (SELECT y FROM u WHERE u.k = t.k) s",
    "SELECT * FROM t, LATERAL (SELECT y, g FROM u WHERE u.k = t.k AND u.y > 5) s",
    "SELECT * FROM t LEFT JOIN LATERAL (SELECT y, t.x + y AS z FROM u WHERE u.k = t.k) s ON true",
    "SELECT * FROM t LEFT JOIN LATERAL (SELECT t.x + 1 AS z, y FROM u WHERE u.k = t.k AND u.y > 5) s ON s.y < 7",
    "SELECT * FROM t LEFT JOIN LATERAL (SELECT t.x + 1 AS z, y FROM u WHERE u.k = t.k) s ON s.z > 15",
    "SELECT * FROM t JOIN LATERAL (SELECT y FROM u WHERE u.y < t.x / 3) s ON s.y > 5",
    "SELECT t.k, s.y FROM t, LATERAL (SELECT y FROM u WHERE u.y < t.x / 4 OR u.g = t.s) s",
    # no FROM: outer columns only
    "SELECT * FROM t, LATERAL (SELECT t.x * 2 AS z) s",
    "SELECT * FROM t LEFT JOIN LATERAL (SELECT t.x * 2 AS z) s ON t.k > 1",
    # one aggregate row: keyed (count of no rows is 0) and by scalar subqueries
    "SELECT * FROM t, LATERAL (SELECT sum(y) AS sy, count(*) AS n FROM u WHERE u.k = t.k) s",
    "SELECT t.k, s.n FROM t CROSS JOIN LATERAL (SELECT coalesce(sum(y), 0) + count(*) AS n FROM u WHERE u.k = t.k) s "
    "WHERE s.n < 10",
    "SELECT t.k, count(*) AS c, sum(s.n) AS total FROM t, LATERAL (SELECT count(y) AS n FROM u WHERE u.k = t.k) s "
    "GROUP BY t.k",
    "SELECT * FROM t JOIN LATERAL (SELECT count(*) AS n FROM u WHERE u.k = t.k) s ON s.n = 0",
    "SELECT t.k, s.m FROM t, LATERAL (SELECT max(y) AS m FROM u WHERE u.y < t.x) s",
    # GROUP BY / DISTINCT / ORDER BY ... LIMIT per key
    "SELECT t.k, s.g, s.sy FROM t, LATERAL (SELECT g, sum(y) AS sy FROM u WHERE u.k = t.k GROUP BY g) s",
    "SELECT * FROM t, LATERAL (SELECT g, count(*) AS n FROM u WHERE u.k = t.k GROUP BY g HAVING count(*) > 1) s",
    "SELECT * FROM t LEFT JOIN LATERAL (SELECT DISTINCT g FROM u WHERE u.k = t.k) s ON true",
    "SELECT * FROM t, LATERAL (SELECT y FROM u WHERE u.k = t.k ORDER BY y DESC LIMIT 1) s",
    "SELECT * FROM t, LATERAL (SELECT y, id FROM u WHERE u.k = t.k ORDER BY id LIMIT 1 OFFSET 1) s",
    "SELECT * FROM t LEFT JOIN LATERAL (SELECT g, sum(y) AS sy FROM u WHERE u.k = t.k GROUP BY g "
    "ORDER BY sy DESC LIMIT 1) s ON true",
    # one aggregate row under LEFT JOIN ... ON a condition; a term of outer columns alone
    "SELECT * FROM t LEFT JOIN LATERAL (SELECT max(y) AS m FROM u WHERE u.k = t.k) s ON s.m > 5",
    "SELECT * FROM t LEFT JOIN LATERAL (SELECT count(*) AS n, sum(y) AS sy FROM u WHERE u.k = t.k) s "
    "ON s.n = 0 OR t.x > 25",
    "SELECT * FROM t LEFT JOIN LATERAL (SELECT max(y) AS m FROM u WHERE u.y < t.x) s ON s.m > 5",
    "SELECT t.k, a.v, a.n FROM t LEFT JOIN LATERAL (SELECT max(u.y) AS v, count(*) AS n FROM u "
    "WHERE u.y > 0 AND t.x > 15 AND u.k + 1 = t.k + 1) a ON true WHERE a.v IS NOT NULL OR t.x > 0",
    "SELECT * FROM t, LATERAL (SELECT count(*) AS n FROM u WHERE u.k = t.k AND (t.s = 'a' OR t.s IS NULL)) a",
    # a derived table reading an earlier FROM item: LATERAL without the word, as DuckDB reads it
    "SELECT * FROM t, (SELECT y FROM u WHERE u.k = t.k) s",
    "SELECT * FROM t LEFT JOIN (SELECT y, t.x + y AS z FROM u WHERE u.k = t.k) s ON true",
    "SELECT * FROM t JOIN (SELECT count(*) AS n FROM u WHERE u.k = t.k) s ON s.n > 0",
    # uncorrelated, and a lateral reading an earlier one
    "SELECT * FROM t CROSS JOIN LATERAL (SELECT y FROM u WHERE y > 6) s",
    "SELECT * FROM t, LATERAL (SELECT y FROM u WHERE u.k = t.k) a, LATERAL (SELECT a.y * 2 + t.x AS w) b",
    "SELECT t.k, a.y, b.n FROM t, LATERAL (SELECT y FROM u WHERE u.k = t.k) a, "
    "LATERAL (SELECT count(*) AS n FROM u WHERE u.y <= a.y) b",
]


@pytest.mark.parametrize("query", MATCHING)
def test_lateral_matches_duckdb(query: str) -> None:
    assert run(query) == "match"


@pytest.mark.parametrize(("query", "construct"), [
    ("SELECT * FROM t, LATERAL (SELECT y FROM u WHERE u.y > t.x ORDER BY y LIMIT 1) s",
     "a correlation other than inner = outer beside GROUP BY, DISTINCT, LIMIT"),
    ("SELECT * FROM t, LATERAL (SELECT DISTINCT g FROM u WHERE u.k = t.k OR u.k IS NULL) s",
     "a correlation other than inner = outer"),
    ("SELECT * FROM t, LATERAL (SELECT y FROM u WHERE u.k = t.k UNION ALL SELECT 0) s", "a UNION"),
    ("SELECT * FROM t, LATERAL (SELECT y, row_number() OVER () AS r FROM u WHERE u.k = t.k) s", "a window function"),
])
def test_lateral_refused_by_name(query: str, construct: str) -> None:
    with pytest.raises(th.ThresherError, match="LATERAL") as info:
        th.sql(query, t=th.from_arrow(T), u=th.from_arrow(U)).to_arrow()
    assert construct in str(info.value)


def _fuzz(seeds: range) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for seed in seeds:
        data, query = lateral_case(seed)
        try:
            outcomes[run(query, data).split(":")[0]] += 1
        except duckdb.Error:
            outcomes["invalid for DuckDB"] += 1
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}: {exc}") from None
    return outcomes


def test_lateral_fuzz() -> None:
    outcomes = _fuzz(range(150))
    assert outcomes["match"] >= 130, outcomes


@pytest.mark.slow
def test_lateral_fuzz_slow() -> None:
    outcomes = _fuzz(range(150, 2150))
    assert outcomes["match"] >= 0.85 * sum(outcomes.values()), outcomes
