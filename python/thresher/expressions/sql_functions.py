"""Functions SQL needs that the DataFrame namespaces do not spell (window functions: ``window.py``).

Their Polars lowerings live in ``operators/sql_functions_polars.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thresher.datatypes import DataType, Field
from thresher.expressions.registry import common_type, expect, function


@function("range_list", sql_names=("__range_list",))
def _range_list(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``[0, 1, ..., n-1]`` for an integer ``n`` (INTERSECT ALL / EXCEPT ALL repeat a row n times)."""
    return DataType.list(DataType.int64())


@function("grouping", sql_names=("__grouping",))
def _grouping(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """SQL ``GROUPING(a, b, ...)``: a bit per argument, set where the row's grouping set leaves it
    out. Only a placeholder: the SQL translator replaces it with the grouping columns of the
    aggregate it belongs to (it has no kernel)."""
    return DataType.int64()


@function("single_row_value", sql_names=("__single_row_value",))
def _single_row_value(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``__single_row_value(value, n_rows)``: ``value``, or an error when ``n_rows`` exceeds 1 (a
    scalar subquery that returned more than one row; the SQL translator adds it, see
    ``planner/sql/translate.py``'s ``_guard_scalar_subqueries``)."""
    return args[0].dtype


@function("sql_nonzero", sql_names=("__sql_nonzero",))
def _sql_nonzero(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``__sql_nonzero(value, n, d)``: ``value`` (``n % d`` or ``n // d``, computed), or an error
    where ``d`` is 0 and ``n`` is not NULL: SQL's division by zero (the SQL translator adds it,
    see ``planner/sql/coerce.py``; a CASE branch or a WHERE term checks only its own rows)."""
    return args[0].dtype


@function("sql_evaluated", sql_names=("__sql_evaluated",))
def _sql_evaluated(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``x`` itself: SQL arithmetic DuckDB evaluates as written (a BETWEEN's operand, whose
    constants its optimizer does not move; see ``planner/sql/translate.py``)."""
    return args[0].dtype


@function("sql_fmod", sql_names=("__sql_fmod",))
def _sql_fmod(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``a % b`` where either is a DOUBLE or FLOAT: C's ``fmod``, exact, with the sign of ``a``,
    NaN where ``b`` is 0, as DuckDB computes it (Polars' ``a - b * floor(a / b)`` loses the
    remainder of a large quotient: ``2^62 % 1000.0`` was 0, DuckDB 904)."""
    from thresher.expressions.registry import get

    return get("mod").type_rule(args, {})


#: the text SQL's CAST reads as a DATE ('2024-1-5', stripped) or a TIMESTAMP (not stripped: DuckDB
#: refuses a trailing blank); DuckDB reads more forms, which TRY_CAST refuses rather than guess
DATE_TEXT = r"^\d{4}-\d{1,2}-\d{1,2}$"
TIMESTAMP_TEXT = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)?$"


@function("sql_text_cast", sql_names=("__sql_text_cast",))
def _sql_text_cast(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``CAST(text AS type)`` / ``TRY_CAST`` as DuckDB reads text (``strict``: CAST raises on text
    that does not convert, TRY_CAST gives NULL). Lowered in ``operators/sql_functions_polars.py``;
    the SQL translator uses it for a VARCHAR cast to a number, DATE, TIMESTAMP or BOOLEAN (the
    DataFrame API's ``cast`` keeps Polars' rules)."""
    to = opts["to"]
    assert isinstance(to, DataType)
    return to


@function("sql_to_text", sql_names=("__sql_to_text",))
def _sql_to_text(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``CAST(x AS VARCHAR)`` of a DOUBLE, FLOAT or TIMESTAMP written as DuckDB writes it: a
    double as its shortest round-trip text with Python's exponent form (``1e-05``, ``1e-07``,
    ``nan``), a timestamp without trailing zeros of its fraction (``2024-02-29 23:59:59.5``,
    ``2023-12-31 00:00:00``); Polars writes ``0.00001``, ``1e-7``, ``NaN`` and six digits."""
    return DataType.string()


def _text_rule(name: str) -> Any:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        expect(args[0], args[0].dtype.is_string() or args[0].dtype.is_null(), "string", name)
        return DataType.string()

    return rule


# SQL's UPPER and LOWER map each character alone, as DuckDB does (upper('ß') is 'ẞ', lower('ΑΣ')
# 'ασ'), where Polars' (the DataFrame API's) apply Unicode's full, context-dependent mappings
# ('SS', 'ας')
function("sql_upper", sql_names=("__sql_upper",))(_text_rule("upper"))
function("sql_lower", sql_names=("__sql_lower",))(_text_rule("lower"))


#: DuckDB's string functions SQL has (``__sql_str(args..., op=...)``): the type of their result;
#: their arguments are text but for the integer ones (``left``, ``right``, ``split_part``'s part)
SQL_STRING_FUNCTIONS: dict[str, DataType] = {
    "trim": DataType.string(), "ltrim": DataType.string(), "rtrim": DataType.string(),
    "replace": DataType.string(), "starts_with": DataType.bool(), "contains": DataType.bool(),
    "left": DataType.string(), "right": DataType.string(), "lpad": DataType.string(), "rpad": DataType.string(),
    "strpos": DataType.int64(), "split_part": DataType.string(), "reverse": DataType.string(),
    "ends_with": DataType.bool(), "repeat": DataType.string(), "strlen": DataType.int64(),
    "bit_length": DataType.int64(), "ascii": DataType.int32(), "chr": DataType.string(), "translate": DataType.string(),
    "regexp_matches": DataType.bool(), "regexp_full_match": DataType.bool(), "regexp_replace": DataType.string(), "regexp_extract": DataType.string(),
}
SQL_STRING_INT_ARGS: dict[str, tuple[int, ...]] = {"left": (1,), "right": (1,), "split_part": (2,), "repeat": (1,),
                                                   "chr": (0,)}


@function("sql_str", sql_names=("__sql_str",))
def _sql_str(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's ``trim``, ``replace``, ``left``, ``strpos``, ``split_part``, ... (``op``), lowered in
    ``operators/sql_functions_polars.py``: each NULL in, NULL out, positions in code points."""
    op = opts["op"]
    for i, a in enumerate(args):
        if i in SQL_STRING_INT_ARGS.get(op, ()):
            expect(a, a.dtype.is_integer() or a.dtype.is_null(), "integer", op)
        else:
            expect(a, a.dtype.is_string() or a.dtype.is_null(), "string", op)
    return SQL_STRING_FUNCTIONS[op]

# -- DuckDB's numeric and date functions (lowered in ``operators/sql_functions_polars.py``) ---------

def _numeric_arg(f: Field, name: str) -> None:
    expect(f, f.dtype.is_numeric() or f.dtype.is_null(), "a numeric type", name)


def _rounding_rule(name: str) -> Any:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        """DuckDB's FLOOR / CEIL: a DECIMAL(p, s) gives DECIMAL(p, 0), a FLOAT a FLOAT, anything
        else (an integer too) a DOUBLE."""
        t = args[0].dtype
        _numeric_arg(args[0], name)
        if t.kind == "decimal":
            return DataType.decimal(t.arrow.precision, 0)
        if str(t) == "float":
            return t
        return DataType.float64()

    return rule


function("sql_floor", sql_names=("__sql_floor",))(_rounding_rule("floor"))
function("sql_ceil", sql_names=("__sql_ceil",))(_rounding_rule("ceil"))


@function("sql_round_double", sql_names=("__sql_round_double",))
def _sql_round_double(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's ``ROUND(x, digits)`` of a DOUBLE (option ``digits``, negative too): a DOUBLE.
    The SQL translator casts other types to DOUBLE first (``translate.sql_round``)."""
    expect(args[0], args[0].dtype == DataType.float64() or args[0].dtype.is_null(), "DOUBLE", "round")
    return DataType.float64()


@function("sql_sign", sql_names=("__sql_sign",))
def _sql_sign(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's SIGN: -1, 0 or 1 as a TINYINT (0 for -0.0), NULL for NULL."""
    _numeric_arg(args[0], "sign")
    return DataType.int8()


def extreme_type(name: str, args: Sequence[Field]) -> DataType:
    """GREATEST / LEAST's type: the arguments' common type, where a DECIMAL next to an integer is
    widened to hold the integer's digits as DuckDB's (DECIMAL(4, 1) and a BIGINT: DECIMAL(20, 1);
    :func:`~thresher.datatypes.supertype`)."""
    return common_type(name, args)


def _extreme_rule(name: str) -> Any:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        """DuckDB's GREATEST / LEAST: the common type of the arguments (``extreme_type``); NULLs
        are skipped (NULL only where every argument is)."""
        return extreme_type(name, args)

    return rule


@function("sql_list_value", sql_names=("__sql_list_value",))
def _sql_list_value(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's list ``[a, b + 1]`` / ``list_value(a, b)`` of values that are not all constants: a
    list per row of the values in their common type (GREATEST's, ``extreme_type``)."""
    inner = extreme_type("list_value", args)
    if inner.is_list() or inner.kind in ("fixed_size_list", "struct", "map"):
        from thresher.errors import ThresherTypeError

        raise ThresherTypeError(f"a list of lists or structs that are not constants is not supported ({inner})")
    return DataType.list(inner)


@function("sql_list_ordinals", sql_names=("__sql_list_ordinals",))
def _sql_list_ordinals(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """The positions 1, 2, ... of a list's elements, a BIGINT[] of its length (NULL for NULL): the
    ordinals of ``unnest(l) WITH ORDINALITY``, unnested beside its elements."""
    expect(args[0], args[0].dtype.is_list() or args[0].dtype.is_null(), "a list", "unnest ... WITH ORDINALITY")
    return DataType.list(DataType.int64())


function("sql_greatest", sql_names=("__sql_greatest",))(_extreme_rule("greatest"))
function("sql_least", sql_names=("__sql_least",))(_extreme_rule("least"))

#: DuckDB's date parts (EXTRACT, DATE_PART, YEAR(d), ...) that ``sql_date_part`` computes
DATE_PARTS = ("year", "month", "day", "quarter", "dow", "isodow", "doy", "week", "hour", "minute", "second")


@function("sql_date_part", sql_names=("__sql_date_part",))
def _sql_date_part(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """A part of a DATE or TIMESTAMP as DuckDB numbers it (``opts["part"]``, one of
    ``DATE_PARTS``): dow is 0 on Sunday, isodow 7 on Sunday, week the ISO week (2021-01-03 is in
    week 53 of 2020); hour, minute and second of a DATE are 0 (midnight's)."""
    f = args[0]
    expect(f, f.dtype.kind in ("date", "timestamp") or f.dtype.is_null(), "a date or timestamp", opts["part"])
    return DataType.int64()

#: DuckDB's math functions ``sql_math`` computes (``opts["op"]``): a DOUBLE of any numeric arguments
MATH_FUNCTIONS = ("exp", "ln", "log10", "log2", "log", "power", "sin", "cos", "tan", "atan", "atan2", "degrees", "radians")


@function("sql_math", sql_names=("__sql_math",))
def _sql_math(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's EXP, LN, LOG10, LOG(b, x) (``ln(x) / ln(b)``), POWER/POW, SIN, COS, TAN, ATAN,
    ATAN2(y, x), DEGREES and RADIANS: DOUBLEs computed as C computes them, never an error
    (``ln(0)`` is -inf, ``ln(-1)`` NaN, ``power(0, -1)`` inf)."""
    for f in args:
        _numeric_arg(f, opts["op"])
    return DataType.float64()


#: DuckDB's bitwise operators ``sql_bits`` computes (``opts["op"]``): ``&``, ``|``, ``xor``,
#: ``<<``, ``>>`` of two integers, ``~`` and ``bit_count`` of one
BIT_OPERATORS = ("and", "or", "xor", "shl", "shr", "not", "count")


def _bits_operand_type(f: Field, op: str) -> DataType | None:
    expect(f, f.dtype.is_integer() or f.dtype.is_null(), "an integer", _BIT_SPELLING[op])
    return None if f.dtype.is_null() else f.dtype


_BIT_SPELLING = {"and": "&", "or": "|", "xor": "xor", "shl": "<<", "shr": ">>", "not": "~", "count": "bit_count"}


@function("sql_bits", sql_names=("__sql_bits",))
def _sql_bits(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    return bits_type(opts["op"], args)


def bits_type(op: str, args: Sequence[Field]) -> DataType:
    """DuckDB's bitwise operators on integers (``opts["op"]``, one of ``BIT_OPERATORS``): of two
    integers the wider of the same signedness, of a signed and an unsigned one the signed one
    where it is wider, else BIGINT (of UBIGINT and a signed integer DuckDB's HUGEINT, a
    DECIMAL(38, 0) here, for ``&``, ``|`` and ``xor``; ``<<`` and ``>>`` of the two are refused);
    of NULL the other's type (BIGINT of two NULLs); ``~x`` of x's type; ``bit_count(x)`` a
    TINYINT (a SMALLINT of a UBIGINT, which DuckDB counts as a HUGEINT). ``<<`` is an error where
    DuckDB's is (a negative value or shift, a shift past the type's width, an overflow); ``>>``
    by a negative shift or one past the width is 0."""
    types = [_bits_operand_type(f, op) for f in args]
    if op == "count":
        return DataType.int16() if types[0] is not None and str(types[0]) == "uint64" else DataType.int8()
    known = [t for t in types if t is not None]
    if not known:
        return DataType.int64()
    if len(known) == 1:
        return known[0]
    a, b = known
    sa, sb = signed_integer(a), signed_integer(b)
    if sa == sb:
        return a if a.arrow.bit_width >= b.arrow.bit_width else b
    signed, unsigned = (a, b) if sa else (b, a)
    if signed.arrow.bit_width > unsigned.arrow.bit_width:
        return signed
    if unsigned.arrow.bit_width == 64:
        if op in ("and", "or", "xor"):
            from thresher.datatypes import HUGEINT

            return HUGEINT  # (DuckDB's HUGEINT, held as DECIMAL(38, 0) as its Arrow results hold it)
        from thresher.errors import ThresherTypeError

        raise ThresherTypeError(f"{_BIT_SPELLING[op]} of {args[0].dtype} and {args[1].dtype}: DuckDB shifts a "
                                f"HUGEINT, which Thresher does not (cast both to one type)")
    return DataType.int64()


def signed_integer(t: DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_signed_integer(t.arrow))


#: DuckDB's tests of a number (``sql_float_test``'s ``op``)
FLOAT_TESTS = ("isnan", "isinf", "isfinite")


@function("sql_float_test", sql_names=("__sql_float_test",))
def _sql_float_test(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's ISNAN, ISINF and ISFINITE (``opts["op"]``): a BOOLEAN, NULL for NULL; a number that
    is not a float is finite (never NaN nor infinite)."""
    _numeric_arg(args[0], opts["op"])
    return DataType.bool()


@function("sql_trunc", sql_names=("__sql_trunc",))
def _sql_trunc(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's TRUNC(x): x rounded toward zero, of x's type (an integer unchanged), a
    DECIMAL(p, s) as DECIMAL(p, 0); of NULL a DOUBLE."""
    t = args[0].dtype
    _numeric_arg(args[0], "trunc")
    if t.kind == "decimal":
        return DataType.decimal(t.arrow.precision, 0)
    return DataType.float64() if t.is_null() else t


@function("sql_round_int", sql_names=("__sql_round_int",))
def _sql_round_int(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's ROUND(n, d) of a signed integer with ``d`` (``opts["digits"]``) below 0: n rounded
    half away from zero to a multiple of 10^-d, of n's type (an error where it does not fit)."""
    t = args[0].dtype
    expect(args[0], t.is_integer() and not str(t).startswith("uint"), "a signed integer", "round")
    return t


#: the units of ``sql_date_trunc`` and ``sql_date_diff``
DATE_TRUNC_UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond",
                    "microsecond")
DATE_DIFF_UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond",
                   "microsecond")
#: DATE_SUB's (whole units between)
DATE_SUB_UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond", "microsecond")


@function("sql_date_trunc", sql_names=("__sql_date_trunc",))
def _sql_date_trunc(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's DATE_TRUNC(unit, x): a TIMESTAMP (of a DATE too) at the start of x's year,
    quarter, month, ISO week (Monday), day, hour, minute, second, millisecond or microsecond
    (rounded down, before 1970 too)."""
    f = args[0]
    expect(f, f.dtype.kind in ("date", "timestamp") or f.dtype.is_null(), "a date or timestamp", "date_trunc")
    return f.dtype if f.dtype.kind == "timestamp" else DataType.timestamp("us")


@function("sql_date_diff", sql_names=("__sql_date_diff",))
def _sql_date_diff(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's DATE_DIFF(unit, a, b): the unit boundaries crossed from a to b (a BIGINT;
    ``date_diff('year', DATE '2023-12-31', DATE '2024-01-01')`` is 1; a time of day ignored for
    a day or longer; weeks are the days between divided by 7, truncated), or with ``sub`` DuckDB's
    DATE_SUB: the whole units between (the microseconds between divided, truncated)."""
    for f in args:
        expect(f, f.dtype.kind in ("date", "timestamp") or f.dtype.is_null(), "a date or timestamp", "date_diff")
    return DataType.int64()


@function("sql_last_day", sql_names=("__sql_last_day",))
def _sql_last_day(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's LAST_DAY(x): the DATE of the last day of x's month."""
    f = args[0]
    expect(f, f.dtype.kind in ("date", "timestamp") or f.dtype.is_null(), "a date or timestamp", "last_day")
    return DataType.date()


@function("sql_make_date", sql_names=("__sql_make_date",))
def _sql_make_date(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's MAKE_DATE(year, month, day): a DATE, an error where there is no such day."""
    for f in args:
        expect(f, f.dtype.is_integer() or f.dtype.is_null(), "an integer", "make_date")
    return DataType.date()


@function("sql_make_timestamp", sql_names=("__sql_make_timestamp",))
def _sql_make_timestamp(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's MAKE_TIMESTAMP(year, month, day, hour, minute, seconds): a TIMESTAMP of five
    integers and a number of seconds; an error out of range."""
    *ints, seconds = args
    for f in ints:
        expect(f, f.dtype.is_integer() or f.dtype.is_null(), "an integer", "make_timestamp")
    expect(seconds, seconds.dtype.is_numeric() or seconds.dtype.is_null(), "a number", "make_timestamp")
    return DataType.timestamp("us")


@function("sql_strftime", sql_names=("__sql_strftime",))
def _sql_strftime(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's STRFTIME(x, format): a DATE or TIMESTAMP as text (``opts["format"]``: chrono's
    spelling of DuckDB's format, translated by the SQL translator)."""
    f = args[0]
    expect(f, f.dtype.kind in ("date", "timestamp") or f.dtype.is_null(), "a date or timestamp", "strftime")
    return DataType.string()


@function("sql_strptime", sql_names=("__sql_strptime",))
def _sql_strptime(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's STRPTIME(text, format): a TIMESTAMP, an error where the text does not match."""
    f = args[0]
    expect(f, f.dtype.is_string() or f.dtype.is_null(), "string", "strptime")
    return DataType.timestamp("us")


@function("sql_epoch", sql_names=("__sql_epoch",))
def _sql_epoch(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's EPOCH(x) (seconds since 1970 as a DOUBLE) and EPOCH_MS(x) of a DATE or TIMESTAMP
    (milliseconds, a BIGINT, rounded half away from zero) (``opts["unit"]``: "s" or "ms")."""
    f = args[0]
    expect(f, f.dtype.kind in ("date", "timestamp") or f.dtype.is_null(), "a date or timestamp", "epoch")
    return DataType.float64() if opts["unit"] == "s" else DataType.int64()


@function("sql_from_epoch", sql_names=("__sql_from_epoch",))
def _sql_from_epoch(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """DuckDB's EPOCH_MS(n) (a TIMESTAMP n milliseconds after 1970, ``unit`` "ms") and
    TO_TIMESTAMP(x) (a TIMESTAMP WITH TIME ZONE x seconds after 1970 UTC, ``unit`` "s")."""
    f = args[0]
    if opts["unit"] == "us":  # (DuckDB's MAKE_TIMESTAMP(n): n microseconds after 1970, a TIMESTAMP)
        expect(f, f.dtype.is_integer() or f.dtype.is_null(), "an integer", "make_timestamp")
        return DataType.timestamp("us")
    if opts["unit"] == "ms":
        if f.dtype.kind in ("date", "timestamp"):
            # EPOCH_MS of a DATE or TIMESTAMP where the translator did not know the argument's
            # type (a WHERE clause): milliseconds, as ``sql_epoch`` computes them
            return DataType.int64()
        expect(f, f.dtype.is_integer() or f.dtype.is_null(), "an integer, a date or a timestamp", "epoch_ms")
        return DataType.timestamp("us")
    expect(f, f.dtype.is_numeric() or f.dtype.is_null(), "a numeric type", "to_timestamp")
    return DataType.timestamp("us", "UTC")


@function("sql_decimal_raw", sql_names=("__sql_decimal_raw",))
def _sql_decimal_raw(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """A DECIMAL's unscaled integer (1.50 of DECIMAL(p, 2): 150) as a DOUBLE: what DuckDB's
    quantile_cont / median of a DECIMAL interpolate (``sql_decimal_from_raw`` reads it back)."""
    expect(args[0], args[0].dtype.kind == "decimal", "a DECIMAL", "quantile_cont")
    return DataType.float64()


@function("sql_decimal_from_raw", sql_names=("__sql_decimal_from_raw",))
def _sql_decimal_from_raw(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """An unscaled value as a DOUBLE truncated toward zero, as the DECIMAL(``precision``,
    ``scale``) it counts (DuckDB's quantile_cont / median of a DECIMAL)."""
    return DataType.decimal(int(opts["precision"]), int(opts["scale"]))
