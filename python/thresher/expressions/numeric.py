"""Polars' element-wise numeric methods of the DataFrame API: ``clip``, ``fill_nan``, ``is_nan``,
``is_not_nan``, ``is_finite``, ``is_infinite``, ``floor``, ``ceil`` (evaluated by Polars; each
output type is the one Polars gives, asked of Polars on an empty column). SQL does not see them
(its ``floor``/``ceil``/``isnan`` follow DuckDB: ``sql_functions.py``).

>>> import thresher as th
>>> th.from_pydict({"x": [-3.0, float("nan"), 9.0]}).select(
...     th.col("x").fill_nan(0.0).clip(0, 5)).to_pydict()
{'x': [0.0, 0.0, 5.0]}
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from thresher.datatypes import DataType, Field, supertype
from thresher.errors import ThresherTypeError
from thresher.expressions.registry import expect, function

#: the unary methods and what Polars takes them on
UNARY: dict[str, Callable[[DataType], bool]] = {
    "is_nan": lambda t: t.is_numeric() or t.is_null(),
    "is_not_nan": lambda t: t.is_numeric() or t.is_null(),
    "is_finite": lambda t: t.is_numeric() or t.is_null(),
    "is_infinite": lambda t: t.is_numeric() or t.is_null(),
    "floor": lambda t: t.is_numeric() or t.kind == "decimal" or t.is_null(),
    "ceil": lambda t: t.is_numeric() or t.kind == "decimal" or t.is_null(),
    # Polars' math methods: a float of the input's width (Float32 stays, an integer is Float64),
    # sign of the input's type; Polars refuses some of a decimal (asked: a plan-time error)
    **{m: (lambda t: t.is_numeric() or t.is_null())
       for m in ("sin", "cos", "tan", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh",
                 "arccosh", "arctanh", "degrees", "radians", "exp", "log", "log10", "log1p", "cbrt", "sign")},
}
UNARY.update({
    "truncate": lambda t: t.is_numeric() or t.kind == "decimal" or t.is_null(),
    "round_sig_figs": lambda t: t.is_numeric() or t.kind == "decimal" or t.is_null(),
    "erf": lambda t: t.is_numeric() or t.is_null(),
    **{f"bitwise_{m}": (lambda t: t.is_integer() or t.is_null())
       for m in ("count_ones", "count_zeros", "leading_ones", "leading_zeros", "trailing_ones", "trailing_zeros")},
})
#: the UNARY methods that are Polars' math (lowered as ``x.<name>(**options)``)
MATH = ("sin", "cos", "tan", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
        "arctanh", "degrees", "radians", "exp", "log", "log10", "log1p", "cbrt", "sign", "truncate", "round_sig_figs",
        "erf", "bitwise_count_ones", "bitwise_count_zeros", "bitwise_leading_ones", "bitwise_leading_zeros",
        "bitwise_trailing_ones", "bitwise_trailing_zeros")


@functools.lru_cache(maxsize=512)
def polars_result_type(name: str, storage: pa.DataType, opts: tuple[tuple[str, Any], ...] = ()) -> pa.DataType:
    """The Arrow type Polars gives :func:`polars_method` ``name`` (``"is_nan"``, ``"str.head"``)
    with ``opts`` of a column of type ``storage`` (asked of Polars on an empty column)."""
    import polars as pl

    s = pl.from_arrow(pa.array([], type=storage))
    assert isinstance(s, pl.Series)
    try:
        out = s.to_frame("x").select(polars_method(name, pl.col("x"), dict(opts))).to_series()
    except Exception as exc:  # noqa: BLE001  (Polars refuses the type or an option)
        raise ThresherTypeError(f"{name}: not supported for type {storage}: {str(exc).splitlines()[0]}") from None
    return out.to_arrow().type


def polars_method(name: str, x: Any, opts: dict[str, Any]) -> Any:
    """``x.<name>(**opts)``, ``name`` a method (``"is_nan"``) or a namespace's (``"str.head"``);
    ``x`` a ``pl.Expr``."""
    *namespaces, method = name.split(".")
    for ns in namespaces:
        x = getattr(x, ns)
    return getattr(x, method)(**opts)


def _unary_rule(name: str) -> Callable[[Sequence[Field], dict[str, Any]], DataType]:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        f = args[0]
        expect(f, UNARY[name](f.dtype), "a numeric type", name)
        if f.dtype.is_null():
            return DataType.bool() if name.startswith("is_") else f.dtype
        return DataType.from_arrow(polars_result_type(name, f.dtype.storage, tuple(opts.items())))

    return rule


for _name in UNARY:
    function(_name, sql_names=(f"__{_name}",))(_unary_rule(_name))


@function("clip", sql_names=("__clip",))
def _clip(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``x.clip(lower, upper)``: the bounds (columns or numbers) are cast to ``x``'s type, as in Polars."""
    f = args[0]
    expect(f, f.dtype.is_numeric() or f.dtype.kind == "decimal" or f.dtype.is_null(), "a numeric type", "clip")
    for b in args[1:]:
        expect(b, b.dtype.is_numeric() or b.dtype.kind == "decimal" or b.dtype.is_null(), "a numeric bound", "clip")
    return f.dtype


