"""Canonical form of a query result, so results from different engines compare value by value.

Columns are compared by position (engines name aggregates differently), rows as a multiset (ties
under ORDER BY ... LIMIT may come in any order), numbers with a relative tolerance of 1e-6
(decimal vs double arithmetic), dates as ISO strings.
"""

from __future__ import annotations

import datetime
import decimal
import math
from pathlib import Path
from typing import Any

TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")


def _norm(v: Any) -> Any:
    if isinstance(v, decimal.Decimal | float):
        return float(v)
    if isinstance(v, datetime.date | datetime.datetime):
        return v.isoformat()[:10] if type(v) is datetime.date else v.isoformat()
    if isinstance(v, bool) or v is None or isinstance(v, int | str):
        return v
    return str(v)


def _key(row: list[Any]) -> str:
    return repr([f"{x:.6g}" if isinstance(x, float) else x for x in row])


def canonical(table: Any) -> dict[str, Any]:
    """``{"shape": [rows, cols], "rows": [...]}`` of an Arrow table (or anything with ``to_arrow``)."""
    if not hasattr(table, "to_pylist"):
        table = table.to_arrow()
    cols = [[_norm(v) for v in c.to_pylist()] for c in table.columns]
    rows = [list(r) for r in zip(*cols)] if cols else []
    rows.sort(key=_key)
    return {"shape": [table.num_rows, table.num_columns], "rows": rows}


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
    return bool(a == b)


def same_result(ref: dict[str, Any], other: dict[str, Any]) -> bool:
    """Same shape and every value equal (numbers within 1e-6 relative)."""
    if ref["shape"] != other["shape"]:
        return False
    return all(len(r) == len(o) and all(_close(x, y) for x, y in zip(r, o))
               for r, o in zip(ref["rows"], other["rows"]))


def plain_string_copy(root: Path) -> Path:
    """A copy of the tables with string_view columns as large_string (Daft 0.7 cannot read Utf8View)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = root.with_name(root.name + "-plainstrings")
    if (out / ".complete").exists():
        return out
    for f in root.glob("*/*.parquet"):
        t = pq.read_table(f)
        schema = pa.schema([pa.field(x.name, pa.large_string() if pa.types.is_string_view(x.type) else x.type)
                            for x in t.schema])
        (out / f.parent.name).mkdir(parents=True, exist_ok=True)
        pq.write_table(t.cast(schema), out / f.parent.name / f.name)
    (out / ".complete").touch()
    return out


def generate(scale: float) -> Path:
    """TPC-H at ``scale`` (generated once under .data/, by the tests' own generator)."""
    import sys

    tests = str(Path(__file__).resolve().parents[2] / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from conftest import generate_tpch  # type: ignore[import-not-found]

    return generate_tpch(scale)  # type: ignore[no-any-return]


def duckdb_connection(root: str | Path) -> Any:
    """A DuckDB connection with one view per TPC-H table over its Parquet files."""
    import duckdb

    con = duckdb.connect()
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{Path(root) / t}/*.parquet')")
    return con


def ratio_summary(result: dict[str, Any], engine: str = "thresher", peers: tuple[str, ...] = ("polars", "duckdb"),
                  goal: dict[str, float] | None = None) -> str:
    """Markdown: per query, ``engine``'s time over each peer's (> 1: ``engine`` is slower), wall and CPU.

    Wall is the ratio of the medians and, in brackets, the paired ratio (median over rounds of the
    ratio within a round, which load drift cannot tilt); CPU is the ratio of the median process
    CPU seconds (threads included). With the rounds spread over several worker processes
    (``--processes``), the wall cell also gives, in square brackets, the range over the processes
    of the ratio of the two engines' medians in that process (run in the same rounds). Totals sum
    the per-query medians over the queries every engine ran and matched. ``goal`` maps a peer to
    the per-query limit to count queries over it.
    """
    import statistics

    rows = {(r["engine"], r["case"]): r for r in result["rows"] if r["status"] == "ok" and r.get("times")}

    def cpu(r: dict[str, Any]) -> float | None:
        xs = [m["cpu_s"] for m in r.get("metrics") or [] if isinstance(m.get("cpu_s"), int | float)]
        return statistics.median(xs) if xs else None

    def paired(a: dict[str, Any], b: dict[str, Any]) -> float | None:
        xs = [x / y for x, y in zip(a["times"], b["times"]) if x and y]
        return statistics.median(xs) if xs else None

    def per_process(a: dict[str, Any], b: dict[str, Any]) -> str:
        pa, pb = a.get("process_medians_s") or [], b.get("process_medians_s") or []
        if len(pa) < 2 or len(pa) != len(pb) or a.get("process") != b.get("process"):
            return ""
        rs = [x / y for x, y in zip(pa, pb) if x and y]
        return f" [{min(rs):.2f}-{max(rs):.2f}]" if rs else ""

    peers = tuple(p for p in peers if any(e == p for e, _ in rows))
    if (engine not in {e for e, _ in rows}) or not peers:
        return ""
    head = ["query"] + [f"{engine}/{p} {k}" for p in peers for k in ("wall (paired)", "CPU")]
    spread = " [range over the worker processes]" if result.get("processes", 1) > 1 else ""
    lines = [f"Time ratios {engine} / peer per query (< 1: {engine} faster); wall: ratio of the medians "
             f"(paired){spread}:", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    both = [c for c in result["cases"] if (engine, c) in rows and all((p, c) in rows for p in peers)]
    tot: dict[str, float] = {}
    over: dict[str, list[str]] = {p: [] for p in peers}
    for c in result["cases"]:
        e = rows.get((engine, c))
        cells = [c]
        for p in peers:
            o = rows.get((p, c))
            if e is None or o is None:
                cells += ["-", "-"]
                continue
            w, pr = e["median_s"] / o["median_s"], paired(e, o)
            ce, co = cpu(e), cpu(o)
            cells += [(f"{w:.2f}x ({pr:.2f}x)" if pr else f"{w:.2f}x") + per_process(e, o),
                      f"{ce / co:.2f}x" if ce and co else "-"]
            if goal and p in goal and w > goal[p]:
                over[p].append(c)
        lines.append("| " + " | ".join(cells) + " |")
    for name in (engine, *peers):
        tot[name] = sum(rows[(name, c)]["median_s"] for c in both)
        tot[name + ":cpu"] = sum(cpu(rows[(name, c)]) or 0.0 for c in both)
    lines += ["", f"Totals over the {len(both)} queries every engine ran and matched (sum of medians): "
              + ", ".join(f"{n} {tot[n]:.3f} s wall / {tot[n + ':cpu']:.3f} s CPU" for n in (engine, *peers)) + "; "
              + ", ".join(f"{engine}/{p} {tot[engine] / tot[p]:.2f}x wall, "
                          f"{tot[engine + ':cpu'] / tot[p + ':cpu']:.2f}x CPU" for p in peers if tot[p]) + "."]
    for p, lim in (goal or {}).items():
        if p in over:
            lines.append(f"Queries over {lim:g}x {p} (wall, ratio of medians): "
                         + (", ".join(over[p]) if over[p] else "none") + ".")
    return "\n".join(lines)
