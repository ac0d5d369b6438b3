"""Differential SQL fuzzing against DuckDB of ORDER BY / LIMIT corners, aggregates with FILTER,
DISTINCT and ORDER BY inside, three-valued NULL logic (IS DISTINCT FROM, IN lists and BETWEEN with
NULLs, CASE / COALESCE / NULLIF / GREATEST / LEAST) and intervals of several parts (see
``edge_fuzz.py``), plus every failure this fuzzer found.

A query gives DuckDB's rows (in DuckDB's order where the query orders them totally, and types) or
is refused with a ``ThresherError``.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from edge_fuzz import edge_queries, edge_tables  # noqa: E402
from test_sql_fuzz import run_one  # noqa: E402

import thresher as th  # noqa: E402
from fuzz_support import assert_mostly_supported, run_cases  # noqa: E402

duckdb = pytest.importorskip("duckdb")


def _fuzz(n: int, seed: int | None = None) -> Counter[str]:
    return run_cases((edge_tables(), edge_queries()), run_one, n, seed)


def test_sql_edge_cases_against_duckdb() -> None:
    assert_mostly_supported(_fuzz(100), 0.15)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_edge_fuzz_long(seed: int) -> None:
    assert_mostly_supported(_fuzz(1500, seed=seed), 0.15)


# -- every failure this fuzzer found, kept as a regression test -----------------------------------

def _table() -> dict[str, pa.Table]:
    return {"t": pa.table({"id": pa.array([0, 1, 2, 3], pa.int64()), "a": pa.array([1, None, 2, 0], pa.int64()),
                           "p": pa.array([True, None, False, True]), "s": pa.array(["x", "", None, "é"])}),
            "u": pa.table({"k": pa.array([1, None], pa.int64()), "v": pa.array(["x", None])})}


@pytest.mark.parametrize("query", [
    # a NULL where a condition goes is the unknown truth value, a NULL BOOLEAN (it failed while
    # running: Polars' "expected Boolean, got null", or an ArrowInvalid; NOT NULL's column had no type)
    "SELECT id, CASE WHEN NULL THEN 1 ELSE 2 END AS c FROM t",
    "SELECT id, CASE WHEN a > 1 THEN 1 WHEN NULL THEN 3 ELSE 2 END AS c, CASE WHEN NULL THEN NULL END AS e FROM t",
    "SELECT id, if(NULL, 1, 2) AS c FROM t",
    "SELECT id FROM t WHERE NULL",
    "SELECT id FROM t WHERE NOT NULL",
    "SELECT id FROM t WHERE a > 0 AND NULL",
    "SELECT id FROM t WHERE a > 0 OR NULL",
    "SELECT id FROM t WHERE NOT (NULL AND p)",
    "SELECT id, NULL AND p AS c, NULL OR p AS e, NOT NULL AS g, NOT (NULL) AS h FROM t",
    "SELECT count(*) FILTER (WHERE NULL) AS c, count(*) FILTER (WHERE NULL OR p) AS e FROM t",
    "SELECT a, count(*) AS c FROM t GROUP BY a HAVING NULL",
    "SELECT count(*) AS c FROM t HAVING NULL",
    "SELECT t.id FROM t JOIN u ON NULL",
    "SELECT t.id, u.k FROM t LEFT JOIN u ON NULL",
    "SELECT id FROM t WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.k = t.a AND NULL)",
])
def test_null_as_a_condition(query: str) -> None:
    assert run_one(_table(), query) == "match"


@pytest.mark.parametrize("query", [
    # a text literal compared with a literal of another type takes that type, as beside a column
    # (was refused: "type error: cannot compare column 'literal' (string) with 'literal' (date32[day])";
    # simplify folds DATE '2024-02-29' + INTERVAL 1 DAY to such a literal)
    "SELECT id FROM t WHERE DATE '2024-01-01' < '2024-02-01'",
    "SELECT id FROM t WHERE '2024-02-01' > DATE '2024-01-01'",
    "SELECT id FROM t WHERE (DATE '2024-02-29' + INTERVAL '1 month') >= '2024-03-29'",
    "SELECT id FROM t WHERE TIMESTAMP '2024-01-31 10:00:00' - INTERVAL '1 month' < '2024-01-01'",
    "SELECT id, 1 = '1' AS c, '2' > 1 AS e, 2.5 <= '2.5' AS g, TRUE = 'true' AS h FROM t",
])
def test_text_literal_compared_with_a_typed_literal(query: str) -> None:
    assert run_one(_table(), query) == "match"


@pytest.mark.parametrize("query", ["SELECT id, s FROM t ORDER BY s COLLATE NOCASE, id",
                                   "SELECT id FROM t WHERE s COLLATE NOCASE = 'x'", "SELECT s COLLATE \"C\" AS c FROM t"])
def test_collate_is_refused_by_name(query: str) -> None:
    """(It was refused as an unknown function named 's collate nocase'.)"""
    frames = {n: th.from_arrow(t) for n, t in _table().items()}
    with pytest.raises(th.ThresherError, match="COLLATE is not supported"):
        th.sql(query, **frames).to_arrow()
