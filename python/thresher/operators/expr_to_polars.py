"""Translate Thresher expressions over standard types into Polars expressions.

Polars is the relational kernel: arithmetic, comparisons, strings, dates, lists, aggregations all
run there (vectorized, multi-threaded, zero-copy from Arrow). A function with no entry here has a
kernel in ``operators/kernels`` instead; :class:`NotLowerable` tells the caller to evaluate that
subtree itself and hand Polars the result as a column.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import decimal
import functools
import re
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher._lazy import lazy_module
from thresher._polars import col as _col
from thresher._polars import list_of
from thresher._polars import lit as _plain_lit
from thresher.datatypes import DataType, Field, Schema
from thresher.errors import ThresherError, ThresherTypeError
from thresher.expressions.expr import (
    AggCall,
    Alias,
    Call,
    Cast,
    Column,
    CountStar,
    Expr,
    Literal,
    SeqOp,
    UDFCall,
    When,
    memo,
)
from thresher.expressions.horizontal import HORIZONTAL
from thresher.expressions.list import ELEMENT
from thresher.expressions.registry import POLARS_AGGREGATES
from thresher.expressions.window import ORDER_DEPENDENT, SQL_WINDOW_FUNCTIONS, polars_call

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")


class NotLowerable(Exception):
    """The expression (or a subtree) has no Polars form."""


def polars_dtype(dtype: DataType) -> pl.DataType:
    """The Polars dtype matching ``dtype`` (storage type for extension types)."""
    storage = dtype.storage
    hit = _POLARS_DTYPES.get(storage)
    if hit is None:
        hit = _POLARS_DTYPES[storage] = pl.Series(values=pa.array([], type=storage)).dtype
    return hit


#: Arrow storage type -> Polars dtype (building an empty Series per lookup cost a TPC-DS query's
#: Polars program tens of milliseconds: q66 lowers ~2,000 literals and casts)
_POLARS_DTYPES: dict[pa.DataType, pl.DataType] = {}


@functools.lru_cache(maxsize=8192)
def polars_col(name: str, alias: str | None = None) -> pl.Expr:
    """``pl.col(name)`` (``.alias(alias)`` when given), built once per name: a Polars expression
    is an immutable value, and a program renames every column at every join (TPC-DS q04 lowers
    ~2,000 of them; building one costs more than the rest of its lowering)."""
    c = _col(name)  # (the one column expression of the name: _polars.col's too)
    return c if alias is None else c.alias(alias)


def _lit(value: Any, dtype: DataType, dynamic: bool = True) -> pl.Expr:
    if value is None:
        if dtype.is_null():
            return _plain_lit(None)
        return pl.lit(None, dtype=polars_dtype(dtype))
    if dtype.kind == "decimal":
        # a typed scalar: a one-value Series literal (the same values, rounding and errors)
        # stopped Polars' predicate pushdown at the projection that makes the column (TPC-DS
        # q05's channel unions: the catalog sales scan under a zero return amount read every
        # row group)
        return pl.lit(value, dtype=polars_dtype(dtype))
    if isinstance(value, (list, tuple)):
        return pl.lit(pl.Series([list(value)])).first()
    if (type(value) is int and dtype.is_integer() and dtype != _INT64) or (type(value) is float and dtype == _FLOAT32):
        # an integer of another type than Int64 keeps it (SQL's s * 10 of a SMALLINT s is a
        # SMALLINT literal 10: Polars' untyped literal would widen the product where 10 fits not),
        # and a Float32 its type (Polars' untyped one is a Float64 next to an integer)
        return pl.lit(value, dtype=polars_dtype(dtype))
    if not dynamic and ((type(value) is int and dtype == _INT64) or (type(value) is float and dtype == _FLOAT64)):
        # a typed Int64 / Float64 constant (th.lit(1, dtype="int64"), a constant column inlined
        # by projection_merge) keeps its type: Polars' untyped literal would take an Int32 /
        # Float32 operand's type and compute there (Int32 max + 1 wrapped in an Int64 column)
        return pl.lit(value, dtype=polars_dtype(dtype))
    return _plain_lit(value)  # (pl.lit(value): see _polars.lit)


_INT64, _FLOAT32, _FLOAT64 = DataType.int64(), DataType.float32(), DataType.float64()


def _lit_of(e: Expr) -> pl.Expr:
    """A literal's Polars expression, built once per typed value: ``pl.lit`` infers the type of
    the Python value and checks it against NumPy, PyTorch and other types each time (~4 µs), and
    most programs hold the same few constants (a country code, a status). The key keeps apart
    the values ``==`` calls equal that Polars does not make the same literal of (1 / 1.0 / True
    by type; 0.0 / -0.0 and Decimal('0') / Decimal('0.00') by their ``repr``); a value of any
    other type (a datetime: its time zone) is built each time."""
    assert isinstance(e, Literal)
    v = e.value
    kind = type(v)
    if kind not in _LIT_KEYED:
        return _lit(v, e.dtype, e.dynamic)
    key = (kind, repr(v) if kind in _LIT_BY_REPR else v, e.dtype, e.dynamic)
    hit = _LITS.get(key)
    if hit is None:
        hit = _lit(v, e.dtype, e.dynamic)
        if len(_LITS) >= _LITS_MAX:
            _LITS.clear()
        _LITS[key] = hit
    return hit


#: the value types whose literals :func:`_lit_of` keeps, those keyed by ``repr`` (not ``==``)
_LIT_KEYED = frozenset({int, bool, str, float, decimal.Decimal, datetime.date, type(None)})
_LIT_BY_REPR = frozenset({float, decimal.Decimal})
#: typed value -> its Polars literal (see :func:`_lit_of`)
_LITS: dict[tuple[Any, ...], pl.Expr] = {}
_LITS_MAX = 1024


def plain_lit(value: Any, text: bool = False) -> Any:
    """What Polars makes of a method's plain argument, built once per typed value: ``pl.lit``
    of an ``int`` or None (``str.slice(0, 2)``'s offset and length) or, with ``text`` (an
    argument Polars reads as a literal string: ``str.starts_with``'s prefix, ``str.contains``'
    pattern), of a ``str``. Any other value is returned as it is, for Polars to parse."""
    kind = type(value)
    if not (kind is int or value is None or (text and kind is str)):
        return value
    key = (kind, value)
    hit = _PLAIN_LITS.get(key)
    if hit is None:
        if len(_PLAIN_LITS) >= _LITS_MAX:
            _PLAIN_LITS.clear()
        hit = _PLAIN_LITS[key] = _plain_lit(value)  # (pl.lit(value): see _polars.lit)
    return hit


_PLAIN_LITS: dict[tuple[type, Any], pl.Expr] = {}


def cast(e: pl.Expr, dtype: Any, strict: bool = True) -> pl.Expr:
    """``e.cast(dtype, strict=strict)`` with ``dtype``'s ``DataTypeExpr`` (what Polars' ``cast``
    turns a dtype into first, ~3 µs of its ~6) built once per dtype object: a lowered program
    casts to the same few dtypes (``polars_dtype``'s cached ones, Polars' own classes). Keyed
    by identity (the dtype is kept, so its id is not reused): dtype classes compare equal to
    their instances with other parameters (``pl.Datetime == pl.Datetime("ms")``)."""
    hit = _DTYPE_EXPRS.get(id(dtype))
    if hit is None or hit[0] is not dtype:
        to_expr = getattr(dtype, "to_dtype_expr", None)
        if to_expr is None:  # (not a Polars dtype: Polars parses it, or raises its error)
            return e.cast(dtype, strict=strict)
        if len(_DTYPE_EXPRS) >= _LITS_MAX:
            _DTYPE_EXPRS.clear()
        hit = _DTYPE_EXPRS[id(dtype)] = (dtype, to_expr())
    to = hit[1]
    # (per operand too, see _once: a column cast to a dtype recurs as the same object)
    return _once(("cast", strict), e, dtype, lambda x, _d: x.cast(to, strict=strict))  # type: ignore[no-any-return]


_DTYPE_EXPRS: dict[int, tuple[Any, Any]] = {}


def _opts(e: Call) -> dict[str, Any]:
    return e.opts


def _decimal_scale(t: DataType) -> int:
    return t.arrow.scale if t.kind == "decimal" else 0


_Lower = Callable[[list["pl.Expr"], Call, list[DataType]], "pl.Expr"]


def _once(kind: Any, left: Any, right: Any, build: Callable[[Any, Any], Any]) -> Any:
    """``build(left, right)``, kept per ``kind`` and operand objects: a Polars expression is an
    immutable value, so a node of one kind over the same two operand objects is the same
    expression. Columns and literals are built once per name and typed value (``polars_col``,
    :func:`_lit_of`), so the nodes over them recur as the same objects from query to query
    (``l_extendedprice * (1 - l_discount)``, ``p_brand != 'Brand#45'``), and each is built once
    (Polars' operator methods parse their other operand; a decimal product serializes both).
    The entry keeps its operands, so their ids are not reused while it is there: a hit is the
    same objects (compared by identity, never by value: ``==`` builds a Polars comparison)."""
    key = (kind, id(left), id(right))
    hit = _NODES.get(key)
    if hit is not None and hit[0] is left and hit[1] is right:
        return hit[2]
    out = build(left, right)
    if len(_NODES) >= _LITS_MAX:
        _NODES.clear()
    _NODES[key] = (left, right, out)
    return out


#: (kind, id(left), id(right)) -> (left, right, the node): see :func:`_once`
_NODES: dict[tuple[Any, int, int], tuple[Any, Any, Any]] = {}


def clear_caches() -> None:
    """Forget every Polars expression this module keeps across lowerings (columns, literals,
    method arguments, cast types, nodes over the same operands, ``is_in`` lists, SQL operators),
    so the next program is built from scratch. A benchmark calls it between rounds: the same
    query lowered again would otherwise find its whole expression trees built, which no other
    engine's rounds get (harness rule 4). The scan predicates' expressions go too
    (``io.predicate``: kept across rounds, a TPC-H round found its scans' filters built). The
    dtype table and LIKE patterns' regexes stay: they are plain lookups, not Polars objects.

    >>> polars_col.cache_info().currsize >= 0
    True
    >>> clear_caches(); polars_col.cache_info().currsize
    0
    """
    from thresher import _polars
    from thresher.io import predicate

    polars_col.cache_clear()
    _sql_binary_json.cache_clear()
    for kept in (_LITS, _PLAIN_LITS, _DTYPE_EXPRS, _NODES, _IS_IN_LISTS):
        kept.clear()
    _polars.clear_caches()
    predicate.clear_caches()


def _binary(op: Callable[[pl.Expr, pl.Expr], pl.Expr]) -> _Lower:
    return lambda a, e, t: _once(op, a[0], a[1], op)  # type: ignore[no-any-return]


def _compare(op: Callable[[pl.Expr, pl.Expr], pl.Expr], flipped: Callable[[pl.Expr, pl.Expr], pl.Expr]) -> _Lower:
    """A comparison with a constant on the left is lowered with the constant on the right: Polars
    2.1 gives too few rows for ``lit(-1) < when(c).then(1).otherwise(-1)`` evaluated on its own
    (4 values for 5 rows, as a batch function's input: a SQL division check then failed with a
    Rust panic) and answers right with the sides swapped."""
    def build(x: pl.Expr, y: pl.Expr) -> pl.Expr:
        if not x.meta.root_names() and y.meta.root_names():  # (a constant, when(True).then(-1) too)
            return flipped(y, x)
        return op(x, y)

    def lower(a: list[pl.Expr], e: Any, t: Any) -> pl.Expr:
        return _once(op, a[0], a[1], build)  # type: ignore[no-any-return]

    return lower


def _sql_binary(op: str, left: pl.Expr, right: pl.Expr) -> pl.Expr | None:
    """Polars' SQL-semantics binary kernel (``Sql.Binary``), or None where it cannot be built.

    Polars' SQL front end multiplies decimals exactly (the product keeps ``s1 + s2`` digits, as
    SQL says), ~7x faster than widening an operand and rescaling the product with i128
    divisions; its Python API does not expose that kernel, so the node is built through the
    expression's JSON form: the operands' JSON inside the node's, as text (parsing them into
    Python objects and writing them out again was most of the cost), built once per operands.
    """
    return _once(("sql", op), left, right, lambda x, y: _sql_binary_built(op, x, y))  # type: ignore[no-any-return]


def _sql_binary_built(op: str, left: pl.Expr, right: pl.Expr) -> pl.Expr | None:
    try:
        return _sql_binary_json(op, left.meta.serialize(format="json"), right.meta.serialize(format="json"))
    except Exception:  # noqa: BLE001 - an operand that has no JSON form (a Python UDF): the slow path
        return None


@functools.lru_cache(maxsize=1024)
def _sql_binary_json(op: str, left: str, right: str) -> pl.Expr:
    """The ``Sql.Binary`` node over the operands' JSON forms (a Polars expression is an immutable
    value: the same text gives the same expression)."""
    import io
    import json

    node = '{"Function":{"input":[' + left + "," + right + '],"function":{"Sql":{"Binary":' + json.dumps(op) + "}}}}"
    return pl.Expr.deserialize(io.StringIO(node), format="json")


def _mul(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    if t[0].kind == "decimal" and t[1].kind == "decimal":
        scale = _decimal_scale(t[0]) + _decimal_scale(t[1])
        fast = _sql_binary("Mul", a[0], a[1]) if scale <= 38 else None
        if fast is not None:
            return fast
        # Polars keeps max(scale) for decimal products; widen first so the product is exact
        return cast(a[0], pl.Decimal(38, scale)) * a[1]
    return a[0] * a[1]


def _truediv(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    x, y = a
    if e.option("sql") is True and _is_constant(e.args[1]) and not _is_constant(e.args[0]):
        # SQL's x / 10 is IEEE's division, as DuckDB's; Polars divides a column by a constant
        # through its reciprocal (x * 0.1: 3 / 10 is 0.30000000000000004, a third of all quotients
        # are off by one unit in the last place). A divisor that is a column (the same value on
        # every row, from x: no constant to take the reciprocal of) divides exactly.
        y = cast(x.is_null(), pl.Float64) + cast(y, pl.Float64)
    if t[0].kind == "decimal" or t[1].kind == "decimal":
        return cast(x, pl.Float64) / cast(y, pl.Float64)
    return x / y


def _is_constant(e: Expr) -> bool:
    while isinstance(e, Cast):
        e = e.child
    return isinstance(e, Literal) and e.value is not None


def _floordiv(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    return a[0] // a[1]


def _str_contains(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    o = _opts(e)
    return a[0].str.contains(plain_lit(o["pattern"], text=True), literal=o.get("literal", False))


@functools.lru_cache(maxsize=1024)
def _like_to_regex(pattern: str, ci: bool, escape: str | None = None) -> str:
    import re

    out = []
    chars = iter(pattern)
    for ch in chars:
        if ch == escape:  # the next character stands for itself (a trailing escape is an error in DuckDB)
            nxt = next(chars, None)
            if nxt is None:
                raise ThresherTypeError(f"LIKE pattern {pattern!r} ends with its escape character {escape!r}")
            out.append(re.escape(nxt))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return ("(?si)" if ci else "(?s)") + "^" + "".join(out) + "$"


def _str_like(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    o = _opts(e)
    pat: str = o["pattern"]
    ci = o.get("case_insensitive", False)
    if o.get("escape") is not None:
        return a[0].str.contains(plain_lit(_like_to_regex(pat, ci, o["escape"]), text=True))
    inner = pat.strip("%")
    if not ci and "_" not in pat and "%" not in inner:
        # fast paths for the common shapes: 'abc%', '%abc', '%abc%', 'abc'
        if pat.startswith("%") and pat.endswith("%") and len(pat) >= 2:
            return a[0].str.contains(plain_lit(inner, text=True), literal=True)
        if pat.endswith("%") and not pat.startswith("%"):
            return a[0].str.starts_with(plain_lit(inner, text=True))
        if pat.startswith("%") and not pat.endswith("%"):
            return a[0].str.ends_with(plain_lit(inner, text=True))
        if "%" not in pat:
            return a[0] == plain_lit(pat, text=True)
    # (each pattern's literal built once: see plain_lit)
    return a[0].str.contains(plain_lit(_like_to_regex(pat, ci), text=True))


def _str_replace(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    o = _opts(e)
    if o.get("n", -1) == -1:
        return a[0].str.replace_all(o["pattern"], o["value"], literal=o.get("literal", False))
    return a[0].str.replace(o["pattern"], o["value"], literal=o.get("literal", False), n=o["n"])


def _str_slice(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    o = _opts(e)
    return a[0].str.slice(plain_lit(o["offset"]), plain_lit(o.get("length")))


def _dt_part(name: str) -> _Lower:
    def f(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
        part = {"day_of_year": "ordinal_day"}.get(name, name)
        return getattr(a[0].dt, part)()  # (Polars' own type, as the type rule says)

    return f


#: (values, dtype) -> the literal of the one-element list Series of ``values`` an ``is_in`` tests against
_IS_IN_LISTS: dict[tuple[Any, ...], pl.Expr] = {}
_IS_IN_LISTS_MAX = 256


#: the most values an ``is_in`` list may hold to be tested value by value (Polars 2.1 probes a
#: longer list through a hash table, faster than the equalities from about 10 values on)
IS_IN_EQUALITIES_MAX = 8
#: the longest value in bytes (a string view holds up to 12 bytes inline: comparing such a view
#: with a constant never reads the string's buffer)
IS_IN_EQUALITIES_MAX_BYTES = 12

#: lowering a predicate that is evaluated as a column of ``with_columns`` (see
#: :func:`is_in_as_equalities`)
_IS_IN_EQUALITIES: contextvars.ContextVar[bool] = contextvars.ContextVar("thresher_is_in_equalities", default=False)


@contextlib.contextmanager
def is_in_as_equalities() -> Iterator[None]:
    """Lower the ``is_in`` calls :func:`is_in_by_equalities` accepts as equalities meanwhile:
    for an expression Polars evaluates in ``with_columns`` or ``select``, whose common-
    subexpression elimination computes the tested value once (a filter's predicate would
    compute it once per value)."""
    token = _IS_IN_EQUALITIES.set(True)
    try:
        yield
    finally:
        _IS_IN_EQUALITIES.reset(token)


#: True while lowering the aggregates of a Polars ``group_by(keys).agg(...)`` (set by polars_plan,
#: inline: no Python call in the lowering's budget). Its var and std are exactly 0 over a group of
#: equal values (Polars merges (count, mean, M2) states, as DuckDB's Welford updates: a mean of
#: equal values stays the value), so SQL's (``SQL_VARIANCE``) need no test for them there; a
#: select's (no keys) and list.eval's (moving window frames) are Polars' two passes, which leave a
#: residue (var_samp of three 0.1s: 2.9e-34)
KEYED_GROUP_BY: contextvars.ContextVar[bool] = contextvars.ContextVar("thresher_keyed_group_by", default=False)


def is_in_by_equalities(e: Expr) -> bool:
    """Is ``e`` an ``is_in`` of a computed value (not a column) with 2 to
    :data:`IS_IN_EQUALITIES_MAX` strings of at most :data:`IS_IN_EQUALITIES_MAX_BYTES` bytes
    (none NULL)? Under :func:`is_in_as_equalities` a string one is lowered as ``e == a | e == b |
    ...``: Polars 2.1 tests a string against a list of up to 8 values slowly where the values are
    short (150,000 two-letter strings against 7 values: 4.2 ms; as 7 equalities 2.8 ms; with
    12 values or 20-byte values about the same either way). A NULL value gives NULL either way
    (no value in the list is NULL). An ``is_in`` of a column is left alone: Polars estimates an
    ``is_in`` list's rows, not those of ORs (see :func:`_or_as_is_in`)."""
    if not (type(e) is Call and e.name == "is_in" and len(e.args) == 1):
        return False
    arg = e.args[0]
    if isinstance(arg, Column) or (isinstance(arg, Alias) and isinstance(arg.child, Column)):
        return False
    values = e.option("values", ())
    return 2 <= len(values) <= IS_IN_EQUALITIES_MAX and all(
        type(v) is str and len(v.encode()) <= IS_IN_EQUALITIES_MAX_BYTES for v in values)


