"""TPC-DS: the 99 query texts as DuckDB ships them, the tables, and a result comparison.

The queries were dumped once from DuckDB's ``tpcds`` extension (``tpcds_queries()``, DuckDB 1.5.5)
into ``tests/sql/tpcds/queries/qNN.sql``; the data comes from ``tpcgen-cli tpcds parquet``.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
QUERY_DIR = ROOT / "tests" / "sql" / "tpcds" / "queries"

TABLES = (
    "call_center", "catalog_page", "catalog_returns", "catalog_sales", "customer", "customer_address",
    "customer_demographics", "date_dim", "household_demographics", "income_band", "inventory", "item",
    "promotion", "reason", "ship_mode", "store", "store_returns", "store_sales", "time_dim", "warehouse",
    "web_page", "web_returns", "web_sales", "web_site",
)


def query(n: int) -> str:
    """The text of TPC-DS query ``n`` (1..99)."""
    return (QUERY_DIR / f"q{n:02d}.sql").read_text()


def tables(root: str | Path) -> dict[str, Any]:
    """Every TPC-DS table under ``root`` (``<table>.parquet``) as a lazy Thresher frame."""
    import thresher as th

    return {t: th.read_parquet(str(Path(root) / f"{t}.parquet")) for t in TABLES}


def duckdb_connection(root: str | Path) -> Any:
    """A DuckDB connection with one view per TPC-DS table over the same Parquet files."""
    import duckdb

    con = duckdb.connect()
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{Path(root) / t}.parquet')")
    return con


def has_top_level_order_by(sql: str) -> bool:
    """Whether the outermost query orders its rows (then row order is compared too)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, dialect="duckdb")
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    return tree.args.get("order") is not None


def _norm(v: object) -> object:
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, datetime.datetime):
        return v.date()
    return v


def _same(a: object, b: object) -> bool:
    a, b = _norm(a), _norm(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        fa, fb = float(a), float(b)  # type: ignore[arg-type]
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return math.isclose(fa, fb, rel_tol=1e-6, abs_tol=1e-6)
    return a == b


def _sort_key(row: tuple[object, ...]) -> tuple[tuple[int, str], ...]:
    # NULLs first, floats rounded so tolerance-equal values sort alike
    out = []
    for v in row:
        v = _norm(v)
        if v is None:
            out.append((0, ""))
        elif isinstance(v, float):
            out.append((1, f"{v:.4e}" if math.isfinite(v) else str(v)))
        else:
            out.append((1, str(v)))
    return tuple(out)


def compare(got: Any, ref: Any, ordered: bool) -> str | None:
    """``None`` when the Arrow tables ``got`` and ``ref`` hold the same rows, else what differs.

    Columns are compared by position (values, not names), numbers with a relative tolerance of
    1e-6 (DuckDB sums decimals exactly; a float path may differ in the last digits), rows in
    order when ``ordered`` and as multisets otherwise.
    """
    if got.num_columns != ref.num_columns:
        return f"{got.num_columns} columns ({got.column_names}) vs DuckDB's {ref.num_columns} ({ref.column_names})"
    if got.num_rows != ref.num_rows:
        return f"{got.num_rows} rows vs DuckDB's {ref.num_rows}"
    g = [tuple(r.values()) for r in got.to_pylist()] if got.num_rows else []
    r = [tuple(x.values()) for x in ref.to_pylist()] if ref.num_rows else []
    # to_pylist on duplicate column names keeps one; fall back to column-wise rows
    if g and len(g[0]) != got.num_columns:
        g = list(zip(*(c.to_pylist() for c in got.columns)))
    if r and len(r[0]) != ref.num_columns:
        r = list(zip(*(c.to_pylist() for c in ref.columns)))
    if not ordered:
        g, r = sorted(g, key=_sort_key), sorted(r, key=_sort_key)
    for i, (a, b) in enumerate(zip(g, r)):
        bad = [(ref.column_names[j], x, y) for j, (x, y) in enumerate(zip(a, b)) if not _same(x, y)]
        if bad:
            return f"row {i}: (column, got, duckdb) {bad[:4]}"
    return None


def query_numbers() -> list[int]:
    return sorted(int(re.sub(r"\D", "", p.stem)) for p in QUERY_DIR.glob("q*.sql"))
