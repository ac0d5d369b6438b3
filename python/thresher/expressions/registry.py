"""The registry of scalar and aggregate functions: name, type rule, cost class.

Every function an expression can call is registered here (namespaces register theirs when their
module is imported). The registry is what the optimizer reads for costs, what SQL resolves names
against, and what the evaluator dispatches on. Kernels (how to compute) live in operators/.

Cost classes, cheapest first: ``scalar`` (vectorized Arrow/Polars), ``io`` (downloads, header
reads), ``decode`` (pixel/frame decoding), ``model`` (UDFs and model inference).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from thresher.datatypes import (
    _EXTENSION_ID,
    HUGEINT,
    DataType,
    Field,
    infer_literal_type,
    literal_type_next_to,
    supertype,
)
from thresher.errors import ThresherTypeError
from thresher.expressions.cost import CostClass, check_cost_class, mark_not_scalar

TypeRule = Callable[[Sequence[Field], dict[str, Any]], DataType]


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    type_rule: TypeRule
    cost: CostClass = "scalar"
    #: accepts ``on_error`` ("null" | "raise" | "column") and may fail per row
    fallible: bool = False
    #: SQL name(s) this function answers to
    sql_names: tuple[str, ...] = ()
    doc: str = ""


_REGISTRY: dict[str, FunctionSpec] = {}
_SQL_NAMES: dict[str, str] = {}
#: the registered functions whose cost class is not ``scalar``: building a call of one marks the
#: process (``cost.NOT_SCALAR_BUILT``)
NOT_SCALAR: set[str] = set()


def register(spec: FunctionSpec) -> FunctionSpec:
    check_cost_class(spec.cost, spec.name)
    old = _REGISTRY.get(spec.name)
    _REGISTRY[spec.name] = spec
    if spec.cost == "scalar":
        NOT_SCALAR.discard(spec.name)
    else:
        NOT_SCALAR.add(spec.name)
        if old is not None and old.cost == "scalar":
            mark_not_scalar()  # (calls of it built before now cost more)
    for s in spec.sql_names or (spec.name.replace(".", "_"),):
        _SQL_NAMES[s.lower()] = spec.name
    return spec


def function(
    name: str, *, cost: CostClass = "scalar", fallible: bool = False, sql_names: tuple[str, ...] = ()
) -> Callable[[TypeRule], TypeRule]:
    """Decorator form: register a type rule under ``name``."""

    def deco(rule: TypeRule) -> TypeRule:
        register(FunctionSpec(name, rule, cost, fallible, sql_names, rule.__doc__ or ""))
        return rule

    return deco


def get(name: str) -> FunctionSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        _load_namespaces()
        if name in _REGISTRY:
            return _REGISTRY[name]
        raise ThresherTypeError(f"unknown function {name!r}") from None


def lookup_sql(name: str) -> str | None:
    _load_namespaces()
    return _SQL_NAMES.get(name.lower())


def all_functions() -> dict[str, FunctionSpec]:
    _load_namespaces()
    return dict(_REGISTRY)


_NAMESPACE_MODULES = (
    "string", "datetime", "list", "struct", "url", "image", "video", "audio", "tensor", "embedding", "window",
    "numeric",
)


def _load_namespaces() -> None:
    import importlib

    for m in _NAMESPACE_MODULES:
        try:
            importlib.import_module(f"thresher.expressions.{m}")
        except ModuleNotFoundError as exc:
            if exc.name != f"thresher.expressions.{m}":
                raise


# --------------------------------------------------------------------------------------------
# Helpers for type rules
# --------------------------------------------------------------------------------------------


_BOOL = DataType.bool()


def expect(field: Field, ok: bool, needed: str, fn: str) -> None:
    """Raise a type error naming the column, its type and what ``fn`` needs."""
    if not ok:
        raise ThresherTypeError(f"{fn}: column {field.name!r} has type {field.dtype}, expected {needed}")


def _numeric_or_null(f: Field) -> bool:
    return f.dtype.is_numeric() or f.dtype.is_null()


def _decimal_result(op: str, a: DataType, b: DataType) -> DataType | None:
    da, db = a.is_decimal(), b.is_decimal()
    if not (da or db):
        return None
    if a.is_float() or b.is_float():
        return DataType.float64()
    sa = a.arrow.scale if da else 0
    sb = b.arrow.scale if db else 0
    if op == "mul":
        if sa + sb > 38:  # (DuckDB raises too: "Needed scale 40 to accurately represent the multiplication")
            raise ThresherTypeError(f"*: the product of {a} and {b} needs DECIMAL scale {sa + sb}, past the "
                                    f"largest, 38; cast an operand to a DECIMAL of a smaller scale (or to DOUBLE)")
        return DataType.decimal(38, sa + sb)
    if op in ("add", "sub", "mod"):
        return DataType.decimal(38, max(sa, sb))
    return DataType.float64()


#: (left storage type, right storage type) -> the duration type of their difference
_DIFFERENCE_TYPES: dict[tuple[pa.DataType, pa.DataType], DataType] = {}


def _temporal_difference(a: DataType, b: DataType) -> DataType:
    """The duration type of ``a - b`` for dates and timestamps, as Polars computes it (asked on
    empty columns once per pair): its unit depends on the version and the operands' units (Polars
    2: a date minus a date is microseconds, a timestamp minus a date the timestamp's unit, two
    timestamps the coarser unit)."""
    key = (a.storage, b.storage)
    hit = _DIFFERENCE_TYPES.get(key)
    if hit is None:
        import polars as pl

        empty = pl.DataFrame([pl.from_arrow(pa.array([], type=a.storage)).alias("a"),  # type: ignore[union-attr]
                              pl.from_arrow(pa.array([], type=b.storage)).alias("b")])  # type: ignore[union-attr]
        out = empty.select(pl.col("a") - pl.col("b")).to_series().to_arrow().type
        hit = _DIFFERENCE_TYPES[key] = DataType(out) if pa.types.is_duration(out) else DataType.duration("us")
    return hit


def _arith(op: str) -> TypeRule:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        a, b = args
        ta, tb = a.dtype, b.dtype
        # temporal arithmetic
        if op in ("add", "sub") and (ta.is_temporal() or tb.is_temporal()):
            if op == "sub" and ta.is_temporal() and tb.is_temporal() and ta.kind in ("date", "timestamp"):
                if tb.kind in ("date", "timestamp"):
                    return _temporal_difference(ta, tb)
            if ta.kind in ("date", "timestamp") and tb.kind == "duration":
                return ta
            if tb.kind in ("date", "timestamp") and ta.kind == "duration" and op == "add":
                return tb
            if ta.kind == "duration" and tb.kind == "duration":
                return ta
            raise ThresherTypeError(f"cannot {op} column {a.name!r} ({ta}) and {b.name!r} ({tb})")
        if op == "add" and ta.is_string() and tb.is_string():
            return DataType.string()
        if (ta.is_bool() or tb.is_bool()) and not opts.get("sql") and op != "pow":
            # Polars (the DataFrame API) casts a bool next to an integer or a float to that type
            # (b + n of an Int32 n is Int32), and adds two bools as UInt32 (SQL refuses, as DuckDB)
            if ta.is_bool() and tb.is_bool():
                if op == "add":
                    return DataType.uint32()
                if op == "truediv":
                    return DataType.float64()
            elif (tb if ta.is_bool() else ta).is_integer() or (tb if ta.is_bool() else ta).is_float():
                other = tb if ta.is_bool() else ta
                a, b, ta, tb = Field(a.name, other), Field(b.name, other), other, other
        for f in (a, b):
            t = f.dtype  # (_numeric_or_null written out: every arithmetic node asks it of both operands)
            if not (t.is_numeric() or t.is_null()):
                expect(f, False, "a numeric type", _SYMBOLS[op])
        if ta.is_null() and tb.is_null():
            return DataType.null()
        dec = _decimal_result(op, ta, tb)
        if dec is not None:
            return dec
        if op == "pow" and not ta.is_null() and not tb.is_null():
            # Polars: the base's type (an integer to an integer power stays that integer type, as
            # Polars computes it), else the exponent's float type
            if ta.is_float() or (ta.is_integer() and tb.is_integer()):
                return ta
            if tb.is_float():
                return tb
        if op in ("truediv", "pow"):
            if ta.arrow == pa.float32() and (tb.arrow == pa.float32() or tb.is_null()):
                return DataType.float32()
            return DataType.float64()
        st = supertype(ta, tb)
        assert st is not None
        if st is HUGEINT and not opts.get("sql"):
            # (SQL computes it in DuckDB's HUGEINT, a DECIMAL(38, 0), casting the operands itself)
            raise ThresherTypeError(
                f"{_SYMBOLS[op]}: column {a.name!r} ({ta}) with {b.name!r} ({tb}) is computed by Polars in Int128, "
                f"which Arrow (and so Thresher) cannot hold; cast an operand first: .cast('int64') where the values "
                f"fit, or .cast(th.DataType.decimal(38, 0))")
        return st

    return rule


_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%", "pow": "**"}


for _op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow"):
    register(FunctionSpec(_op, _arith(_op), sql_names=(f"__{_op}",)))


def _compare(op: str) -> TypeRule:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        a, b = args
        ta, tb = a.dtype, b.dtype
        if supertype(ta, tb) is None and not (ta.is_temporal() and tb.is_temporal()):
            raise ThresherTypeError(
                f"cannot compare column {a.name!r} ({ta}) with {b.name!r} ({tb}) using {op}"
            )
        # (a media type is an extension type: the others are told apart by their Arrow id)
        if _EXTENSION_ID in (ta._tid, tb._tid) and (ta.is_media() or tb.is_media()):
            raise ThresherTypeError(f"cannot compare media column {a.name!r} ({ta}) with {op}")
        return _BOOL

    return rule


for _op in ("eq", "neq", "lt", "le", "gt", "ge"):
    register(FunctionSpec(_op, _compare(_op), sql_names=(f"__{_op}",)))


def _logical(name: str) -> TypeRule:
    def rule(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
        for f in args:
            t = f.dtype
            if not (t.is_bool() or t.is_null()):
                expect(f, False, "bool", name)
        return _BOOL

    return rule


for _op in ("and", "or", "not"):
    register(FunctionSpec(_op, _logical(_op), sql_names=(f"__{_op}",)))


@function("neg", sql_names=("__neg",))
def _neg(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    expect(args[0], _numeric_or_null(args[0]) or args[0].dtype.kind == "duration", "a numeric type", "negation")
    return args[0].dtype


@function("abs")
def _abs(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    expect(args[0], _numeric_or_null(args[0]), "a numeric type", "abs")
    return args[0].dtype


@function("round")
def _round(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    expect(args[0], _numeric_or_null(args[0]), "a numeric type", "round")
    t = args[0].dtype
    polars_typed = opts.get("mode") is None or opts.get("polars_type", False)
    if t.kind == "decimal" and polars_typed and opts.get("decimals", 0) < t.arrow.scale:
        # the DataFrame API's round (Polars): a decimal rounded to fewer digits than its scale
        # gains a digit of precision (9.99 -> 10.00); SQL gives a mode (DuckDB's half away from
        # zero) and types it itself
        return DataType.decimal(min(t.arrow.precision + 1, 38), t.arrow.scale)
    return t


@function("sqrt")
def _sqrt(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    expect(args[0], _numeric_or_null(args[0]), "a numeric type", "sqrt")
    # a float32 stays float32, as in Polars (SQL casts a REAL argument to DOUBLE first, as DuckDB)
    return args[0].dtype if args[0].dtype.arrow == pa.float32() else DataType.float64()


@function("is_null")
def _is_null(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    return DataType.bool()


register(FunctionSpec("is_not_null", _is_null))


@function("fill_null", sql_names=("coalesce2",))
def _fill_null(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """Polars' ``fill_null``: the common type as Polars takes it (a decimal filled with an
    integer column it cannot hold is ``decimal(38, s)``)."""
    from thresher.datatypes import polars_supertype

    a, b = args
    st = polars_supertype(a.dtype, b.dtype)
    if st is None:
        raise ThresherTypeError(f"fill_null: column {a.name!r} ({a.dtype}) cannot be filled with {b.dtype}")
    return st


@function("fill_null_strategy", sql_names=("__fill_null_strategy",))
def _fill_null_strategy(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """Polars' ``fill_null(strategy=...)`` on one column (``forward_fill``, ``backward_fill``,
    ``DataFrame.fill_null``), of the type Polars gives it. Order- and frame-dependent: it runs in
    a Window (per ``over`` group, or over the whole frame), never per batch."""
    from thresher.expressions.window import _polars_output_type

    if args[0].dtype.is_media():
        raise ThresherTypeError(f"fill_null: strategy {opts.get('strategy')!r} does not apply to column "
                                f"{args[0].name!r} of type {args[0].dtype}")
    return _polars_output_type("fill_null_strategy", args[0].dtype, opts)


def common_type(fn: str, args: Sequence[Field]) -> DataType:
    """The supertype of every argument's type (COALESCE, GREATEST), or an error naming ``fn``
    and the first argument that does not match."""
    t = args[0].dtype
    for f in args[1:]:
        st = supertype(t, f.dtype)
        if st is None:
            raise ThresherTypeError(f"{fn}: {f.name!r} ({f.dtype}) does not match {t}")
        t = st
    return t


@function("coalesce")
def _coalesce(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    return common_type("coalesce", args)


@function("is_in")
def _is_in(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    a = args[0]
    checked: list[DataType] = []  # (a list's values mostly share one type: each type is checked once)
    for v in opts.get("values", ()):
        if v is None:
            continue
        vt = infer_literal_type(v)
        if vt in checked:
            continue
        if supertype(a.dtype, vt) is None:
            raise ThresherTypeError(f"is_in: column {a.name!r} ({a.dtype}) cannot be compared with {v!r} ({vt})")
        checked.append(vt)
    return DataType.bool()


@function("replace")
def _replace(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``old`` values replaced by ``new`` ones, in the input's type (as Polars' ``replace``)."""
    a = args[0]
    for v in (*opts.get("old", ()), *opts.get("new", ())):
        if v is not None and supertype(a.dtype, infer_literal_type(v)) is None:
            raise ThresherTypeError(f"replace: column {a.name!r} ({a.dtype}) cannot hold {v!r}")
    for e in args[1:]:  # (old / new given as expressions of one value)
        if not e.dtype.is_null() and supertype(a.dtype, e.dtype) is None:
            raise ThresherTypeError(f"replace: column {a.name!r} ({a.dtype}) cannot hold {e.name!r} ({e.dtype})")
    return a.dtype