@function("xor")
def _xor(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``x.xor(y)``: of booleans, or bitwise of integers (their common type), as Polars."""
    a, b = args
    if a.dtype.is_bool() or b.dtype.is_bool():
        for f in args:
            expect(f, f.dtype.is_bool() or f.dtype.is_null(), "a boolean (next to a boolean)", "xor")
        return DataType.bool()
    for f in args:
        expect(f, f.dtype.is_integer() or f.dtype.is_null(), "a boolean or an integer", "xor")
    return supertype(a.dtype, b.dtype) or a.dtype


@function("is_close")
def _is_close(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``x.is_close(y, abs_tol=, rel_tol=, nans_equal=)``: a boolean, as Polars."""
    for f in args:
        expect(f, f.dtype.is_numeric() or f.dtype.is_null(), "a numeric type", "is_close")
    return DataType.bool()


@function("cut")
def _cut(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``x.cut(breaks, labels=...)``: the interval's label, a string (Polars' categorical as
    Thresher reads one)."""
    f = args[0]
    expect(f, f.dtype.is_numeric() or f.dtype.kind == "decimal" or f.dtype.is_null(), "a numeric type", "cut")
    breaks, labels = opts["breaks"], opts.get("labels")
    if list(breaks) != sorted(set(breaks)):
        raise ThresherTypeError(f"cut: breaks must be unique and increasing, not {list(breaks)}")
    if labels is not None and len(labels) != len(breaks) + 1:
        raise ThresherTypeError(f"cut: {len(breaks)} breaks need {len(breaks) + 1} labels, not {len(labels)}")
    return BINNED if opts.get("include_breaks") else DataType.string()


#: ``cut``/``qcut`` with ``include_breaks=True``: each value's upper break and its interval's label
BINNED = DataType.struct({"breakpoint": DataType.float64(), "category": DataType.string()})


@function("fill_nan", sql_names=("__fill_nan",))
def _fill_nan(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``x.fill_nan(value)``: NaN replaced (a float column keeps its type, as in Polars)."""
    f = args[0]
    # (not a decimal: Polars' lowering fails while running, "is_not_nan not supported for decimal")
    expect(f, (f.dtype.is_numeric() and not f.dtype.is_decimal()) or f.dtype.is_null(),
           "a float or integer type", "fill_nan")
    v = args[1]
    expect(v, v.dtype.is_numeric() or v.dtype.is_null(), "a numeric value", "fill_nan")
    # the common type (a Python number next to it already has its type: ``Call.resolve``); an
    # integer column filled with a float becomes float, as in Polars
    return supertype(f.dtype, v.dtype) or f.dtype


# ---------------------------------------------------------------------------------------------
# Polars' own namespace methods, passed through: ``expr.str.<m>(...)`` / ``expr.dt.<m>(...)``
# ---------------------------------------------------------------------------------------------

#: ``"str.head"`` -> what its input must be; each is Polars' method of that name with the call's
#: options as its keyword arguments, typed by Polars
PASSTHROUGH: dict[str, Callable[[DataType], bool]] = {
    **{f"str.{m}": (lambda t: t.is_string() or t.is_null())
       for m in ("head", "tail", "pad_start", "pad_end", "zfill", "to_integer", "reverse", "count_matches",
                 "strip_chars_start", "strip_chars_end", "to_titlecase", "to_datetime", "extract_all", "find",
                 "strip_prefix", "strip_suffix", "extract_groups", "contains_any")},
    **{f"dt.{m}": (lambda t: t.kind in ("date", "timestamp") or t.is_null())
       for m in ("week", "iso_year", "is_leap_year", "month_start", "month_end", "round", "epoch", "timestamp")},
    **{f"dt.{m}": (lambda t: t.kind == "timestamp" or t.is_null())
       for m in ("date", "millisecond", "microsecond", "nanosecond")},
    **{f"list.{m}": (lambda t: t.is_list())
       for m in ("first", "last", "head", "tail", "slice", "sort", "reverse", "unique", "n_unique", "drop_nulls",
                 "arg_min", "arg_max", "any", "all", "median", "std", "var", "diff", "shift", "count_matches",
                 "gather_every")},
    **{f"dt.{m}": (lambda t: t.kind in ("date", "timestamp") or t.is_null())
       for m in ("century", "millennium", "days_in_month")},
    **{f"dt.total_{u}": (lambda t: t.kind == "duration" or t.is_null())
       for u in ("days", "hours", "minutes", "seconds", "milliseconds", "microseconds", "nanoseconds")},
    **{f"str.{m}": (lambda t: t.is_string() or t.is_null())
       for m in ("escape_regex", "normalize", "json_path_match", "to_decimal", "splitn", "split_exact")},
}
_WANTS = {"str": "a string", "dt": "a date or timestamp", "list": "a list"}
#: what a NULL-typed column is taken as (its type asked of Polars) where not its namespace's default
_NULL_AS: dict[str, pa.DataType] = {f"dt.total_{u}": pa.duration("us") for u in (
    "days", "hours", "minutes", "seconds", "milliseconds", "microseconds", "nanoseconds")}


def null_input_type(name: str) -> pa.DataType:
    """The type a NULL-typed column of a pass-through method ``name`` is cast to first."""
    hit = _NULL_AS.get(name)
    if hit is not None:
        return hit
    return pa.string() if name.startswith("str.") else pa.date32()


def _passthrough_rule(name: str) -> Callable[[Sequence[Field], dict[str, Any]], DataType]:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        f = args[0]
        wants = "a duration" if name.startswith("dt.total_") else _WANTS[name.split(".")[0]]
        expect(f, PASSTHROUGH[name](f.dtype), wants, name)
        storage = f.dtype.storage if not f.dtype.is_null() else null_input_type(name)
        return DataType.from_arrow(polars_result_type(name, storage, tuple(sorted(opts.items()))))

    return rule


for _name in PASSTHROUGH:
    function(_name, sql_names=("__" + _name.replace(".", "_"),))(_passthrough_rule(_name))
