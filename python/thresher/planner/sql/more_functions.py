"""DuckDB's smaller scalar functions and aggregates, translated to the calls of
``expressions/sql_functions.py`` (lowered in ``operators/sql_functions_polars.py``) or to the
forms ``translate.Translator`` already has.

``translate_more`` answers the nodes it knows and ``None`` for every other; a node it knows with
arguments it cannot answer exactly is refused with an error naming it and where it is.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from thresher.datatypes import DataType, Schema
from thresher.errors import UnsupportedError
from thresher.expressions.expr import AggCall, Call, Cast, CountStar, Expr, Literal, lit, when
from thresher.planner.sql.coerce import SQL_VARIANCE

if TYPE_CHECKING:
    from thresher.planner.sql.translate import Translator

#: DuckDB's one-argument date part functions (``quarter(d)``, ``hour(ts)``, ...) and their parts
_PART_NODES: dict[type, str] = {
    exp.Quarter: "quarter", exp.Hour: "hour", exp.Minute: "minute", exp.Second: "second", exp.Week: "week",
    exp.WeekOfYear: "week", exp.DayOfYear: "doy", exp.DayOfWeekIso: "isodow", exp.DayOfMonth: "day",
}
_MATH_NODES: dict[type, str] = {exp.Sin: "sin", exp.Cos: "cos", exp.Tan: "tan", exp.Atan: "atan",
                                exp.Atan2: "atan2", exp.Degrees: "degrees", exp.Radians: "radians"}
_BIT_AGGREGATES: dict[type, str] = {exp.BitwiseAndAgg: "bit_and", exp.BitwiseOrAgg: "bit_or",
                                    exp.BitwiseXorAgg: "bit_xor"}
#: DuckDB's bitwise operators (``a & b``, ``a | b``, ``xor(a, b)``, ``a << b``, ``a >> b``, ``~a``);
#: ``bit_count(a)`` is anonymous to sqlglot
_BIT_OPERATORS: dict[type, str] = {exp.BitwiseAnd: "and", exp.BitwiseOr: "or", exp.BitwiseXor: "xor",
                                   exp.BitwiseLeftShift: "shl", exp.BitwiseRightShift: "shr", exp.BitwiseNot: "not"}
#: DuckDB's two-argument statistics (the ``regr`` aggregate's ``stat``)
_REGR_NODES: dict[type, str] = {
    exp.Corr: "corr", exp.CovarPop: "covar_pop", exp.CovarSamp: "covar_samp", exp.RegrSlope: "regr_slope",
    exp.RegrIntercept: "regr_intercept", exp.RegrR2: "regr_r2", exp.RegrCount: "regr_count",
    exp.RegrAvgx: "regr_avgx", exp.RegrAvgy: "regr_avgy", exp.RegrSxx: "regr_sxx", exp.RegrSyy: "regr_syy",
    exp.RegrSxy: "regr_sxy"}
#: the same functions sqlglot leaves anonymous in DuckDB's dialect
_ANONYMOUS_PARTS = {"dayofweek": "dow", "weekday": "dow", "isodow": "isodow", "weekofyear": "week",
                    "dayofyear": "doy", "dayofmonth": "day"}


def _where(node: Any) -> str:
    from thresher.planner.sql.translate import _where  # (translate imports this module)

    return _where(node)


def translate_more(tr: Translator, node: Any, schema: Schema | None) -> Expr | None:
    """``node`` as an expression where it is one of the functions this module knows, else ``None``."""
    import thresher.expressions.sql_functions  # noqa: F401  (registers the sql_* calls)

    if isinstance(node, (exp.IsNan, exp.IsInf)) or _anonymous(node, "isfinite", 1):
        op = "isnan" if isinstance(node, exp.IsNan) else "isinf" if isinstance(node, exp.IsInf) else "isfinite"
        return _resolved(Call("sql_float_test", (tr.expr(_first(node), schema),), (("op", op),)), schema)
    if isinstance(node, exp.Trunc):
        if node.args.get("decimals") is not None:
            raise UnsupportedError(f"trunc(x, digits) is not supported (only trunc(x)): {_where(node)}")
        return _resolved(Call("sql_trunc", (tr.expr(node.this, schema),)), schema)
    if isinstance(node, exp.Pi):
        return Literal(math.pi, DataType.float64())
    math_op = _MATH_NODES.get(type(node))
    if math_op is not None:
        args = [tr.expr(node.this, schema)]
        if node.args.get("expression") is not None:
            args.append(tr.expr(node.expression, schema))
        return _resolved(Call("sql_math", tuple(args), (("op", math_op),)), schema)
    if isinstance(node, (exp.SimilarTo, exp.Glob)):
        return _pattern_match(tr, node, schema)
    if isinstance(node, (exp.Dayname, exp.Monthname)):
        if node.args.get("abbreviated"):
            raise UnsupportedError(f"an abbreviated {_spelled(node)} is not supported: {_where(node)}")
        fmt = "%A" if isinstance(node, exp.Dayname) else "%B"  # (English names, as DuckDB's)
        return _resolved(Call("sql_strftime", (tr.expr(node.this, schema),), (("format", fmt), ("spelled", fmt))),
                         schema)
    part = _PART_NODES.get(type(node))
    if part is None and type(node) is exp.Anonymous and len(node.expressions) == 1:
        part = _ANONYMOUS_PARTS.get(node.name.lower())
    if part is not None:
        if node.args.get("mode") is not None:
            raise UnsupportedError(f"week(d, mode) is not supported (only week(d), the ISO week): {_where(node)}")
        return _resolved(Call("sql_date_part", (tr.expr(_first(node), schema),), (("part", part),)), schema)
    if _epoch_part(node):
        x = tr.expr(node.expression if isinstance(node, exp.Extract) else node.expressions[1], schema)
        return _resolved(Call("sql_epoch", (x,), (("unit", "s"),)), schema)  # (seconds, a DOUBLE)
    if _anonymous(node, "prefix", 2):
        texts = tuple(tr.expr(a, schema) for a in node.expressions)
        return _resolved(Call("sql_str", texts, (("op", "starts_with"),)), schema)
    if isinstance(node, (exp.StddevPop, exp.VariancePop)):
        x = tr.expr(node.this, schema)
        if schema is not None and str(x.resolve(schema).dtype) == "float":
            x = Cast(x, DataType.float64())  # (DuckDB answers in DOUBLE)
        agg = AggCall("std" if isinstance(node, exp.StddevPop) else "var", x, (("ddof", 0), *SQL_VARIANCE))
        # one value: 0 (DuckDB's, of NaN and the infinities too; Polars' of those is NaN); none:
        # NULL (Polars' streaming engine gave 0.0 for a group whose CASE values were all NULL)
        n = AggCall("count", x)
        one = when(Call("eq", (n, lit(1)))).then(Literal(0.0, DataType.float64())).otherwise(Literal(None, DataType.float64()))
        return when(Call("gt", (n, lit(1)))).then(agg).otherwise(one)
    if isinstance(node, exp.CountIf):
        # DuckDB's count_if(c) is the sum of c as an integer: NULL where no row's c is known
        return tr.expr(exp.Sum(this=exp.Cast(this=node.this.copy(), to=exp.DataType.build("BIGINT"))), schema)
    if type(node) is exp.Anonymous and node.name.lower() == "age":
        raise UnsupportedError(f"age() is not supported: DuckDB answers an INTERVAL of months, days and "
                               f"microseconds, which Thresher has no type for (date_diff('day', a, b) counts "
                               f"the days): {_where(node)}")
    bit_op = _BIT_OPERATORS.get(type(node))
    if bit_op is None and _anonymous(node, "bit_count", 1):
        bit_op = "count"
    if bit_op is not None:
        operands = [node.this] if bit_op == "not" else [_first(node)] if bit_op == "count" else [node.this,
                                                                                              node.expression]
        args = [tr.expr(a, schema) for a in operands]
        if all(_int_literal(a) for a in args):  # (DuckDB's INTEGER where the constant fits one)
            args = [Literal(a.value, DataType.int32()) if -2 ** 31 <= a.value < 2 ** 31 else a  # type: ignore[attr-defined]
                    for a in args]
        call: Expr = Call("sql_bits", tuple(args), (("op", bit_op),))
        if schema is not None:  # (an integer literal takes the other operand's type: ub & 1 of a UBIGINT ub)
            from thresher.planner.sql.coerce import coerce_literals

            call = coerce_literals(call, schema)
        return _resolved(call, schema)
    stat = _REGR_NODES.get(type(node))
    if stat is not None:  # (y, x): DuckDB's argument order, the dependent variable first
        y, x = tr.expr(node.this, schema), tr.expr(node.expression, schema)
        return _resolved(AggCall("regr", Call("struct.value_by", (y, x)), (("stat", stat),)), schema)
    bits = _BIT_AGGREGATES.get(type(node))
    if bits is not None:
        x = tr.expr(node.this, schema)
        if schema is not None:
            t = x.resolve(schema).dtype
            if not t.is_integer():
                raise UnsupportedError(f"{bits} of a {t} is not supported (only integers): {_where(node)}")
        return AggCall(bits, x)
    if _anonymous(node, "product", 1) or isinstance(node, exp.Mode):
        name = "mode" if isinstance(node, exp.Mode) else "product"
        arg = node.this if isinstance(node, exp.Mode) else node.expressions[0]
        if isinstance(arg, exp.Distinct):
            raise UnsupportedError(f"{name}(DISTINCT ...) is not supported: {_where(node)}")
        x = tr.expr(arg, schema)
        if schema is not None:
            t = x.resolve(schema).dtype
            if name == "product" and not (t.is_integer() or t.is_float() or t.kind == "decimal" or t.is_null()):
                raise UnsupportedError(f"product of a {t} is not supported (only numbers): {_where(node)}")
            if name == "mode" and (t.is_null() or t.is_media() or t.is_struct() or t.is_list()
                                   or t.is_float()):
                # (a float's mode: DuckDB counts -0.0 and 0.0, and NaNs, apart by their bits)
                raise UnsupportedError(f"mode of a {t} is not supported: {_where(node)}")
        return AggCall(name, x)
    if isinstance(node, exp.ApproxDistinct):
        # (exact: DuckDB's HyperLogLog estimate is the exact count on small inputs, and near it on any)
        if node.args.get("accuracy") is not None:
            raise UnsupportedError(f"approx_count_distinct with an accuracy is not supported: {_where(node)}")
        return tr.expr(exp.Count(this=exp.Distinct(expressions=[node.this.copy()])), schema)
    return None


def _first(node: Any) -> Any:
    return node.expressions[0] if type(node) is exp.Anonymous else node.this


def _anonymous(node: Any, name: str, n_args: int) -> bool:
    return type(node) is exp.Anonymous and node.name.lower() == name and len(node.expressions) == n_args


def _int_literal(e: Expr) -> bool:
    return isinstance(e, Literal) and type(e.value) is int and e.dtype == DataType.int64() and not e.dynamic


def _epoch_part(node: Any) -> bool:
    """``EXTRACT(epoch FROM x)`` or ``date_part('epoch', x)``."""
    if isinstance(node, exp.Extract):
        return str(node.this.name).lower() == "epoch"
    return (type(node) is exp.Anonymous and node.name.lower() in ("date_part", "datepart")
            and len(node.expressions) == 2 and isinstance(node.expressions[0], exp.Literal)
            and node.expressions[0].is_string and node.expressions[0].name.lower() == "epoch")


def _resolved(call: Expr, schema: Schema | None) -> Expr:
    if schema is not None:
        call.resolve(schema)  # (a ThresherTypeError names the function and the argument)
    return call


def _spelled(node: Any) -> str:
    from thresher.planner.sql.translate import _spelled

    return _spelled(node)


def _pattern_match(tr: Translator, node: Any, schema: Schema | None) -> Expr:
    """``x SIMILAR TO 'regex'`` (DuckDB: the regular expression matches the whole text) and
    ``x GLOB 'pattern'`` (``*`` any text, ``?`` one character, ``[...]`` / ``[!...]`` a class, ``\\``
    escapes the next character; the whole text, case-sensitive), a literal pattern only."""
    from thresher.planner.sql.text_patterns import rust_regex

    pat = node.expression
    what = "SIMILAR TO" if isinstance(node, exp.SimilarTo) else "GLOB"
    x = tr.expr(node.this, schema)
    if isinstance(pat, exp.Null):
        return Literal(None, DataType.bool())
    if not (isinstance(pat, exp.Literal) and pat.is_string):
        raise UnsupportedError(f"{what} needs a text literal pattern: {_where(node)}")
    if isinstance(node, exp.SimilarTo):
        rust, _ = rust_regex(pat.name, "", "regexp_full_match", node)
    else:
        rust = "(?s)\\A(?:" + _glob_regex(pat.name, node) + ")\\z"
    return _resolved(Call("sql_str", (x,), (("op", "regexp_full_match"), ("pattern", rust))), schema)


_RUST_META = set("\\.+*?()|[]{}^$#&-~")


def _glob_regex(glob: str, node: Any) -> str:
    """A GLOB pattern as a Rust regex body, as DuckDB reads it (``[^a]`` is a class of ``^`` and
    ``a``: only ``!`` negates). A trailing ``\\`` or an unclosed ``[`` (DuckDB: matches nothing) is
    refused."""
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\":
            if i + 1 == len(glob):
                raise UnsupportedError(f"a GLOB pattern that ends in a backslash is not supported: {_where(node)}")
            i += 1
            out.append(_escaped(glob[i]))
        elif c == "[":
            j = i + 1
            negate = glob[j:j + 1] == "!"
            if negate:
                j += 1
            members = []
            first = True
            while j < len(glob) and (glob[j] != "]" or first):
                ch = glob[j]
                if ch == "-" and not first and j + 1 < len(glob) and glob[j + 1] != "]":
                    members.append("-")
                else:
                    members.append(_escaped(ch))
                first = False
                j += 1
            if j >= len(glob):
                raise UnsupportedError(f"a GLOB pattern with an unclosed '[' is not supported: {_where(node)}")
            out.append("[" + ("^" if negate else "") + "".join(members) + "]")
            i = j
        else:
            out.append(_escaped(c))
        i += 1
    return "".join(out)


def _escaped(c: str) -> str:
    return "\\" + c if c in _RUST_META else c


def ordered_aggregate(tr: Translator, node: Any, schema: Schema | None) -> Expr:
    """``list(x ORDER BY y, ...)`` / ``array_agg`` and ``first(x ORDER BY y, ...)``: the values
    (NULLs too) in the keys' order, DuckDB's NULLS LAST unless NULLS FIRST is written."""
    order = node.this
    if isinstance(order.this, exp.Distinct):
        raise UnsupportedError(f"{_spelled(node)}(DISTINCT ... ORDER BY ...) is not supported: {_where(node)}")
    x = tr.expr(order.this, schema)
    listed = ordered_list(tr, x, order.expressions, schema, node)
    assert isinstance(listed, AggCall)
    if isinstance(node, exp.First):
        return AggCall("first_by", listed.child, listed.options) if listed.name == "list_by" else AggCall("first", x)
    # no rows: NULL (DuckDB's), not an empty list
    return when(Call("gt", (CountStar(), lit(0)))).then(listed).otherwise(Literal(None, DataType.null()))


def ordered_list(tr: Translator, x: Expr, keys: list[Any], schema: Schema | None, node: Any) -> Expr:
    """The aggregate list of ``x`` in the order of ``keys`` (``exp.Ordered`` nodes)."""
    ys = [tr.expr(k.this, schema) for k in keys]
    if schema is not None and x.resolve(schema).dtype.is_null():
        return AggCall("agg_list", x)  # (NULLs: in any order)
    if schema is not None:
        # a key of NULLs orders nothing (a column of an empty table is NULL-typed)
        kept = [(k, y) for k, y in zip(keys, ys) if not y.resolve(schema).dtype.is_null()]
        if not kept:
            kept = [(exp.Ordered(this=exp.Literal.number(0)), lit(0))]
        keys, ys = [k for k, _ in kept], [y for _, y in kept]
        for e in (x, *ys):
            t = e.resolve(schema).dtype
            if t.is_null() or t.is_media() or t.is_struct() or t.is_list():
                raise UnsupportedError(f"{_spelled(node)} ... ORDER BY of a {t} value or key is not supported: "
                                       f"{_where(node)}")
    opts = (("descending", tuple(bool(k.args.get("desc")) for k in keys)),
            ("nulls_last", tuple(not k.args.get("nulls_first") for k in keys)))
    return AggCall("list_by", Call("struct.value_keys", (x, *ys)), opts)


def decimal_quantile(x: Expr, q: float, t: DataType) -> Expr:
    """DuckDB's quantile_cont(x, q) / median(x) of a DECIMAL(p, s): a DECIMAL(p, s), the unscaled
    values interpolated in double precision (lo + (hi - lo) * fraction) and truncated toward zero
    (1.00 and 2.01: 1.50)."""
    import thresher.expressions.sql_functions  # noqa: F401  (registers sql_decimal_raw, ...)

    raw = AggCall("quantile", Call("sql_decimal_raw", (x,)), (("quantile", q), ("interpolation", "linear")))
    return Call("sql_decimal_from_raw", (raw,), (("precision", t.arrow.precision), ("scale", t.arrow.scale)))