def replace_strict_type(opts: dict[str, Any]) -> DataType:
    """The type of ``replace_strict``: ``return_dtype``, else Polars' Series type of the new values
    (an int is Int64) joined with a ``default``'s (a literal next to that type)."""
    given = opts.get("return_dtype")
    if given is not None:
        assert isinstance(given, DataType)
        return given
    out = DataType.null()
    for v in opts.get("new", ()):
        if v is None:
            continue
        vt = DataType.int64() if type(v) is int else infer_literal_type(v)
        joined = supertype(out, vt)
        if joined is None:
            raise ThresherTypeError(f"replace_strict: the new values mix {out} and {vt}")
        out = joined
    default = opts.get("default")
    if default is not None:
        joined = supertype(out, literal_type_next_to(default, out))
        if joined is None:
            raise ThresherTypeError(f"replace_strict: default {default!r} does not join the new values' {out}")
        out = joined
    return out


@function("replace_strict")
def _replace_strict(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """``old`` values mapped to ``new`` ones in a new type (as Polars' ``replace_strict``)."""
    a = args[0]
    for v in opts.get("old", ()):
        if v is not None and supertype(a.dtype, infer_literal_type(v)) is None:
            raise ThresherTypeError(f"replace_strict: column {a.name!r} ({a.dtype}) cannot be compared with {v!r}")
    out = replace_strict_type(opts)
    if len(args) > 1 and opts.get("return_dtype") is None:  # (default=<expression>: its type joins)
        d = args[1]
        joined = supertype(out, d.dtype)
        if joined is None:
            raise ThresherTypeError(f"replace_strict: default {d.name!r} ({d.dtype}) does not join the new values' "
                                    f"{out}")
        out = joined
    return out


@function("hash", sql_names=("__hash",))  # (not SQL's HASH: DuckDB's hash gives other values)
def _hash(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    return DataType.uint64()


# --------------------------------------------------------------------------------------------
# Aggregations: name -> output type rule
# --------------------------------------------------------------------------------------------

AggRule = Callable[[Field, dict[str, Any]], DataType]


def _agg_sum(f: Field, opts: dict[str, Any]) -> DataType:
    t = f.dtype.arrow
    if f.dtype.is_decimal():  # (numeric: the check below passes)
        return DataType.decimal(38, t.scale)
    expect(f, _numeric_or_null(f) or f.dtype.kind == "duration" or f.dtype.is_bool(), "a numeric type", "sum")
    if f.dtype.is_integer() or f.dtype.is_null():  # (the type asked by its id: every sum asks)
        return DataType.uint64() if f.dtype == DataType.uint64() else DataType.int64()
    if f.dtype.is_bool():
        return DataType.int64()
    return f.dtype


def _agg_float(name: str) -> AggRule:
    def rule(f: Field, opts: dict[str, Any]) -> DataType:
        t = f.dtype
        if name in ("mean", "median", "quantile") and t.kind in ("date", "timestamp", "duration"):
            # Polars: a mean / median / quantile of dates is a datetime (2020-01-01 and 2020-01-02:
            # 2020-01-01 12:00), of datetimes or durations of their type (DuckDB's median too)
            if t.kind == "date":  # (SQL's avg of dates: DuckDB's TIMESTAMP_NS, see SQL_DATE_MEAN)
                return DataType.timestamp("ns" if opts.get("date_ns") else "us")
            return t
        if not (t.is_numeric() or t.is_null() or t.is_bool()):
            expect(f, False, "a numeric type", name)
        # Polars keeps a float32 column's mean/std/var/median/quantile float32 (SQL casts a REAL
        # argument to DOUBLE first: DuckDB answers in DOUBLE)
        return f.dtype if f.dtype.arrow == pa.float32() else DataType.float64()

    return rule


def _agg_same(name: str) -> AggRule:
    def rule(f: Field, opts: dict[str, Any]) -> DataType:
        if name in ("min", "max"):
            expect(f, not f.dtype.is_media() and not f.dtype.is_struct(), "an orderable type", name)
        return f.dtype

    return rule


def _agg_count(f: Field, opts: dict[str, Any]) -> DataType:
    return DataType.int64()


def _agg_list(f: Field, opts: dict[str, Any]) -> DataType:
    return DataType.list(f.dtype)


def _agg_product(f: Field, opts: dict[str, Any]) -> DataType:
    t = f.dtype
    if opts.get("polars"):  # (Expr.product: Polars' types; Polars refuses a NULL-typed column)
        expect(f, t.is_numeric() or t.is_decimal() or t.is_bool(), "a number", "product")
        if t.is_decimal():
            return DataType.decimal(38, t.arrow.scale)
        if t.arrow == pa.uint64():
            return t
        return DataType.int64() if t.is_integer() or t.is_bool() else t
    expect(f, t.is_numeric() or t.is_null(), "a number", "product")
    return DataType.float64()


def _agg_arg(name: str) -> AggRule:
    def rule(f: Field, opts: dict[str, Any]) -> DataType:
        t = f.dtype
        expect(f, not (t.is_media() or t.is_struct() or t.is_list()), "an orderable type", name)
        return DataType.uint32()

    return rule


def _agg_bool(name: str) -> AggRule:
    def rule(f: Field, opts: dict[str, Any]) -> DataType:
        expect(f, f.dtype.is_bool(), "bool", name)
        return DataType.bool()

    return rule


#: the two inputs of an aggregate that reads two (SQL's ``arg_max(x, y)``), as one struct value:
#: every rewrite that maps an aggregate's one child carries both
VALUE_BY = ("value", "by")


@function("struct.value_by", sql_names=("__struct_value_by",))
def _value_by(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """The struct ``{value: x, by: y}`` that ``max_by`` / ``min_by`` aggregate."""
    return DataType.struct(dict(zip(VALUE_BY, (a.dtype for a in args), strict=True)))


def _agg_by(name: str) -> AggRule:
    def rule(f: Field, opts: dict[str, Any]) -> DataType:
        t = f.dtype.arrow
        expect(f, pa.types.is_struct(t) and tuple(t.field(i).name for i in range(t.num_fields)) == VALUE_BY,
               "a struct.value_by(x, y) pair", name)
        by = DataType.from_arrow(t.field("by").type)
        expect(Field("by", by), not (by.is_media() or by.is_struct() or by.is_list() or by.is_null()),
               "an orderable type", name)
        return DataType.from_arrow(t.field("value").type)

    return rule


@function("struct.pack")
def _struct_pack(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """The struct of the arguments, its fields named by the option ``names`` (one each)."""
    names = tuple(opts["names"])
    if len(names) != len(args) or len(set(names)) != len(names):
        raise ThresherTypeError(f"struct.pack: {len(args)} values need as many distinct names, got {names!r}")
    return DataType.struct(dict(zip(names, (a.dtype for a in args), strict=True)))


@function("struct.value_keys", sql_names=("__struct_value_keys",))
def _value_keys(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """The struct ``{value: x, k0: y0, k1: y1, ...}`` that ``list_by`` / ``first_by`` aggregate
    (the value and its ORDER BY keys)."""
    return DataType.struct({"value": args[0].dtype, **{f"k{i}": a.dtype for i, a in enumerate(args[1:])}})


def _agg_ordered(name: str) -> AggRule:
    def rule(f: Field, opts: dict[str, Any]) -> DataType:
        t = f.dtype.arrow
        names = [t.field(i).name for i in range(t.num_fields)] if pa.types.is_struct(t) else []
        expect(f, len(names) > 1 and names == ["value", *(f"k{i}" for i in range(len(names) - 1))],
               "a struct.value_keys(x, y, ...) value and keys", name)
        for n in names[1:]:
            key = DataType.from_arrow(t.field(n).type)
            expect(Field(n, key), not (key.is_media() or key.is_struct() or key.is_list() or key.is_null()),
                   "an orderable type", name)
        value = DataType.from_arrow(t.field("value").type)
        return DataType.list(value) if name == "list_by" else value

    return rule


def _agg_bits(name: str) -> AggRule:
    def rule(f: Field, opts: dict[str, Any]) -> DataType:
        expect(f, f.dtype.is_integer(), "an integer", name)
        return f.dtype

    return rule


#: the statistics of DuckDB's two-argument aggregates ``regr`` computes (``opts["stat"]``):
#: corr, covar_pop, covar_samp and the regr_* family
REGR_STATS = ("corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "regr_r2", "regr_count",
              "regr_avgx", "regr_avgy", "regr_sxx", "regr_syy", "regr_sxy")


def _agg_regr(f: Field, opts: dict[str, Any]) -> DataType:
    """SQL's corr / covar_* / regr_* (y, x) of ``struct.value_by(y, x)``: over the rows where
    neither is NULL, a DOUBLE (regr_count a UINTEGER, as DuckDB's)."""
    stat = opts.get("stat")
    t = f.dtype.arrow
    expect(f, pa.types.is_struct(t) and tuple(t.field(i).name for i in range(t.num_fields)) == VALUE_BY,
           "a struct.value_by(y, x) pair", str(stat))
    for name in VALUE_BY:
        part = DataType.from_arrow(t.field(name).type)
        expect(Field(name, part), part.is_numeric() or part.is_null(), "a number", str(stat))
    if stat not in REGR_STATS:
        raise ThresherTypeError(f"regr: unknown statistic {stat!r} (one of {', '.join(REGR_STATS)})")
    return DataType.uint32() if stat == "regr_count" else DataType.float64()


#: Polars' aggregations taken as they are (``x.<name>(**options)``), each typed by Polars (asked
#: on an empty column of the input's type): what their input must be
POLARS_AGGREGATES: dict[str, Callable[[DataType], bool]] = {
    "skew": lambda t: t.is_numeric() or t.is_bool(),
    "kurtosis": lambda t: t.is_numeric() or t.is_bool(),
    "entropy": lambda t: t.is_numeric() or t.is_bool(),
    "nan_max": lambda t: t.is_numeric(),
    "nan_min": lambda t: t.is_numeric(),
    "approx_n_unique": lambda t: not (t.is_media() or t.is_null()),
    "index_of": lambda t: not (t.is_media() or t.is_struct() or t.is_null()),
    "search_sorted": lambda t: not (t.is_media() or t.is_struct() or t.is_list() or t.is_null()),
}


def _polars_agg(name: str) -> AggRule:
    def rule(f: Field, opts: dict[str, Any]) -> DataType:
        from thresher.expressions.numeric import polars_result_type

        expect(f, POLARS_AGGREGATES[name](f.dtype), "a numeric type" if name in ("skew", "kurtosis", "entropy",
                                                     "nan_max", "nan_min") else "a comparable type", name)
        return DataType.from_arrow(polars_result_type(name, f.dtype.storage, tuple(sorted(opts.items()))))

    return rule


AGGREGATES: dict[str, AggRule] = {
    **{n: _polars_agg(n) for n in POLARS_AGGREGATES},
    # SQL's corr / covar_pop / covar_samp / regr_* (y, x) of struct.value_by(y, x) (option ``stat``)
    "regr": _agg_regr,
    # SQL's list(x ORDER BY y, ...) / first(x ORDER BY y, ...) of struct.value_keys(x, y, ...): the
    # values, NULLs too, in the keys' order (options ``descending``, ``nulls_last``: a tuple per
    # key; stable among ties)
    "list_by": _agg_ordered("list_by"),
    # SQL's bit_and / bit_or / bit_xor of integers (NULLs skipped; NULL where there is none)
    "bit_and": _agg_bits("bit_and"),
    "bit_or": _agg_bits("bit_or"),
    "bit_xor": _agg_bits("bit_xor"),
    "first_by": _agg_ordered("first_by"),
    # the value at the row with the greatest / least ``by`` among the rows where neither is NULL
    # (the first such row among ties; NULL where there is none): DuckDB's arg_max / arg_min
    "max_by": _agg_by("max_by"),
    "min_by": _agg_by("min_by"),
    "sum": _agg_sum,
    "mean": _agg_float("mean"),
    "std": _agg_float("std"),
    "var": _agg_float("var"),
    "median": _agg_float("median"),
    "quantile": _agg_float("quantile"),
    "min": _agg_same("min"),
    "max": _agg_same("max"),
    "first": _agg_same("first"),
    "last": _agg_same("last"),
    "count": _agg_count,
    "n_unique": _agg_count,
    "agg_list": _agg_list,
    "any": _agg_bool("any"),
    "all": _agg_bool("all"),
    # SQL's product(x): a DOUBLE, NULLs skipped, NULL where there is no value (DuckDB's); with the
    # option ``polars``, Expr.product: Polars' (1 over no value, int64 for integers)
    "product": _agg_product,
    # Polars' arg_max / arg_min: the position of the greatest / least value in the group (uint32)
    "arg_max": _agg_arg("arg_max"),
    "arg_min": _agg_arg("arg_min"),
    # SQL's mode(x): the most frequent value, NULLs skipped, the first seen among ties (DuckDB's)
    "mode": _agg_same("mode"),
}


@function("minhash")
def _minhash(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    expect(args[0], args[0].dtype.is_string() or args[0].dtype.is_null(), "string", "minhash")
    return DataType.fixed_size_list(DataType.uint32(), int(opts.get("num_perm", 128)))


@function("row_number")
def _row_number(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    """Position of the row in its window partition (1-based), by the window's order."""
    return DataType.int64()

