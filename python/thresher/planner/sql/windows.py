"""SQL window functions → ``Window`` plan nodes with DuckDB's semantics.

Every ``OVER (...)`` in a SELECT list or QUALIFY becomes a placeholder column ``__win.wN``; the
window itself becomes a :class:`WindowSpec` (function, PARTITION BY, ORDER BY with each key's
direction and NULL placement, and the effective frame). Windows run after GROUP BY/HAVING, so a
window over an aggregate (``avg(sum(x)) OVER (PARTITION BY k)``) hands its inner aggregates to the
Aggregate node first and reads their columns.

DuckDB's rules: NULLS LAST by default for ASC and DESC; without a frame clause the frame is
``RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`` (peers included) when there is an ORDER BY
and the whole partition otherwise. ROWS, RANGE (numeric offsets over
a numeric key, integers or intervals over DATE/TIMESTAMP/TIME keys) and GROUPS frames with
EXCLUDE CURRENT ROW/GROUP/TIES are supported, and IGNORE NULLS in the value functions
(first_value, last_value, nth_value, lag, lead); non-constant offsets raise an error naming the
construct.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from thresher.datatypes import Field, Schema
from thresher.errors import UnsupportedError
from thresher.expressions.expr import AggCall, Call, Column, CountStar, Expr, has_aggregate
from thresher.expressions.window import IntervalOffset, WindowFrame
from thresher.planner.logical import LogicalPlan, Project, Window
from thresher.planner.sql.coerce import SQLCast, _sql_cast

if TYPE_CHECKING:
    from thresher.planner.sql.translate import Translator

_RANKING = {"rownumber": "row_number", "rank": "rank", "denserank": "dense_rank", "percentrank": "percent_rank",
            "cumedist": "cume_dist", "ntile": "ntile"}
_VALUE = {"firstvalue": "first_value", "lastvalue": "last_value", "nthvalue": "nth_value", "lag": "lag",
          "lead": "lead"}


@dataclass
class WindowSpec:
    """One SQL window: ``func`` over the frame, computed into column ``name``."""

    name: str
    func: Expr
    partition_by: list[Expr] = field(default_factory=list)
    order_by: list[Expr] = field(default_factory=list)
    descending: list[bool] = field(default_factory=list)
    nulls_last: list[bool] = field(default_factory=list)
    frame: WindowFrame = field(default_factory=WindowFrame)
    #: an aggregate built of others: ``parts`` (one window each) and ``post``, the expression of
    #: their columns that computes this window's column
    parts: list[WindowSpec] = field(default_factory=list)
    post: Expr | None = None

    def inputs(self) -> list[Expr]:
        return [*self.func.children(), *self.partition_by, *self.order_by]

    def rewrite(self, fn: Callable[[Expr], Expr]) -> None:
        kids = self.func.children()
        if kids:
            self.func = self.func.with_children([fn(k) for k in kids])
        self.partition_by = [fn(e) for e in self.partition_by]
        self.order_by = [fn(e) for e in self.order_by]

    def group_key(self) -> tuple[Any, ...]:
        return (tuple(e.key() for e in self.partition_by), tuple(e.key() for e in self.order_by),
                tuple(self.descending), tuple(self.nulls_last), self.frame)


class SQLWindows:
    """The windows of one SELECT: extraction from the AST, then Window nodes."""

    def __init__(self, translator: Translator, select: Any) -> None:
        self.tr = translator
        self.specs: list[WindowSpec] = []
        self.posts: list[tuple[str, Expr]] = []  # (column, expression of the specs' columns)
        self.named = {w.alias_or_name: w for w in (select.args.get("windows") or [])}

    # -- extraction --------------------------------------------------------------------------------
    def extract(self, node: Any, schema: Schema) -> tuple[Any, Schema]:
        """Replace each window in ``node`` by its placeholder column; the schema to translate it with."""
        from sqlglot import exp

        if self.tr.facts is not None and not self.tr.facts.has_windows:
            return node, schema  # (the query has no window: no walk over each item)

        windows = [w for w in node.find_all(exp.Window) if w.find_ancestor(exp.Window) is None]
        if not windows:
            return node, schema
        from thresher.planner.sql.translate import SQLError, _where

        for w in windows:
            agg = w.find_ancestor(exp.AggFunc)
            if agg is not None and agg.find_ancestor(exp.Window) is None:
                raise SQLError(f"an aggregate cannot contain a window function: {_where(agg)}")
        extra: list[Field] = []
        for w in windows:
            spec = self._spec(w, schema)
            if spec.post is not None:
                self.specs.extend(spec.parts)
                self.posts.append((spec.name, spec.post))
            else:
                self.specs.append(spec)
            extra.append(Field(spec.name, spec.func.resolve(schema).dtype))
            placeholder = exp.column(spec.name.split(".", 1)[1], table="__win")
            if w is node:
                node = placeholder
            else:
                w.replace(placeholder)
        return node, Schema((*schema.fields, *extra))

    def extract_order_by(self, order: Any, schema: Schema) -> Schema:
        """Windows in ORDER BY keys become placeholders (in place); the schema to translate them with."""
        if order is None:
            return schema
        for o in order.expressions:
            new, schema = self.extract(o.this, schema)
            if new is not o.this:
                o.set("this", new)
        return schema

    def has_aggregates(self) -> bool:
        return any(has_aggregate(e) for s in self.specs for e in s.inputs())

    def inputs(self) -> list[Expr]:
        return [e for s in self.specs for e in s.inputs()]

    def rewrite(self, fn: Callable[[Expr], Expr]) -> None:
        for s in self.specs:
            s.rewrite(fn)

    # -- plan ---------------------------------------------------------------------------------------
    def apply(self, plan: LogicalPlan) -> LogicalPlan:
        """Window nodes for every extracted window (one node per distinct window specification)."""
        groups: dict[tuple[Any, ...], list[WindowSpec]] = {}
        for s in self.specs:
            groups.setdefault(s.group_key(), []).append(s)
        for specs in groups.values():
            s = specs[0]
            plan = Window(plan, tuple(x.func.alias(x.name) for x in specs), tuple(s.partition_by), tuple(s.order_by),
                          tuple(s.descending), tuple(s.nulls_last), s.frame)
        if self.posts:
            parts = {s.name for s in self.specs if s.name.rsplit("_", 1)[0] in {n for n, _ in self.posts}}
            keep = [Column(n) for n in plan.schema.names if n not in parts]
            plan = Project(plan, (*keep, *(e.alias(n) for n, e in self.posts)))
        return plan

    # -- one window -------------------------------------------------------------------------------
    def _spec(self, w: Any, schema: Schema) -> WindowSpec:
        from thresher.planner.sql.translate import SQLError, _where

        part_ast = w.args.get("partition_by") or []
        order_ast = w.args.get("order")
        frame_ast = w.args.get("spec")
        ref = w.args.get("alias")
        if ref is not None:  # OVER w / OVER (w ...): a named window from the WINDOW clause
            base = self.named.get(ref.name if hasattr(ref, "name") else str(ref))
            if base is None:
                raise SQLError(f"unknown window name {ref} in {_where(w)}")
            part_ast = part_ast or base.args.get("partition_by") or []
            order_ast = order_ast or base.args.get("order")
            frame_ast = frame_ast or base.args.get("spec")
        part = [self.tr.expr(p, schema) for p in part_ast]
        order, desc, nulls_last = [], [], []
        for o in (order_ast.expressions if order_ast is not None else []):
            order.append(self.tr.expr(o.this, schema))
            d = bool(o.args.get("desc"))
            desc.append(d)
            nf = o.args.get("nulls_first")
            nulls_last.append(not nf if nf is not None else True)  # DuckDB: NULLS LAST for ASC and DESC
        if frame_ast is not None:
            frame = self._frame(frame_ast, w)
        elif order:
            frame = WindowFrame("range", "unbounded_preceding", "current")
        else:
            frame = WindowFrame("rows", "unbounded_preceding", "unbounded_following")
        func = self._function(w.this, schema, w)
        name = f"__win.w{len(self.specs)}_{self.tr._fresh('w').lstrip('_')}"
        if isinstance(func, (AggCall, CountStar, Call)) and (not isinstance(func, Call) or func.name.startswith("win.")):
            return WindowSpec(name, func, part, order, desc, nulls_last, frame)
        # an aggregate built of others (bool_and: when(count(x) > 0).then(all(x)); string_agg:
        # agg_list(x).list.join(sep)): each inner aggregate over the window, then the rest of
        # the expression over their columns (SQLWindows.apply)
        parts: list[WindowSpec] = []

        def split(e: Expr) -> Expr:
            if isinstance(e, (AggCall, CountStar)):
                parts.append(WindowSpec(f"{name}_{len(parts)}", e, list(part), list(order), list(desc),
                                        list(nulls_last), frame))
                return Column(parts[-1].name)
            if isinstance(e, Column):
                raise UnsupportedError(f"unsupported window function (a column outside its aggregates): {_where(w)}")
            kids = e.children()
            return e.with_children([split(k) for k in kids]) if kids else e

        post = split(func)
        if not parts:
            raise UnsupportedError(f"unsupported window function {_where(w)}")
        return WindowSpec(name, func, part, order, desc, nulls_last, frame, parts=parts, post=post)

    def _frame(self, spec: Any, w: Any) -> WindowFrame:
        from thresher.planner.sql.translate import SQLError, _where

        kind = str(spec.args.get("kind") or "").lower()
        if kind not in ("rows", "range", "groups"):
            raise UnsupportedError(f"{kind.upper()} window frames are not supported (ROWS, RANGE and GROUPS are): "
                                   f"{_where(w)}")
        ex = spec.args.get("exclude")
        exclude = "no_others"
        if ex is not None:
            exclude = " ".join(str(ex.name if hasattr(ex, "name") else ex).lower().split()).replace(" ", "_")
            if exclude not in ("no_others", "current_row", "group", "ties"):
                raise UnsupportedError(f"EXCLUDE {ex} in a window frame is not supported: {_where(w)}")

        def bound(value: Any, side: Any, default: str) -> tuple[str, Any]:
            if value is None:
                return default, None
            text = value.name if hasattr(value, "name") and not hasattr(value, "is_int") else str(value)
            side_s = str(side or "").lower()
            if str(text).upper() == "UNBOUNDED":
                return ("unbounded_preceding" if side_s == "preceding" else "unbounded_following"), None
            if str(text).upper() == "CURRENT ROW":
                return "current", None
            from sqlglot import exp

            if isinstance(value, exp.Literal) and not value.is_string:
                # DuckDB types 0.5 DECIMAL (exact) and 1e1 DOUBLE
                num: Any = int(value.name) if value.is_int else \
                    float(value.name) if "e" in value.name.lower() else decimal.Decimal(value.name)
                return side_s, num
            if isinstance(value, exp.Interval):
                return side_s, _interval_offset(value, w)
            raise UnsupportedError(f"window frame offset {value.sql() if hasattr(value, 'sql') else value} is not "
                                   f"supported (constant numbers and intervals only): {_where(w)}")

        start, soff = bound(spec.args.get("start"), spec.args.get("start_side"), "unbounded_preceding")
        end, eoff = bound(spec.args.get("end"), spec.args.get("end_side"), "current")
        try:
            return WindowFrame(kind, start, end, soff, eoff, exclude)
        except Exception as exc:
            raise SQLError(f"invalid window frame ({exc}): {_where(w)}") from None

    def _function(self, fn: Any, schema: Schema, w: Any) -> Expr:
        from sqlglot import exp

        from thresher.planner.sql.translate import SQLError, _where

        ignore_nulls = False
        if isinstance(fn, (exp.IgnoreNulls, exp.RespectNulls)):
            ignore_nulls = isinstance(fn, exp.IgnoreNulls)
            fn = fn.this
        fname = type(fn).__name__.lower()
        if fname == "anonymous":
            fname = str(fn.name).lower().replace("_", "")
        if ignore_nulls and fname not in _VALUE:
            raise UnsupportedError(f"IGNORE NULLS is supported in first_value, last_value, nth_value, lag and lead "
                                   f"only: {_where(w)}")
        if fname in _RANKING:
            opts: tuple[tuple[str, Any], ...] = ()
            if fname == "ntile":
                n = fn.this
                if not (isinstance(n, exp.Literal) and n.is_int and int(n.name) > 0):
                    raise SQLError(f"ntile needs a positive integer constant: {_where(w)}")
                opts = (("n", int(n.name)),)
            return Call(f"win.{_RANKING[fname]}", (), opts)
        if fname in _VALUE:
            name = _VALUE[fname]
            args = [self.tr.expr(fn.this, schema)]
            opts = ()
            if name in ("lag", "lead"):
                off = fn.args.get("offset")
                sign = 1
                if isinstance(off, exp.Neg):  # lag(x, -1) is lead(x, 1)
                    sign, off = -1, off.this
                if off is not None and not (isinstance(off, exp.Literal) and off.is_int):
                    raise UnsupportedError(f"{name} offset must be an integer constant: {_where(w)}")
                opts = (("offset", sign * int(off.name) if off is not None else 1),)
                if fn.args.get("default") is not None:
                    default = self.tr.expr(fn.args["default"], schema)
                    # DuckDB casts the default to the value's type, which the result keeps: lag(i, 1,
                    # 0.5) of a BIGINT is 1 where no row precedes (a common type would make it a DECIMAL)
                    if schema is not None:
                        to, src = args[0].resolve(schema).dtype, default.resolve(schema).dtype
                        if not to.is_null() and src != to:
                            default = _sql_cast(SQLCast(default, to), src)
                    args.append(default)
            elif name == "nth_value":
                off = fn.args.get("offset")
                if not (isinstance(off, exp.Literal) and off.is_int and int(off.name) > 0):
                    raise SQLError(f"nth_value needs a positive integer constant: {_where(w)}")
                opts = (("n", int(off.name)),)
            if ignore_nulls:
                opts = (*opts, ("ignore_nulls", True))
            return Call(f"win.{name}", tuple(args), opts)
        e = self.tr.expr(fn, schema)
        if not has_aggregate(e):
            raise UnsupportedError(f"unsupported window function {_where(w)}")
        return e


#: microseconds per interval unit below a day; months and days are kept apart (calendar units)
_MICROS = {"hour": 3_600_000_000, "minute": 60_000_000, "second": 1_000_000, "millisecond": 1_000,
           "microsecond": 1}
_UNIT_ALIASES = {"year": "year", "years": "year", "yr": "year", "y": "year", "month": "month", "months": "month",
                 "mon": "month", "mons": "month", "week": "week", "weeks": "week", "w": "week", "day": "day",
                 "days": "day", "d": "day", "hour": "hour", "hours": "hour", "h": "hour", "hr": "hour",
                 "minute": "minute", "minutes": "minute", "min": "minute", "mins": "minute", "m": "minute",
                 "second": "second", "seconds": "second", "sec": "second", "secs": "second", "s": "second",
                 "millisecond": "millisecond", "milliseconds": "millisecond", "ms": "millisecond",
                 "microsecond": "microsecond", "microseconds": "microsecond", "us": "microsecond"}


def _interval_offset(node: Any, w: Any) -> IntervalOffset:
    """``INTERVAL '7' DAY``, ``INTERVAL '1 day 2 hours'``, ``INTERVAL 36 HOURS``: months, days and
    microseconds, as DuckDB keeps an interval (calendar units stay apart from time units)."""
    from sqlglot import exp

    from thresher.planner.sql.translate import _where

    amount = node.this
    while isinstance(amount, exp.Paren):
        amount = amount.this
    unit = node.args.get("unit")
    if not isinstance(amount, exp.Literal):
        raise UnsupportedError(f"window frame offset {node.sql()} is not supported (a constant interval only): "
                               f"{_where(w)}")
    text = str(amount.name).strip()
    tokens = text.split() if unit is None else [text, str(unit.name)]
    if len(tokens) % 2:
        raise UnsupportedError(f"window frame offset {node.sql()}: cannot read the interval {text!r}: {_where(w)}")
    months = days = micros = 0
    for num_s, unit_s in zip(tokens[::2], tokens[1::2]):
        u = _UNIT_ALIASES.get(unit_s.lower())
        try:
            num = decimal.Decimal(num_s)
        except decimal.InvalidOperation:
            u = None
        if u is None:
            raise UnsupportedError(f"window frame offset {node.sql()}: unsupported interval {text!r}: {_where(w)}")
        if u in ("year", "month", "week", "day"):
            if num != num.to_integral_value():
                raise UnsupportedError(f"window frame offset {node.sql()}: a fractional number of {u}s is not "
                                       f"supported: {_where(w)}")
            if u in ("year", "month"):
                months += int(num) * (12 if u == "year" else 1)
            else:
                days += int(num) * (7 if u == "week" else 1)
        else:
            micros += int(num * _MICROS[u])
    try:
        return IntervalOffset(months, days, micros)
    except Exception as exc:
        from thresher.planner.sql.translate import SQLError

        raise SQLError(f"invalid window frame ({exc}): {_where(w)}") from None
