"""What the differential fuzzers share: run hypothesis cases through a checker that says
``"match"`` or ``"refused: ..."`` (and raises on a wrong answer), count the outcomes, and check
that refusals stay rare, so "refuse everything" cannot pass."""

from __future__ import annotations

import decimal
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as with_seed
from hypothesis.strategies import SearchStrategy, tuples


def run_cases(strategies: tuple[SearchStrategy[Any], ...], run_one: Callable[..., str], n: int,
              seed: int | None = None) -> Counter[str]:
    """``n`` cases drawn from ``strategies`` through ``run_one``: the outcomes counted ("match",
    "refused" and each refusal's text). Without ``seed`` the draw is the same every run."""
    stats: Counter[str] = Counter()

    @settings(max_examples=n, derandomize=seed is None, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(tuples(*strategies))
    def check(case: tuple[Any, ...]) -> None:
        outcome = run_one(*case)
        stats["match" if outcome == "match" else "refused"] += 1
        if outcome != "match":
            stats[outcome] += 1

    if seed is not None:
        check = with_seed(seed)(check)
    check()
    return stats


def assert_mostly_supported(stats: Counter[str], max_refused: float) -> None:
    """At most ``max_refused`` (a share) of the cases were refused, and some ran."""
    total = stats["match"] + stats["refused"]
    refusals = {k: v for k, v in stats.items() if k.startswith("refused:")}
    assert total > 0
    assert stats["refused"] <= max_refused * total, f"{stats['refused']}/{total} refused: {refusals}"


def same_number(x: float, y: float) -> bool:
    """Equal up to the last digits (1e-12 relative), NaN equal to NaN."""
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y or math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-300)


def same_dtype(got: pl.DataType, want: pl.DataType) -> bool:
    """Polars dtypes equal (lists by their inner types)."""
    if got == want:
        return True
    if isinstance(got, pl.List) and isinstance(want, pl.List):
        return same_dtype(got.inner, want.inner)
    return False


def same_value(a: object, b: object) -> bool:
    """Two cells of a Polars row equal: NULL only to NULL, bools only to bools, numbers up to float
    rounding (NaN to NaN; decimals and integers exactly), lists element by element."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float, decimal.Decimal)) and isinstance(b, (int, float, decimal.Decimal)):
        if isinstance(a, float) or isinstance(b, float):
            x, y = float(a), float(b)
            if math.isnan(x) or math.isnan(y):
                return math.isnan(x) and math.isnan(y)
            return x == y or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
        return same_number(float(a), float(b)) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


#: Polars' Rust panic (a BaseException: ``except Exception`` lets it through)
PANIC = pl.exceptions.PanicException


def refusal(text: str, exc: BaseException) -> str:
    """``"refused: ..."`` for an error by which Thresher refuses a construct (its own errors, and an
    execution error saying "is not supported"); else an AssertionError naming ``text``: a failure
    while running or a crash (any other exception, a Polars panic too) is a bug."""
    import thresher as th
    from thresher.errors import ThresherExecutionError

    if isinstance(exc, ThresherExecutionError):
        if "is not supported" in str(exc):
            return f"refused: {str(exc)[:80]}"
        raise AssertionError(f"{text}\nfailed while running: {exc}") from exc
    if isinstance(exc, th.ThresherError):
        return f"refused: {type(exc).__name__}: {str(exc)[:80]}"
    raise AssertionError(f"{text}\ncrashed with {type(exc).__name__}: {exc}") from exc


def build_refusal(text: str, exc: BaseException) -> str:
    """``"refused: ..."`` for an error raised while building Thresher's frame (a missing method or
    argument: AttributeError / TypeError, or Thresher's own error); else an AssertionError naming
    ``text``: any other exception, a Polars panic too, is a crash."""
    import thresher as th

    if isinstance(exc, (AttributeError, TypeError, th.ThresherError)):
        return f"refused: {type(exc).__name__}: {str(exc)[:80]}"
    raise AssertionError(f"{text}\ncrashed with {type(exc).__name__}: {exc}") from exc


def compare_with_polars(text: str, tf: Any, want: pl.DataFrame, want_rows: list[tuple[Any, ...]] | None = None,
                        sort_key: Callable[[tuple[Any, ...]], Any] | None = None) -> str:
    """Run Thresher's frame ``tf`` and compare it with Polars' result ``want`` (its ``want_rows``
    where the caller already took them): names, dtypes, then rows (in order, or both sorted by
    ``sort_key``). ``"match"``, or ``"refused: ..."`` where Thresher refused with its own error;
    an AssertionError naming ``text`` on a wrong answer, a failure while running or a crash."""
    try:
        got_arrow = tf.to_arrow()
    except (Exception, PANIC) as exc:  # noqa: BLE001 (classified: anything but a refusal is a bug)
        return refusal(text, exc)
    names = got_arrow.schema.names
    assert names == want.columns, f"{text}\ncolumns {names} vs Polars' {want.columns}"
    # (by position: Polars' from_arrow renames a column named '' to 'column_1')
    got = pl.from_arrow(got_arrow.rename_columns([f"c{i}" for i in range(len(names))]))
    assert isinstance(got, pl.DataFrame)
    for i, (name, want_type) in enumerate(want.schema.items()):
        assert same_dtype(got.schema[f"c{i}"], want_type), (
            f"{text}\ncolumn {name!r}: {got.schema[f'c{i}']} vs Polars' {want_type}")
    got_rows = got.rows()
    want_rows = want.rows() if want_rows is None else want_rows
    assert len(got_rows) == len(want_rows), (
        f"{text}\n{len(got_rows)} rows vs Polars' {len(want_rows)}\n{got_rows}\nvs Polars'\n{want_rows}")
    if sort_key is not None:
        got_rows, want_rows = sorted(got_rows, key=sort_key), sorted(want_rows, key=sort_key)
    for i, (a, b) in enumerate(zip(got_rows, want_rows)):
        assert len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b)), (
            f"{text}\nrow {i}: {a} vs Polars' {b}\n{got_rows}\nvs Polars'\n{want_rows}")
    return "match"
