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


@pytest.mark.parametrize("query", [
    # a HAVING makes one group of the rows even where nothing in the query aggregates: one row
    # (none where the HAVING fails), even over no rows (it gave a row per input row, none over an
    # empty table)
    "SELECT 1 AS c FROM t HAVING TRUE",
    "SELECT 1 AS c, 'x' AS e FROM t WHERE a IS NULL AND id > 5 HAVING 1 = 1",
    "SELECT 1 + 1 AS c FROM t HAVING NOT (2 < 1)",
    "SELECT 3 AS c FROM t HAVING NULL IS NULL",
    "SELECT 3 AS c FROM t HAVING FALSE",
])
def test_having_without_aggregates_is_one_group(query: str) -> None:
    assert run_one(_table(), query) == "match"


@pytest.mark.parametrize("query", ["SELECT id, s FROM t ORDER BY s COLLATE NOCASE, id",
                                   "SELECT id FROM t WHERE s COLLATE NOCASE = 'x'", "SELECT s COLLATE \"C\" AS c FROM t"])
def test_collate_is_refused_by_name(query: str) -> None:
    """(It was refused as an unknown function named 's collate nocase'.)"""
    frames = {n: th.from_arrow(t) for n, t in _table().items()}
    with pytest.raises(th.ThresherError, match="COLLATE is not supported"):
        th.sql(query, **frames).to_arrow()


@pytest.mark.parametrize("query", [
    # a DATE literal compared with a constant TIMESTAMP is compared as the TIMESTAMP at its midnight:
    # sqlglot's simplify compared them in Python, where a date equals no datetime (the first gave
    # FALSE, DuckDB TRUE) and < raised TypeError (a crash; edge fuzzer, seed 21)
    "SELECT id, DATE '2023-03-31' = TIMESTAMP '2023-03-31 00:00:00' AS c, "
    "TIMESTAMP '2023-03-31 00:00:00' <> DATE '2023-03-31' AS e FROM t",
    "SELECT id FROM t WHERE (TIMESTAMP '2024-01-31 10:00:00' + INTERVAL '1 year') < DATE '2023-03-31'",
    "SELECT id FROM t WHERE TIMESTAMP '2024-01-31 10:00:00' >= DATE '2024-01-31'",
    "SELECT id, TIMESTAMP '2024-01-31 10:00:00' - INTERVAL 10 HOUR <= DATE '2024-01-31' AS c FROM t",
    "SELECT id, DATE '2024-01-31' BETWEEN TIMESTAMP '2024-01-30 12:00:00' AND TIMESTAMP '2024-01-31 00:00:00' AS c FROM t",
    "SELECT id, DATE '2024-01-31' IS NOT DISTINCT FROM TIMESTAMP '2024-01-31 00:00:00' AS c FROM t",
    # a DATE literal shifted by an interval is a TIMESTAMP (simplify folded it to a DATE: FALSE)
    "SELECT id FROM t WHERE DATE '2024-01-31' + INTERVAL 1 MONTH = TIMESTAMP '2024-02-29 00:00:00'",
    "SELECT id FROM t WHERE DATE '2024-01-31' - INTERVAL 1 DAY > TIMESTAMP '2024-01-30 00:00:00'",
    "SELECT id FROM t WHERE (DATE '2024-01-31' + INTERVAL 1 MONTH) BETWEEN TIMESTAMP '2024-02-29 00:00:00' "
    "AND DATE '2024-03-01'",
    # (an IN list: failed while running, Polars' is_in of a date in datetimes)
    "SELECT id, DATE '2024-01-01' IN (TIMESTAMP '2024-01-01 00:00:00', TIMESTAMP '2024-01-02 00:00:00') AS c FROM t",
])
def test_date_literal_compared_with_a_timestamp_constant(query: str) -> None:
    assert run_one(_table(), query) == "match"
