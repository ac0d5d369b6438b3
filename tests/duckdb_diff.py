"""Run one SQL query through DuckDB and Thresher over the same Arrow tables, as rows sorted
the same way (order-insensitive; NaN compares equal to NaN), for differential tests."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

import thresher as th


def sorted_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    rows = [tuple("nan" if v != v else v for v in r) for r in zip(*(c.to_pylist() for c in table.columns))]
    return sorted(rows, key=lambda r: tuple(map(repr, r)))


def duckdb_rows(query: str, tables: dict[str, pa.Table]) -> list[tuple[Any, ...]]:
    import duckdb

    con = duckdb.connect()
    for name, tab in tables.items():
        con.register(name, tab)
    return sorted_rows(con.sql(query).to_arrow_table())


def thresher_rows(query: str, tables: dict[str, pa.Table]) -> list[tuple[Any, ...]]:
    return sorted_rows(th.sql(query, **{n: th.from_arrow(tab) for n, tab in tables.items()}).to_arrow())


def column_types(query: str, tables: dict[str, pa.Table]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(thresher's, duckdb's)`` result columns of ``query`` as (name, Arrow type) pairs, large and
    plain string/list types read as the same."""
    import duckdb

    con = duckdb.connect()
    for name, tab in tables.items():
        con.register(name, tab)
    want = con.sql(query).to_arrow_table().schema
    got = th.sql(query, **{n: th.from_arrow(tab) for n, tab in tables.items()}).to_arrow().schema
    return ([(f.name, str(f.type).replace("large_", "")) for f in got],
            [(f.name, str(f.type).replace("large_", "")) for f in want])
