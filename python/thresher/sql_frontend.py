"""``th.sql``: SQL over DataFrames, compiled to the same logical plans as the DataFrame API.

>>> import thresher as th
>>> orders = th.from_pydict({"k": ["a", "b", "a"], "v": [1, 2, 3]})
>>> th.sql("SELECT k, sum(v) AS total FROM orders GROUP BY k ORDER BY k", orders=orders).to_pydict()
{'k': ['a', 'b'], 'total': [4, 2]}
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from typing import Any

from thresher.dataframe import DataFrame
from thresher.errors import UnsupportedError
from thresher.planner.gc_pause import gc_paused
from thresher.planner.sql.translate import SQLError, translate

_CATALOG: dict[str, DataFrame] = {}
_LOCK = threading.Lock()


def register(name: str, df: Any) -> None:
    """Make ``df`` (a frame, or a Polars/pandas/Arrow table) queryable as ``name`` in later ``th.sql`` calls."""
    frame = as_frame(df, name)
    with _LOCK:
        _CATALOG[name.lower()] = frame


def unregister(name: str) -> None:
    with _LOCK:
        _CATALOG.pop(name.lower(), None)


def sql(query: str, dialect: str = "duckdb", **tables: Any) -> DataFrame:
    """Run a SQL query over registered frames and the frames given as keyword arguments.

    ``EXPLAIN <query>`` returns the query's plans (like ``df.explain()``) as a one-column frame.
    A quoted path names a file table (``FROM 'data/*.parquet'``, ``.csv``, ``.json``, ``.lance``), and
    so do DuckDB's table functions (``FROM read_parquet('x.parquet')``, ``read_csv``, ``read_json``).
    Tables may be Thresher frames or Polars, pandas or Arrow tables.
    """
    m = re.match(r"^\s*EXPLAIN\s+(.*)$", query, flags=re.IGNORECASE | re.DOTALL)
    if m:
        from thresher.readers import from_pydict

        inner = sql(m.group(1), dialect=dialect, **tables)
        return from_pydict({"plan": [inner.explain(format="text", print_=False)]})
    with _LOCK:
        frames = dict(_CATALOG)
    frames.update({k.lower(): as_frame(v, k) for k, v in tables.items()})
    catalog = {k: v.plan for k, v in frames.items()}
    hit = _cached_plan(query, dialect, catalog)
    if hit is not None:
        return DataFrame(hit)
    text = query
    query, functions = _table_functions(query, dialect)
    frames.update(functions)
    with gc_paused():  # see planner/gc_pause.py
        tree = _parse(query, dialect)  # parsed once, for the file tables and the translation
        files = _file_tables(tree, frames)
        frames.update(files)
        plan = translate(query, {k: v.plan for k, v in frames.items()}, dialect=dialect, tree=tree,
                         execute=lambda p: DataFrame(p).to_arrow())
        # sqlglot's tree is cyclic (parent links): dropped while the collector is paused, the
        # young collection that runs when planning ends frees it; alive at that moment it would
        # be promoted and left to an older collection that traverses far more (TPC-H q2/q11/q16:
        # collector time per th.sql(...).to_arrow() 1.4-3.3 -> 0.8-1.7 ms)
        del tree
    if not functions and not files:  # those read fresh frames on every call: nothing to reuse
        _remember_plan(text, dialect, catalog, plan)
    return DataFrame(plan)


#: (query text, dialect, the registry's size, ((table name, id(plan)), ...)) -> (weak references to
#: those plans, the translated plan). Translating is a pure function of the text and the tables'
#: plans (immutable), so the same query over the same frames reuses its plan; the weak references
#: make sure an id still names the plan it named (and keep no frame alive).
_PLAN_CACHE: OrderedDict[tuple[Any, ...], tuple[tuple[weakref.ref[Any], ...], Any]] = OrderedDict()
_PLAN_CACHE_SIZE = 128


def clear_plan_cache() -> None:
    """Forget every remembered translation (a benchmark round that must plan from scratch)."""
    with _LOCK:
        _PLAN_CACHE.clear()


def _plan_key(query: str, dialect: str, catalog: dict[str, Any]) -> tuple[Any, ...]:
    from thresher.expressions.registry import _SQL_NAMES

    return (query, dialect, len(_SQL_NAMES), tuple(sorted((k, id(v)) for k, v in catalog.items())))


def _cached_plan(query: str, dialect: str, catalog: dict[str, Any]) -> Any:
    key = _plan_key(query, dialect, catalog)
    with _LOCK:
        entry = _PLAN_CACHE.get(key)
        if entry is None:
            return None
        refs, plan = entry
        if not all(r() is catalog[k] for r, (k, _) in zip(refs, key[3])):
            del _PLAN_CACHE[key]
            return None
        _PLAN_CACHE.move_to_end(key)
        return plan


def _remember_plan(query: str, dialect: str, catalog: dict[str, Any], plan: Any) -> None:
    key = _plan_key(query, dialect, catalog)
    try:
        refs = tuple(weakref.ref(catalog[k]) for k, _ in key[3])
    except TypeError:
        return
    with _LOCK:
        _PLAN_CACHE[key] = (refs, plan)
        while len(_PLAN_CACHE) > _PLAN_CACHE_SIZE:
            _PLAN_CACHE.popitem(last=False)


def _parse(query: str, dialect: str) -> Any:
    """The sqlglot tree of ``query``, or None when it does not parse (translate() reports why)."""
    from sqlglot.errors import ParseError

    from thresher.planner.sql.translate import parse_sql, sqlglot_dialect

    try:
        return parse_sql(query, sqlglot_dialect(dialect))
    except ParseError:
        return None


def as_frame(table: Any, name: str) -> DataFrame:
    """A Thresher frame for a table given to ``th.sql``: a frame, or a Polars/pandas/Arrow table."""
    if isinstance(table, DataFrame):
        return table
    import thresher.readers as readers

    mod = type(table).__module__.split(".")[0]
    if mod == "polars":
        import polars as pl

        if isinstance(table, pl.LazyFrame):
            table = table.collect()
        return readers.from_polars(table)
    if mod == "pandas":
        return readers.from_pandas(table)
    if mod == "pyarrow":
        return readers.from_arrow(table)
    raise SQLError(f"table {name!r} is a {type(table).__name__}; pass a Thresher DataFrame or a Polars, pandas "
                   "or Arrow table")


_TABLE_FUNCTIONS = {"read_parquet": "read_parquet", "parquet_scan": "read_parquet", "read_csv": "read_csv",
                    "read_csv_auto": "read_csv", "read_json": "read_json", "read_json_auto": "read_json",
                    "read_ndjson": "read_json", "read_ndjson_auto": "read_json"}


def _table_functions(query: str, dialect: str) -> tuple[str, dict[str, DataFrame]]:
    """Replace ``FROM read_parquet('x')`` (and read_csv/read_json) by a generated table name."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    import thresher.readers as readers

    if not re.search(r"\b(read_|parquet_scan)", query, flags=re.IGNORECASE):
        return query, {}
    try:
        tree = sqlglot.parse_one(query, dialect=dialect)
    except ParseError:
        return query, {}  # translate() reports the syntax error
    out: dict[str, DataFrame] = {}
    for table in list(tree.find_all(exp.Table)):
        fn = table.this
        if not isinstance(fn, exp.Func):
            continue
        fname = (fn.name if isinstance(fn, exp.Anonymous) else fn.sql_name()).lower()
        reader = _TABLE_FUNCTIONS.get(fname)
        if reader is None:
            raise UnsupportedError(f"table function {fname}(...) is not supported; use one of "
                                   f"{sorted(_TABLE_FUNCTIONS)} or pass a frame")
        args = [a for v in fn.args.values() for a in (v if isinstance(v, list) else [v]) if isinstance(a, exp.Expression)]
        if len(args) != 1:
            raise UnsupportedError(f"{fname}: only a path (or a list of paths) is supported, got {fn.sql(dialect)}")
        arg = args[0]
        items = arg.expressions if isinstance(arg, exp.Array) else [arg]
        if not all(isinstance(i, exp.Literal) and i.is_string for i in items):
            raise UnsupportedError(f"{fname}: the path must be a string literal, got {arg.sql(dialect)}")
        paths = [i.this for i in items]
        name = f"__{fname}_{len(out)}"
        out[name] = getattr(readers, reader)(paths if len(paths) > 1 else paths[0])
        alias = table.args.get("alias")
        table.set("this", exp.to_identifier(name))
        if alias is None:  # DuckDB names the table after the function
            table.set("alias", exp.TableAlias(this=exp.to_identifier(fname)))
    return (tree.sql(dialect=dialect), out) if out else (query, {})


_READERS = {".parquet": "read_parquet", ".pq": "read_parquet", ".csv": "read_csv", ".json": "read_json",
            ".jsonl": "read_json", ".ndjson": "read_json", ".lance": "read_lance"}


def _file_tables(tree: Any, known: dict[str, DataFrame]) -> dict[str, DataFrame]:
    """Tables named by a quoted path (``FROM 'data/*.parquet'``, ``FROM "imgs.lance"``), read by
    extension like DuckDB does; names already registered or given win. ``tree`` is the parsed
    query (None when it does not parse: translate() reports the syntax error)."""
    import os

    from sqlglot import exp

    import thresher.readers as readers

    if tree is None:
        return {}
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


