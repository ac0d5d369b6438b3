"""An error Thresher raises inside a Polars batch function (SQL ``1 // 0``, ``chr(-1)``, a bad
``strptime`` text, a text that is no number, an integer overflow) reaches the user as Thresher's
message alone, of its Thresher type: Polars appends the whole lowered Polars expression to an
exception raised in a function it called (hundreds of lines for ``chr``), none the user wrote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

import thresher as th
from thresher.errors import ThresherError, ThresherExecutionError, without_polars_context

T = pa.table({"a": pa.array([1, 0, 2], pa.int64()), "g": pa.array([1, 1, 2], pa.int64()),
              "s": ["2020-01-01", "x", None]})

#: (query, what the message must name): a projection, a GROUP BY's aggregate (one Polars program,
#: collected lazily), a WHERE (evaluated batch by batch), a join's output
CASES = [
    ("SELECT 1 // a AS q FROM t", r'division by zero in 1 // col\("a"\)'),
    ("SELECT g, sum(1 // a) AS q FROM t GROUP BY g", r'division by zero in 1 // col\("t.a"\)'),
    ("SELECT * FROM t WHERE 1 // a > 0", r'division by zero in 1 // col\("a"\)'),
    ("SELECT t.g, 1 % u.a AS q FROM t JOIN t AS u ON t.g = u.g", r'division by zero in 1 % col\("u.a"\)'),
    ("SELECT chr(a - 1) AS c FROM t", r"chr\(-1\): not a Unicode code point"),
    ("SELECT strptime(s, '%Y-%m-%d') AS d FROM t", r"strptime\('x', '%Y-%m-%d'\)"),
    ("SELECT CAST(s AS INTEGER) AS i FROM t", r"could not convert string '2020-01-01' to INTEGER"),
    ("SELECT CAST(a + 1 AS TINYINT) * CAST(100 AS TINYINT) AS o FROM t",
     r"integer overflow in an expression of column 'a': the result \(200\) does not fit Int8"),
    ("SELECT g, max(CAST(a + 1 AS TINYINT) * CAST(100 AS TINYINT)) AS o FROM t GROUP BY g",
     r"integer overflow in an expression of column 't.a': the result \(\d+\) does not fit Int8"),
]


def _assert_clean(exc: BaseException, pattern: str) -> None:
    assert isinstance(exc, ThresherExecutionError), type(exc)
    text = str(exc)
    assert "This error occurred" not in text and "python_udf" not in text and "strict_cast" not in text, text
    assert "\n" not in text, text
    import re

    assert re.search(pattern, text), text


@pytest.mark.parametrize(("query", "pattern"), CASES)
def test_sql_error_has_no_polars_expression(query: str, pattern: str) -> None:
    with pytest.raises(ThresherExecutionError) as info:
        th.sql(query, t=th.from_arrow(T)).to_arrow()
    _assert_clean(info.value, pattern)


FRAME_STEPS: list[Callable[[th.DataFrame], Any]] = [
    lambda f: f.filter(th.col("g") > 0).to_pydict(),
    lambda f: f.group_by("g").agg(th.col("q").max()).to_pydict(),
    lambda f: f.join(th.from_arrow(T), on="g").to_pylist(),
    lambda f: list(f.iter_batches()),
    lambda f: f.with_columns(r=th.col("g") * 2).collect(),
    lambda f: f.select("q").to_pandas(),
]


@pytest.mark.parametrize("step", FRAME_STEPS)
def test_dataframe_error_has_no_polars_expression(step: Callable[[th.DataFrame], Any]) -> None:
    # the DataFrame API over a frame whose column raises (the DataFrame API's own arithmetic
    # wraps or gives NULL, as Polars'): every way of running it gives the message alone
    frame = th.sql("SELECT g, 1 // a AS q FROM t", t=th.from_arrow(T))
    with pytest.raises(ThresherExecutionError) as info:
        step(frame)
    _assert_clean(info.value, r'division by zero in 1 // col\("a"\)')


def test_trimming_keeps_the_type_and_the_head() -> None:
    class Mine(ThresherError):
        pass

    exc = Mine("chr(-1): bad\n\nThis error occurred in the following expression:\n\tcol(\"a\")")
    assert without_polars_context(exc) is exc
    assert exc.args == ("chr(-1): bad",)
    plain = Mine("no context\n\nsecond paragraph")
    assert str(without_polars_context(plain)) == "no context\n\nsecond paragraph"
