"""``expr.dt``: date and time parts (evaluated by Polars).

Examples
--------
>>> from thresher import col
>>> col("d").dt.year()
col("d").dt.year()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher.datatypes import DataType, Field
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import Call, Expr
from thresher.expressions.registry import FunctionSpec, expect, register


def _part_rule(fn: str) -> Any:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        f = args[0]
        if fn in ("dt.hour", "dt.minute", "dt.second"):  # (a DATE has no time of day, in Polars as in DuckDB)
            expect(f, f.dtype.kind == "timestamp" or f.dtype.is_null(), "a timestamp", fn)
        expect(f, f.dtype.kind in ("date", "timestamp") or f.dtype.is_null(), "a date or timestamp", fn)
        return PART_TYPES[fn.removeprefix("dt.")]()

    return rule


#: each part's type, as Polars gives it (the year Int32, the day of the year Int16, the others Int8)
PART_TYPES = {"year": DataType.int32, "day_of_year": DataType.int16, "month": DataType.int8, "day": DataType.int8,
              "hour": DataType.int8, "minute": DataType.int8, "second": DataType.int8, "weekday": DataType.int8,
              "quarter": DataType.int8}


for _p in ("year", "month", "day", "hour", "minute", "second", "weekday", "quarter", "day_of_year"):
    register(FunctionSpec(f"dt.{_p}", _part_rule(f"dt.{_p}"), sql_names=(f"dt_{_p}",)))


def _truncate_rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    f = args[0]
    expect(f, f.dtype.kind in ("date", "timestamp"), "a date or timestamp", "dt.truncate")
    return f.dtype


register(FunctionSpec("dt.truncate", _truncate_rule))


def _offset_rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    f = args[0]
    expect(f, f.dtype.kind in ("date", "timestamp"), "a date or timestamp", "dt.offset_by")
    return f.dtype


register(FunctionSpec("dt.offset_by", _offset_rule))


def _strftime_rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    f = args[0]
    ok = f.dtype.kind in ("date", "timestamp") or pa.types.is_time(f.dtype.arrow) or f.dtype.is_null()
    expect(f, ok, "a date, time or timestamp", "dt.strftime")
    if not isinstance(opts.get("format"), str):
        raise ThresherTypeError(f"dt.strftime: format must be a string, got {opts.get('format')!r}")
    return DataType.string()


register(FunctionSpec("dt.strftime", _strftime_rule, sql_names=("dt_strftime",)))


class DateTimeNamespace:
    """Date/time functions, reached as ``expr.dt``."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    if not TYPE_CHECKING:  # (hidden from mypy: a class __getattr__ would type every misspelling)
        def __getattr__(self, name: str) -> Any:
            from thresher.expressions.expr import namespace_miss

            raise namespace_miss("dt", name)

    def _call(self, name: str, **options: Any) -> Expr:
        return Call(f"dt.{name}", (self._expr,), tuple(options.items()))

    def year(self) -> Expr:
        return self._call("year")

    def month(self) -> Expr:
        return self._call("month")

    def day(self) -> Expr:
        return self._call("day")

    def hour(self) -> Expr:
        return self._call("hour")

    def minute(self) -> Expr:
        return self._call("minute")

    def second(self) -> Expr:
        return self._call("second")

    def weekday(self) -> Expr:
        """ISO weekday, Monday = 1."""
        return self._call("weekday")

    def quarter(self) -> Expr:
        return self._call("quarter")

    def day_of_year(self) -> Expr:
        return self._call("day_of_year")

    def ordinal_day(self) -> Expr:
        """The day of the year, 1 to 366 (Polars' name of :meth:`day_of_year`; Int16)."""
        return self._call("day_of_year")

    def _polars(self, name: str) -> Expr:
        import thresher.expressions.numeric  # noqa: F401  (registers Polars' pass-through methods)

        return self._call(name)

    def century(self) -> Expr:
        """The century (2000 is in the 20th, 2001 in the 21st), as Polars."""
        return self._polars("century")

    def millennium(self) -> Expr:
        """The millennium, as Polars."""
        return self._polars("millennium")

    def days_in_month(self) -> Expr:
        """The number of days in the value's month (int8), as Polars.

        >>> import datetime, thresher as th
        >>> th.from_pydict({"d": [datetime.date(2024, 2, 3)]}).select(th.col("d").dt.days_in_month()).to_pydict()
        {'d': [29]}
        """
        return self._polars("days_in_month")

    def _total(self, unit: str, fractional: bool) -> Expr:
        import thresher.expressions.numeric  # noqa: F401  (registers Polars' pass-through methods)

        return self._call(f"total_{unit}", fractional=bool(fractional))

    def total_days(self, *, fractional: bool = False) -> Expr:
        """A duration in whole days (int64; ``fractional=True``: float64), as Polars.

        >>> import datetime, thresher as th
        >>> df = th.from_pydict({"d": [datetime.timedelta(hours=36), None]})
        >>> df.select(th.col("d").dt.total_days(), h=th.col("d").dt.total_hours()).to_pydict()
        {'d': [1, None], 'h': [36, None]}
        """
        return self._total("days", fractional)

    def total_hours(self, *, fractional: bool = False) -> Expr:
        """A duration in whole hours (see :meth:`total_days`)."""
        return self._total("hours", fractional)

    def total_minutes(self, *, fractional: bool = False) -> Expr:
        """A duration in whole minutes (see :meth:`total_days`)."""
        return self._total("minutes", fractional)

    def total_seconds(self, *, fractional: bool = False) -> Expr:
        """A duration in whole seconds (see :meth:`total_days`)."""
        return self._total("seconds", fractional)

    def total_milliseconds(self, *, fractional: bool = False) -> Expr:
        """A duration in whole milliseconds (see :meth:`total_days`)."""
        return self._total("milliseconds", fractional)

    def total_microseconds(self, *, fractional: bool = False) -> Expr:
        """A duration in whole microseconds (see :meth:`total_days`)."""
        return self._total("microseconds", fractional)

    def total_nanoseconds(self, *, fractional: bool = False) -> Expr:
        """A duration in whole nanoseconds (see :meth:`total_days`)."""
        return self._total("nanoseconds", fractional)

    def week(self) -> Expr:
        """The ISO week number, 1 to 53, as Polars."""
        return self._polars("week")

    def iso_year(self) -> Expr:
        """The ISO year (the year of the ISO week), as Polars."""
        return self._polars("iso_year")

    def is_leap_year(self) -> Expr:
        """True in a leap year."""
        return self._polars("is_leap_year")

    def month_start(self) -> Expr:
        """The first day of the month (a timestamp keeps its time of day), as Polars."""
        return self._polars("month_start")

    def month_end(self) -> Expr:
        """The last day of the month (a timestamp keeps its time of day), as Polars."""
        return self._polars("month_end")

    def truncate(self, every: str) -> Expr:
        """Truncate to a unit: "1y", "1mo", "1w", "1d", "1h" (Polars duration strings)."""
        return self._call("truncate", every=every)

    def _passthrough(self, name: str, **options: Any) -> Expr:
        import thresher.expressions.numeric  # noqa: F401  (registers Polars' pass-through methods)

        return self._call(name, **options)

    def round(self, every: str) -> Expr:
        """Rounded to the nearest multiple of ``every`` ("1h", "15m", "1d", "1mo"; Polars' duration
        strings; half-way up), as Polars' ``dt.round``.

        >>> import datetime as dt, thresher as th
        >>> df = th.from_pydict({"t": [dt.datetime(2024, 1, 1, 10, 40), None]})
        >>> df.select(th.col("t").dt.round("1h")).to_pydict()
        {'t': [datetime.datetime(2024, 1, 1, 11, 0), None]}
        """
        if not isinstance(every, str):
            raise ThresherTypeError(f"dt.round: every must be a duration string like '1h', got {every!r}")
        return self._passthrough("round", every=every)

    def date(self) -> Expr:
        """The date of a timestamp, as Polars."""
        return self._passthrough("date")

    def epoch(self, time_unit: str = "us") -> Expr:
        """The time since 1970-01-01 in ``time_unit`` ("ns", "us", "ms", "s" or "d"), as Polars."""
        return self._passthrough("epoch", time_unit=time_unit)

    def timestamp(self, time_unit: str = "us") -> Expr:
        """The timestamp as an integer in ``time_unit`` ("ns", "us", "ms"), as Polars."""
        return self._passthrough("timestamp", time_unit=time_unit)

    def millisecond(self) -> Expr:
        return self._passthrough("millisecond")

    def microsecond(self) -> Expr:
        return self._passthrough("microsecond")

    def nanosecond(self) -> Expr:
        return self._passthrough("nanosecond")

    def strftime(self, format: str) -> Expr:
        """Format as text with a ``strftime`` pattern (chrono's, as in Polars), e.g. "%Y-%m-%d".

        >>> from thresher import col
        >>> col("d").dt.strftime("%Y-%m")
        col("d").dt.strftime(format='%Y-%m')
        """
        return self._call("strftime", format=format)

    to_string = strftime

    def offset_by(self, by: str) -> Expr:
        """Shift by a calendar interval like "1y", "-3mo", "10d"."""
        return self._call("offset_by", by=by)
