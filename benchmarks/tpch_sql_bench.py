"""The 22 TPC-H queries as SQL: ``th.sql`` vs DuckDB, Polars SQL (``pl.SQLContext``) and Daft SQL.

Same Parquet files (tpchgen-cli) and the same query texts for every engine; each engine is its
own process (a query that hangs is cut off after ``timeout_s`` and the worker restarted). The
Thresher time includes parsing and planning: the translation ``th.sql`` remembers for the same
text over the same frames is forgotten before every round (harness rule 4). Every run's result
is compared with DuckDB's (positionally, rows as a multiset, numbers within 1e-6 relative): a
query whose result differs is marked MISMATCH and left out of the ratio and the geometric mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness import Bench, Engine
from benchmarks.tpch.canon import TABLES, canonical, duckdb_connection, generate, plain_string_copy, same_result


def prepare(p: dict[str, Any], work: Path) -> dict[str, Any]:
    root = generate(p["scale"])
    return {"_root": str(root), "_plain": str(plain_string_copy(root))}


def cases(p: dict[str, Any]) -> list[str]:
    q = p.get("queries")
    qs = ([q] if isinstance(q, int) else [int(x) for x in (q if isinstance(q, list | tuple) else str(q).split(",")) if x]
          if q else list(range(1, 23)))
    return [f"q{q}" for q in qs]


def _text(case: str) -> str:
    from benchmarks.tpch.sql_queries import QUERIES

    return QUERIES[int(case[1:])]


def _start_thresher(p: dict[str, Any]) -> dict[str, Any]:
    import thresher as th

    root = Path(p["_root"])
    frames = {t: th.read_parquet(str(root / t)) for t in TABLES}
    return {"run": lambda q: th.sql(q, **frames).to_arrow()}


def _reset_thresher(state: dict[str, Any]) -> None:
    """Harness rule 4: every round translates its SQL again (th.sql remembers the translation of
    the same text over the same frames; the other engines parse and plan every round too) and
    lowers its Polars program from scratch (no expression kept from the previous round)."""
    from thresher.operators.expr_to_polars import clear_caches
    from thresher.sql_frontend import clear_plan_cache

    clear_plan_cache()
    clear_caches()


def _start_duckdb(p: dict[str, Any]) -> dict[str, Any]:
    con = duckdb_connection(p["_root"])
    return {"run": lambda q: con.sql(q).to_arrow_table()}


def _start_polars(p: dict[str, Any]) -> dict[str, Any]:
    import polars as pl

    root = Path(p["_root"])
    ctx = pl.SQLContext({t: pl.scan_parquet(str(root / t / "*.parquet")) for t in TABLES})
    return {"run": lambda q: ctx.execute(q, eager=True).to_arrow()}


def _start_daft(p: dict[str, Any]) -> dict[str, Any]:
    import daft

    root = Path(p["_plain"])  # Daft 0.7 cannot read tpchgen's string_view columns
    dtabs = {t: daft.read_parquet(str(root / t / "*.parquet")) for t in TABLES}
    return {"run": lambda q: daft.sql(q, **dtabs).to_arrow()}


def _run(state: dict[str, Any], case: str) -> Any:
    return state["run"](_text(case))


def _check(state: dict[str, Any], case: str, out: Any) -> dict[str, Any]:
    return canonical(out)


BENCH = Bench(
    name="tpch_sql",
    title="TPC-H via SQL: th.sql vs DuckDB, Polars SQL, Daft SQL",
    engines=(
        Engine("thresher", _start_thresher, _run, _check, reset=_reset_thresher, requires=("thresher",)),
        Engine("duckdb", _start_duckdb, _run, _check, requires=("duckdb",)),
        Engine("polars", _start_polars, _run, _check, requires=("polars",)),
        Engine("daft", _start_daft, _run, _check, requires=("daft",), group="daft"),
    ),
    reference="duckdb",
    baseline="duckdb",
    units="queries",
    quick={"scale": 0.1, "queries": "", "rounds": 2},
    full={"scale": 1.0, "queries": "", "rounds": 3},
    prepare=prepare,
    cases=cases,
    compare=same_result,
    timeout_s=180.0,
    notes="Ratio = DuckDB median / engine median per query (> 1: faster than DuckDB); results compared "
          "with DuckDB's before a time counts. cpu_s: process CPU seconds of the round (threads included). "
          "The polars engine is Polars' lazy engine planning the same SQL (pl.SQLContext -> LazyFrame).",
)