def _is_in(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    if _IS_IN_EQUALITIES.get() and t[0].is_string() and is_in_by_equalities(e):
        out: pl.Expr | None = None
        for v in dict.fromkeys(e.option("values", ())):
            term = a[0] == plain_lit(v, text=True)
            out = term if out is None else out | term
        return out  # type: ignore[return-value]
    values = list(e.option("values", ()))
    if t[0].kind == "decimal" or (t[0].is_numeric() and any(
            isinstance(v, (float, decimal.Decimal)) and not isinstance(v, bool) for v in values)):
        # a fraction in the list of an integer column (x IN (1, 2.5)) compares as a number, as SQL does
        return a[0].cast(pl.Float64).is_in([float(v) if v is not None else None for v in values])
    # a list literal: a bare Series of the same dtype is ambiguous (deprecated) in Polars 2.
    # Built once per value list and type: implode() runs an eager select (0.2 ms; TPC-H Q22's
    # program built it twice per run)
    dtype = polars_dtype(t[0])
    if t[0].is_integer():
        # an integer outside the column's type never matches (x IN (300) of a UInt8 x; Polars
        # compares so too): left out, as the list cannot hold it in the column's type
        lo, hi = _integer_range(t[0].arrow)
        values = [v for v in values if not (type(v) is int and not lo <= v <= hi)]
    try:
        key: tuple[Any, ...] | None = (tuple((type(v), v) for v in values), repr(dtype))
        hit = _IS_IN_LISTS.get(key)  # type: ignore[arg-type]
    except TypeError:  # unhashable values
        key, hit = None, None
    if hit is None:
        # (the list as its literal expression: what is_in makes of a Series, each time)
        hit = _list_literal(values, dtype)
        if key is not None:
            if len(_IS_IN_LISTS) >= _IS_IN_LISTS_MAX:
                _IS_IN_LISTS.clear()
            _IS_IN_LISTS[key] = hit
    return a[0].is_in(hit)


def _list_literal(values: list[Any], dtype: pl.DataType) -> pl.Expr:
    """The literal of the one-element list Series of ``values`` (of ``dtype``): the list Series
    built directly, the same literal as ``pl.Series(values, dtype=dtype).implode()`` gives
    without implode's eager select (a DataFrame built and collected: ~0.15 ms of a TPC-H query's
    program, once per ``is_in`` list). A list with a null is imploded (the direct build lays out
    its validity differently: an equal list, another serialized literal), as is one the direct
    build refuses (implode raises what Polars says of it)."""
    if None not in values:
        try:
            return pl.lit(list_of(pl.Series(values, dtype=dtype)))
        except Exception:  # noqa: BLE001 - implode() below raises Polars' own error, or builds it
            pass
    return pl.lit(pl.Series(values, dtype=dtype).implode())


def _integer_range(t: pa.DataType) -> tuple[int, int]:
    """The smallest and largest value of the Arrow integer type ``t``."""
    bits = t.bit_width
    return (0, 2 ** bits - 1) if pa.types.is_unsigned_integer(t) else (-2 ** (bits - 1), 2 ** (bits - 1) - 1)


def _list_get(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    return a[0].list.get(e.option("index"), null_on_oob=True)


def _list_sum(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    """Summed in the type ``list.sum`` is declared with: Int64 for integers and booleans (Polars
    keeps Int32 and wraps, and counts booleans in UInt32)."""
    inner = t[0].inner() if t[0].is_list() else None
    if inner is not None and (inner.is_integer() or inner.is_bool()) and inner.arrow != pa.uint64():
        return a[0].cast(pl.List(pl.Int64)).list.sum()
    return a[0].list.sum()


def _struct_field(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    return a[0].struct.field(e.option("name"))


def _replace_strict(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    from thresher.datatypes import supertype
    from thresher.expressions.registry import replace_strict_type

    opts = dict(e.options)
    default = {"default": opts["default"]} if "default" in opts else {}
    out = replace_strict_type(opts)
    if opts.get("default_expr"):  # (a default read row by row: its type joins, as the type rule says)
        default = {"default": a[1]}
        if opts.get("return_dtype") is None:
            out = supertype(out, t[1]) or out
    return a[0].replace_strict(list(opts["old"]), list(opts["new"]), return_dtype=polars_dtype(out), **default)


def _replace(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    # (an expression of one value: the planner lifts an aggregate into a column of that value on
    # every row, which Polars would read as a list of as many old / new values: its first one)
    rest = iter(a[1:])
    old = next(rest).first() if e.option("old_expr") else list(e.option("old"))
    new = next(rest).first() if e.option("new_expr") else list(e.option("new"))
    return a[0].replace(old, new)


def _round(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    # SQL asks for DuckDB's half-away-from-zero; the DataFrame API keeps Polars' default
    mode = e.option("mode")
    return a[0].round(e.option("decimals", 0)) if mode is None else a[0].round(e.option("decimals", 0), mode=mode)


def _str_to_date(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    return a[0].str.to_date(e.option("format"), strict=e.option("strict", True))


def _strip(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    return a[0].str.strip_chars(e.option("characters"))


_LOWER: dict[str, _Lower] = {
    "add": _binary(lambda x, y: x + y),
    "sub": _binary(lambda x, y: x - y),
    "mul": _mul,
    "truediv": _truediv,
    "floordiv": _floordiv,
    "mod": _binary(lambda x, y: x % y),
    "pow": _binary(lambda x, y: x.pow(y)),
    "eq": _compare(lambda x, y: x == y, lambda x, y: x == y),
    "neq": _compare(lambda x, y: x != y, lambda x, y: x != y),
    "lt": _compare(lambda x, y: x < y, lambda x, y: x > y),
    "le": _compare(lambda x, y: x <= y, lambda x, y: x >= y),
    "gt": _compare(lambda x, y: x > y, lambda x, y: x < y),
    "ge": _compare(lambda x, y: x >= y, lambda x, y: x <= y),
    "and": _binary(lambda x, y: x & y),
    "or": _binary(lambda x, y: x | y),
    "not": lambda a, e, t: ~a[0],
    "neg": lambda a, e, t: -a[0],
    "abs": lambda a, e, t: a[0].abs(),
    "round": _round,
    "sqrt": lambda a, e, t: a[0].sqrt(),
    "is_null": lambda a, e, t: a[0].is_null(),
    "is_not_null": lambda a, e, t: a[0].is_not_null(),
    "fill_null": lambda a, e, t: a[0].fill_null(a[1]),
    "coalesce": lambda a, e, t: pl.coalesce(a),
    "dt.strftime": lambda a, e, t: a[0].dt.strftime(e.option("format")),
    "is_in": _is_in,
    "replace_strict": _replace_strict,
    "replace": _replace,
    "hash": lambda a, e, t: a[0].hash(seed=e.option("seed", 0)),
    "str.contains": _str_contains,
    "str.starts_with": lambda a, e, t: a[0].str.starts_with(plain_lit(e.option("prefix"), text=True)),
    "str.ends_with": lambda a, e, t: a[0].str.ends_with(plain_lit(e.option("suffix"), text=True)),
    "str.lower": lambda a, e, t: a[0].str.to_lowercase(),
    "str.upper": lambda a, e, t: a[0].str.to_uppercase(),
    "str.len": lambda a, e, t: cast(a[0].str.len_chars(), pl.Int64),
    "str.len_bytes": lambda a, e, t: cast(a[0].str.len_bytes(), pl.Int64),
    "str.split": lambda a, e, t: a[0].str.split(e.option("by")),
    "str.replace": _str_replace,
    "str.extract": lambda a, e, t: a[0].str.extract(e.option("pattern"), e.option("group_index", 1)),
    "str.slice": _str_slice,
    "str.json_decode": lambda a, e, t: a[0].str.json_decode(polars_dtype(e.option("dtype"))),
    "str.strip": _strip,
    "str.to_date": _str_to_date,
    "str.like": _str_like,
    "str.concat": lambda a, e, t: pl.concat_str(a, separator=e.option("separator", ""),
                                                ignore_nulls=bool(e.option("ignore_nulls", False))),
    "dt.truncate": lambda a, e, t: a[0].dt.truncate(e.option("every")),
    "dt.offset_by": lambda a, e, t: a[0].dt.offset_by(e.option("by")),
    "list.len": lambda a, e, t: cast(a[0].list.len(), pl.Int64),
    "list.get": _list_get,
    "list.get_expr": lambda a, e, t: a[0].list.get(a[1], null_on_oob=True),
    "list.join": lambda a, e, t: a[0].list.join(e.option("separator")),
    "list.sum": _list_sum,
    "list.mean": lambda a, e, t: a[0].list.mean(),
    "list.min": lambda a, e, t: a[0].list.min(),
    "list.max": lambda a, e, t: a[0].list.max(),
    "list.contains": lambda a, e, t: a[0].list.contains(e.option("item")),
    "struct.field": _struct_field,
    "struct.pack": lambda a, e, t: pl.struct(*(x.alias(n) for x, n in zip(a, e.option("names"), strict=True))),
    "struct.value_by": lambda a, e, t: pl.struct(a[0].alias("value"), a[1].alias("by")),
    "struct.value_keys": lambda a, e, t: pl.struct(a[0].alias("value"), *(k.alias(f"k{i}") for i, k in enumerate(a[1:]))),
    "list.contains_expr": lambda a, e, t: a[0].list.contains(a[1]),
    "list.any_ne": lambda a, e, t: (a[0].list.min() != a[1]) | (a[0].list.max() != a[1]),
    "row_number": lambda a, e, t: pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
}
for _p in ("year", "month", "day", "hour", "minute", "second", "weekday", "quarter", "day_of_year"):
    _LOWER[f"dt.{_p}"] = _dt_part(_p)
for _p in ("is_nan", "is_not_nan", "is_finite", "is_infinite", "floor", "ceil"):  # (expressions/numeric.py)
    _LOWER[_p] = functools.partial(lambda a, e, t, n: getattr(a[0], n)(), n=_p)
_LOWER["fill_nan"] = lambda a, e, t: a[0].fill_nan(a[1])
for _p in ("sin", "cos", "tan", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
           "arctanh", "degrees", "radians", "exp", "log", "log10", "log1p", "cbrt", "sign", "truncate", "round_sig_figs",
           "erf", "bitwise_count_ones", "bitwise_count_zeros", "bitwise_leading_ones", "bitwise_leading_zeros",
           "bitwise_trailing_ones", "bitwise_trailing_zeros"):  # (numeric.MATH)
    _LOWER[_p] = functools.partial(lambda a, e, t, n: getattr(a[0], n)(**_opts(e)), n=_p)
_LOWER["xor"] = lambda a, e, t: a[0].xor(a[1])
_LOWER["is_close"] = lambda a, e, t: a[0].is_close(a[1], **_opts(e))


def _clip(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    bounds = iter(a[1:])
    lo = next(bounds) if e.option("lower") else None
    hi = next(bounds) if e.option("upper") else None
    return a[0].clip(lo, hi)


_LOWER["clip"] = _clip


def _cut(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    labels = e.option("labels")
    with warnings.catch_warnings():  # (Polars 2 calls cut deprecated, for bin_intervals)
        warnings.simplefilter("ignore", DeprecationWarning)
        out = a[0].cut(list(e.option("breaks")), labels=None if labels is None else list(labels),
                       left_closed=e.option("left_closed", False), include_breaks=bool(e.option("include_breaks")))
    if e.option("include_breaks"):  # (the label a string, as Thresher reads Polars' categoricals)
        return pl.struct(out.struct.field("breakpoint"), out.struct.field("category").cast(pl.String))
    return out.cast(pl.String)


_LOWER["cut"] = _cut


def _passthrough(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    from thresher.expressions.numeric import null_input_type, polars_method

    x = a[0] if not t[0].is_null() else a[0].cast(polars_dtype(DataType.from_arrow(null_input_type(e.name))))
    return polars_method(e.name, x, _opts(e))


def _register_passthrough() -> None:
    from thresher.expressions.numeric import PASSTHROUGH

    for name in PASSTHROUGH:
        _LOWER[name] = _passthrough


_register_passthrough()


def _window_only(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    raise ThresherTypeError(f"{e.name.removeprefix('win.')}() is only valid in a window (OVER ...)")


def _order_dependent(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    return polars_call(e.name, a[0], _opts(e), a[1] if len(a) > 1 else None)


for _n in ORDER_DEPENDENT:
    _LOWER[_n] = _order_dependent
for _n in SQL_WINDOW_FUNCTIONS:
    _LOWER[_n] = _window_only


_COMPARISONS = frozenset(("eq", "neq", "lt", "le", "gt", "ge"))
#: calls that are NULL when an operand is a NULL literal (DuckDB folds them, evaluating nothing)
_NULL_OPERAND_IS_NULL = _COMPARISONS | {"add", "sub", "mul", "truediv", "mod", "floordiv", "neg", "abs"}
#: calls that are NULL when their first argument is NULL (the type rule keeps Polars' null type)
_NULL_IN_NULL_OUT = _NULL_OPERAND_IS_NULL | {"round", "sqrt"}


def _typed_null_first(fn: _Lower, dtype: Any) -> _Lower:
    """``fn`` with its first argument (a NULL of Polars' null type) cast to ``dtype`` first."""
    return lambda a, e, t: fn([a[0].cast(dtype), *a[1:]], e, t)


def has_lowering(name: str) -> bool:
    return name in _LOWER


def lowering(name: str) -> _Lower:
    """The Polars lowering of calls of ``name``."""
    return _LOWER[name]


def register_lowering(name: str, fn: _Lower) -> None:
    """Let a plugin function run in Polars."""
    _LOWER[name] = fn


#: the guard of a checked call: the rows where SQL evaluates it (a boolean Polars expression, no
#: NULLs), None for every row, False for none (a guard's own terms: their checks are not run)
Guard = Any
_Checked = Callable[[list["pl.Expr"], Call, list[DataType], Guard], "pl.Expr | None"]
#: name -> (is this call checked, its checked lowering); see :func:`register_checked_lowering`
_CHECKED: dict[str, tuple[Callable[[Call], bool], _Checked]] = {}


def register_checked_lowering(name: str, applies: Callable[[Call], bool], fn: _Checked) -> None:
    """A lowering of ``name`` that raises at run time (SQL's division by zero, integer
    overflow), for the calls ``applies`` accepts: ``fn(args, call, arg_types, guard)`` checks only
    the rows ``guard`` selects, the rows where SQL evaluates the call (a CASE branch's, those a
    WHERE's other terms keep); it returns None to use the plain lowering."""
    _CHECKED[name] = (applies, fn)


def _is_checked(e: Expr) -> bool:
    if not isinstance(e, Call):
        return False
    hit = _CHECKED.get(e.name)
    return hit is not None and hit[0](e)


def needs_guard(expr: Expr) -> bool:
    """Does ``expr`` hold a checked call (see :func:`register_checked_lowering`)?"""
    d = expr.__dict__
    hit: tuple[int, bool] | None = d.get("_memo_checked")
    n = len(_CHECKED)
    if hit is None or hit[0] != n:
        # (a loop, not any() over a generator: a lowered query asks it of each new node)
        found = isinstance(expr, Call) and expr.name in _CHECKED and _is_checked(expr)
        if not found and not expr._LEAF:
            for c in expr.children():
                if needs_guard(c):
                    found = True
                    break
        hit = d["_memo_checked"] = (n, found)
    return hit[1]


def _and_guard(guard: Guard, cond: pl.Expr) -> Guard:
    if guard is False:
        return False
    return cond if guard is None else guard & cond


def _true(c: pl.Expr) -> pl.Expr:
    return c.fill_null(False)


#: nanoseconds in a day
_DAY_NS = 86_400_000_000_000


def date_mean_ns(days: pl.Expr, n: pl.Expr) -> pl.Expr:
    """SQL's avg of dates (DuckDB's TIMESTAMP_NS) from the sum of their day numbers and their
    count (Int128s): ``days * DAY / n`` to the nearest nanosecond (a half up), NULL of no dates."""
    return pl.when(n > 0).then(((days * (2 * _DAY_NS) + n) // (2 * n)).cast(pl.Int64).cast(pl.Datetime("ns")))


def _agg(name: str, x: pl.Expr, e: AggCall, in_type: DataType, in_group: bool) -> pl.Expr:
    if e.option("distinct"):  # (SQL's SUM / AVG (DISTINCT x): over the group's distinct values)
        x = x.unique()
    if name == "sum":
        if e.option("exact") and str(in_type.arrow) in ("int64", "uint64"):
            # SQL: a sum that leaves BIGINT is an error (DuckDB answers in HUGEINT), not a wrapped
            # value: summed in Int128, cast back strictly (see ``polars_error_message``)
            return x.cast(pl.Int128).sum().cast(pl.UInt64 if str(in_type.arrow) == "uint64" else pl.Int64, strict=True)
        if in_type.is_integer() or in_type.is_bool():
            return cast(x, pl.Int64).sum()
        return x.sum()
    if name == "mean":
        if e.option("date_ns"):
            return date_mean_ns(x.cast(pl.Int32).cast(pl.Int128).sum(), x.count().cast(pl.Int128))
        if e.option("exact") and str(in_type.arrow) in ("int64", "uint64"):
            # SQL: DuckDB averages BIGINT values exactly (a HUGEINT sum); Polars sums them as
            # doubles, so avg(2^63 - 1, -2^63) was 0.0, not -0.5
            n = x.count()
            return pl.when(n > 0).then(x.cast(pl.Int128).sum().cast(pl.Float64) / n.cast(pl.Float64))
        # Polars averages a decimal exactly (an i128 sum) and returns Float64 itself: casting
        # every value to Float64 first cost TPC-H q1 about a fifth of its time
        return x.mean()
    if name in ("std", "var", "quantile", "median"):
        # (a float32 column keeps its type, as in Polars: computed as Polars computes it)
        # (dates, datetimes and durations too: Polars' median of dates is a datetime)
        xf = x if in_type.arrow == pa.float32() or in_type.is_temporal() else cast(x, pl.Float64)
        if name == "quantile":
            return xf.quantile(e.option("quantile", 0.5), interpolation=e.option("interpolation", "nearest"))
        if name == "median":
            return xf.median()
        spread = getattr(xf, name)(ddof=e.option("ddof", 1))
        if e.option("sql") is True and not in_type.is_temporal() and not KEYED_GROUP_BY.get():
            # SQL's (DuckDB's): exactly 0 over equal values, where Polars' two passes leave a
            # rounding residue (a mean of 0.1s is not exactly 0.1); NaN stays NaN (inf - inf).
            # (A keyed group-by's are exact already: see KEYED_GROUP_BY)
            zero = pl.lit(0.0, dtype=pl.Float32 if in_type.arrow == pa.float32() else pl.Float64)
            return pl.when((xf.min() == xf.max()) & spread.is_not_nan()).then(zero).otherwise(spread)
        return spread
    if name == "count":
        return cast(x.count(), pl.Int64)
    if name == "n_unique":
        # the DataFrame API's n_unique counts null as a value (as Polars); SQL's count(distinct)
        # does not
        if e.option("nulls", False):
            return cast(x.n_unique(), pl.Int64)
        return cast(x.drop_nulls().n_unique(), pl.Int64)
    if name == "agg_list":
        return x if in_group else x.implode()
    if name in ("max_by", "min_by") and e.option("polars"):  # (Expr.max_by: Polars' own)
        return getattr(x.struct.field("value"), name)(x.struct.field("by"))  # type: ignore[no-any-return]
    if name in ("max_by", "min_by"):
        # the value at the first row with the greatest / least key among the rows where neither
        # is NULL (DuckDB's arg_max / arg_min); a float key sorts NaN greatest, as DuckDB's
        # does (Polars' arg_max skips NaN), the sort stable so the first of equal keys is taken
        value, by = x.struct.field("value"), x.struct.field("by")
        both = value.is_not_null() & by.is_not_null()
        value, by = value.filter(both), by.filter(both)
        if pa.types.is_floating(in_type.arrow.field("by").type):
            return value.sort_by(by, descending=name == "max_by", maintain_order=True).first()
        return value.get(by.arg_max() if name == "max_by" else by.arg_min())
    if name == "regr":
        return _regr(x, e.option("stat"))
    if name in ("bit_and", "bit_or", "bit_xor"):  # (NULL where the group has no value, as DuckDB)
        return getattr(x, "bitwise_" + name[4:])()  # type: ignore[no-any-return]
    if name in ("list_by", "first_by"):
        # SQL's list / first (x ORDER BY y, ...): x in the keys' order, the input's order kept among ties
        keys = [x.struct.field(f"k{i}") for i in range(len(e.option("descending")))]
        ordered = x.struct.field("value").sort_by(keys, descending=list(e.option("descending")),
                                                  nulls_last=list(e.option("nulls_last")), maintain_order=True)
        if name == "first_by":
            return ordered.first()
        return ordered if in_group else ordered.implode()
    if name == "max" and e.option("nan") == "greatest" and in_type.is_float():
        return x.nan_max()  # (SQL: NaN is the greatest value; Polars' max skips it)
    if name in ("first", "last") and e.option("ignore_nulls"):
        return getattr(x, name)(ignore_nulls=True)
    if name == "product" and e.option("polars"):  # (Polars' own: 1 over no value)
        return x.product()
    if name in POLARS_AGGREGATES:
        return getattr(x, name)(**dict(e.options))  # type: ignore[no-any-return]
    if name in ("arg_max", "arg_min"):
        return getattr(x, name)()  # type: ignore[no-any-return]
    if name == "product":  # (DuckDB's: a DOUBLE, NULL where no value is)
        return pl.when(x.count() > 0).then(x.cast(pl.Float64).product())
    if name == "mode":  # the most frequent value, the first seen among ties (DuckDB's), NULLs skipped
        # (within one list: Polars' streaming engine cannot zip the values' and their counts'
        # columns of another length than the input's)
        v, counts = pl.element(), pl.element().unique_counts()
        first = v.unique(maintain_order=True).filter(counts == counts.max()).first()
        return x.drop_nulls().implode().list.eval(first).list.first()
    if name in ("min", "max", "first", "last", "any", "all"):
        return getattr(x, name)()
    raise ThresherTypeError(f"no Polars form for aggregation {name!r}")


def _regr(pair: pl.Expr, stat: str) -> pl.Expr:
    """DuckDB's corr / covar_* / regr_* (y, x) over the rows where neither is NULL, from the
    centred sums of squares and products (two passes: the means, then the sums), where DuckDB
    streams: the same statistic up to rounding in the last digits. NULL over no rows (regr_count
    0); 0 / 0 is NaN where DuckDB's is (corr of one row, the slope of a constant x), NULL where
    DuckDB's is (regr_intercept and regr_r2 of a constant x)."""
    y, x = pair.struct.field("value").cast(pl.Float64), pair.struct.field("by").cast(pl.Float64)
    both = x.is_not_null() & y.is_not_null()
    x, y = x.filter(both), y.filter(both)
    n = x.count().cast(pl.Float64)
    if stat == "regr_count":
        return x.count().cast(pl.UInt32)
    mx, my = x.mean(), y.mean()
    if stat == "regr_avgx":
        return mx
    if stat == "regr_avgy":
        return my
    dx, dy = x - mx, y - my
    sxy, sxx, syy = (dx * dy).sum(), (dx * dx).sum(), (dy * dy).sum()
    some = n > 0
    cov, var_x, var_y = sxy / n, sxx / n, syy / n
    slope = cov / var_x
    corr = cov / (var_x.sqrt() * var_y.sqrt())
    out = {"covar_pop": cov, "covar_samp": pl.when(n > 1).then(sxy / (n - 1)), "corr": corr, "regr_slope": slope,
           "regr_sxx": sxx, "regr_syy": syy, "regr_sxy": sxy,
           "regr_intercept": pl.when(sxx != 0).then(my - slope * mx),
           "regr_r2": pl.when(sxx != 0).then(pl.when(syy == 0).then(pl.lit(1.0)).otherwise(corr * corr))}[stat]
    return pl.when(some).then(out)


def filter_to_polars(pred: Expr, schema: Schema) -> pl.Expr:
    """A filter's predicate (:func:`to_polars`) where a checked call (SQL's ``n % d``) checks
    only the rows SQL evaluates it on: DuckDB evaluates a WHERE's AND terms in any order, each on
    the rows the others keep, and the right side of an OR on the rows its left side does not
    keep (``WHERE d <> 0 AND n % d = 1``, ``WHERE d = 0 OR n % d = 1`` do not fail)."""
    if not needs_guard(pred):
        return to_polars(pred, schema)
    token, checks = _IN_FILTER.set(True), _LOWERED_CHECKS.set({})
    try:
        return _predicate(pred, schema, None)
    finally:
        _LOWERED_CHECKS.reset(checks)
        _IN_FILTER.reset(token)


#: lowering a filter's predicate: a check there must not be elementwise, or Polars merges the
#: filter with those below it (a WHERE's other terms, pushed into the scan) and evaluates the
#: check on the rows they drop
_IN_FILTER: contextvars.ContextVar[bool] = contextvars.ContextVar("thresher_in_filter", default=False)


def check_is_elementwise() -> bool:
    """May the check a checked lowering builds be an elementwise batch function (see
    :func:`filter_to_polars`)?"""
    return not _IN_FILTER.get()


def polars_error_message(exc: BaseException) -> str:
    """The message of an error Polars raised running a lowered program: a checked integer
    operation's (``sql_functions_polars._overflow_in_polars``: its exact result, computed in
    Int64, cast back strictly) is reported as the integer overflow it is."""
    text = str(exc)
    if "weights not yet supported on array with null values" in text:
        return ("rolling_*(weights=...) of a column with nulls is not supported (Polars 2.1 does not weigh "
                "one); fill_null first, or roll without weights")
    if isinstance(exc, pl.exceptions.PanicException):
        return f"Polars failed (a panic) running the lowered program: {text.strip().splitlines()[0]}"
    if re.search(r"conversion from `i128` to `[iu]64` failed", text):
        return ("integer overflow in a SUM of BIGINT values: the sum does not fit BIGINT (DuckDB sums integers "
                "into a HUGEINT; Thresher's SUM of integers is a BIGINT: sum a DECIMAL(38, 0) instead, e.g. "
                "sum(CAST(x AS DECIMAL(38, 0))), or a DOUBLE)")
    hit = re.search(r"conversion from `i64` to `(\w+)` failed", text)
    # (the operands are cast to Int64, or are a common subexpression Polars computed once: h * h
    # in both branches of a CASE under ORDER BY ... LIMIT raised Polars' own text; of
    # typed constants alone, 2147483647::INTEGER + 1, Polars folds the check to one literal; a
    # whole CASE of them Polars computed once fails in its common subexpression's column)
    if hit is not None and ("cast(Int64)" in text or re.search(r"\[\(col\(\"__POLARS_CSER_\w+\"\)\) [-+*] ", text)
                            or "failed in column '__POLARS_CSER_" in text
                            or re.search(r"failed in column 'literal'.*\)\.strict_cast\(\w+\)\s*$", text, re.S)):
        to = {"i8": "Int8", "i16": "Int16", "i32": "Int32", "u8": "UInt8", "u16": "UInt16"}.get(hit.group(1), hit.group(1))
        # Polars names the column the failing expression reads first (not a made-up one: its
        # common subexpressions, a literal's 'literal') and the first value that does not fit;
        # the lowered Polars expression after the message is none the user wrote
        head = text.split("\n\n", 1)[0]
        where = re.search(r"failed in column '(.*)' for \d+ out of \d+ values: \[([^,\]]*)", head)
        value = f" ({where.group(2)})" if where else ""
        column = f" of column {where.group(1)!r}" if where and not where.group(1).startswith(("__", "literal")) else ""
        return (f"integer overflow in an expression{column}: the result{value} does not fit {to} (SQL raises, "
                f"as DuckDB does; cast an operand to a wider type, e.g. CAST(x AS BIGINT) or DOUBLE)")
    return text


def _predicate(pred: Expr, schema: Schema, guard: Guard, in_group: bool = True) -> pl.Expr:
    """A WHERE's (or a CASE WHEN's) condition: an AND's terms guard each other, an OR's sides
    each other (DuckDB evaluates a condition's AND and OR short-circuiting)."""
    if not (isinstance(pred, Call) and pred.name in ("and", "or") and needs_guard(pred)):
        return to_polars(pred, schema, in_group, guard)
    if pred.name == "or":
        # DuckDB evaluates the right side on the rows the left does not keep; the optimizer may
        # have swapped them, so each side checks only the rows the other does not keep
        left, right = pred.args
        lg = _and_guard(guard, ~_true(_unchecked(right, schema, in_group))) if needs_guard(left) else guard
        rg = _and_guard(guard, ~_true(_unchecked(left, schema, in_group))) if needs_guard(right) else guard
        return _predicate(left, schema, lg, in_group) | _predicate(right, schema, rg, in_group)
    terms = _conjuncts(pred)
    plain = [None if not needs_guard(t) else _true(_unchecked(t, schema, in_group)) for t in terms]
    out: list[pl.Expr] = []
    for i, t in enumerate(terms):
        if not needs_guard(t):
            out.append(to_polars(t, schema, in_group, guard))
            continue
        g = guard
        for j, u in enumerate(terms):
            if j != i:
                other = plain[j]
                g = _and_guard(g, other if other is not None else _true(to_polars(u, schema, in_group)))
        out.append(_predicate(t, schema, g, in_group))
    return functools.reduce(lambda x, y: x & y, out)


def _conjuncts(e: Expr) -> list[Expr]:
    if isinstance(e, Call) and e.name == "and":
        return [t for a in e.args for t in _conjuncts(a)]
    return [e]


def _unchecked(e: Expr, schema: Schema, in_group: bool = True) -> pl.Expr:
    """``e`` with no run-time checks (a guard's own value)."""
    return to_polars(e, schema, in_group, False)


#: the checked calls lowered in the expression being lowered: structural key -> [(guard, Polars
#: expression)] (see :func:`_checked_once`); None outside a lowering that has checks
_LOWERED_CHECKS: contextvars.ContextVar[dict[Any, list[tuple[Guard, pl.Expr]]] | None] = contextvars.ContextVar(
    "thresher_lowered_checks", default=None)


def _checked_once(expr: Call, schema: Schema, in_group: bool, guard: Guard, fn: _Lower) -> pl.Expr:
    """A checked call, lowered once per expression: an occurrence already lowered there for every
    row (or for the same rows) checks this one's rows too, so it is reused (a ROUND's input is
    read ~10 times by its expansion, its CASE branches among them; ``CASE WHEN x - y <= 30 ...
    WHEN x - y <= 60 ...`` repeats ``x - y``). One expression is evaluated on one frame, so the
    rows are the same."""
    seen = _LOWERED_CHECKS.get()
    if seen is None:
        return _guarded_call(expr, schema, in_group, guard, fn)
    hits = seen.setdefault(expr.key(), [])
    for g, out in hits:
        if g is None or g is guard:
            return out
    out = _guarded_call(expr, schema, in_group, guard, fn)
    hits.append((guard, out))
    return out


def to_polars(expr: Expr, schema: Schema, in_group: bool = True, guard: Guard = None) -> pl.Expr:
    if _LOWERED_CHECKS.get() is None and needs_guard(expr):
        token = _LOWERED_CHECKS.set({})
        try:
            return _to_polars(expr, schema, in_group, guard)
        finally:
            _LOWERED_CHECKS.reset(token)
    return _to_polars(expr, schema, in_group, guard)


def _to_polars(expr: Expr, schema: Schema, in_group: bool = True, guard: Guard = None) -> pl.Expr:
    """Lower ``expr`` to a Polars expression over columns named as in ``schema``.

    ``in_group`` says aggregations run inside ``group_by().agg`` (False: a global aggregation).
    ``guard`` selects the rows a checked call (see :func:`register_checked_lowering`) checks:
    None all of them; a CASE's branch checks only the rows that take it, a COALESCE's argument
    those where the arguments before it are NULL.
    """
    if guard is not None and not needs_guard(expr):
        guard = None
    if isinstance(expr, Column):
        if expr.name not in schema._index:  # (a lookup; Schema.field raises the error)
            schema.field(expr.name)
        return polars_col(expr.name)
    if isinstance(expr, Literal):
        # (once per literal object: a Polars expression is an immutable value, and pl.lit infers
        # the type of the Python value each time; kept like the literal's key, see expr.memo)
        return memo(expr, "_memo_polars_lit", _lit_of)  # type: ignore[no-any-return]
    if isinstance(expr, Alias):
        if isinstance(expr.child, Column):
            schema.field(expr.child.name)
            return polars_col(expr.child.name, expr.name)
        return to_polars(expr.child, schema, in_group, guard).alias(expr.name)
    if isinstance(expr, Cast):
        inner = to_polars(expr.child, schema, in_group, guard)
        src = expr.child.resolve(schema).dtype
        if expr.dtype.is_media() or src.is_media():
            raise NotLowerable(expr)
        if expr.dtype.is_string() and src.kind == "decimal":
            return cast(inner, pl.String)
        return cast(inner, polars_dtype(expr.dtype), strict=expr.strict)
    if isinstance(expr, When) and needs_guard(expr):
        return _guarded_when(expr, schema, in_group, guard)
    if isinstance(expr, When):
        chain: Any = None
        for cond, value in expr.branches:
            # (no part holds a checked call, as the when itself does not: each part lowered
            # without to_polars' test for one)
            c, v = _to_polars(cond, schema, in_group), _to_polars(value, schema, in_group)
            chain = pl.when(c).then(v) if chain is None else chain.when(c).then(v)
        return chain.otherwise(_to_polars(expr.otherwise_, schema, in_group))
    if isinstance(expr, CountStar):
        return cast(pl.len(), pl.Int64)
    if isinstance(expr, AggCall):
        in_type = expr.child.resolve(schema).dtype
        return _agg(expr.name, to_polars(expr.child, schema, in_group), expr, in_type, in_group)
    if isinstance(expr, Call):
        if expr.name == "or":
            listed = _or_as_is_in(expr, schema)
            if listed is not None:
                return to_polars(listed, schema, in_group, guard)
        fn = _LOWER.get(expr.name)
        if fn is None:
            raise NotLowerable(expr)
        if expr.args and _arg_type(expr.args[0], schema).is_null():
            # a NULL literal (upper(NULL), -NULL): Polars has no string, date or numeric functions on
            # its null type; a numeric one of NULL is NULL
            if expr.name in _NULL_IN_NULL_OUT:
                out = to_polars(expr.args[0], schema, in_group)
                # (a comparison is a boolean NULL: a filter refuses Polars' null type, HAVING
                # min(NULL) > 1 under a ROLLUP failed while running)
                return out.cast(pl.Boolean) if expr.name in _COMPARISONS else out
            if expr.name.startswith(("str.", "dt.")):
                fn = _typed_null_first(fn, pl.String if expr.name.startswith("str.") else pl.Date)
        if guard is None and not needs_guard(expr):
            # (none holds a checked call; a column argument, most of them, is looked up here:
            # lowering and resolving it were four Python calls)
            args: list[pl.Expr] = []
            types: list[DataType] = []
            index = schema._index
            for a in expr.args:
                if type(a) is Column and a.name in index:
                    args.append(polars_col(a.name))
                    types.append(schema._fields[index[a.name]].dtype)
                else:
                    args.append(_to_polars(a, schema, in_group))
                    types.append(a.resolve(schema).dtype)
            return fn(args, expr, types)
        if _is_checked(expr) and guard is not False:
            return _checked_once(expr, schema, in_group, guard, fn)
        return _guarded_call(expr, schema, in_group, guard, fn)
    if isinstance(expr, UDFCall):
        raise NotLowerable(expr)
    if isinstance(expr, SeqOp):  # (only inside list.eval: anywhere else the plan refuses one)
        return _seq_to_polars(to_polars(expr.child, schema, in_group), expr)
    raise NotLowerable(expr)


def _arg_type(a: Expr, schema: Schema) -> DataType:
    """``a.resolve(schema).dtype``; a column's looked up directly."""
    if type(a) is Column:
        i = schema._index.get(a.name)
        if i is not None:
            return schema._fields[i].dtype
    return a.resolve(schema).dtype


def _seq_to_polars(x: pl.Expr, e: SeqOp) -> pl.Expr:
    o = dict(e.options)
    if e.op == "unique":
        return x.unique(maintain_order=bool(o.get("maintain_order")))
    if e.op == "sort":
        return x.sort(descending=bool(o.get("descending")), nulls_last=bool(o.get("nulls_last")))
    if e.op in ("head", "tail"):
        return getattr(x, e.op)(o["n"])  # type: ignore[no-any-return]
    if e.op == "slice":
        return x.slice(o["offset"], o.get("length"))
    if e.op in ("top_k", "bottom_k"):  # (largest / smallest first, as the frames' SeqOps)
        return x.sort(descending=e.op == "top_k", nulls_last=True).head(o["k"])
    if e.op == "gather_every":
        return x.gather_every(o["n"], o.get("offset", 0))
    if e.op in ("reverse", "drop_nulls", "drop_nans"):
        return getattr(x, e.op)()  # type: ignore[no-any-return]
    raise NotLowerable(e)


def _list_eval(a: list[pl.Expr], e: Call, t: list[DataType]) -> pl.Expr:
    inner = t[0].inner() if t[0].is_list() else DataType.null()
    schema = Schema([Field(ELEMENT, inner)])
    # (Polars' element() is col(""): the expression lowers over a schema of that one column;
    # in_group=False: an aggregation is over the list's elements, one value)
    # (an order-dependent function, rank() or cum_sum(), lowers as Polars' own: over each list)
    return a[0].list.eval(to_polars(e.option("expr"), schema, in_group=False))


_LOWER["list.eval"] = _list_eval
for _h in HORIZONTAL:  # (th.sum_horizontal, ...: Polars' own, typed by Polars)
    _LOWER[_h] = functools.partial(lambda a, e, t, fn: getattr(pl, fn)(*a), fn=_h)


def _or_as_is_in(expr: Call, schema: Schema) -> Call | None:
    """``x = a OR x = b OR ...`` (one column, constants of its type: text, integers, dates) as
    ``x IN (a, b, ...)``, the same answer on every row (NULL where x is NULL). Polars estimates
    the rows an is_in list keeps, not those of ORs: with TPC-H Q7's two nations as lists (and the
    nation pair above the joins, see predicate_pushdown) its streaming engine filters lineitem's
    scan by the join keys while it runs (a dynamic predicate), 262 -> 207 ms CPU. Floats stay
    ORs (NaN). None for any other OR."""
    terms: list[Expr] = []
    stack: list[Expr] = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, Call) and e.name == "or" and len(e.args) == 2:
            stack.extend(reversed(e.args))
        else:
            terms.append(e)
    column: Column | None = None
    values: list[Any] = []
    for t in terms:
        if not (isinstance(t, Call) and t.name == "eq" and len(t.args) == 2):
            return None
        a, b = t.args
        c, v = (a, b) if isinstance(a, Column) else (b, a)
        if not (isinstance(c, Column) and isinstance(v, Literal) and v.value is not None):
            return None
        if column is None:
            column = c
        elif c.name != column.name:
            return None
        if v.value not in values:
            values.append(v.value)
    if column is None or len(terms) < 2:
        return None
    dtype = column.resolve(schema).dtype
    if not (dtype.is_string() or dtype.is_integer() or dtype.kind == "date"):
        return None
    if any(v.resolve(schema).dtype != dtype for t in terms for v in t.args if isinstance(v, Literal)):
        return None
    return Call("is_in", (column,), (("values", tuple(values)),))


def _guarded_when(expr: When, schema: Schema, in_group: bool, guard: Guard) -> pl.Expr:
    """A CASE evaluates a branch's value on the rows that take it, a condition on the rows no
    condition before it took. A condition with a division checked for zero is evaluated as a
    WHERE's (``_predicate``): DuckDB does not evaluate ``1 % a > 1`` in ``CASE WHEN a = 0 OR 1 % a
    > 1`` where ``a = 0`` (that raised). One with overflow checks likewise where a check is in one
    side of an AND / OR only (:func:`_partly_checked`); one whose checks are in every side checks
    them on all its rows (TPC-DS q50/q62/q99: ``x - y > 30 AND x - y <= 60`` in five CASEs; each
    term guarded by the other cost q99 ~10% CPU), as DuckDB evaluates them there too."""
    chain: Any = None
    rest = guard
    for cond, value in expr.branches:
        c = (_predicate(cond, schema, rest, in_group) if _divides(cond) or _partly_checked(cond)
             else to_polars(cond, schema, in_group, rest))
        taken = _true(_unchecked(cond, schema, in_group)) if needs_guard(cond) else _true(c)
        v = to_polars(value, schema, in_group, _and_guard(rest, taken))
        chain = pl.when(c).then(v) if chain is None else chain.when(c).then(v)
        rest = _and_guard(rest, ~taken)
    return chain.otherwise(to_polars(expr.otherwise_, schema, in_group, rest))


def _partly_checked(e: Expr) -> bool:
    """Is ``e`` an AND / OR with a checked operation (an overflow check) in one side but not in
    the other? DuckDB evaluates such a side only on the rows the other does not decide (``CASE
    WHEN s < 100 AND s * 1000 > n``: raised for s = 30000): the condition is lowered as a WHERE's.
    One in both sides (``x - y > 30 AND x - y <= 60``, TPC-DS q50/q62/q99) runs on every row
    either way: checked there, without the guards' cost."""
    if not (isinstance(e, Call) and e.name in ("and", "or") and len(e.args) == 2 and needs_guard(e)):
        return False
    a, b = e.args
    return _checked_keys(a) != _checked_keys(b) or _partly_checked(a) or _partly_checked(b)


def _checked_keys(e: Expr) -> frozenset[Any]:
    return frozenset(n.key() for n in e.walk() if _is_checked(n)) if needs_guard(e) else frozenset()


def _divides(e: Expr) -> bool:
    """Does ``e`` hold a ``%`` or ``//`` checked for a zero divisor (``__sql_nonzero``)?"""
    return any(isinstance(n, Call) and n.name == "sql_nonzero" for n in e.walk())


_FLIPPED = {"eq": "eq", "neq": "neq", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_POLARS_COMPARE = {"eq": "eq", "neq": "ne", "lt": "lt", "le": "le", "gt": "gt", "ge": "ge"}


def _moved_constants(expr: Call, schema: Schema, in_group: bool, guard: Guard) -> pl.Expr | None:
    """A comparison of integer arithmetic with a constant as DuckDB's optimizer rewrites it
    (its MoveConstantsRule), so that the arithmetic it removes never runs, nor overflows, and the
    arithmetic it keeps is checked: ``x + c1 CMP c2`` is ``x CMP c2 - c1`` (``x - c1``, ``c1 - x``
    likewise) where ``c2 - c1`` fits the type; ``x * c1 CMP c2`` is ``x CMP c2 / c1`` (flipped for
    a negative ``c1``) where ``c1`` divides ``c2``, and ``= c2`` / ``<> c2`` are FALSE / TRUE (NULL
    for a NULL ``x``) where it does not; repeated (``x * 2 + 2 > 0`` is ``x > -1``). Not moved:
    ``x * 4 > 2`` and ``s * 2 > 100000`` (a constant outside the SMALLINT: compared as INTEGERs),
    which DuckDB evaluates, overflow included. None where nothing moves (the plain lowering)."""
    a, b = expr.args
    op = expr.name
    if isinstance(a, Literal):
        a, b, op = b, a, _FLIPPED[op]
    if not (isinstance(b, Literal) and type(b.value) is int and _sql_integer_step(a, schema)):
        return None
    side, k = a, b.value
    moved = False
    while _sql_integer_step(side, schema):
        assert isinstance(side, Call)
        t = side.resolve(schema).dtype
        lo, hi = _int_bounds(t)
        if not lo <= k <= hi:
            break
        left_arg, right_arg = side.args
        const_left = not (isinstance(right_arg, Literal) and type(right_arg.value) is int)
        x, c1 = (right_arg, left_arg.value) if const_left else (left_arg, right_arg.value)  # type: ignore[attr-defined]
        if side.name == "add":
            nk, op2 = k - c1, op
        elif side.name == "sub":  # (c1 - x CMP k: x CMP' c1 - k)
            nk, op2 = (c1 - k, _FLIPPED[op]) if const_left else (k + c1, op)
        else:
            if c1 == 0:
                break
            if k % c1:
                if op in ("eq", "neq"):  # never equal: a constant, NULL for a NULL x (nothing evaluated)
                    x_null = _unchecked(x, schema, in_group).is_null()
                    return pl.when(x_null).then(pl.lit(None, dtype=pl.Boolean)).otherwise(pl.lit(op == "neq"))
                break
            nk, op2 = k // c1, (_FLIPPED[op] if c1 < 0 else op)
        if not lo <= nk <= hi:
            break
        side, k, op, moved = x, nk, op2, True
    if not moved:
        return None
    left = to_polars(side, schema, in_group, guard)
    return getattr(left, _POLARS_COMPARE[op])(pl.lit(k))


def _sql_integer_step(e: Expr, schema: Schema) -> bool:
    """``x + c``, ``x - c``, ``c - x``, ``x * c`` of integers written in SQL (``c`` a constant)."""
    if not (isinstance(e, Call) and e.name in ("add", "sub", "mul") and e.option("sql") is True
            and len(e.args) == 2 and any(isinstance(x, Literal) and type(x.value) is int for x in e.args)):
        return False
    try:
        return e.resolve(schema).dtype.is_integer()
    except ThresherError:
        return False


def _int_bounds(t: DataType) -> tuple[int, int]:
    bits = t.arrow.bit_width
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if pa.types.is_signed_integer(t.arrow) else (0, 2 ** bits - 1)


def _guarded_call(expr: Call, schema: Schema, in_group: bool, guard: Guard, fn: _Lower) -> pl.Expr:
    types = [a.resolve(schema).dtype for a in expr.args]
    args: list[pl.Expr]
    if expr.name in _NULL_OPERAND_IS_NULL and any(isinstance(a, Literal) and a.value is None for a in expr.args):
        # NULL whatever the other operand: DuckDB folds it to NULL and never evaluates that
        args = [to_polars(a, schema, in_group, False) for a in expr.args]
        return fn(args, expr, types)
    if expr.name in ("and", "or") and any(not a.columns() for a in expr.args):
        # DuckDB folds ``x AND FALSE``, ``x OR TRUE`` (a constant side) without evaluating x
        return _predicate(expr, schema, guard)
    if expr.name in _COMPARISONS and len(expr.args) == 2 and any(isinstance(a, Literal) for a in expr.args):
        moved = _moved_constants(expr, schema, in_group, guard)
        if moved is not None:
            return moved
    if expr.name in ("coalesce", "fill_null"):
        # an argument is evaluated on the rows where every argument before it is NULL
        args = []
        rest = guard
        for a in expr.args:
            x = to_polars(a, schema, in_group, rest)
            args.append(x)
            rest = _and_guard(rest, (_unchecked(a, schema) if needs_guard(a) else x).is_null())
    else:
        args = [to_polars(a, schema, in_group, guard) for a in expr.args]
    checked = _CHECKED.get(expr.name)
    if checked is not None and guard is not False and checked[0](expr):
        if guard is None and schema.names and not expr.columns():
            # a constant (``0 % 0``) is evaluated once per row: none over no rows (DuckDB)
            any_row = polars_col(schema.names[0])
            guard = any_row.is_null() | any_row.is_not_null()
        out = checked[1](args, expr, types, guard)
        if out is not None:
            return out
    return fn(args, expr, types)


def is_lowerable(expr: Expr) -> bool:
    """Can ``expr`` become a Polars expression (no UDF, no media cast, every call lowered)?"""
    d = expr.__dict__
    hit: tuple[int, bool] | None = d.get("_memo_lowerable")
    if hit is None or hit[0] != len(_LOWER):  # register_lowering may have added a function since
        hit = d["_memo_lowerable"] = (len(_LOWER), _is_lowerable(expr))
    return hit[1]


def _is_lowerable(n: Expr) -> bool:
    if isinstance(n, UDFCall):
        return False
    if isinstance(n, Call) and n.name not in _LOWER:
        return False
    if isinstance(n, Cast) and n.dtype.is_media():
        return False
    # the children's answers are memoized: a rebuilt expression does not walk them again (a loop,
    # not all() over a generator: the lowering asks of every subexpression of every plan)
    for c in n.children():
        if not is_lowerable(c):
            return False
    return True


# The SQL-only functions (their type rules and lowerings) are registered here too, not only by
# the SQL translator: a Ray worker that runs a plan using one has never imported the translator.
import thresher.expressions.sql_functions  # noqa: E402,F401
import thresher.operators.sql_functions_polars  # noqa: E402,F401
