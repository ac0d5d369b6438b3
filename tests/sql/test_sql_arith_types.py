"""The result types of SQL arithmetic, as DuckDB's: differential tests over every pair of
integer types (signed and unsigned), FLOAT, and integer literals that fit the other operand's
type or not, for ``+ - * // % /``; the values (and overflow errors) too.

DuckDB types an integer literal next to an integer by the other operand where it fits
(``s * 10`` of a SMALLINT ``s`` is a SMALLINT, checked for overflow in SMALLINT), else as the
smallest of INTEGER and BIGINT that holds it (``s * 100000`` is an INTEGER); a signed and an
unsigned integer meet in the signed one where it is wider, else in BIGINT (TINYINT and
UTINYINT: BIGINT); a FLOAT with an integer or DECIMAL stays a FLOAT, computed in float32.
Thresher typed every literal BIGINT (``s * 10`` was a BIGINT), met signed and unsigned in
Polars' supertype (TINYINT + UTINYINT a SMALLINT), widened a FLOAT with an INTEGER to DOUBLE,
and crashed on a few (``1000 % i8``: Polars' own type of the untyped literal differed from ours).
DECIMAL results are left out: Thresher's are DECIMAL(38, s), DuckDB narrows the precision (the
same values; see docs/guide/sql.md).
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest

import thresher as th

duckdb = pytest.importorskip("duckdb")

TYPES = {"i8": pa.int8(), "i16": pa.int16(), "i32": pa.int32(), "i64": pa.int64(), "u8": pa.uint8(),
         "u16": pa.uint16(), "u32": pa.uint32(), "f32": pa.float32()}
OTHERS = [*TYPES, "10", "1000", "100000", "3000000000", "-1", "2.5", "1e3", "CAST(2 AS TINYINT)"]
DATA = {
    # small values: no overflow, no division by zero
    "small": {k: [1, 2, None, 3] for k in TYPES},
    # values near each type's end: products and sums leave it (an error in both)
    "big": {"i8": [100, -100, 3, 0], "i16": [30000, -2, 7, 0], "i32": [2_000_000_000, -5, 9, 0],
            "i64": [2 ** 62, -(2 ** 62), 3, 0], "u8": [200, 0, 3, 1], "u16": [60000, 1, 0, 3],
            "u32": [4_000_000_000, 2, 0, 5], "f32": [1.5, -2.25, 0.0, None]},
}


def _norm(values: list[Any]) -> list[Any]:
    return ["nan" if isinstance(v, float) and math.isnan(v) else v for v in values]


def _outcome(run: Any, sql: str) -> tuple[str, list[Any]] | str:
    try:
        t = run(sql)
    except (duckdb.Error, th.ThresherError):
        return "error"
    dtype = t.schema.field("r").type
    # (a DECIMAL's scale only: Thresher's precision is 38, see the module doc)
    name = f"decimal(scale {dtype.scale})" if pa.types.is_decimal(dtype) else str(dtype)
    return name, _norm(t.column("r").to_pylist())


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("column", sorted(TYPES))
def test_arithmetic_types_and_values_match_duckdb(data: str, column: str) -> None:
    tab = pa.table({k: pa.array(v, TYPES[k]) for k, v in DATA[data].items()})
    con = duckdb.connect()
    con.register("t", tab)
    frames = {"t": th.from_arrow(tab)}

    def duck(sql: str) -> pa.Table:
        return con.sql(sql).to_arrow_table()

    def ours(sql: str) -> pa.Table:
        return th.sql(sql, **frames).to_arrow()

    wrong = []
    for op in ["+", "-", "*", "//", "%", "/"]:
        for other in OTHERS:
            for expr in (f"{column} {op} {other}", f"{other} {op} {column}"):
                sql = f"SELECT {expr} AS r FROM t"
                want, got = _outcome(duck, sql), _outcome(ours, sql)
                if want != got:
                    wrong.append(f"{expr}: DuckDB {want}, Thresher {got}")
    assert not wrong, "\n".join(wrong)


def test_division_by_a_constant_is_exact_as_in_duckdb() -> None:
    """``x / 10`` is IEEE's division in DuckDB; Polars multiplies a column by the constant's
    reciprocal (``3 / 10`` was 0.30000000000000004; a third of these quotients were one unit in
    the last place off). Compared exactly, not within a tolerance."""
    import random

    rnd = random.Random(7)
    xs = [rnd.uniform(-1000, 1000) for _ in range(300)] + [3.0, 0.1, None, float("inf"), -0.0]
    tab = pa.table({"x": pa.array(xs, pa.float64()), "i": pa.array([rnd.randint(-99, 99) for _ in xs], pa.int32()),
                    "m": pa.array([None if v is None or abs(v) > 1e6 else round(__import__("decimal").Decimal(v), 2)
                                   for v in xs], pa.decimal128(12, 2))})
    con = duckdb.connect()
    con.register("t", tab)
    sql = ("SELECT x / 10 AS a, x / 7.0 AS b, i / 3 AS c, x / 0.1 AS d, m / 10 AS e, sum(x) OVER () / 7 AS f, "
           "x // 0.3 AS g FROM t")
    want = con.sql(sql).to_arrow_table().to_pylist()
    got = th.sql(sql, t=th.from_arrow(tab)).to_arrow().to_pylist()
    assert got == want
