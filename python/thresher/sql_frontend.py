"""``th.sql``: SQL over DataFrames, compiled to the same logical plans as the DataFrame API.

>>> import thresher as th
>>> orders = th.from_pydict({"k": ["a", "b", "a"], "v": [1, 2, 3]})
>>> th.sql("SELECT k, sum(v) AS total FROM orders GROUP BY k ORDER BY k", orders=orders).to_pydict()
{'k': ['a', 'b'], 'total': [4, 2]}
"""

from __future__ import annotations

import re
import threading

from thresher.dataframe import DataFrame
from thresher.planner.sql.translate import SQLError, translate

_CATALOG: dict[str, DataFrame] = {}
_LOCK = threading.Lock()


def register(name: str, df: DataFrame) -> None:
    """Make ``df`` queryable as table ``name`` in every later ``th.sql`` call."""
    if not isinstance(df, DataFrame):
        raise TypeError(f"register({name!r}, ...) needs a thresher DataFrame, got {type(df).__name__}")
    with _LOCK:
        _CATALOG[name.lower()] = df


def unregister(name: str) -> None:
    with _LOCK:
        _CATALOG.pop(name.lower(), None)


def sql(query: str, dialect: str = "duckdb", **tables: DataFrame) -> DataFrame:
    """Run a SQL query over registered frames and the frames given as keyword arguments.

    ``EXPLAIN <query>`` returns the query's plans (like ``df.explain()``) as a one-column frame.
    A quoted path names a file table (``FROM 'data/*.parquet'``, ``.csv``, ``.json``, ``.lance``).
    """
    m = re.match(r"^\s*EXPLAIN\s+(.*)$", query, flags=re.IGNORECASE | re.DOTALL)
    if m:
        from thresher.readers import from_pydict

        inner = sql(m.group(1), dialect=dialect, **tables)
        return from_pydict({"plan": [inner.explain(format="text", print_=False)]})
    with _LOCK:
        frames = dict(_CATALOG)
    frames.update({k.lower(): v for k, v in tables.items()})
    frames.update(_file_tables(query, dialect, frames))
    catalog = {k: v.plan for k, v in frames.items()}
    return DataFrame(translate(query, catalog, dialect=dialect))


_READERS = {".parquet": "read_parquet", ".pq": "read_parquet", ".csv": "read_csv", ".json": "read_json",
            ".jsonl": "read_json", ".ndjson": "read_json", ".lance": "read_lance"}


def _file_tables(query: str, dialect: str, known: dict[str, DataFrame]) -> dict[str, DataFrame]:
    """Tables named by a quoted path (``FROM 'data/*.parquet'``, ``FROM "imgs.lance"``), read by
    extension like DuckDB does; names already registered or given win."""
    import os

    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    import thresher.readers as readers

    try:
        tree = sqlglot.parse_one(query, dialect=dialect)
    except ParseError:
        return {}  # translate() reports the syntax error
    out: dict[str, DataFrame] = {}
    for table in tree.find_all(exp.Table):
        name = table.name
        if not name or name.lower() in known or table.db or not isinstance(table.this, exp.Identifier):
            continue
        ext = os.path.splitext(name.rstrip("/"))[1].lower()
        reader = _READERS.get(ext)
        if reader is None and ("/" in name or "*" in name) and not ext:
            reader = "read_parquet"  # a folder or glob of Parquet files
        if reader is not None:
            out[name.lower()] = getattr(readers, reader)(name)
    return out


__all__ = ["SQLError", "register", "sql", "unregister"]


