"""SQL → logical plan: sqlglot parses and normalizes, this module translates the AST to nodes.

sqlglot's optimizer first qualifies every column with its table alias, decorrelates subqueries
(``EXISTS``/``IN``/scalar subqueries become joins against grouped CTEs) and turns subqueries in
``FROM`` into CTEs; the translator then walks a small, regular AST. Inside one query scope every
column is named ``alias.column``, so self-joins and clashing names need no special care; the
final projection gives the output names.
"""

from __future__ import annotations

import calendar
import datetime
import decimal
import functools
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from thresher.datatypes import HUGEINT, DataType, Schema
from thresher.errors import ColumnNotFoundError, ThresherError, ThresherTypeError, UnsupportedError
from thresher.expressions.expr import (
    AggCall,
    Alias,
    Call,
    Cast,
    Column,
    CountStar,
    Expr,
    Literal,
    combine_conjunction,
    has_aggregate,
    lit,
    split_conjunction,
    strip_alias,
    when,
)
from thresher.planner.logical import (
    Aggregate,
    Distinct,
    Explode,
    Filter,
    Join,
    Limit,
    LogicalPlan,
    Project,
    Sort,
    Union,
)
from thresher.planner.partial_aggregates import partial_aggregates
from thresher.planner.sql.coerce import (
    SQL_CHECKED,
    SQL_DATE_MEAN,
    SQL_DATE_SHIFT,
    SQL_EXACT_SUM,
    SQL_NAN_MAX,
    SQL_TRUNCATED,
    SQL_VARIANCE,
    HugeintCast,
    SQLCast,
    SQLCastError,
    as_condition,
    coerce_literals,
    float32_common,
    may_leave_int32,
)
from thresher.planner.sql.more_functions import decimal_quantile, ordered_aggregate, ordered_list, translate_more
from thresher.planner.sql.text_patterns import chrono_format, rust_regex, rust_replacement
from thresher.planner.sql.windows import SQLWindows


class SQLError(ThresherError):
    """Invalid or unsupported SQL; the message names the construct and where it is."""


def _where(node: Any) -> str:
    meta = getattr(node, "meta", None) or {}
    if meta.get("line") is None and hasattr(node, "walk"):
        # sqlglot keeps token positions on leaves (identifiers, literals): take the first one
        meta = next((m for m in (getattr(n, "meta", None) for n in node.walk()) if m and m.get("line")), meta)
    line, colno = meta.get("line"), meta.get("col")
    text = node.sql() if hasattr(node, "sql") else str(node)
    where = f" at line {line}, column {colno}" if line is not None else ""
    return f"{text[:80]!r}{where}"


_SQL_TYPES = {
    "INT": DataType.int32, "INTEGER": DataType.int32, "BIGINT": DataType.int64, "SMALLINT": DataType.int16,
    "TINYINT": DataType.int8, "DOUBLE": DataType.float64, "FLOAT": DataType.float32, "REAL": DataType.float32,
    "TEXT": DataType.string, "VARCHAR": DataType.string, "CHAR": DataType.string, "STRING": DataType.string,
    "BOOLEAN": DataType.bool, "DATE": DataType.date, "TIMESTAMP": DataType.timestamp, "TIMESTAMPNTZ": DataType.timestamp,
    "DATETIME": DataType.timestamp,
    "BLOB": DataType.binary, "BINARY": DataType.binary, "VARBINARY": DataType.binary,
    "UBIGINT": DataType.uint64, "UINT": DataType.uint32, "UINTEGER": DataType.uint32, "USMALLINT": DataType.uint16,
    "UTINYINT": DataType.uint8, "INT128": lambda: HUGEINT, "HUGEINT": lambda: HUGEINT,
}


@functools.lru_cache(maxsize=1024)
def sql_type_name(t: DataType) -> str:
    """A SQL type name for sqlglot's schema (media types are opaque BLOBs to it); remembered
    per type (a pure function: DataTypes are immutable, equal ones have equal Arrow types), as
    sqlglot's schema is built from every column of each table a query names."""
    if t.is_media():
        return "BLOB"
    if t.kind == "decimal":
        return f"DECIMAL({t.arrow.precision}, {t.arrow.scale})"
    names = {"int8": "TINYINT", "int16": "SMALLINT", "int32": "INT", "int64": "BIGINT", "uint8": "UTINYINT",
             "uint16": "USMALLINT", "uint32": "UINTEGER", "uint64": "UBIGINT", "float": "FLOAT", "double": "DOUBLE",
             "string": "VARCHAR", "binary": "BLOB", "date": "DATE", "timestamp": "TIMESTAMP", "bool": "BOOLEAN"}
    return names.get(t.kind, names.get(str(t), "VARCHAR"))


def _dtype_from_sql(node: Any, where: Any = None) -> DataType:
    """The type a SQL type names; an error naming it (and ``where``'s position: the CAST) if unsupported."""
    name = node.this.name if isinstance(node, exp.DataType) else str(node)
    name = str(name).upper()
    if name.startswith("DECIMAL") or name == "NUMERIC":
        exprs = node.expressions if isinstance(node, exp.DataType) else []
        if len(exprs) == 2:
            return DataType.decimal(int(exprs[0].name), int(exprs[1].name))
        return DataType.decimal(38, 9)
    f = _SQL_TYPES.get(name)
    if f is None:
        if name in ("TIMESTAMPTZ", "TIMETZ"):
            # (DuckDB's TIMESTAMPTZ shows values in the session's time zone and converts text with an
            # offset to UTC: not answered, rather than answered as a plain TIMESTAMP)
            raise UnsupportedError(f"the SQL type {name} (WITH TIME ZONE) is not supported: use TIMESTAMP (UTC "
                                   f"values): {_where(where if where is not None else node)}")
        raise SQLError(f"unsupported SQL type {name} in {_where(where if where is not None else node)}")
    return f()


@functools.lru_cache(maxsize=1)
def _node_names() -> tuple[dict[type, str], dict[type, str]]:
    """The binary operators and the aggregates ``_expr`` maps by the sqlglot node's exact class
    (built once)."""
    binops: dict[type, str] = {
        exp.EQ: "eq", exp.NEQ: "neq", exp.GT: "gt", exp.GTE: "ge", exp.LT: "lt", exp.LTE: "le",
        exp.Add: "add", exp.Sub: "sub", exp.Mul: "mul", exp.Div: "truediv", exp.Mod: "mod",
        exp.And: "and", exp.Or: "or",
    }
    aggs: dict[type, str] = {
        exp.Sum: "sum", exp.Avg: "mean", exp.Min: "min", exp.Max: "max", exp.Stddev: "std",
        exp.StddevSamp: "std", exp.Variance: "var", exp.ArrayAgg: "agg_list", exp.Median: "median",
        exp.First: "first"}
    return binops, aggs


@dataclass
class Relation:
    plan: LogicalPlan
    alias: str


class Translator:
    """Translate one (already sqlglot-optimized) statement against a catalog of plans."""

    def __init__(self, catalog: Mapping[str, LogicalPlan], facts: TreeFacts | None = None,
                 execute: Callable[[LogicalPlan], pa.Table] | None = None) -> None:
        self.catalog = {k.lower(): v for k, v in catalog.items()}
        #: runs a plan to its rows (WITH RECURSIVE iterates while translating); None: refused
        self.execute = execute
        #: what one walk over the tree found (see ``tree_facts``); None: assume anything
        self.facts = facts
        #: table alias -> the columns the query reads through it (``TreeFacts.used``; None: all)
        self.used = facts.used if facts is not None else None
        self.ctes: dict[str, LogicalPlan] = {}
        self._tmp = 0
        #: expressions ``expr`` coerced, by id: see ``coerce_literals``
        self._coerced: dict[int, tuple[Expr, Schema]] = {}
        #: (id(plan), alias) -> (plan, the plan's columns renamed alias.<name>): see ``relation``
        self._renamed: dict[tuple[int, str], tuple[LogicalPlan, LogicalPlan]] = {}

    def _fresh(self, prefix: str) -> str:
        self._tmp += 1
        return f"__{prefix}{self._tmp}"

    # -- statements ----------------------------------------------------------------------------------
    def statement(self, node: Any) -> LogicalPlan:
        with_ = node.args.get("with") or node.args.get("with_")
        if with_ is not None:
            for cte in with_.expressions:
                name = cte.alias_or_name.lower()
                if with_.args.get("recursive") and any(t.name.lower() == name for t in cte.this.find_all(exp.Table)):
                    self.ctes[name] = self._recursive_cte(cte, name)
                else:
                    self.ctes[name] = self.statement(cte.this)
        if isinstance(node, exp.Select):
            return self.select(node)
        if isinstance(node, (exp.Union, exp.Intersect, exp.Except)):
            left, right = self.statement(node.left), self.statement(node.right)
            if node.args.get("by_name") or node.args.get("side") or node.args.get("kind") or node.args.get("on"):
                left, right = _by_name(node, left, right)
            right = self._rename_like(right, left.schema)
            left, right = _text_aligned(left, right)
            left, right = self._float32_columns(left, right)
            distinct = node.args.get("distinct") is not False
            plan: LogicalPlan
            if isinstance(node, exp.Union):
                plan = Union((left, right))
                if distinct:
                    plan = Distinct(plan, None, "first")
            else:
                plan = self._intersect_except(left, right, isinstance(node, exp.Intersect), distinct)
            if node.args.get("order") is not None:
                _order_by_all(node.args["order"], len(plan.schema.names))
                for o in node.args["order"].expressions:  # (a position: the output column it names)
                    if isinstance(o.this, exp.Literal) and o.this.is_int and 1 <= int(o.this.name) <= len(plan.schema):
                        o.set("this", exp.column(plan.schema.names[int(o.this.name) - 1], quoted=True))
            return self._order_limit(node, plan, {})
        if isinstance(node, exp.Subquery):
            return self.statement(node.this)
        raise SQLError(f"unsupported statement {type(node).__name__}: {_where(node)}")

    def _recursive_cte(self, cte: Any, name: str) -> LogicalPlan:
        """``WITH RECURSIVE r AS (anchor UNION [ALL] step)``, as DuckDB: the anchor's rows, then the
        step's over the rows the last iteration added, until one adds none; UNION keeps only rows
        not seen before (NULLs equal), UNION ALL every row. Run while translating (the rows become
        an in-memory table); more than ``RECURSION_LIMIT`` iterations is an error."""
        from thresher.io.memory import InMemorySource
        from thresher.planner.logical import ScanSource

        body = cte.this
        if not isinstance(body, exp.Union) or any(t.name.lower() == name for t in body.left.find_all(exp.Table)):
            raise UnsupportedError(f"WITH RECURSIVE {name} needs the form (anchor UNION [ALL] step), the anchor "
                                   f"not reading {name}: {_where(cte)}")
        if body.args.get("by_name") or body.args.get("order") is not None or body.args.get("limit") is not None:
            raise UnsupportedError(f"WITH RECURSIVE {name}: UNION BY NAME, ORDER BY or LIMIT on the recursion is not "
                                   f"supported: {_where(cte)}")
        if self.execute is None:
            raise UnsupportedError(f"WITH RECURSIVE is supported through th.sql only: {_where(cte)}")
        distinct = body.args.get("distinct") is not False
        anchor = self.statement(body.left)
        schema = anchor.schema
        target = pa.schema([pa.field(f.name, f.dtype.arrow) for f in schema.fields])

        def run(plan: LogicalPlan) -> pa.Table:
            plan = self._rename_like(plan, schema)
            rows = self.execute(plan)  # type: ignore[misc]
            try:
                return rows.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise UnsupportedError(f"WITH RECURSIVE {name}: the step's rows do not fit the anchor's column types "
                                       f"({exc}); cast the anchor's columns to the wider type: {_where(cte)}") from None

        seen: set[tuple[Any, ...]] = set()

        def new_rows(rows: pa.Table) -> pa.Table:
            if not distinct:
                return rows
            keep = []
            for i, row in enumerate(zip(*(c.to_pylist() for c in rows.columns))):
                key = tuple("nan" if isinstance(v, float) and v != v else v for v in row)
                if key not in seen:
                    seen.add(key)
                    keep.append(i)
            return rows.take(pa.array(keep, pa.int64()))

        working = new_rows(run(anchor))
        parts = [working]
        for _ in range(RECURSION_LIMIT):
            if working.num_rows == 0:
                break
            self.ctes[name] = ScanSource(InMemorySource(working))
            working = new_rows(run(self.statement(body.right.copy())))
            parts.append(working)
        else:
            raise SQLError(f"WITH RECURSIVE {name} still adds rows after {RECURSION_LIMIT} iterations (the limit): "
                           f"{_where(cte)}")
        return ScanSource(InMemorySource(pa.concat_tables(parts)))

    def _intersect_except(self, left: LogicalPlan, right: LogicalPlan, intersect: bool, distinct: bool) -> LogicalPlan:
        """INTERSECT / EXCEPT [ALL] by grouping both sides' rows together: grouping treats NULLs
        as not distinct, as SQL set operations do (a join on the columns would not match NULLs).

        Each row is tagged with its side; per distinct row, DISTINCT keeps it when both sides
        have it (INTERSECT) or only the left one does (EXCEPT); ALL repeats it min(l, r) or
        l - r times, l and r counting its copies on each side.
        """
        import thresher.expressions.sql_functions  # noqa: F401  (registers "range_list")
        import thresher.operators.sql_functions_polars  # noqa: F401  (and its Polars lowering)

        names = left.schema.names
        side = self._fresh("side")
        cols = tuple(Column(n) for n in names)
        both = Union((Project(left, cols + (lit(1).alias(side),)), Project(right, cols + (lit(2).alias(side),))))
        tag = Column(side)
        keys = tuple(Column(n).alias(n) for n in names)
        if distinct:
            lo, hi = self._fresh("lo"), self._fresh("hi")
            grouped = Aggregate(both, keys, (AggCall("min", tag).alias(lo), AggCall("max", tag).alias(hi)))
            keep = (Call("and", (Call("eq", (Column(lo), lit(1))), Call("eq", (Column(hi), lit(2)))))
                    if intersect else Call("eq", (Column(hi), lit(1))))
            return Project(Filter(grouped, keep), cols)
        nl, nr, n = self._fresh("nl"), self._fresh("nr"), self._fresh("n")
        ones = [AggCall("sum", when(Call("eq", (tag, lit(k)))).then(lit(1)).otherwise(lit(0))).alias(c)
                for k, c in ((1, nl), (2, nr))]
        grouped = Aggregate(both, keys, tuple(ones))
        a, b = Column(nl), Column(nr)
        times = (when(Call("lt", (a, b))).then(a).otherwise(b) if intersect else Call("sub", (a, b)))
        counted = Filter(Project(grouped, cols + (times.alias(n),)), Call("gt", (Column(n), lit(0))))
        repeated = Explode(Project(counted, cols + (Call("range_list", (Column(n),)).alias(n),)), (n,))
        return Project(repeated, cols)

    def _rename_like(self, plan: LogicalPlan, schema: Schema) -> LogicalPlan:
        if plan.schema.names == schema.names:
            return plan
        if len(plan.schema.names) != len(schema.names):
            raise SQLError(f"set operation inputs have {len(schema.names)} and {len(plan.schema.names)} columns")
        return Project(plan, tuple(Column(a).alias(b) for a, b in zip(plan.schema.names, schema.names)))

    @staticmethod
    def _float32_columns(left: LogicalPlan, right: LogicalPlan) -> tuple[LogicalPlan, LogicalPlan]:
        """A set operation's two inputs with a column that is a FLOAT on one side and an integer
        or a DECIMAL on the other cast to FLOAT on both, DuckDB's common type (Polars': a DOUBLE
        for an INTEGER, a BIGINT or a DECIMAL; see :func:`float32_common`)."""
        casts: list[int] = []
        for i, (a, b) in enumerate(zip(left.schema.fields, right.schema.fields)):
            if float32_common([a.dtype, b.dtype]):
                casts.append(i)
        if not casts:
            return left, right

        def cast(plan: LogicalPlan) -> LogicalPlan:
            return Project(plan, tuple(Column(f.name).cast(DataType.float32()) if i in casts else Column(f.name)
                                       for i, f in enumerate(plan.schema.fields)))

        return cast(left), cast(right)

    # -- FROM / JOIN ------------------------------------------------------------------------------
    def relation(self, node: Any) -> Relation:
        alias = node.alias_or_name
        if isinstance(node, exp.Table):
            name = node.name.lower()
            plan = self.ctes.get(name) or self.catalog.get(name)
            if plan is None:
                known = sorted(set(self.catalog) | set(self.ctes))
                raise SQLError(f"unknown table {node.name!r} in {_where(node)}; known tables: {known}")
        elif isinstance(node, exp.Subquery):
            plan = self.statement(node.this)
        else:
            raise SQLError(f"unsupported FROM item {type(node).__name__}: {_where(node)}")
        if isinstance(node, exp.Table) and isinstance(node.args.get("alias"), exp.TableAlias) and node.args["alias"].columns:
            plan = _column_aliases(plan, node)
        # the same table under the same alias (TPC-DS q88: four tables in each of eight
        # subqueries) is renamed once and its projection shared, as a CTE's plan already is
        key = (id(plan), alias)
        hit = self._renamed.get(key)
        if hit is None or hit[0] is not plan:
            names: list[str] = plan.schema.names
            if self.used is not None and isinstance(node, exp.Table) and name not in self.ctes:
                read = self.used.get(alias.lower(), frozenset()) | self.used.get("", frozenset())
                # (the first column stays: where no column is read, as under count(*), the
                # optimizer keeps a relation's first column)
                names = [n for i, n in enumerate(names) if i == 0 or n in read]
            hit = self._renamed[key] = (plan, _renamed(plan, alias, names))
        return Relation(hit[1], alias)

    def _where_parts(self, select: Any) -> tuple[list[Any], list[tuple[bool, Any]]]:
        """WHERE conjuncts, with ``x [NOT] IN (subquery)`` terms set apart (they become semi/anti joins)."""
        where = select.args.get("where")
        if where is None:
            return [], []
        plain, subq = [], []
        for term in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
            neg = isinstance(term, exp.Not) and isinstance(term.this, exp.In) and term.this.args.get("query") is not None
            inner = term.this if neg else term
            if isinstance(inner, exp.In) and inner.args.get("query") is not None:
                subq.append((neg or bool(inner.args.get("negate")), inner))
            else:
                plain.append(term)
        return plain, subq

    def _in_subqueries(self, plan: LogicalPlan, subq: list[tuple[bool, Any]]) -> LogicalPlan:
        for negate, node in subq:
            left = self.expr(node.this, plan.schema)
            sub = self.statement(node.args["query"].this if hasattr(node.args["query"], "this") else node.args["query"])
            if len(sub.schema.names) != 1:
                raise SQLError(f"IN subquery must return one column: {_where(node)}")
            right = Column(sub.schema.names[0])
            # (where neither side can be NULL, the anti join alone is NOT IN: TPC-H q16's
            # suppliers, read from columns the Parquet schema declares NOT NULL)
            if negate and (left.resolve(plan.schema).nullable or sub.schema.field(right.name).nullable):
                plan = self._not_in_nulls(plan, left, sub, right)
            # (compared in DuckDB's common type: a FLOAT with a DECIMAL in FLOAT)
            lefts, rights = _float32_keys([left], [right], plan.schema, sub.schema)
            plan = Join(plan, sub, tuple(lefts), tuple(rights), "anti" if negate else "semi")
        return plan

    def _not_in_nulls(self, plan: LogicalPlan, left: Expr, sub: LogicalPlan, right: Column) -> LogicalPlan:
        """SQL's ``x NOT IN (subquery)``: TRUE for every row when the subquery is empty (even a
        NULL ``x``); otherwise never TRUE for a NULL ``x``, nor when the subquery holds a NULL.
        The anti join alone would keep those rows; this filter (over the subquery's row and
        non-NULL counts) drops them first."""
        n, nn = self._fresh("rows"), self._fresh("nonnull")
        stats = Aggregate(sub, (), (CountStar().alias(n), AggCall("count", right).alias(nn)))
        names = plan.schema.names
        empty = Call("eq", (Column(n), lit(0)))
        no_nulls = Call("and", (Call("is_not_null", (left,)), Call("eq", (Column(n), Column(nn)))))
        kept = Filter(Join(plan, stats, (), (), "cross"), Call("or", (empty, no_nulls)))
        return Project(kept, tuple(Column(c) for c in names))

    def from_clause(self, select: Any) -> tuple[LogicalPlan | None, list[Expr]]:
        """The joined relations and the inner-join predicates still to place (WHERE terms)."""

        where_nodes, in_subqueries = self._where_parts(select)

        frm = select.args.get("from_") or select.args.get("from")
        if frm is None:  # (SELECT 1 WHERE false: no row; the WHERE was dropped)
            if in_subqueries:
                raise UnsupportedError(f"[NOT] IN (subquery) in the WHERE of a SELECT without FROM is not supported: "
                                       f"{_where(select)}")
            terms = [t for w in where_nodes for t in split_conjunction(self.expr(w, None))]
            return None, [Literal(None, DataType.bool()) if isinstance(t, Literal) and t.value is None else t
                          for t in terms]
        items = [frm.this] + list(frm.expressions or [])
        joins = list(select.args.get("joins") or [])
        kinds = [(j.side or "").upper() or (j.kind or "").upper() for j in joins]
        unnests = [(j, k) for j, k in zip(joins, kinds) if isinstance(j.this, exp.Unnest)]
        if unnests:  # (a lateral unnest(t.l): explodes the joined rows, after the joins)
            joins, kinds = [j for j in joins if not isinstance(j.this, exp.Unnest)], \
                [k for j, k in zip(select.args.get("joins"), kinds) if not isinstance(j.this, exp.Unnest)]
            plan, where_terms = self.from_clause_joins(select, items, joins, kinds, where_nodes, in_subqueries)
            assert plan is not None
            return self._lateral_unnests(plan, unnests), where_terms
        return self.from_clause_joins(select, items, joins, kinds, where_nodes, in_subqueries)

    def _lateral_unnests(self, plan: LogicalPlan, unnests: list[tuple[Any, str]]) -> LogicalPlan:
        """``FROM t, unnest(t.l) AS z(u)`` / ``CROSS JOIN unnest(...)`` / ``LEFT JOIN unnest(...) ON
        true``: each row once per element of its list as column ``z.u`` (no row for an empty or
        NULL list; under LEFT JOIN one row with a NULL element, as DuckDB)."""
        for j, kind in unnests:
            node = j.this
            on = j.args.get("on")
            if kind not in ("", "INNER", "CROSS", "LEFT") or (
                    on is not None and not (isinstance(on, exp.Boolean) and on.this is True)):
                raise UnsupportedError(f"a {kind} JOIN of unnest(...) {'ON a condition ' if on is not None else ''}"
                                       f"is not supported (a comma, CROSS JOIN, or [LEFT] JOIN ... ON true are): "
                                       f"{_where(j)}")
            alias = node.args["alias"]
            name = f"{alias.name}.{alias.columns[0].name}"
            x = self.expr(node.expressions[0], plan.schema)
            t = x.resolve(plan.schema).dtype
            if not t.is_list():
                raise UnsupportedError(f"unnest of a {sql_type_name(t)} is not supported (a list only): {_where(node)}")
            ordinals: tuple[Expr, ...] = ()
            if len(alias.columns) > 1:  # (WITH ORDINALITY: see _unnests_in_from)
                ordinals = (Call("sql_list_ordinals", (x,)).alias(f"{alias.name}.{alias.columns[1].name}"),)
            plan = Project(plan, (*(Column(n) for n in plan.schema.names), x.alias(name), *ordinals))
            if kind != "LEFT":
                plan = Filter(plan, Column(name).list.len() > 0)
            plan = Explode(plan, (name, *(o.output_name() for o in ordinals)))
        return plan

    def from_clause_joins(self, select: Any, items: list[Any], joins: list[Any], kinds: list[str],
                          where_nodes: list[Any], in_subqueries: list[tuple[bool, Any]],
                          ) -> tuple[LogicalPlan | None, list[Expr]]:
        right_or_full = any(k in ("RIGHT", "FULL") for k in kinds)
        if right_or_full and (len(items) > 1 or any(k in ("", "INNER", "CROSS") for k in kinds)):
            return self._joins_in_order(items, joins, kinds, where_nodes, in_subqueries)
        rels = [self.relation(i) for i in items]
        plan = rels[0].plan
        pending_inner: list[tuple[Relation, list[Expr]]] = [(r, []) for r in rels[1:]]
        outer: list[tuple[str, Relation, Any]] = []
        for j, kind in zip(joins, kinds):
            rel = self.relation(j.this)
            if kind in ("", "INNER", "CROSS"):
                pending_inner.append((rel, self._on_terms(j, plan, rel, merge=False)))
            else:
                outer.append((kind, rel, j))
        where_terms: list[Expr] = []
        # inner joins: connect relations by equi-predicates (ON and WHERE alike)
        if pending_inner:
            where_terms = [t for w in where_nodes for t in split_conjunction(self.expr(w, None))]
            pool = [t for _, ts in pending_inner for t in ts] + where_terms
            remaining = list(pending_inner)
            while remaining:
                names = set(plan.schema.names)
                pick = None
                for idx, (rel, _) in enumerate(remaining):
                    keys = _equi_keys(pool, names, set(rel.plan.schema.names))
                    if keys:
                        pick = (idx, keys)
                        break
                null_safe = False
                if pick is None:
                    # no equality: IS NOT DISTINCT FROM terms are keys that match NULL to NULL
                    # (the DataFrame API's join(nulls_equal=True))
                    pick = next(((i, k) for i, (r, _) in enumerate(remaining)
                                 if (k := _null_safe_keys(pool, names, set(r.plan.schema.names)))), None)
                    null_safe = pick is not None
                if pick is None:
                    idx, keys = 0, []
                else:
                    idx, keys = pick
                rel, _ = remaining.pop(idx)
                used = {id(t) for t, _, _ in keys}
                pool = [t for t in pool if id(t) not in used]
                if keys:
                    plan = Join(plan, rel.plan, *self._typed_keys(keys, plan, rel.plan), "inner",
                                nulls_equal=null_safe)
                else:
                    plan = Join(plan, rel.plan, (), (), "cross")
            where_terms = pool
        else:
            where_terms = [t for w in where_nodes for t in split_conjunction(self.expr(w, None))]
        # a LEFT JOIN whose right columns a WHERE term rejects where NULL (``b.x = a.y``, ``b.x > 3``:
        # the rows the join adds for a left row without a match are filtered out) is an inner
        # join (TPC-DS q93's returns of one reason, q1/q6's decorrelated scalar subqueries),
        # which the optimizer may reorder and push filters through (kept to FROMs whose outer joins are
        # all LEFT ones, to be safe)
        only_left = all(kind == "LEFT" for kind, _, _ in outer)
        for kind, rel, j in outer:  # (in the order written: no inner join follows a RIGHT or FULL one here)
            on_terms = self._on_terms(j, plan, rel, merge=right_or_full)
            plan, where_terms = self._outer_join(plan, rel, kind, on_terms, where_terms, only_left)
        if in_subqueries:
            plan = self._in_subqueries(plan, in_subqueries)
        return plan, where_terms

    def _on_terms(self, j: Any, plan: LogicalPlan, rel: Relation, merge: bool) -> list[Expr]:
        """A join's ON conjuncts, or its USING columns as equalities.

        ``merge`` (the FROM has a RIGHT or FULL join): a USING or NATURAL join's column several
        relations of ``plan`` hold (an earlier USING join's) is COALESCE of them all, the merged
        column. (qualify writes a one-column USING as ``first.c = rel.c``, the first relation's
        column: NULL on the rows a RIGHT or FULL join added, so ``a RIGHT JOIN b USING (k) JOIN
        c USING (k)`` lost b's unmatched rows.)"""
        using = j.args.get("using")
        if using:
            terms: list[Expr] = [Call("eq", (Column(f"{self._owner(plan, c.name)}.{c.name}"),
                                             Column(f"{rel.alias}.{c.name}"))) for c in using]
        else:
            on = j.args.get("on")
            terms = list(split_conjunction(self.expr(on, None))) if on is not None else []
        if not (merge and (using or j.meta.get(_USING))):
            return terms
        out: list[Expr] = []
        for t in terms:
            right = t.args[1] if isinstance(t, Call) and t.name == "eq" else None
            if isinstance(right, Column) and right.name.startswith(f"{rel.alias}."):
                col = right.name[len(rel.alias) + 1:]
                owners = [n for n in plan.schema.names if n.endswith(f".{col}") and not n.startswith("__")]
                if len(owners) > 1:
                    t = Call("eq", (Call("coalesce", tuple(Column(n) for n in owners)), right))
            out.append(t)
        return out

    def _joins_in_order(self, items: list[Any], joins: list[Any], kinds: list[str], where_nodes: list[Any],
                        in_subqueries: list[tuple[bool, Any]]) -> tuple[LogicalPlan, list[Expr]]:
        """A FROM with a RIGHT or FULL join beside inner ones or a comma: each comma-separated
        item is its joins applied in the order written (``a JOIN b ON .. RIGHT JOIN c ON ..`` is
        ``(a JOIN b) RIGHT JOIN c``; an inner join written after it joins its result, NULL-padded
        rows included); the items are then crossed and the WHERE filters the result.

        The inner joins first (``from_clause``'s order, for the join planner) would join them
        below the RIGHT or FULL join: the rows it pads with NULLs went missing (``a RIGHT JOIN b
        .. JOIN c ON a.x = c.x``), or came back for an empty ``c`` (``.., c``, ``CROSS JOIN c``), and
        a WHERE equality used as an inner join's key no longer removed the padded rows."""
        groups: list[LogicalPlan] = [self.relation(i).plan for i in items]
        for j, kind in zip(joins, kinds):
            rel = self.relation(j.this)
            if kind == "" and j.args.get("on") is None and not j.args.get("using"):  # a comma: a new item
                groups.append(rel.plan)
                continue
            plan = groups[-1]
            on_terms = self._on_terms(j, plan, rel, merge=True)
            reads = {c for t in on_terms for c in t.columns()}
            outside = len(groups) > 1 and not reads <= set(plan.schema.names) | set(rel.plan.schema.names)
            if outside and kind in ("RIGHT", "FULL"):
                raise SQLError(f"unsupported ON condition in {kind} JOIN {rel.alias!r}: it names a table before a "
                               f"comma (DuckDB joins laterally there); write CROSS JOIN for the comma")
            if outside:
                # (an ON naming an item before a comma: DuckDB joins each of its rows laterally,
                # which for an inner, LEFT, SEMI or ANTI join is joining the items' cross product)
                plan = groups[0]
                for g in groups[1:]:
                    plan = Join(plan, g, (), (), "cross")
                groups = [plan]
                on_terms = self._on_terms(j, plan, rel, merge=True)
            if kind in ("", "INNER", "CROSS"):
                keys = _equi_keys(on_terms, set(plan.schema.names), set(rel.plan.schema.names))
                used = {id(t) for t, _, _ in keys}
                rest = [t for t in on_terms if id(t) not in used]
                plan = (Join(plan, rel.plan, *self._typed_keys(keys, plan, rel.plan), "inner") if keys
                        else Join(plan, rel.plan, (), (), "cross"))
                if rest:
                    plan = Filter(plan, self._condition(combine_conjunction(rest), plan.schema))
            else:
                plan, _ = self._outer_join(plan, rel, kind, on_terms, [], False)
            groups[-1] = plan
        plan = groups[0]
        for g in groups[1:]:
            plan = Join(plan, g, (), (), "cross")
        if in_subqueries:
            plan = self._in_subqueries(plan, in_subqueries)
        return plan, [t for w in where_nodes for t in split_conjunction(self.expr(w, None))]

    def _outer_join(self, plan: LogicalPlan, rel: Relation, kind: str, on_terms: list[Expr],
                    where_terms: list[Expr], only_left: bool) -> tuple[LogicalPlan, list[Expr]]:
        """``plan`` LEFT / RIGHT / FULL / SEMI / ANTI joined to ``rel`` on ``on_terms``; the WHERE
        terms back, with an inner join's other ON terms added."""
        names = set(plan.schema.names)
        keys = _equi_keys(on_terms, names, set(rel.plan.schema.names))
        if keys and rel.alias.startswith("_u_"):
            self._refuse_lossy_grouped_keys(keys, plan, rel)
        null_safe = not keys and bool(keys := _null_safe_keys(on_terms, names, set(rel.plan.schema.names)))
        used = {id(t) for t, _, _ in keys}
        rest = [t for t in on_terms if id(t) not in used]
        how = {"LEFT": "left", "RIGHT": "right", "FULL": "outer", "SEMI": "semi", "ANTI": "anti"}.get(kind)
        if how is None:
            raise SQLError(f"unsupported {kind} JOIN {rel.alias!r}")
        right = rel.plan
        if how == "left" and only_left and _rejects_nulls(where_terms, set(right.schema.names)):
            how = "inner"
        rest_right = [t for t in rest if t.columns() <= set(right.schema.names)]
        if rest_right and how in ("left", "inner", "semi", "anti"):
            right = Filter(right, self._condition(combine_conjunction(rest_right), right.schema))
            moved = {id(t) for t in rest_right}
            rest = [t for t in rest if id(t) not in moved]
        if rest and how == "inner" and keys:  # (an inner join's other ON terms filter its rows)
            return (Join(plan, right, *self._typed_keys(keys, plan, rel.plan), how, nulls_equal=null_safe),
                    where_terms + rest)
        if rest or not keys:  # (ON a.x < b.y: the nested loop's answer, see _join_by_filter)
            return self._join_by_filter(plan, right, keys, rest, how, null_safe, kind, rel.alias), where_terms
        return Join(plan, right, *self._typed_keys(keys, plan, rel.plan), how, nulls_equal=null_safe), where_terms

    def _join_by_filter(self, left: LogicalPlan, right: LogicalPlan, keys: list[tuple[Expr, Expr, Expr]],
                        rest: list[Expr], how: str, null_safe: bool, kind: str, alias: str) -> LogicalPlan:
        """An outer, semi or anti join whose ON is not only equalities (``LEFT JOIN b ON a.x <
        b.y``, ``ON a.k = b.k AND a.x < b.y``): the rows of the inner join (by the equalities, or
        every pair) that pass the other terms, plus, for LEFT / RIGHT / FULL, each side's rows
        that none passed with NULLs for the other side's columns, as DuckDB's nested loop join.

        A side's rows without a match are those an anti join on all its columns (NULL matching
        NULL) finds missing from the matched pairs: rows equal in every column match the same
        pairs, so duplicates are kept or dropped together."""
        names = set(left.schema.names) | set(right.schema.names)
        bad = [t for t in rest if not t.columns() <= names]
        if bad:
            raise SQLError(f"unsupported ON condition in {kind} JOIN {alias!r}: {bad}")
        if keys:
            pairs: LogicalPlan = Join(left, right, *self._typed_keys(keys, left, right), "inner", nulls_equal=null_safe)
        else:
            pairs = Join(left, right, (), (), "cross")
        if rest:
            pairs = Filter(pairs, self._condition(combine_conjunction(rest), pairs.schema))
        if how == "inner":
            return pairs

        def unmatched(side: LogicalPlan) -> LogicalPlan:
            cols = side.schema.names
            for f in side.schema.fields:
                if not (f.dtype.is_numeric() or f.dtype.is_string() or f.dtype.is_null()
                        or f.dtype.kind in ("bool", "date", "timestamp", "time", "binary", "duration")):
                    raise UnsupportedError(f"{kind} JOIN {alias!r} with an ON condition other than equalities over "
                                           f"a {f.dtype} column ({f.name.split('.', 1)[-1]}) is not supported")
            seen = Distinct(Project(pairs, tuple(Column(c) for c in cols)))
            on = tuple(Column(c) for c in cols)
            return Join(side, seen, on, on, "anti" if how != "semi" else "semi", nulls_equal=True)

        if how in ("semi", "anti"):
            return unmatched(left)
        out_names = pairs.schema.names

        def padded(rows: LogicalPlan) -> LogicalPlan:
            have = set(rows.schema.names)
            return Project(rows, tuple(Column(n) if n in have else
                                       Cast(Literal(None, DataType.null()), pairs.schema.field(n).dtype).alias(n)
                                       for n in out_names))

        parts = [pairs]
        if how in ("left", "outer"):
            parts.append(padded(unmatched(left)))
        if how in ("right", "outer"):
            parts.append(padded(unmatched(right)))
        return Union(tuple(parts))

    def _typed_keys(self, keys: list[tuple[Expr, Expr, Expr]], left: LogicalPlan,
                    right: LogicalPlan) -> tuple[tuple[Expr, ...], tuple[Expr, ...]]:
        """The left and right keys of ``keys`` (see ``_equi_keys``), each typed against its side
        (a ``//`` or a CAST in an ON key waits for its operand's type, as a WHERE term does); a
        FLOAT key and an integer or DECIMAL key meet in FLOAT, as DuckDB compares them (see
        :func:`float32_common`)."""
        lefts, rights = _float32_keys([self._typed(k[1], left.schema) for k in keys],
                                      [self._typed(k[2], right.schema) for k in keys], left.schema, right.schema)
        return tuple(lefts), _keep(rights)

    def _refuse_lossy_grouped_keys(self, keys: list[tuple[Expr, Expr, Expr]], left: LogicalPlan,
                                   rel: Relation) -> None:
        """A decorrelated subquery (``unnest_subqueries``' ``_u_N``, grouped by its keys) joined on
        a key that DuckDB compares in a floating type its own values are not of (a DECIMAL key of a
        FLOAT: see ``subquery_key_types``, which casts the keys whose types it knows before the
        grouping) is refused: grouped by its own values, two that are one FLOAT are two groups,
        and both would match the row (its row twice, a count split in two)."""
        from thresher.planner.sql.subquery_key_types import floating_common

        for _, a, b in keys:
            try:
                ta = self._typed(a, left.schema).resolve(left.schema).dtype
                tb = self._typed(b, rel.plan.schema).resolve(rel.plan.schema).dtype
            except ThresherError:
                continue
            to = floating_common(ta, tb)
            if to is not None and tb != to:
                raise UnsupportedError(
                    f"a subquery compared by a {sql_type_name(tb)} value with {a!r}, a {sql_type_name(ta)}, is not "
                    f"supported where the comparison's type is not known before decorrelation (DuckDB compares "
                    f"them in {sql_type_name(to)}); CAST the subquery's value to {sql_type_name(to)}")

    def _select_subqueries(self, node: Any, plan: LogicalPlan) -> LogicalPlan:
        """Uncorrelated scalar subqueries in the SELECT list: one value, cross-joined onto every row.

        The subquery's first value is taken (NULL when it returns no rows, as SQL has it)."""
        if self.facts is not None and id(node) not in self.facts.subquery_selects:
            return plan  # (no subquery in its list: no walk over each item)

        for proj in node.expressions:
            for sq in list(proj.find_all(exp.Subquery)):
                if sq.find_ancestor(exp.Select) is not node:
                    continue
                try:
                    sub = self.statement(sq.this)
                except ColumnNotFoundError as exc:  # (sqlglot decorrelates a whole item correlated by equalities)
                    raise UnsupportedError(f"a correlated scalar subquery in the select list that could not be "
                                           f"decorrelated ({exc}) is not supported: {_where(sq)}; only one that is a "
                                           f"whole select item, correlated by equalities, is (compute with it in an "
                                           f"outer query)") from exc
                if len(sub.schema.names) != 1:
                    raise SQLError(f"a scalar subquery must return one column: {_where(sq)}")
                alias = self._fresh("sq")
                one = Aggregate(sub, (), (AggCall("first", Column(sub.schema.names[0])).alias(f"{alias}.value"),))
                plan = Join(plan, one, (), (), "cross")
                sq.replace(exp.column("value", table=alias))
        return plan

    def _owner(self, plan: LogicalPlan, col: str) -> str:
        for n in plan.schema.names:
            if n.endswith(f".{col}"):
                return n.rsplit(".", 1)[0]
        raise SQLError(f"USING column {col!r} not found")

    # -- SELECT --------------------------------------------------------------------------------------
    def select(self, node: Any) -> LogicalPlan:
        plan, where_terms = self.from_clause(node)
        if plan is None:
            import pyarrow as pa

            from thresher.io.memory import InMemorySource
            from thresher.planner.logical import ScanSource

            plan = ScanSource(InMemorySource(pa.table({"__dummy": [0]})))
        if where_terms:
            plan = Filter(plan, self._condition(combine_conjunction(where_terms), plan.schema))
        plan = self._select_subqueries(node, plan)
        outputs: list[tuple[str, Expr]] = []
        windows = SQLWindows(self, node)  # OVER (...) -> placeholder columns, Window nodes below
        unnests: list[str] = []
        for proj in node.expressions:
            name = proj.alias_or_name
            inner = proj.this if isinstance(proj, exp.Alias) else proj
            if isinstance(inner, exp.Star):
                for n in plan.schema.names:
                    outputs.append((n.split(".", 1)[-1], Column(n)))
                continue
            if isinstance(inner, exp.Explode):  # unnest(list) in the select list: one row per element
                unnests.append(name)
                inner = inner.this
            inner, with_windows = windows.extract(inner, plan.schema)
            out = self.expr(inner, with_windows)
            if isinstance(out, Literal) and type(out.value) is int and out.dtype == DataType.int64() \
                    and -2 ** 31 <= out.value < 2 ** 31:
                out = Literal(out.value, DataType.int32())  # (SELECT 1: DuckDB's INTEGER, a BIGINT where it needs one)
            outputs.append((name, out))
        qualify = node.args.get("qualify")
        qualify_expr = None
        if qualify is not None:
            q, with_windows = windows.extract(qualify.this, plan.schema)
            qualify_expr = self.expr(q, with_windows)
        group = node.args.get("group")
        having = node.args.get("having")
        having_expr = self.expr(having.this, plan.schema) if having is not None else None
        # (checked before ORDER BY resolves ordinals against the output names)
        if len({n for n, _ in outputs}) < len(outputs):
            up = node.parent
            while isinstance(up, (exp.SetOperation, exp.Subquery)):  # (a set operation's branch: by position)
                up = up.parent
            if up is not None:  # (a derived table's, a CTE's: read by name, ambiguous)
                n = next(n for i, (n, _) in enumerate(outputs) if n in {m for m, _ in outputs[:i]})
                raise SQLError(f"duplicate output column name {n!r} in {_where(node)}: give the columns "
                               f"distinct aliases (AS)")
            outputs = [(n, e) for n, (_, e) in zip(deduplicated_names([n for n, _ in outputs]), outputs)]
        order_schema = windows.extract_order_by(node.args.get("order"), plan.schema)  # ORDER BY rank() OVER ...
        order_exprs = self._order_inputs(node, plan, dict(outputs), order_schema)
        distinct_on = node.args["distinct"].args.get("on") if node.args.get("distinct") else None
        on_keys: list[str] = []
        if distinct_on is not None:
            on_keys = self._distinct_on_inputs(distinct_on, plan, outputs, order_exprs)
        # (a HAVING makes the query an aggregate one, even of no aggregate: one group, as DuckDB)
        is_agg = group is not None or having_expr is not None or any(has_aggregate(e) for _, e in outputs) \
            or windows.has_aggregates()
        if is_agg:
            keys, sets = self._group_by(group, plan.schema)
            hidden_in = [e for k, e in order_exprs.items() if k.startswith("__sort")]
            plan, rewrite = self._aggregate(plan, keys, [e for _, e in outputs] + hidden_in
                                            + ([having_expr] if having_expr is not None else []) + windows.inputs(), sets)
            outputs = [(n, rewrite(e)) for n, e in outputs]
            order_exprs = {k: (rewrite(e) if k.startswith("__sort") else e) for k, e in order_exprs.items()}
            windows.rewrite(rewrite)
            if qualify_expr is not None:
                qualify_expr = rewrite(qualify_expr)
            if having_expr is not None:
                plan = Filter(plan, as_condition(rewrite(having_expr), plan.schema))
        plan = windows.apply(plan)
        if qualify_expr is not None:
            plan = Filter(plan, as_condition(qualify_expr, plan.schema))
        hidden = {k: e for k, e in order_exprs.items() if k.startswith("__sort")}
        proj_exprs = [e.alias(n) for n, e in outputs] + [e.alias(k) for k, e in hidden.items()]
        plan = Project(plan, tuple(proj_exprs))
        if unnests:  # DuckDB: an empty or NULL list gives no rows (Explode alone would give a NULL)
            plan = Explode(Filter(plan, combine_conjunction([Column(n).list.len() > 0 for n in unnests])),
                           tuple(unnests))
        if distinct_on is not None:
            # DuckDB: the first row of each key in ORDER BY's order (any row without ORDER BY), the
            # answer in that order: sort, keep each key's first row in order, then LIMIT
            plan = self._order_limit(node, plan, order_exprs,
                                     lambda p: Distinct(p, tuple(on_keys), "first"))
        elif node.args.get("distinct"):
            plan = Distinct(plan, tuple(n for n, _ in outputs), "first")
            plan = self._order_limit(node, plan, order_exprs)
        else:
            plan = self._order_limit(node, plan, order_exprs)
        if hidden:
            plan = Project(plan, tuple(Column(n) for n, _ in outputs))
        return plan

    def _order_inputs(self, node: Any, plan: LogicalPlan, outputs: dict[str, Expr],
                      schema: Schema | None = None) -> dict[str, Expr]:
        """ORDER BY keys: an output name, an ordinal, or an expression over the input (hidden)."""
        order = node.args.get("order")
        out: dict[str, Expr] = {}
        if order is None:
            return out
        names = list(outputs)
        _order_by_all(order, len(names))
        for i, o in enumerate(order.expressions):
            e = o.this
            if isinstance(e, exp.Literal) and e.is_int:
                pos = int(e.name)
                if not 1 <= pos <= len(names):
                    raise SQLError(f"ORDER BY position {pos} is not in the select list (1..{len(names)}): "
                                   f"{_where(o)}")
                out[f"__ord{i}"] = Column(names[pos - 1])
            elif isinstance(e, exp.Column) and not e.table and e.name in outputs:
                out[f"__ord{i}"] = Column(e.name)
            else:
                translated = self.expr(e, schema or plan.schema)
                match = [n for n, oe in outputs.items() if oe.key() == translated.key()]
                out[f"__ord{i}"] = Column(match[0]) if match else translated
                if not match:
                    out[f"__sort{i}"] = translated
                    out[f"__ord{i}"] = Column(f"__sort{i}")
        return out

    def _distinct_on_inputs(self, on: Any, plan: LogicalPlan, outputs: list[tuple[str, Expr]],
                            order_exprs: dict[str, Expr]) -> list[str]:
        """DISTINCT ON's keys as column names of the select's projection: an output name, an
        ordinal or an expression over the input, which becomes a hidden column like an ORDER BY
        expression's (added to ``order_exprs`` as ``__sort_on<i>``)."""
        names = [n for n, _ in outputs]
        by_key = {e.key(): n for n, e in outputs}
        items = on.expressions if isinstance(on, exp.Tuple) else [on]
        keys: list[str] = []
        for i, e in enumerate(items):
            if isinstance(e, exp.Literal) and e.is_int:
                pos = int(e.name)
                if not 1 <= pos <= len(names):
                    raise SQLError(f"DISTINCT ON position {pos} is not in the select list (1..{len(names)}): "
                                   f"{_where(e)}")
                keys.append(names[pos - 1])
            elif isinstance(e, exp.Column) and not e.table and e.name in names:
                keys.append(e.name)
            else:
                translated = self.expr(e, plan.schema)
                if translated.key() in by_key:
                    keys.append(by_key[translated.key()])
                else:
                    order_exprs[f"__sort_on{i}"] = translated
                    keys.append(f"__sort_on{i}")
        return list(dict.fromkeys(keys))

    def _order_limit(self, node: Any, plan: LogicalPlan, order_exprs: dict[str, Expr],
                     between: Callable[[LogicalPlan], LogicalPlan] | None = None) -> LogicalPlan:
        """ORDER BY then LIMIT / OFFSET of ``node`` over ``plan``; ``between`` (DISTINCT ON) comes
        between the two."""
        order: Any = node.args.get("order")
        if order is not None:
            by, desc, nulls_last = [], [], []
            for i, o in enumerate(order.expressions):
                key = order_exprs.get(f"__ord{i}")
                if key is None:
                    key = self.expr(o.this, plan.schema)
                by.append(key)
                d = bool(o.args.get("desc"))
                desc.append(d)
                nf = o.args.get("nulls_first")
                nulls_last.append(not nf if nf is not None else not d)
            plan = Sort(plan, tuple(by), tuple(desc), tuple(nulls_last))
        if between is not None:
            plan = between(plan)
        limit: Any = node.args.get("limit")
        offset: Any = node.args.get("offset")
        if limit is not None or offset is not None:
            n = _row_count(limit, "LIMIT") if limit is not None else 2**62
            off = _row_count(offset, "OFFSET") if offset is not None else 0
            plan = Limit(plan, n, off)
        return plan

    def _group_by(self, group: Any, schema: Schema) -> tuple[list[Expr], list[list[int]] | None]:
        """The GROUP BY keys, and its grouping sets (indices into the keys) when it has ROLLUP,
        CUBE or GROUPING SETS (``None`` for a plain GROUP BY).

        Items combine as SQL says: ``GROUP BY a, ROLLUP(b, c)`` is the cross product of ``{(a)}``
        and ``{(b, c), (b), ()}``.
        """
        from itertools import combinations

        if group is None:
            return [], None
        keys: list[Expr] = []
        index: dict[Any, int] = {}

        def key_of(node: Any) -> int:
            e = self.expr(node, schema)
            if isinstance(e, Literal) and type(e.value) is int and e.dtype == DataType.int64() \
                    and -2 ** 31 <= e.value < 2 ** 31:
                e = Literal(e.value, DataType.int32())  # (as the select item it names: GROUP BY 1 of SELECT 1)
            if e.key() not in index:
                index[e.key()] = len(keys)
                keys.append(e)
            return index[e.key()]

        def members(node: Any) -> list[int]:
            if isinstance(node, exp.Tuple):
                return [key_of(x) for x in node.expressions]
            if isinstance(node, exp.Paren):
                return [key_of(node.this)]
            return [key_of(node)]

        sets: list[list[int]] = [[]]
        grouped = False
        for item in group.expressions:
            if isinstance(item, exp.Rollup):
                parts = [members(x) for x in item.expressions]
                choices = [[i for p in parts[:n] for i in p] for n in range(len(parts), -1, -1)]
                grouped = True
            elif isinstance(item, exp.Cube):
                parts = [members(x) for x in item.expressions]
                choices = [[i for p in combo for i in p] for n in range(len(parts), -1, -1)
                           for combo in combinations(parts, n)]
                grouped = True
            elif isinstance(item, exp.GroupingSets):
                choices = [members(x) for x in item.expressions]
                grouped = True
            elif isinstance(item, exp.Tuple) and not item.expressions:
                choices = [[]]  # GROUP BY (): the empty grouping set, one group of every row
            else:
                choices = [[key_of(item)]]
            # (a key named twice in one set is one key: ROLLUP (g, g) is (g), (g), ())
            sets = [s + [i for i in dict.fromkeys(c) if i not in s] for s in sets for c in choices]
        for kind in ("rollup", "cube", "grouping_sets"):
            if group.args.get(kind):
                raise SQLError(f"unsupported GROUP BY {kind.upper()} form: {_where(group)}")
        return keys, (sets if grouped else None)

    def _aggregate(self, plan: LogicalPlan, keys: list[Expr], exprs: list[Expr],
                   sets: list[list[int]] | None = None) -> tuple[LogicalPlan, Callable[[Expr], Expr]]:
        key_names = {k.key(): f"__key{i}" for i, k in enumerate(keys)}
        aggs: dict[Any, tuple[str, Expr]] = {}
        # SQL's SUM of no non-NULL values is NULL (Polars, and so the DataFrame API, gives 0): a
        # SUM whose input can be NULL, or any SUM without GROUP BY (an empty input), comes with
        # a COUNT of its input and reads NULL where that count is 0
        null_sums: dict[Any, Any] = {}
        # ... and an ARRAY_AGG of no rows is NULL (Polars: an empty list), where a group can be
        # empty (no GROUP BY, or the grand total of grouping sets)
        null_lists: dict[Any, Any] = {}
        for e in exprs:
            for n in e.walk():
                if isinstance(n, (AggCall, CountStar)) and n.key() not in aggs:
                    aggs[n.key()] = (f"__agg{len(aggs)}", n)
                    if isinstance(n, AggCall) and n.name == "agg_list" and (not keys or sets is not None):
                        rows = CountStar()
                        null_lists[n.key()] = rows.key()
                        if rows.key() not in aggs:
                            aggs[rows.key()] = (f"__agg{len(aggs)}", rows)
                    if isinstance(n, AggCall) and n.name == "sum" and (
                            not keys or sets is not None or n.child.resolve(plan.schema).nullable):
                        count = AggCall("count", n.child)
                        null_sums[n.key()] = count.key()
                        if count.key() not in aggs:
                            aggs[count.key()] = (f"__agg{len(aggs)}", count)
        # an aggregate of a constant (SUM(2), AVG(0.5)) sees the constant once per row: Polars would
        # aggregate the bare literal once, so it becomes a column of the input first
        consts = [(k, name, a) for k, (name, a) in aggs.items() if isinstance(a, AggCall) and not a.child.columns()]
        if consts:
            extra = []
            for k, name, a in consts:
                assert isinstance(a, AggCall)
                extra.append(a.child.alias(f"{name}.arg"))
                aggs[k] = (name, AggCall(a.name, Column(f"{name}.arg"), a.options))
            plan = Project(plan, tuple(Column(n) for n in plan.schema.names) + tuple(extra))
        agg_exprs = tuple(a.alias(name) for name, a in aggs.values()) or (CountStar().alias("__count"),)
        # a constant key (GROUP BY 1 of SELECT 1, a constant CASE) becomes a column of the input
        # first: Polars groups an empty input by a bare constant into one group (DuckDB: none),
        # and panicked grouping by a constant boolean (2 IN (3, 4))
        const_keys = [i for i, k in enumerate(keys) if not k.columns() and not has_aggregate(k)]
        grouped_keys = list(keys)
        if const_keys:
            plan = Project(plan, tuple(Column(n) for n in plan.schema.names)
                           + tuple(keys[i].alias(f"__key{i}.const") for i in const_keys))
            for i in const_keys:
                grouped_keys[i] = Column(f"__key{i}.const")
        node: LogicalPlan
        if sets is None:
            node = Aggregate(plan, tuple(g.alias(key_names[k.key()]) for g, k in zip(grouped_keys, keys)), agg_exprs)
        else:
            node = self._grouping_sets(plan, grouped_keys, agg_exprs, sets)
        null = Literal(None, DataType.null())
        key_index = {k.key(): i for i, k in enumerate(keys)}

        def grouping(call: Call) -> Expr:
            """GROUPING(a, b): bit (n-1-j) set where the row's grouping set leaves argument j out."""
            out: Expr | None = None
            for j, a in enumerate(call.args):
                if a.key() not in key_index:
                    raise SQLError(f"GROUPING() argument {a!r} is not a GROUP BY key")
                bit: Expr = (Column(f"__grouping{key_index[a.key()]}") if sets is not None else lit(0))
                if len(call.args) - 1 - j:
                    bit = Call("mul", (bit, lit(2 ** (len(call.args) - 1 - j))))
                out = bit if out is None else Call("add", (out, bit))
            assert out is not None
            return out

        def rewrite(e: Expr) -> Expr:
            def fn(x: Expr) -> Expr | None:
                if isinstance(x, Call) and x.name == "grouping":
                    return grouping(x)
                if x.key() in key_names:
                    return Column(key_names[x.key()])
                if isinstance(x, (AggCall, CountStar)) and x.key() in aggs:
                    if x.key() in null_sums or x.key() in null_lists:
                        n = Column(aggs[null_sums.get(x.key()) or null_lists[x.key()]][0])
                        return when(Call("gt", (n, lit(0)))).then(Column(aggs[x.key()][0])).otherwise(null)
                    return Column(aggs[x.key()][0])
                return None

            out = _transform_top_down(e, fn)
            leftover = {c for c in out.columns() - set(node.schema.names) if not c.startswith("__win.")}
            if leftover:
                raise SQLError(f"column(s) {sorted(c.split('.', 1)[-1] for c in leftover)} must appear in GROUP BY "
                               "or be used in an aggregate")
            return out

        return node, rewrite

    def _grouping_sets(self, plan: LogicalPlan, keys: list[Expr], aggs: tuple[Expr, ...],
                       sets: list[list[int]]) -> LogicalPlan:
        """ROLLUP / CUBE / GROUPING SETS: one aggregate per grouping set, the keys a set leaves out
        NULL, ``__grouping<i>`` = 1 where key i is left out (what GROUPING() reads), all unioned.

        When every aggregate can be combined from partial ones (sum, count, min, max, mean), the
        input is aggregated once, on every key any set uses, and each set aggregates that (far
        smaller) result: the sets share one subplan, so the input (TPC-DS q22: a join over 11.7M
        inventory rows) is read and grouped once instead of once per set."""
        types = [k.resolve(plan.schema).dtype for k in keys]
        partial = partial_aggregates(aggs, plan.schema) if len(sets) > 1 else None
        base: LogicalPlan | None = None
        if partial is not None:
            used = sorted({i for s in sets for i in s})
            base = Aggregate(plan, tuple(keys[i].alias(f"__key{i}") for i in used), partial[0])
        branches: list[LogicalPlan] = []
        for s in sets:
            if base is not None and partial is not None:
                agg = Aggregate(base, tuple(Column(f"__key{i}") for i in s), partial[1])
                outs = list(partial[2])
            else:
                agg = Aggregate(plan, tuple(keys[i].alias(f"__key{i}") for i in s), aggs)
                outs = [Column(a.output_name()) for a in aggs]
            cols: list[Expr] = [Column(f"__key{i}") if i in s else Literal(None, types[i]).alias(f"__key{i}")
                                for i in range(len(keys))]
            cols += outs
            cols += [lit(0 if i in s else 1).alias(f"__grouping{i}") for i in range(len(keys))]
            branches.append(Project(agg, tuple(cols)))
        return branches[0] if len(branches) == 1 else Union(tuple(branches))

    # -- expressions ------------------------------------------------------------------------------
    def expr(self, node: Any, schema: Schema | None) -> Expr:
        """The expression for ``node``; against a known ``schema`` with SQL's implicit literal casts."""
        e = self._expr(node, schema)
        if schema is None:
            return e
        try:
            out = coerce_literals(e, schema, self._coerced)
        except SQLCastError as exc:
            raise SQLError(f"{exc} in {_where(node)}") from exc
        self._coerced[id(out)] = (out, schema)
        return out

    def _typed(self, e: Expr, schema: Schema) -> Expr:
        try:
            return coerce_literals(e, schema)
        except SQLCastError as exc:
            raise SQLError(str(exc)) from exc

    def _condition(self, e: Expr, schema: Schema) -> Expr:
        """``e`` typed against ``schema`` as a filter's predicate (one of the NULL type: BOOLEAN)."""
        return as_condition(self._typed(e, schema), schema)

    def _expr(self, node: Any, schema: Schema | None) -> Expr:
        if isinstance(node, exp.Paren):
            return self.expr(node.this, schema)
        if isinstance(node, exp.Column):
            name = f"{node.table}.{node.name}" if node.table else node.name
            if schema is not None and name not in schema:
                if not node.table and any(n.endswith(f".{node.name}") for n in schema.names):
                    name = next(n for n in schema.names if n.endswith(f".{node.name}"))
                elif not node.table:
                    raise SQLError(f"unknown column {node.name!r} in {_where(node)}")
                else:
                    raise SQLError(f"unknown column {node.table}.{node.name} in {_where(node)}")
            return Column(name)
        if isinstance(node, exp.Literal):
            if node.is_string:
                return lit(node.name)
            text = node.name
            if "." in text or "e" in text.lower():
                return lit(decimal.Decimal(text)) if "e" not in text.lower() else lit(float(text))
            number = int(text)
            if not -2 ** 63 <= number < 2 ** 63:  # (DuckDB: a HUGEINT; Arrow's DECIMAL(38, 0) here)
                if len(text.lstrip("-")) > 38:
                    raise SQLError(f"integer literal {text} has more than 38 digits: {_where(node)}")
                return lit(decimal.Decimal(number))
            return lit(number)
        if isinstance(node, exp.Array):
            return self._list_literal(node, schema)
        if isinstance(node, exp.Boolean):
            return lit(bool(node.this))
        if isinstance(node, exp.Null):
            return Literal(None, DataType.null())
        if isinstance(node, exp.Star):
            return CountStar()
        if isinstance(node, (exp.Mod, exp.IntDiv)):  # (truncated once the operands' types are known: coerce.py)
            return Call("mod" if isinstance(node, exp.Mod) else "floordiv",
                        (self.expr(node.this, schema), self.expr(node.expression, schema)), SQL_TRUNCATED)
        if isinstance(node, exp.DateAdd) and isinstance(node.expression, exp.Interval) and not node.args.get("unit"):
            # DuckDB's date_add(x, INTERVAL ...): x + INTERVAL ... as a TIMESTAMP, of a DATE too
            shifted = exp.Add(this=exp.Cast(this=node.this.copy(), to=exp.DataType.build("TIMESTAMP")),
                              expression=node.expression.copy())
            return self._interval(shifted, "add", schema)
        binops, aggs = _node_names()
        op = binops.get(type(node))
        if op is not None:
            bn: Any = node
            if op in ("add", "sub") and isinstance(bn.expression, exp.Interval):
                return self._interval(bn, op, schema)
            if op == "add" and isinstance(bn.this, exp.Interval):  # INTERVAL 1 DAY + d
                return self._interval(exp.Add(this=bn.expression.copy(), expression=bn.this.copy()), op, schema)
            return Call(op, (self.expr(bn.this, schema), self.expr(bn.expression, schema)),
                        SQL_CHECKED if op in ("add", "sub", "mul", "truediv") else ())
        if isinstance(node, exp.Not):
            inner = node.this
            while isinstance(inner, exp.Paren):
                inner = inner.this
            if isinstance(inner, exp.Not):
                # NOT NOT x is x (NULL stays NULL). A lone NOT EXISTS in a WHERE arrives decorrelated
                # as NOT (k IS NOT NULL), which simplify leaves there: it is k IS NULL, the null
                # test semi_join_from_exists makes an anti join (it stayed a left join against the
                # subquery's grouped keys)
                return self.expr(inner.this, schema)
            if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
                return Call("is_not_null", (self.expr(inner.this, schema),))
            return Call("not", (self.expr(inner, schema),))
        if isinstance(node, exp.Neg):
            if isinstance(node.this, exp.Literal) and node.this.is_int and node.this.name == str(2 ** 63):
                return lit(-2 ** 63)  # (BIGINT's smallest, as DuckDB reads it; 2 ** 63 alone is a HUGEINT)
            inner = self.expr(node.this, schema)  # (-5: a literal's negation, nothing to check)
            if isinstance(inner, Literal) and type(inner.value) is int and inner.dtype == DataType.int64():
                return lit(-inner.value)  # (a negative integer literal: it takes its neighbour's type too)
            if isinstance(inner, Literal) and inner.value is None and inner.dtype.is_null():
                return Literal(None, DataType.int64())  # (DuckDB's -NULL is a BIGINT)
            return Call("neg", (inner,), () if isinstance(inner, Literal) else SQL_CHECKED)
        if isinstance(node, exp.Is):
            x = self.expr(node.this, schema)
            if isinstance(node.expression, exp.Null):
                return Call("is_null", (x,))
            if isinstance(node.expression, exp.Boolean):  # x IS TRUE / IS FALSE: never NULL
                test = x if node.expression.this else Call("not", (x,))
                return when(Call("is_null", (x,))).then(lit(False)).otherwise(test)
            raise UnsupportedError(f"IS with {node.expression.sql()!r} (only IS [NOT] NULL/TRUE/FALSE): {_where(node)}")
        if isinstance(node, exp.Between):
            x = self.expr(node.this, schema)
            btw = x.is_between(self.expr(node.args["low"], schema), self.expr(node.args["high"], schema))
            return Call("not", (btw,)) if node.args.get("negate") else btw
        if isinstance(node, exp.In) and isinstance(node.this, exp.Tuple):
            return self._row_in(node, schema)
        if isinstance(node, exp.In):
            if node.args.get("query") is not None:
                raise SQLError(f"could not decorrelate IN subquery {_where(node)}")
            items = [self.expr(v, schema) for v in node.expressions]
            subject = self.expr(node.this, schema)
            isin: Expr
            if not all(isinstance(i, Literal) for i in items):
                # x IN (a, b) is x = a OR x = b, with SQL's NULLs (OR of NULL and FALSE is NULL)
                isin = combine_or([Call("eq", (subject, i)) for i in items])
            else:
                values = [i.value for i in items if isinstance(i, Literal)]
                known = [v for v in values if v is not None]
                isin = subject.is_in(known)
                if len(known) < len(values):
                    # a NULL in the list: no match is NULL (unknown), not FALSE
                    isin = when(isin).then(lit(True)).otherwise(Literal(None, DataType.bool()))
            return Call("not", (isin,)) if node.args.get("negate") else isin
        if isinstance(node, exp.Escape) and isinstance(node.this, (exp.Like, exp.ILike)):
            esc = node.expression
            if not (isinstance(esc, exp.Literal) and esc.is_string and len(esc.name) == 1):
                raise SQLError(f"LIKE ... ESCAPE needs a one-character literal: {_where(node)}")
            return self._like(node.this, schema, esc.name)
        if isinstance(node, (exp.Like, exp.ILike)):
            return self._like(node, schema, None)
        if isinstance(node, exp.Case):
            return self._case(node, schema)
        if isinstance(node, exp.If):
            return when(self.expr(node.this, schema)).then(self.expr(node.args["true"], schema)).otherwise(
                self.expr(node.args["false"], schema) if node.args.get("false") is not None else Literal(None, DataType.null()))
        if isinstance(node, (exp.Cast, exp.TryCast)):
            to = node.args["to"]
            inner = self.expr(node.this, schema)
            dtype = _dtype_from_sql(to, node)
            if isinstance(inner, Literal) and dtype.kind in ("date", "timestamp") and isinstance(inner.value, str):
                # DATE '2000-01-27', TIMESTAMP '2024-02-29 12:00:00': a literal of the type (other
                # text goes through SQL's text cast when it runs: an error, or NULL for TRY_CAST)
                from thresher.expressions.sql_functions import DATE_TEXT, TIMESTAMP_TEXT

                text = inner.value.strip() if dtype.kind == "date" else inner.value
                try:
                    if not re.match(DATE_TEXT if dtype.kind == "date" else TIMESTAMP_TEXT, text):
                        raise ValueError(text)
                    value = (datetime.date(*map(int, text.split("-"))) if dtype.kind == "date"
                             else datetime.datetime.fromisoformat(text))
                except ValueError:
                    pass
                else:
                    if dtype.kind == "timestamp" and isinstance(value, datetime.datetime) and value.tzinfo is None:
                        return Literal(value, dtype)
                    if dtype.kind == "date":
                        return lit(value)
            arg = node.this
            whole = isinstance(arg, (exp.Round, exp.Floor, exp.Ceil)) and (  # already a whole number
                arg.args.get("decimals") is None or arg.args["decimals"].sql() == "0")
            cast = (inner.cast(dtype, strict=not isinstance(node, exp.TryCast)) if whole
                    else SQLCast(inner, dtype, not isinstance(node, exp.TryCast)))
            if isinstance(to, exp.DataType) and to.this == exp.DataType.Type.INT128:
                # a HUGEINT (held as DECIMAL(38, 0)) marked one: its // and % divide as integers do,
                # its FLOOR and CEIL are DOUBLEs (a DECIMAL(38, 0)'s are not)
                return HugeintCast(cast, HUGEINT)
            return cast
        if isinstance(node, exp.Extract):
            part = node.this.name.lower()
            inner = self.expr(node.expression, schema)
            if part in ("dow", "isodow", "doy", "week", "year", "month", "day", "quarter"):
                return _date_part(part, inner)
            if part == "epoch":
                return translate_more(self, node, schema)  # type: ignore[return-value]
            if part not in ("hour", "minute", "second"):
                raise SQLError(f"unsupported EXTRACT part {part!r}: {_where(node)}")
            # a BIGINT, as DuckDB's (Polars' parts are Int32: extract(hour from ts) * 3000000000
            # overflowed); of a DATE 0 (midnight's), as DuckDB's
            return _date_part(part, inner)
        if isinstance(node, (exp.Year, exp.Month, exp.Day, exp.DayOfWeek)):
            part = {exp.Year: "year", exp.Month: "month", exp.Day: "day", exp.DayOfWeek: "dow"}[type(node)]
            return _date_part(part, self.expr(node.this, schema))
        if isinstance(node, exp.Anonymous) and node.name.lower() in ("date_part", "datepart") \
                and len(node.expressions) == 2 and isinstance(node.expressions[0], exp.Literal) \
                and node.expressions[0].is_string:
            part = node.expressions[0].name.lower()
            if part in ("year", "month", "day", "quarter", "dow", "isodow", "doy", "week", "hour", "minute", "second"):
                return _date_part(part, self.expr(node.expressions[1], schema))
        if isinstance(node, (exp.Floor, exp.Ceil)) and node.args.get("decimals") is None \
                and node.args.get("to") is None:
            import thresher.expressions.sql_functions  # noqa: F401  (registers sql_floor, sql_ceil)

            return Call("sql_floor" if isinstance(node, exp.Floor) else "sql_ceil", (self.expr(node.this, schema),))
        if isinstance(node, exp.Sign):
            import thresher.expressions.sql_functions  # noqa: F401  (registers sql_sign)

            return Call("sql_sign", (self.expr(node.this, schema),))
        if isinstance(node, (exp.Exp, exp.Ln, exp.Log, exp.Pow)):
            return self._math(node, schema)
        if isinstance(node, _TIME_NODES):
            return self._time_function(node, schema)
        if isinstance(node, (exp.TimestampTrunc, exp.DateTrunc, exp.DateDiff, exp.LastDay, exp.DateFromParts,
                             exp.TimeFromParts, exp.TimestampFromParts)):
            return self._date_function(node, schema)
        if isinstance(node, (exp.Greatest, exp.Least)):  # NULLs skipped, as DuckDB does
            import thresher.expressions.sql_functions  # noqa: F401  (registers sql_greatest, sql_least)

            args = [self.expr(node.this, schema)] + [self.expr(a, schema) for a in node.expressions]
            return Call("sql_greatest" if isinstance(node, exp.Greatest) else "sql_least", tuple(args))
        if isinstance(node, exp.Substring):
            start = _int_literal(node.args["start"]) if node.args.get("start") is not None else 1
            length = node.args.get("length")
            ln = _int_literal(length) if length is not None else None
            if start is None or (length is not None and ln is None):
                raise SQLError(f"SUBSTRING needs literal integer positions: {_where(node)}")
            return sql_substring(self.expr(node.this, schema), start, ln)
        if isinstance(node, exp.Count):
            arg = node.this
            if node.expressions or (isinstance(arg, exp.Distinct) and len(arg.expressions) != 1):
                # (DuckDB: a Binder Error, "No function matches ... count(INTEGER, INTEGER)"; it was
                # answered as the count of the first argument alone)
                raise SQLError(f"count takes one argument (count of several values is not a function: "
                               f"count the rows of their distinct combinations with a GROUP BY): {_where(node)}")
            if arg is None or isinstance(arg, exp.Star):
                return CountStar()
            if isinstance(arg, (exp.Literal, exp.Boolean)):  # count(1) counts rows (a literal is one value)
                return CountStar()
            if isinstance(arg, exp.Distinct):
                return AggCall("n_unique", self.expr(arg.expressions[0], schema))
            return AggCall("count", self.expr(arg, schema))
        if isinstance(node, (exp.ArgMax, exp.ArgMin)):
            return self._arg_max(node, schema)
        if isinstance(node, (exp.ArrayAgg, exp.First)) and isinstance(node.this, exp.Order):
            return ordered_aggregate(self, node, schema)  # (list / first (x ORDER BY y))
        agg = aggs.get(type(node))
        if agg is not None:
            arg = node.this
            if isinstance(arg, exp.Distinct) and agg in ("min", "max") and len(arg.expressions) == 1:
                arg = arg.expressions[0]  # (the least / greatest of the distinct values is the same value)
            distinct: tuple[tuple[str, Any], ...] = ()
            if isinstance(arg, exp.Distinct) and agg in ("sum", "mean") and len(arg.expressions) == 1:
                # SUM / AVG (DISTINCT x): the aggregate of the group's distinct values (see
                # expr_to_polars._agg); no partial aggregation splits it (its options are not plain)
                arg, distinct = arg.expressions[0], (("distinct", True),)
            if isinstance(arg, exp.Distinct):
                raise SQLError(f"DISTINCT is only supported in COUNT, SUM, AVG, MIN and MAX: {_where(node)}")
            x = self.expr(arg, schema)
            if agg in ("sum", "mean") and may_leave_int32(x, schema):
                # (a BIGINT sum must not wrap: see SQL_EXACT_SUM)
                return AggCall(agg, x, SQL_EXACT_SUM + distinct)
            if agg == "mean" and schema is not None and x.resolve(schema).dtype.kind == "date":
                # (DuckDB's avg of dates is a TIMESTAMP_NS, exact to the nanosecond; Polars' mean a
                # datetime in microseconds: see SQL_DATE_MEAN)
                return AggCall(agg, x, distinct + SQL_DATE_MEAN)
            if agg == "median" and schema is not None and x.resolve(schema).dtype.kind == "decimal":
                return decimal_quantile(x, 0.5, x.resolve(schema).dtype)  # (a DECIMAL, as DuckDB's)
            if agg in ("sum", "mean", "std", "var", "median") and _is_float32(x, schema):
                x = Cast(x, DataType.float64())  # (DuckDB answers in DOUBLE; Polars would keep REAL)
            if agg == "max" and _is_float(x, schema):
                return AggCall(agg, x, SQL_NAN_MAX)  # (NaN is SQL's greatest value: see SQL_NAN_MAX)
            if agg in ("std", "var"):
                return AggCall(agg, x, SQL_VARIANCE)  # (0 over equal values: see SQL_VARIANCE)
            return AggCall(agg, x, distinct)
        if isinstance(node, (exp.LogicalAnd, exp.LogicalOr, exp.GroupConcat, exp.PercentileCont, exp.PercentileDisc,
                             exp.Quantile, exp.WithinGroup)):
            return self._composed_aggregate(node, schema, None)
        if isinstance(node, (exp.NullSafeEQ, exp.NullSafeNEQ)):
            same = _not_distinct(self.expr(node.this, schema), self.expr(node.expression, schema))
            return same if isinstance(node, exp.NullSafeEQ) else Call("not", (same,))
        if isinstance(node, exp.Grouping):
            import thresher.expressions.sql_functions  # noqa: F401  (registers the "grouping" placeholder)

            return Call("grouping", tuple(self.expr(a, schema) for a in node.expressions))
        if isinstance(node, exp.Nullif):  # NULLIF(a, b): NULL where a = b (guards a division: n / NULLIF(d, 0))
            a, b = self.expr(node.this, schema), self.expr(node.expression, schema)
            if any((isinstance(x, Literal) and x.value is None) or (schema is not None and x.resolve(schema).dtype.is_null())
                   for x in (a, b)):
                # a = NULL is never true (and Polars refuses a NULL-typed when() condition:
                # nullif(abs(NULL), i) failed while running)
                return a
            return when(Call("eq", (a, b))).then(
                Literal(None, DataType.null())).otherwise(a)
        if isinstance(node, exp.Coalesce):
            args = [self.expr(node.this, schema)] + [self.expr(e, schema) for e in node.expressions]
            return Call("coalesce", tuple(args))
        if isinstance(node, exp.Abs):  # (checked: abs of a signed integer's smallest value overflows)
            inner = self.expr(node.this, schema)
            if isinstance(inner, Literal) and inner.value is None and inner.dtype.is_null():
                return Literal(None, DataType.int64())  # (DuckDB's abs(NULL) is a BIGINT)
            return Call("abs", (inner,), () if isinstance(inner, Literal) else SQL_CHECKED)  # (see coerce_literals)
        if isinstance(node, exp.Round):
            d = node.args.get("decimals")
            if d is not None and not (isinstance(d, exp.Literal) and d.is_int) and not (
                    isinstance(d, exp.Neg) and isinstance(d.this, exp.Literal) and d.this.is_int):
                raise UnsupportedError(f"ROUND with a non-constant precision ({d.sql()}) in {_where(node)}")
            digits = 0 if d is None else (-int(d.this.name) if isinstance(d, exp.Neg) else int(d.name))
            rounded = sql_round(self.expr(node.this, schema), digits, schema)
            if schema is not None:
                # its input is coerced already, and what sql_round adds around it (a call with
                # no literal argument, casts) has nothing to coerce: ``expr`` need not walk the
                # input again
                self._coerced[id(rounded)] = (rounded, schema)
            return rounded
        if isinstance(node, (exp.Upper, exp.Lower)):  # (each character alone, as DuckDB: sql_functions.py)
            import thresher.expressions.sql_functions  # noqa: F401  (registers sql_upper, sql_lower)

            return Call("sql_upper" if isinstance(node, exp.Upper) else "sql_lower", (self.expr(node.this, schema),))
        if isinstance(node, exp.Length):
            return self.expr(node.this, schema).str.len()
        if isinstance(node, exp.DPipe):
            return Call("str.concat", (self.expr(node.this, schema), self.expr(node.expression, schema)))
        if isinstance(node, exp.ConcatWs):  # (a Concat too: its first part is the separator)
            sep, *rest = [self.expr(a, schema) for a in node.expressions]
            if not (isinstance(sep, Literal) and (sep.value is None or isinstance(sep.value, str))):
                raise UnsupportedError(f"concat_ws needs its separator as a literal: {_where(node)}")
            if sep.value is None or not rest:
                return Literal(None, DataType.string())
            # DuckDB skips NULL parts (all NULL is '')
            return Call("str.concat", tuple(rest), (("separator", sep.value), ("ignore_nulls", True)))
        if isinstance(node, exp.Concat):
            parts = [self.expr(a, schema) for a in node.expressions]
            if node.args.get("coalesce"):  # DuckDB/Postgres CONCAT: NULL counts as ''
                parts = [Call("coalesce", (p, lit(""))) for p in parts]
            return Call("str.concat", tuple(parts))
        if isinstance(node, _STRING_NODES):
            return self._string_function(node, schema)
        if isinstance(node, exp.Filter):
            return self._agg_filter(node, schema)
        if isinstance(node, exp.ArrayAny):
            return self._array_any(node, schema)
        if isinstance(node, exp.Anonymous) and node.name == KEEP_STEP:  # (see _keep_constant_steps)
            return self.expr(node.expressions[0], schema)
        if isinstance(node, exp.Anonymous) and node.name == KEEP_EVALUATED:  # (see _keep_compared_steps)
            import thresher.expressions.sql_functions  # noqa: F401  (registers sql_evaluated)

            return Call("sql_evaluated", (self.expr(node.expressions[0], schema),))
        if isinstance(node, (exp.Anonymous, exp.Func, exp.SimilarTo, exp.Glob, exp.BitwiseAnd, exp.BitwiseOr,
                             exp.BitwiseXor, exp.BitwiseLeftShift, exp.BitwiseRightShift, exp.BitwiseNot)):
            more = translate_more(self, node, schema)  # (DuckDB's smaller functions: more_functions.py)
            if more is not None:
                return more
        if isinstance(node, exp.Anonymous) or isinstance(node, exp.Func):
            return self._function(node, schema)
        raise SQLError(f"unsupported SQL construct {type(node).__name__}: {_where(node)}")

    def _math(self, node: Any, schema: Schema | None) -> Expr:
        """EXP, LN, LOG10, LOG(x) (DuckDB's is base 10), LOG(b, x), POWER/POW: DOUBLEs."""
        import thresher.expressions.sql_functions  # noqa: F401  (registers sql_math)

        x = self.expr(node.this, schema)
        other = node.args.get("expression")
        if isinstance(node, exp.Exp):
            return Call("sql_math", (x,), (("op", "exp"),))
        if isinstance(node, exp.Ln):
            return Call("sql_math", (x,), (("op", "ln"),))
        if isinstance(node, exp.Pow):
            return Call("sql_math", (x, self.expr(other, schema)), (("op", "power"),))
        if other is None:  # LOG(x)
            return Call("sql_math", (x,), (("op", "log10"),))
        if isinstance(node.this, exp.Literal) and node.this.name == "10":  # LOG10(x), as sqlglot reads it
            return Call("sql_math", (self.expr(other, schema),), (("op", "log10"),))
        if isinstance(node.this, exp.Literal) and node.this.name == "2" and not node.this.meta:
            # LOG2(x), as sqlglot reads it (a base it wrote, with no place in the text): C's log2,
            # which LOG(2, x), log10(x) / log10(2) in DuckDB, is not everywhere
            return Call("sql_math", (self.expr(other, schema),), (("op", "log2"),))
        return Call("sql_math", (x, self.expr(other, schema)), (("op", "log"),))

    def _date_function(self, node: Any, schema: Schema | None) -> Expr:
        """DATE_TRUNC, DATE_DIFF/DATEDIFF, LAST_DAY and MAKE_DATE as DuckDB computes them."""
        from thresher.expressions.sql_functions import DATE_DIFF_UNITS, DATE_TRUNC_UNITS

        if isinstance(node, exp.LastDay):
            return Call("sql_last_day", (self.expr(node.this, schema),))
        if isinstance(node, exp.TimeFromParts):
            raise UnsupportedError(f"make_time is not supported (Thresher's SQL has no TIME type): {_where(node)}")
        if isinstance(node, exp.TimestampFromParts):
            keys = ("year", "month", "day", "hour", "min", "sec")
            if any(node.args.get(k) is None for k in keys) or any(
                    node.args.get(k) is not None for k in node.args if k not in keys):
                raise SQLError(f"make_timestamp needs a year, a month, a day, an hour, a minute and seconds: "
                               f"{_where(node)}")
            return Call("sql_make_timestamp", tuple(self.expr(node.args[k], schema) for k in keys))
        if isinstance(node, exp.DateFromParts):
            parts = [node.args.get(k) for k in ("year", "month", "day")]
            if any(p is None for p in parts):
                raise SQLError(f"make_date needs a year, a month and a day: {_where(node)}")
            return Call("sql_make_date", tuple(self.expr(p, schema) for p in parts))
        unit_node = node.args.get("unit")
        unit = _date_unit(unit_node.name if unit_node is not None else "")
        if isinstance(node, exp.DateDiff):
            fn = "date_diff"
            if unit not in DATE_DIFF_UNITS:
                raise UnsupportedError(f"{fn} by {unit!r} is not supported (only {', '.join(DATE_DIFF_UNITS)}): "
                                       f"{_where(node)}")
            start, end = self.expr(node.expression, schema), self.expr(node.this, schema)
            return Call("sql_date_diff", (start, end), (("unit", unit),))
        if unit not in DATE_TRUNC_UNITS:
            raise UnsupportedError(f"date_trunc to {unit!r} is not supported (only {', '.join(DATE_TRUNC_UNITS)}): "
                                   f"{_where(node)}")
        return Call("sql_date_trunc", (self.expr(node.this, schema),), (("unit", unit),))

    def _date_sub(self, node: Any, args: list[Expr]) -> Expr:
        """DuckDB's DATE_SUB(unit, a, b) (DATESUB): the whole units from a to b."""
        from thresher.expressions.sql_functions import DATE_SUB_UNITS

        unit = _date_unit(args[0].value) if len(args) == 3 and isinstance(args[0], Literal) and isinstance(
            args[0].value, str) else None
        if unit not in DATE_SUB_UNITS:
            raise UnsupportedError(f"date_sub by {unit!r} is not supported (only {', '.join(DATE_SUB_UNITS)}): "
                                   f"{_where(node)}")
        return Call("sql_date_diff", (args[1], args[2]), (("unit", unit), ("sub", True)))

    def _time_function(self, node: Any, schema: Schema | None) -> Expr:
        """STRFTIME, STRPTIME, EPOCH, EPOCH_MS and TO_TIMESTAMP as DuckDB computes them."""
        import thresher.expressions.sql_functions  # noqa: F401  (registers sql_strftime, ...)

        x = self.expr(node.this, schema)
        if isinstance(node, (exp.TimeToStr, exp.StrToTime)):
            fn = "strftime" if isinstance(node, exp.TimeToStr) else "strptime"
            fmt_node = node.args.get("format")
            fmt = self.expr(fmt_node, schema) if fmt_node is not None else None
            if fmt is not None and isinstance(node.this, exp.Literal) and node.this.is_string and not (
                    isinstance(fmt_node, exp.Literal) and fmt_node.is_string):
                x, fmt = fmt, self.expr(node.this, schema)  # (DuckDB's strftime('%Y', d))
            if not (isinstance(fmt, Literal) and (fmt.value is None or isinstance(fmt.value, str))):
                raise UnsupportedError(f"{fn} needs its format as a text literal: {_where(node)}")
            if fmt.value is None:
                return Literal(None, DataType.string() if fn == "strftime" else DataType.timestamp("us"))
            chrono = chrono_format(fmt.value, fn, node)
            call = Call(f"sql_{fn}", (x,), (("format", chrono), ("spelled", fmt.value)))
        elif isinstance(node, exp.TimeToUnix):
            call = Call("sql_epoch", (x,), (("unit", "s"),))
        else:
            scale = node.args.get("scale")
            scale_v = _int_literal(scale) if scale is not None else 0
            if scale_v == 6 and _spelled(node).lower() == "make_timestamp":
                call = Call("sql_from_epoch", (x,), (("unit", "us"),))  # (microseconds: a TIMESTAMP)
                if schema is not None:
                    call.resolve(schema)
                return call
            if scale_v not in (0, 3):
                raise UnsupportedError(f"{_spelled(node)} is not supported: {_where(node)}")
            t = x.resolve(schema).dtype if schema is not None else None
            if scale_v == 3 and t is not None and t.kind in ("date", "timestamp"):
                call = Call("sql_epoch", (x,), (("unit", "ms"),))  # EPOCH_MS of a DATE or TIMESTAMP
            else:
                call = Call("sql_from_epoch", (x,), (("unit", "ms" if scale_v == 3 else "s"),))
        if schema is not None:
            call.resolve(schema)  # (a ThresherTypeError names the function and the argument)
        return call

    def _like(self, node: Any, schema: Schema | None, escape: str | None) -> Expr:
        pat = node.expression
        if not isinstance(pat, exp.Literal):
            raise SQLError(f"LIKE needs a literal pattern: {_where(node)}")
        opts: tuple[tuple[str, Any], ...] = (("pattern", pat.name), ("case_insensitive", isinstance(node, exp.ILike)))
        if escape is not None:
            opts += (("escape", escape),)
        like = Call("str.like", (self.expr(node.this, schema),), opts)
        return Call("not", (like,)) if node.args.get("negate") else like

    def _string_function(self, node: Any, schema: Schema | None) -> Expr:
        """DuckDB's trim/ltrim/rtrim, replace, starts_with, contains, left, right, lpad/rpad,
        strpos/position/instr, split_part and reverse, as ``__sql_str`` (``sql_functions.py``)."""
        import thresher.expressions.sql_functions  # noqa: F401  (registers sql_str)

        def arg(key: str) -> Expr:
            return self.expr(node.args[key], schema)

        def literal(key: str, what: str, kind: type) -> Any:
            value = self.expr(node.args[key], schema) if node.args.get(key) is not None else None
            if not (isinstance(value, Literal) and (value.value is None or isinstance(value.value, kind))
                    and not isinstance(value.value, bool)):
                raise UnsupportedError(f"{_spelled(node)} needs {what} as a literal: {_where(node)}")
            return value.value

        def call(op: str, *args: Expr, **opts: Any) -> Expr:
            c = Call("sql_str", tuple(args), (("op", op), *opts.items()))
            if schema is not None:
                c.resolve(schema)  # (a ThresherTypeError names the function and the argument)
            return c

        null = Literal(None, DataType.string())
        if isinstance(node, exp.Trim):
            position = str(node.args.get("position") or "BOTH").upper()
            op = {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(position, "trim")
            if node.args.get("collation") is not None:
                raise UnsupportedError(f"TRIM ... COLLATE: {_where(node)}")
            chars = node.args.get("expression")
            return call(op, arg("this"), *([] if chars is None else [self.expr(chars, schema)]))
        if isinstance(node, exp.Replace):
            pattern = literal("expression", "the text it replaces", str)
            if pattern is None:
                return null
            return call("replace", arg("this"), arg("replacement"), pattern=pattern)
        if isinstance(node, (exp.StartsWith, exp.Contains)):
            return call("starts_with" if isinstance(node, exp.StartsWith) else "contains", arg("this"), arg("expression"))
        if isinstance(node, (exp.Left, exp.Right)):
            return call("left" if isinstance(node, exp.Left) else "right", arg("this"), arg("expression"))
        if isinstance(node, exp.Pad):
            n_node = node.args["expression"]
            n = None if isinstance(n_node, exp.Null) else _int_literal(n_node)
            if n is None and not isinstance(n_node, exp.Null):
                raise UnsupportedError(f"{_spelled(node)} needs its length as an integer literal: {_where(node)}")
            if node.args.get("fill_pattern") is None:  # (DuckDB has no default fill)
                raise SQLError(f"{_spelled(node)} needs its fill: {_where(node)}")
            fill = literal("fill_pattern", "its fill", str)
            if n is None or fill is None:
                return null
            return call("lpad" if node.args.get("is_left") else "rpad", arg("this"), n=n, fill=fill)
        if isinstance(node, exp.StrPosition):
            if node.args.get("position") is not None or node.args.get("occurrence") is not None:
                raise UnsupportedError(f"{_spelled(node)} with a start position or an occurrence: {_where(node)}")
            return call("strpos", arg("this"), arg("substr"))
        if isinstance(node, exp.SplitPart):
            return call("split_part", arg("this"), arg("delimiter"), arg("part_index"))
        if isinstance(node, exp.Reverse):
            return call("reverse", arg("this"))
        if isinstance(node, exp.EndsWith):
            return call("ends_with", arg("this"), arg("expression"))
        if isinstance(node, exp.Repeat):
            text = arg("this")
            if schema is not None and text.resolve(schema).dtype.is_null():
                return Literal(None, DataType.null())  # (DuckDB's is a NULL BLOB: repeat has a BLOB form)
            return call("repeat", text, arg("times"))
        if isinstance(node, exp.BitLength):
            return call("bit_length", arg("this"))
        if isinstance(node, exp.Ascii):
            return call("ascii", arg("this"))
        if isinstance(node, exp.Chr):
            if len(node.expressions) != 1 or node.args.get("charset"):
                raise UnsupportedError(f"chr of more than one code point: {_where(node)}")
            return call("chr", self.expr(node.expressions[0], schema))
        if isinstance(node, exp.Translate):
            source, target = literal("from_", "the characters it replaces", str), literal("to", "their replacements", str)
            if source is None or target is None:
                return null
            return call("translate", arg("this"), source=source, target=target)
        return self._regexp_function(node, schema, call, literal)

    def _regexp_function(self, node: Any, schema: Schema | None, call: Any, literal: Any) -> Expr:
        """DuckDB's regexp_matches, regexp_replace and regexp_extract: a literal RE2 pattern
        rewritten for Polars' (Rust's) regex where the two read it alike, refused where not."""
        fn = _REGEXP_NAMES.get(type(node), "regexp")
        if isinstance(node, exp.RegexpLike):
            op, options_key = "regexp_matches", "flag"
        elif isinstance(node, exp.RegexpFullMatch):
            op, options_key = "regexp_full_match", "options"
        elif isinstance(node, exp.RegexpReplace):
            op, options_key = "regexp_replace", "modifiers"
            if node.args.get("position") is not None or node.args.get("occurrence") is not None:
                raise UnsupportedError(f"{fn} with a position or an occurrence: {_where(node)}")
        elif isinstance(node, exp.RegexpExtract):
            op, options_key = "regexp_extract", "parameters"
            if node.args.get("position") is not None or node.args.get("occurrence") is not None:
                raise UnsupportedError(f"{fn} with a position or an occurrence: {_where(node)}")
        else:
            raise SQLError(f"unsupported string function {fn!r}: {_where(node)}")
        result = DataType.bool() if op in ("regexp_matches", "regexp_full_match") else DataType.string()
        pattern = literal("expression", "its pattern", str)
        options = literal(options_key, "its options", str) if node.args.get(options_key) is not None else ""
        if pattern is None or options is None:
            return Literal(None, result)
        opts: dict[str, Any] = {}
        rust, groups = rust_regex(pattern, options, op, node)
        opts["pattern"] = rust
        if op == "regexp_replace":
            replacement = literal("replacement", "its replacement", str)
            if replacement is None:
                return Literal(None, result)
            opts["replacement"] = rust_replacement(replacement, groups, node)  # (a rewrite with 'l' too)
            opts["all"] = "g" in options
        if op == "regexp_extract":
            group_node = node.args.get("group")
            group = 0 if group_node is None else _int_literal(group_node)
            if group is None or not 0 <= group <= 9:
                raise UnsupportedError(f"{fn} needs its group as an integer literal from 0 to 9: {_where(node)}")
            opts["group"] = group
        return call(op, self.expr(node.this, schema), **opts)  # type: ignore[no-any-return]

    def _agg_filter(self, node: Any, schema: Schema | None) -> Expr:
        """``agg(x) FILTER (WHERE c)`` as ``agg(CASE WHEN c THEN x END)`` (aggregates skip NULLs)."""
        where = node.expression
        cond = self.expr(where.this if where is not None and hasattr(where, "this") else where, schema)
        null = Literal(None, DataType.null())
        inner = node.this
        if not any(isinstance(n, Column) for n in cond.walk()):
            # a condition of constants alone that stays a call ('x' NOT IN ('x', 'z')) is one value
            # where Polars meets the group's rows: median / quantile failed while running ("shapes
            # ... not suitable for zip_with"); ANDed with a test of every row it is a row's
            cond = _row_shaped(cond, self.expr(_aggregated(inner), schema))
        if isinstance(inner, (exp.LogicalAnd, exp.LogicalOr, exp.GroupConcat, exp.PercentileCont,
                              exp.PercentileDisc, exp.Quantile, exp.WithinGroup)):
            # (built of aggregates that skip NULLs: each reads its argument where the filter holds)
            return self._composed_aggregate(inner, schema, cond)
        if isinstance(inner, (exp.StddevPop, exp.VariancePop)) and where is not None and hasattr(where, "this"):
            # (composed of a count and a var: its argument read where the filter holds; it was
            # refused, "needs an aggregate")
            filtered = inner.copy()
            filtered.set("this", exp.Case(ifs=[exp.If(this=where.this.copy(), true=inner.this.copy())]))
            return self.expr(filtered, schema)
        agg = self.expr(inner, schema)
        if isinstance(agg, CountStar):
            return AggCall("count", when(cond).then(lit(1)).otherwise(null))
        if isinstance(agg, Call) and agg.name == "sql_decimal_from_raw" and isinstance(agg.args[0], AggCall):
            q = agg.args[0]  # (median of a DECIMAL: more_functions.decimal_quantile)
            return Call(agg.name, (AggCall(q.name, when(cond).then(q.child).otherwise(null), q.options),), agg.options)
        if isinstance(agg, AggCall):
            if agg.name in ("first", "last", "agg_list", "list_by", "first_by") or agg.option("nulls"):
                # (these keep NULLs: the rows FILTER drops would come back as NULLs)
                raise UnsupportedError(f"FILTER (WHERE ...) on {agg.name.replace('agg_', '')}() is not supported: "
                                       f"{_where(node)}")
            return AggCall(agg.name, when(cond).then(agg.child).otherwise(null), agg.options)
        raise SQLError(f"FILTER (WHERE ...) needs an aggregate: {_where(node)}")

    def _arg_max(self, node: Any, schema: Schema | None) -> Expr:
        """``arg_max(x, y)`` / ``max_by`` and ``arg_min`` / ``min_by``: x at the first row with the
        greatest / least y among the rows where neither is NULL, NULL where there is none
        (DuckDB's), as the aggregate ``max_by`` / ``min_by`` of the pair ``struct.value_by(x, y)``.
        The form with a count (a list of the top n) is refused."""
        if node.args.get("count") is not None:
            raise UnsupportedError(f"{_spelled(node)}(x, y, n) (a list of n values) is not supported: {_where(node)}")
        if isinstance(node.this, exp.Distinct) or isinstance(node.expression, exp.Distinct):
            raise UnsupportedError(f"{_spelled(node)}(DISTINCT ...) is not supported: {_where(node)}")
        x, y = self.expr(node.this, schema), self.expr(node.expression, schema)
        if schema is not None:
            for e in (x, y):
                t = e.resolve(schema).dtype
                if isinstance(e, Literal) and e.value is None:
                    raise UnsupportedError(f"{_spelled(node)} of NULL is not supported: {_where(node)}")
                if t.is_null() or t.is_media() or t.is_struct() or t.is_list():
                    raise UnsupportedError(f"{_spelled(node)} of a {sql_type_name(t)} is not supported: "
                                           f"{_where(node)}")
        return AggCall("max_by" if isinstance(node, exp.ArgMax) else "min_by", Call("struct.value_by", (x, y)))

    def _list_literal(self, node: Any, schema: Schema | None = None) -> Expr:
        """``[1, 2, NULL]``, ``['a', 'b']``: a list of constants, typed as DuckDB types it (integers an
        INTEGER[] where they fit, else BIGINT[]; VARCHAR[], BOOLEAN[], DOUBLE[] of 1e0 literals). A list
        of other values (``[a, b + 1]``) is each row's list of them in their common type
        (``sql_list_value``). Lists of constants of mixed types or decimals, nested lists and ``[]``
        are refused."""
        values: list[Any] = []
        for item in node.expressions:
            neg = isinstance(item, exp.Neg)
            inner = item.this if neg else item
            if isinstance(inner, exp.Null) and not neg:
                values.append(None)
                continue
            e = self.expr(inner, None) if isinstance(inner, (exp.Literal, exp.Boolean)) else None
            if not isinstance(e, Literal) or (neg and not isinstance(e.value, (int, float))):
                if any(isinstance(i, exp.Array) for i in node.expressions):
                    raise UnsupportedError(f"a list of lists that are not constants is not supported: {_where(node)}")
                import thresher.expressions.sql_functions  # noqa: F401  (registers sql_list_value)

                call = Call("sql_list_value", tuple(self.expr(i, schema) for i in node.expressions))
                if schema is not None:
                    try:
                        call.resolve(schema)
                    except ThresherTypeError as exc:
                        raise SQLError(f"{exc}: {_where(node)}") from exc
                return call
            values.append(-e.value if neg else e.value)
        kinds = {type(v) for v in values if v is not None}
        if len(kinds) != 1 or kinds & {decimal.Decimal}:
            raise UnsupportedError(f"a list literal of {'no typed value' if not kinds else 'these values'} is not "
                                   f"supported (integers, floats written 1e0, strings or booleans alike): "
                                   f"{_where(node)}")
        kind = kinds.pop()
        if kind is int:
            fits = all(v is None or -2 ** 31 <= v < 2 ** 31 for v in values)
            dtype = DataType.int32() if fits else DataType.int64()
        else:
            dtype = {str: DataType.string(), bool: DataType.bool(), float: DataType.float64()}[kind]
        return Literal(values, DataType.list(dtype))

    def _row_in(self, node: Any, schema: Schema | None) -> Expr:
        """``(a, b) [NOT] IN ((1, 2), (3, NULL))``: DuckDB compares the row values as structs, a
        NULL field equal to a NULL field (never NULL): an OR of ANDs of IS NOT DISTINCT FROM. The
        subquery form is answered as a WHERE condition (``_row_in_subqueries``), refused elsewhere."""
        if node.args.get("query") is not None:
            raise UnsupportedError(f"a row value [NOT] IN (subquery) is supported only as a WHERE condition ANDed "
                                   f"with the others (NOT IN too), not as a value or under OR: {_where(node)}")
        values = [self.expr(v, schema) for v in node.this.expressions]
        terms = []
        for item in node.expressions:
            row = item.expressions if isinstance(item, exp.Tuple) else None
            if row is None or len(row) != len(values):
                raise SQLError(f"a row value IN needs rows of {len(values)} values: {_where(item)}")
            terms.append(combine_conjunction([_not_distinct(a, self.expr(b, schema)) for a, b in zip(values, row)]))
        isin = combine_or(terms)
        return Call("not", (isin,)) if node.args.get("negate") else isin

    def _composed_aggregate(self, node: Any, schema: Schema | None, where: Expr | None) -> Expr:
        """The aggregates built of the DataFrame API's (bool_and / bool_or, string_agg, the
        quantiles), their argument read only where ``where`` (a FILTER's condition) holds."""
        if isinstance(node, exp.WithinGroup):
            fn, order = node.this, node.expression
            keys = order.expressions if isinstance(order, exp.Order) else []
            if not isinstance(fn, (exp.PercentileCont, exp.PercentileDisc)) or len(keys) != 1 \
                    or keys[0].args.get("desc") or fn.expression is not None:
                raise UnsupportedError(f"WITHIN GROUP is supported as percentile_cont / percentile_disc (q) WITHIN "
                                       f"GROUP (ORDER BY x) (ascending): {_where(node)}")
            node = type(fn)(this=keys[0].this, expression=fn.this)

        def arg(n: Any) -> Expr:
            x = self.expr(n, schema)
            if where is None:
                return x
            return when(where).then(x).otherwise(Literal(None, DataType.null()))

        if isinstance(node, (exp.LogicalAnd, exp.LogicalOr)):
            return self._bool_aggregate(node, schema, arg)
        if isinstance(node, exp.GroupConcat):
            return self._string_agg(node, schema, arg)
        return self._quantile(node, schema, arg)

    def _bool_aggregate(self, node: Any, schema: Schema | None, arg: Callable[[Any], Expr]) -> Expr:
        """``bool_and`` / ``bool_or`` as the DataFrame API's ``all()`` / ``any()``,
        NULL where the group has no non-NULL value (DuckDB's; Polars' all() of NULLs is TRUE)."""
        x = arg(node.this)
        if isinstance(x, Literal) and x.value is None:
            x = Literal(None, DataType.bool())
        if schema is not None and not x.resolve(schema).dtype.is_bool():
            raise SQLError(f"{_spelled(node)} needs a BOOLEAN argument: {_where(node)}")
        agg = AggCall("any" if isinstance(node, exp.LogicalOr) else "all", x)
        return when(Call("gt", (AggCall("count", x), lit(0)))).then(agg).otherwise(Literal(None, DataType.bool()))

    def _string_agg(self, node: Any, schema: Schema | None, arg_of: Callable[[Any], Expr]) -> Expr:
        """``string_agg`` / ``listagg`` / ``group_concat`` ([DISTINCT] x [, sep] [ORDER BY key]) as the
        DataFrame API's ``agg_list(x).list.join(sep)``: NULLs skipped, NULL where the group has no
        non-NULL value (DuckDB's). ORDER BY the value itself sorts the list before it is joined,
        ORDER BY another key lists the values in its order (``more_functions.ordered_list``);
        DISTINCT keeps each value once (ordered by another key it is refused)."""
        arg = node.this
        order = None
        if isinstance(arg, exp.Order):
            order, arg = arg, arg.this
        distinct = isinstance(arg, exp.Distinct)
        if distinct:
            if len(arg.expressions) != 1:
                raise UnsupportedError(f"string_agg(DISTINCT ...) of more than one value: {_where(node)}")
            arg = arg.expressions[0]
        sep_node = node.args.get("separator")
        sep = "," if sep_node is None else None
        if sep_node is not None:
            sep_expr = self.expr(sep_node, None)
            if not (isinstance(sep_expr, Literal) and isinstance(sep_expr.value, str)):
                raise UnsupportedError(f"string_agg needs its separator as a string literal: {_where(node)}")
            sep = sep_expr.value
        x = arg_of(arg)
        if schema is not None:
            t = x.resolve(schema).dtype
            if t.is_integer() or t.is_null():
                x = SQLCast(x, DataType.string())  # (DuckDB joins the values' text)
            elif not t.is_string():
                raise UnsupportedError(f"string_agg of a {sql_type_name(t)} (only VARCHAR and integers): "
                                       f"{_where(node)}")
        listed: Expr = AggCall("agg_list", x)
        if distinct:  # (in the order values first appear, unless ordered by them)
            listed = listed.list.unique(maintain_order=True)
        if order is not None:
            keys = order.expressions
            if len(keys) == 1 and keys[0].this == arg:
                listed = listed.list.sort(descending=bool(keys[0].args.get("desc")))
            elif distinct:
                raise UnsupportedError(f"string_agg(DISTINCT x ... ORDER BY <key>) is supported only when the key is "
                                       f"the aggregated value itself: {_where(node)}")
            else:  # the values in other keys' order (NULL values skipped by the join)
                listed = ordered_list(self, x, keys, schema, node)
        joined = listed.list.join(str(sep))
        return when(Call("gt", (AggCall("count", x), lit(0)))).then(joined).otherwise(Literal(None, DataType.string()))

    def _quantile(self, node: Any, schema: Schema | None, arg: Callable[[Any], Expr]) -> Expr:
        """``quantile_cont(x, q)`` (``percentile_cont``) and ``quantile_disc(x, q)`` (``quantile``)
        as the DataFrame API's ``quantile(q, interpolation=...)``: linear for the continuous one,
        Polars' 'equiprobable' (the value at ceil(n * q), as DuckDB) for the discrete one, which
        keeps its argument's type (integers and floats only here)."""
        q_node = node.args.get("quantile") if isinstance(node, exp.Quantile) else node.expression
        if q_node is None or isinstance(node.this, exp.Literal):  # (percentile_cont(q) WITHIN GROUP)
            raise UnsupportedError(f"{_spelled(node)} needs the form quantile(x, q): {_where(node)}")
        q = self.expr(q_node, None)
        qv = q.value if isinstance(q, Literal) else None
        if isinstance(qv, decimal.Decimal) or type(qv) is int:
            qv = float(qv)
        if not isinstance(qv, float) or not 0 <= qv <= 1:
            raise UnsupportedError(f"{_spelled(node)} needs one constant quantile from 0 to 1: {_where(node)}")
        x = arg(node.this)
        t = x.resolve(schema).dtype if schema is not None else None
        if isinstance(node, exp.PercentileCont):
            if t is not None and t.kind == "decimal":
                return decimal_quantile(x, qv, t)  # (a DECIMAL, as DuckDB's)
            if t is not None and not (t.is_integer() or t.is_float() or t.is_null()):
                raise UnsupportedError(f"{_spelled(node)} of a {sql_type_name(t)} (only integers and floats): "
                                       f"{_where(node)}")
            if _is_float32(x, schema):
                x = Cast(x, DataType.float64())
            return AggCall("quantile", x, (("quantile", qv), ("interpolation", "linear")))
        if t is not None and not (t.is_integer() or t.is_float()):
            raise UnsupportedError(f"{_spelled(node)} of a {sql_type_name(t)} (only integers and floats): "
                                   f"{_where(node)}")
        out = AggCall("quantile", x, (("quantile", qv), ("interpolation", "equiprobable")))
        return out if t is None or t.is_float() else Cast(out, t)  # (one of the values: exact)

    def _case(self, node: Any, schema: Schema | None) -> Expr:
        subject = self.expr(node.this, schema) if node.this is not None else None
        ifs = node.args.get("ifs") or []
        builder: Any = None
        for i in ifs:
            cond = self.expr(i.this, schema)
            if subject is not None:
                cond = Call("eq", (subject, cond))
            value = self.expr(i.args["true"], schema)
            builder = when(cond).then(value) if builder is None else builder.when(cond).then(value)
        default = node.args.get("default")
        return builder.otherwise(self.expr(default, schema) if default is not None else Literal(None, DataType.null()))

    def _interval(self, node: Any, op: str, schema: Schema | None) -> Expr:
        base = self.expr(node.this, schema)
        parts = _interval_parts(node)
        if len(parts) > 1:  # INTERVAL '1 month 2 days': DuckDB adds the months, then the days, then the time
            out = base
            for amount, unit in parts:
                out = self._shift(out, -amount if op == "sub" else amount, unit, node)
            return out
        amount, unit = parts[0]
        return self._shift(base, -amount if op == "sub" else amount, unit, node)

    def _shift(self, base: Expr, amount: int, unit: str, node: Any) -> Expr:
        """``base`` shifted by ``amount`` ``unit`` s (DAY, MONTH, ...)."""
        if isinstance(base, Literal) and isinstance(base.value, datetime.date):
            d = base.value
            if not isinstance(d, datetime.datetime):  # (a DATE shifted is a TIMESTAMP in DuckDB)
                d = datetime.datetime(d.year, d.month, d.day)
            if unit == "DAY":
                return lit(d + datetime.timedelta(days=amount))
            if unit in ("MONTH", "YEAR"):
                months = amount * (12 if unit == "YEAR" else 1)
                y, m = divmod(d.month - 1 + months, 12)
                # the day clamped to the month's end, leap years included (DATE '2023-12-31' +
                # INTERVAL 2 MONTH is 2024-02-29)
                return lit(d.replace(year=d.year + y, month=m + 1,
                                     day=min(d.day, calendar.monthrange(d.year + y, m + 1)[1])))
        code = {"DAY": "d", "MONTH": "mo", "YEAR": "y", "HOUR": "h", "MINUTE": "m", "SECOND": "s", "WEEK": "w"}.get(unit)
        if code is None:
            raise SQLError(f"unsupported interval unit {unit}: {_where(node)}")
        if code in ("h", "m", "s"):
            # a DATE shifted by hours is a TIMESTAMP (DATE '2024-01-01' - INTERVAL 13 MINUTE is
            # 2023-12-31 23:47:00); Polars shifts a date and truncates it back to a day
            base = SQLCast(base, DataType.timestamp("us"))
        # (a DATE shifted by any interval is a TIMESTAMP in DuckDB: coerce.py casts the base once its
        # type is known, through this option)
        return Call("dt.offset_by", (base,), (("by", f"{amount}{code}"), *SQL_DATE_SHIFT))

    def _array_any(self, node: Any, schema: Schema | None) -> Expr:
        """``ARRAY_ANY(list, _x -> c <op> _x)`` as list functions (what decorrelated EXISTS uses)."""
        arr = self.expr(node.this, schema)
        lam = node.expression
        if not isinstance(lam, exp.Lambda) or len(lam.expressions) != 1:
            raise SQLError(f"unsupported ARRAY_ANY: {_where(node)}")
        var = lam.expressions[0].name
        body = lam.this
        if isinstance(body, (exp.EQ, exp.NEQ)):
            a, b = body.this, body.expression

            def is_var(n: Any) -> bool:
                return getattr(n, "name", None) == var and not getattr(n, "table", "")

            if is_var(a) and not is_var(b):
                other = b
            elif is_var(b) and not is_var(a):
                other = a
            else:
                raise SQLError(f"unsupported ARRAY_ANY predicate: {_where(node)}")
            value = self.expr(other, schema)
            if isinstance(body, exp.EQ):  # (a NULL value equals no element: Polars' contains finds a NULL one)
                return Call("and", (Call("is_not_null", (value,)), Call("list.contains_expr", (arr, value))))
            return Call("list.any_ne", (arr, value))
        raise SQLError(f"unsupported ARRAY_ANY predicate: {_where(node)}")

    def _function(self, node: Any, schema: Schema | None) -> Expr:
        """Registry functions by SQL name: ``image_width(x)``, ``embed_text(t, 'model')``, ..."""
        if isinstance(node, exp.Exists):  # (decorrelation rewrites every one it can, _uncorrelated_exists the rest)
            raise UnsupportedError(f"a correlated EXISTS (subquery) that could not be decorrelated (correlated other "
                                   f"than by equalities ANDed in its WHERE) is not supported: {_where(node)}")
        if isinstance(node, exp.Collate):  # (it read as an unknown function named 's collate nocase')
            raise UnsupportedError(f"COLLATE is not supported (text compares and orders by code point, DuckDB's "
                                   f"default): {_where(node)}")
        fn_node: Any = node
        is_anon = type(fn_node) is exp.Anonymous
        # (a typed node's .name is its first argument's text: TRIM('abs') named 'abs', CEIL(1.25) '1.25')
        name = (node.name if is_anon else node.sql_name()).lower()
        args_nodes = list(getattr(fn_node, "expressions", [])) if is_anon else [
            a for a in fn_node.args.values() if a is not None and not isinstance(a, (str, bool, list))]
        if name in ("strlen", "suffix"):
            import thresher.expressions.sql_functions  # noqa: F401  (registers sql_str)

            op = "strlen" if name == "strlen" else "ends_with"
            c = Call("sql_str", tuple(self.expr(a, schema) for a in args_nodes), (("op", op),))
            if schema is not None:
                c.resolve(schema)
            return c
        if name in ("date_sub", "datesub"):
            import thresher.expressions.sql_functions  # noqa: F401  (registers sql_date_diff)

            return self._date_sub(node, [self.expr(a, schema) for a in args_nodes])
        try:
            args = [self.expr(a, schema) for a in args_nodes]
        except ThresherError:
            if not _known_function(name):  # (DATE_DIFF('day', ...): the function, not its 'day', is what is missing)
                raise SQLError(f"unknown function {_spelled(node)!r} in {_where(node)}") from None
            raise
        if name in ("embed_text", "embed_image", "prompt"):
            from thresher.udfs.ai import model_functions as ai

            if len(args) < 2 or not isinstance(args[1], Literal):
                raise SQLError(f"{name}(column, 'model') needs the model as a string literal: {_where(node)}")
            return getattr(ai, name)(args[0], model=args[1].value)
        if "_" in name:
            ns, method = name.split("_", 1)
            target = getattr(args[0], ns, None) if args else None
            fn = getattr(target, method, None) if target is not None else None
            if fn is not None:
                values = []
                for a in args[1:]:
                    if not isinstance(a, Literal):
                        raise SQLError(f"{name}: arguments after the first must be literals: {_where(node)}")
                    values.append(a.value)
                try:
                    return fn(*values)  # type: ignore[no-any-return]
                except TypeError as exc:
                    raise SQLError(f"{name}: {exc} in {_where(node)}") from exc
        from thresher.expressions.registry import lookup_sql

        registered = lookup_sql(name)
        if registered is not None and not registered.startswith("__"):
            if registered == "sqrt" and len(args) == 1 and _is_float32(args[0], schema):
                args = [Cast(args[0], DataType.float64())]  # (DuckDB answers in DOUBLE; Polars would keep REAL)
            call = Call(registered, tuple(args))
            if schema is not None:
                call.resolve(schema)  # the registry's type rule: a ThresherTypeError names the problem
            return call
        raise SQLError(f"unknown function {_spelled(node)!r} in {_where(node)}")


_STRING_NODES = (exp.Trim, exp.Replace, exp.StartsWith, exp.Contains, exp.Left, exp.Right, exp.Pad, exp.StrPosition,
                 exp.SplitPart, exp.Reverse, exp.EndsWith, exp.Repeat, exp.BitLength, exp.Ascii, exp.Chr,
                 exp.Translate, exp.RegexpLike, exp.RegexpFullMatch, exp.RegexpReplace, exp.RegexpExtract)
_REGEXP_NAMES = {exp.RegexpLike: "regexp_matches", exp.RegexpFullMatch: "regexp_full_match",
                 exp.RegexpReplace: "regexp_replace",
                 exp.RegexpExtract: "regexp_extract"}
_TIME_NODES = (exp.TimeToStr, exp.StrToTime, exp.TimeToUnix, exp.UnixToTime)

#: DuckDB's short names of date units (a plural is the unit: 'days', 'hours')
_DATE_UNIT_ALIASES = {
    "y": "year", "yr": "year", "yrs": "year", "mon": "month", "mons": "month", "d": "day", "dayofmonth": "day",
    "h": "hour", "hr": "hour", "hrs": "hour", "m": "minute", "min": "minute", "mins": "minute", "s": "second",
    "sec": "second", "secs": "second", "ms": "millisecond", "msec": "millisecond", "msecs": "millisecond",
    "msecond": "millisecond", "mseconds": "millisecond", "us": "microsecond", "usec": "microsecond",
    "usecs": "microsecond", "usecond": "microsecond", "useconds": "microsecond", "w": "week",
}


def deduplicated_names(names: list[str]) -> list[str]:
    """A query's output names with the later ones of a repeated name renamed as DuckDB's Python
    client names them in a DataFrame (``.pl()``, ``.df()``; its Arrow result repeats them, which a
    Thresher frame cannot hold): ``a, a, a`` -> ``a, a_1, a_2``, a suffix taken (``a, a_1, a``)
    skipped -> ``a, a_1, a_2``, and a taken name suffixed in turn (``a, a, a_1`` -> ``a, a_1,
    a_1_1``); names compare without case, as DuckDB's do."""
    count: dict[str, int] = {}
    out = []
    for name in names:
        low = name.lower()
        if low not in count:
            count[low] = 0
            out.append(name)
            continue
        index = count[low]
        while True:
            index += 1
            new = f"{name}_{index}"
            if new.lower() not in count:
                break
        count[low] = index
        count[new.lower()] = 0
        out.append(new)
    return out


def _date_unit(name: str) -> str:
    """A DuckDB date unit's name ('ms', 'mins', 'days') as the unit ('millisecond', 'minute', 'day')."""
    low = name.lower()
    return _DATE_UNIT_ALIASES.get(low) or (low[:-1] if low.endswith("s") else low)


def _date_part(part: str, x: Expr) -> Expr:
    """A part of a DATE or TIMESTAMP numbered as DuckDB does (``sql_functions.DATE_PARTS``)."""
    import thresher.expressions.sql_functions  # noqa: F401  (registers sql_date_part)

    return Call("sql_date_part", (x,), (("part", part),))


def _spelled(node: Any) -> str:
    """A function's name as DuckDB spells it (sqlglot's own names differ: STRPOS is its
    STR_POSITION, STRFTIME its TIME_TO_STR)."""
    try:
        return str(node.sql(dialect="duckdb")).split("(")[0].strip().lower()
    except Exception:  # noqa: BLE001  (a node sqlglot cannot write in DuckDB's dialect)
        return str(node.sql_name()).lower()


def _known_function(name: str) -> bool:
    """Could ``name`` be a function ``Translator._function`` translates?"""
    from thresher.expressions.registry import lookup_sql

    if name in ("embed_text", "embed_image", "prompt"):
        return True
    registered = lookup_sql(name)
    if registered is not None and not registered.startswith("__"):
        return True
    return "_" in name and hasattr(Expr, name.split("_", 1)[0])


#: the meta key marking a join written with USING or NATURAL (before qualify makes it an ON)
_USING = "thresher_using"


def _by_name(node: Any, left: LogicalPlan, right: LogicalPlan) -> tuple[LogicalPlan, LogicalPlan]:
    """``UNION [ALL] BY NAME``: the inputs' columns matched by name, case-insensitively, as
    DuckDB: the left input's columns in their order, then the right one's others; a column one
    input lacks is NULL there (the set operation was positional: the right input's columns went
    under the left one's names in their order, or raised on a count that differs)."""
    if not isinstance(node, exp.Union) or not node.args.get("by_name") or any(
            node.args.get(k) for k in ("side", "kind", "on")):
        raise SQLError(f"only UNION [ALL] BY NAME matches columns by name: {_where(node)}")
    lnames, rnames = left.schema.names, right.schema.names
    rfold = {n.lower(): n for n in reversed(rnames)}
    if len({n.lower() for n in lnames}) != len(lnames) or len(rfold) != len(rnames):
        raise SQLError(f"UNION BY NAME of an input with two columns of the same name: {_where(node)}")
    lfold = {n.lower() for n in lnames}
    names = list(lnames) + [n for n in rnames if n.lower() not in lfold]

    def side(plan: LogicalPlan, fold: dict[str, str], other: LogicalPlan, ofold: dict[str, str]) -> LogicalPlan:
        items: list[Expr] = []
        for n in names:
            have = fold.get(n.lower())
            items.append(Column(have).alias(n) if have is not None
                         else Cast(Literal(None, DataType.null()), other.schema.field(ofold[n.lower()]).dtype).alias(n))
        return Project(plan, tuple(items))

    lmap = {n.lower(): n for n in lnames}
    return side(left, lmap, right, rfold), side(right, rfold, left, lmap)


def _text_aligned(left: LogicalPlan, right: LogicalPlan) -> tuple[LogicalPlan, LogicalPlan]:
    """The two inputs of a set operation with a column that is VARCHAR on one side and another
    type on the other cast to VARCHAR there, as DuckDB does (``SELECT 1 UNION SELECT 'x'`` is
    the VARCHARs '1' and 'x')."""
    from thresher.planner.sql.coerce import _as_text

    fixes: list[set[int]] = [set(), set()]
    for i, (a, b) in enumerate(zip(left.schema.fields, right.schema.fields)):
        if a.dtype.is_string() != b.dtype.is_string() and not (a.dtype.is_null() or b.dtype.is_null()):
            fixes[0 if b.dtype.is_string() else 1].add(i)
    out = []
    for side, fix in zip((left, right), fixes):
        if fix:
            names = side.schema.names
            side = Project(side, tuple(_as_text(Column(n), side.schema).alias(n) if i in fix else Column(n)
                                       for i, n in enumerate(names)))
        out.append(side)
    return out[0], out[1]


def _float32_keys(lefts: list[Expr], rights: list[Expr], left: Schema, right: Schema) -> tuple[list[Expr], list[Expr]]:
    """Join keys ``lefts`` (over ``left``) and ``rights`` (over ``right``), a FLOAT key and an
    integer or DECIMAL key cast to FLOAT, as DuckDB compares them (see :func:`float32_common`)."""
    lefts, rights = list(lefts), list(rights)
    for i, (a, b) in enumerate(zip(lefts, rights)):
        try:
            ta, tb = a.resolve(left).dtype, b.resolve(right).dtype
        except ThresherError:
            continue
        if float32_common([ta, tb]):
            f32 = DataType.float32()
            lefts[i], rights[i] = (a if ta == f32 else a.cast(f32)), (b if tb == f32 else b.cast(f32))
    return lefts, rights


def _keep(keys: Any) -> tuple[Expr, ...]:
    """Right join keys that keep their column in the output (SQL never merges join columns:
    ``SELECT l_orderkey`` after ``ON l_orderkey = o_orderkey`` must still find it)."""
    return tuple(Alias(k, f"__key.{k.output_name()}") if isinstance(k, Column) else k for k in keys)


def _aggregated(agg: Any) -> Any:
    """The argument an aggregate's node reads (a constant where there is none: count(*))."""
    if isinstance(agg, exp.WithinGroup):
        keys = agg.expression.expressions if isinstance(agg.expression, exp.Order) else []
        return keys[0].this if keys else exp.Literal.number(1)
    arg = agg.this if isinstance(agg, exp.Func) else None
    if isinstance(arg, exp.Order):
        arg = arg.this
    if isinstance(arg, exp.Distinct) and len(arg.expressions) == 1:
        arg = arg.expressions[0]
    return arg if isinstance(arg, exp.Expression) and not isinstance(arg, (exp.Star, exp.Distinct)) \
        else exp.Literal.number(1)


def _row_shaped(cond: Expr, x: Expr) -> Expr:
    """``cond`` (of constants) as a value per row where ``x`` is read: ``cond AND (x IS NULL OR
    x IS NOT NULL)`` (the same truth value)."""
    if not any(isinstance(n, Column) for n in x.walk()):
        return cond
    return Call("and", (cond, Call("or", (Call("is_null", (x,)), Call("is_not_null", (x,))))))


def _not_distinct(a: Expr, b: Expr) -> Expr:
    """``a IS NOT DISTINCT FROM b``: ``a = b``, TRUE where both are NULL, FALSE where one is
    (never NULL)."""
    both_null = Call("and", (Call("is_null", (a,)), Call("is_null", (b,))))
    return Call("coalesce", (Call("eq", (a, b)), both_null))


def combine_or(parts: list[Expr]) -> Expr:
    out = parts[0]
    for p in parts[1:]:
        out = Call("or", (out, p))
    return out


def _int_literal(node: Any) -> int | None:
    """The value of an integer literal node (``3``, ``-2``), else None."""
    if isinstance(node, exp.Paren):
        return _int_literal(node.this)
    if isinstance(node, exp.Neg):
        inner = _int_literal(node.this)
        return -inner if inner is not None else None
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.name)
    return None


def sql_substring(x: Expr, start: int, length: int | None) -> Expr:
    """DuckDB's ``SUBSTRING(x, start[, length])``: the characters at 1-based positions
    ``[start, start + length)`` that exist. A start of 0 is the position before the first
    character (``substring('hello', 0, 2)`` is 'h'), a negative start counts from the end
    (``substring('hello', -2, 2)`` is 'lo'), and a negative length takes the characters before
    ``start`` (``substring('hello', 3, -2)`` is 'he'). Polars' ``str.slice`` counts a negative
    offset from the end as DuckDB does, but a 0-based offset, so the rest is arithmetic on the
    literal positions."""
    if start > 0:
        if length is None or length >= 0:
            return x.str.slice(start - 1, length)
        lo = max(start + length, 1)
        return x.str.slice(lo - 1, start - lo)
    if start == 0:
        if length is None:
            return x.str.slice(0)
        return x.str.slice(0, max(length - 1, 0))
    if length is None or length >= 0:
        return x.str.slice(start, length)
    return x.str.slice(start + length, -length)


def sql_round(x: Expr, digits: int, schema: Schema | None) -> Expr:
    """DuckDB's ``ROUND(x, digits)``.

    A DOUBLE is rounded as DuckDB computes it (one call, ``sql_round_double``: its lowering in
    ``operators/sql_functions_polars.py`` says how). A FLOAT is computed in double precision and
    cast back, as DuckDB does, as is any other type (a NULL). A DECIMAL rounds half away from zero to
    ``DECIMAL(p, d)``; an integer is returned unchanged. Polars' own ``round`` rounds half to
    even, which is what the DataFrame API keeps.
    """
    dtype: DataType | None = None
    if schema is not None:
        try:
            dtype = x.resolve(schema).dtype
        except ThresherError:
            dtype = None
    if dtype is not None and dtype.is_integer() and str(dtype).startswith("uint"):
        # DuckDB's ROUND of an unsigned integer is a BIGINT (of a UBIGINT a HUGEINT)
        if dtype == DataType.uint64():
            if digits < 0:
                raise UnsupportedError(f"ROUND of a UBIGINT with a negative precision ({digits})")
            return HugeintCast(x, HUGEINT)
        x, dtype = x.cast(DataType.int64()), DataType.int64()
    if dtype is not None and dtype.kind == "decimal":
        if digits < 0:
            p, s = dtype.arrow.precision, dtype.arrow.scale
            if p - s > 18:
                raise UnsupportedError(f"ROUND of a DECIMAL of more than 18 integer digits with a negative "
                                       f"precision ({digits})")
            import thresher.expressions.sql_functions  # noqa: F401  (registers sql_round_int)

            # half away from zero to a multiple of 10^-digits depends on the integer part alone
            # (14.5 and 14 round to 10, 15 to 20): its truncation (Polars' cast) rounded as an
            # integer is, as DuckDB's, a DECIMAL(p, 0) (of a DECIMAL(p, 0) a DECIMAL(p + 1, 0))
            whole = Call("sql_round_int", (x.cast(DataType.int64()),), (("digits", digits),))
            return whole.cast(DataType.decimal(min(38, p + 1 if s == 0 else p), 0))
        scale = dtype.arrow.scale
        out: Expr = Call("round", (x,), (("decimals", digits), ("mode", "half_away_from_zero")))
        if digits < scale:
            out = out.cast(DataType.decimal(dtype.arrow.precision, digits))
        return out
    if dtype is not None and dtype.is_integer():
        if digits < 0:
            import thresher.expressions.sql_functions  # noqa: F401  (registers sql_round_int)

            return Call("sql_round_int", (x,), (("digits", digits),))  # (half away from zero, as DuckDB)
        if isinstance(x, Literal) and type(x.value) is int and dtype == DataType.int64():
            # (ROUND(0) is an INTEGER, no longer a literal that takes the type of what it meets)
            return x.cast(DataType.int32() if -2**31 <= x.value < 2**31 else DataType.int64())
        return x
    is_float32 = dtype is not None and str(dtype) == "float"
    xd = x if dtype == DataType.float64() else x.cast(DataType.float64())
    import thresher.expressions.sql_functions  # noqa: F401  (registers sql_round_double)
    import thresher.operators.sql_functions_polars  # noqa: F401  (and its Polars lowering)

    if dtype is None:
        # typed once the input's type is known (a WHERE term is translated before its table's
        # columns are: coerce.coerce_literals calls this again then, as for a FLOAT, a DECIMAL
        # or an integer the answer differs from a DOUBLE's); unknown to the end, a DOUBLE's
        return Call("sql_round_double", (xd,), (("digits", digits), ("late", True)))
    out = Call("sql_round_double", (xd,), (("digits", digits),))
    return out.cast(DataType.float32()) if is_float32 else out


def _transform_top_down(e: Expr, fn: Callable[[Expr], Expr | None]) -> Expr:
    out = fn(e)
    if out is not None:
        return out
    kids = e.children()
    if not kids:
        return e
    return e.with_children([_transform_top_down(k, fn) for k in kids])


def _column_aliases(plan: LogicalPlan, node: Any) -> LogicalPlan:
    """``FROM t AS x(c1, c2)``: the table's first columns renamed, positionally (DuckDB's); more
    names than columns is an error, as DuckDB's binder's, and so is a new name equal to another
    column's (DuckDB keeps both, and any read of the name is ambiguous)."""
    new = [c.name for c in node.args["alias"].columns]
    names = plan.schema.names
    if len(new) > len(names):
        raise SQLError(f"table {node.name!r} has {len(names)} columns available but {len(new)} columns specified: "
                       f"{_where(node)}")
    out = [*new, *names[len(new):]]
    if len({n.lower() for n in out}) != len(out):
        raise UnsupportedError(f"a table alias column list that makes two columns of one name ({out}) is not "
                               f"supported: {_where(node)}")
    return Project(plan, tuple(Column(o) if o == n else Column(o).alias(n) for o, n in zip(names, out)))


def _renamed(plan: LogicalPlan, alias: str, names: Any = None) -> LogicalPlan:
    """``plan``'s columns (or those of ``names``, in the plan's order) as ``alias.<name>``: one
    projection, composed with the renaming projections right below it (a derived table renames
    the columns its own FROM qualified; the optimizer merged the layers anyway, after pushing
    every filter through each of them)."""
    names = plan.schema.names if names is None else names
    source: dict[str, Expr] = {n: Column(n) for n in names}
    while isinstance(plan, Project) and all(isinstance(strip_alias(e), Column) and (
            not isinstance(e, Alias) or isinstance(e.child, Column)) for e in plan.exprs):
        inner = {e.output_name(): e for e in plan.exprs}
        if len(inner) != len(plan.exprs):
            break
        source = {n: _compose(inner[_source_name(e)], n) for n, e in source.items()}
        plan = plan.input
    return Project(plan, tuple(_compose(source[n], f"{alias}.{n}") for n in names))


def _source_name(e: Expr) -> str:
    src = strip_alias(e)
    assert isinstance(src, Column)
    return src.name


def _compose(e: Expr, name: str) -> Expr:
    """``e`` (a column, maybe renamed) named ``name``, as projection_merge writes it."""
    src = strip_alias(e)
    return e if isinstance(e, Alias) and e.child is src and e.name == name else Alias(src, name)


def _equi_keys(terms: list[Expr], left: set[str], right: set[str]) -> list[tuple[Expr, Expr, Expr]]:
    """``(term, left_key, right_key)`` for every ``l = r`` term joining the two sides."""
    out: list[tuple[Expr, Expr, Expr]] = []
    for t in terms:
        if isinstance(t, Call) and t.name == "eq":
            _add_oriented(out, t, t.args[0], t.args[1], left, right)
    return out


def _add_oriented(out: list[tuple[Expr, Expr, Expr]], term: Expr, a: Expr, b: Expr,
                  left: set[str], right: set[str]) -> None:
    """Add ``(term, left_key, right_key)`` when one of ``a``, ``b`` reads only the left side and the
    other only the right."""
    ca, cb = a.columns(), b.columns()
    if ca and cb and ca <= left and cb <= right:
        out.append((term, a, b))
    elif ca and cb and cb <= left and ca <= right:
        out.append((term, b, a))


def _null_safe_keys(terms: list[Expr], left: set[str], right: set[str]) -> list[tuple[Expr, Expr, Expr]]:
    """``(term, left_key, right_key)`` for every ``l IS NOT DISTINCT FROM r`` term (as
    ``_not_distinct`` builds it) joining the two sides."""
    out: list[tuple[Expr, Expr, Expr]] = []
    for t in terms:
        if not (isinstance(t, Call) and t.name == "coalesce" and len(t.args) == 2):
            continue
        eq, nulls = t.args
        if not (isinstance(eq, Call) and eq.name == "eq" and isinstance(nulls, Call) and nulls.name == "and"
                and [a.key() for a in nulls.args] == [Call("is_null", (x,)).key() for x in eq.args]):
            continue
        _add_oriented(out, t, eq.args[0], eq.args[1], left, right)
    return out


_INTERVAL_UNITS = {"year": "YEAR", "month": "MONTH", "week": "WEEK", "day": "DAY", "hour": "HOUR",
                   "minute": "MINUTE", "second": "SECOND"}


def _interval_parts(node: Any) -> list[tuple[int, str]]:
    """The parts of ``x +/- INTERVAL ...`` (``node``) as (amount, unit) pairs, calendar units first:
    ``INTERVAL 3 DAY``, ``INTERVAL '3' DAYS``, ``INTERVAL '1 month 2 days'`` (sqlglot leaves the
    text whole where the unit is in it); raises UnsupportedError for what it cannot read (a
    fraction, an expression, a unit it does not know)."""
    from thresher.planner.sql.windows import _UNIT_ALIASES

    iv: Any = node.expression
    amount = iv.this
    while isinstance(amount, exp.Paren):
        amount = amount.this
    unit = iv.args.get("unit")
    neg = isinstance(amount, exp.Neg)
    if neg:
        amount = amount.this
    if not isinstance(amount, exp.Literal):
        raise UnsupportedError(f"an interval of a non-constant amount ({iv.sql()}) is not supported: {_where(node)}")
    text = str(amount.name).strip()
    tokens = text.split() if unit is None else [text, str(unit.name)]
    if unit is None and len(tokens) == 1:
        tokens.append("day")
    parts: dict[str, int] = {}
    for num_s, unit_s in zip(tokens[::2], tokens[1::2]):
        u = _INTERVAL_UNITS.get(_UNIT_ALIASES.get(unit_s.lower(), ""))
        if u is None or not re.fullmatch(r"[+-]?\d+", num_s) or len(tokens) % 2:
            raise UnsupportedError(f"the interval {iv.sql()} is not supported (a whole number of years, months, "
                                   f"weeks, days, hours, minutes or seconds): {_where(node)}")
        parts[u] = parts.get(u, 0) + int(num_s) * (-1 if neg else 1)
    if not parts:
        raise UnsupportedError(f"the interval {iv.sql()} is not supported (no amount): {_where(node)}")
    if "YEAR" in parts and "MONTH" in parts:
        # one shift of months, as DuckDB's INTERVAL holds them: DATE '2024-02-29' - INTERVAL '1 year
        # 2 months' is 2022-12-29 (14 months back), not 2022-12-28 (a year to 2023-02-28, then 2 months)
        parts["MONTH"] += 12 * parts.pop("YEAR")
    return [(n, u) for u, n in sorted(parts.items(), key=lambda kv: list(_INTERVAL_UNITS.values()).index(kv[0]))]


_TIMESTAMP_TYPES = (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ, exp.DataType.Type.DATETIME)


def _date_literals_beside_timestamps(tree: Any) -> None:
    """In place: a DATE literal compared with a constant TIMESTAMP (``DATE '2023-03-31' =
    TIMESTAMP '2023-03-31 00:00:00'``, ``TIMESTAMP '...' + INTERVAL 1 YEAR < DATE '...'``,
    ``DATE '2024-01-31' + INTERVAL 1 MONTH = TIMESTAMP '2024-02-29 00:00:00'``) as the TIMESTAMP at
    its midnight, DuckDB's comparison (a DATE shifted by an interval is a TIMESTAMP there too).
    sqlglot's simplify evaluates such a comparison in Python, where a date equals no datetime (the
    first was FALSE, DuckDB's TRUE) and ``<`` raises TypeError. (Only where no side holds a column:
    there Thresher compares.)"""
    def date_literal(n: Any) -> Any:
        """The DATE literal ``n`` is, or is shifted by intervals from (else None)."""
        while isinstance(n, exp.Paren) or isinstance(n, (exp.Add, exp.Sub)) and isinstance(n.expression, exp.Interval):
            n = n.this
        if (isinstance(n, exp.Cast) and n.to.is_type(exp.DataType.Type.DATE) and isinstance(n.this, exp.Literal)
                and n.this.is_string):
            return n
        return None

    def constant_timestamp(n: Any) -> bool:
        return not n.find(exp.Column) and any(c.to.this in _TIMESTAMP_TYPES for c in n.find_all(exp.Cast))

    for node in list(tree.find_all(exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.Between, exp.In,
                                   exp.NullSafeEQ, exp.NullSafeNEQ)):
        if isinstance(node, exp.Between):
            sides = [node.this, node.args.get("low"), node.args.get("high")]
        elif isinstance(node, exp.In):
            sides = [node.this, *node.expressions]
        else:
            sides = [node.this, node.expression]
        sides = [x for x in sides if x is not None]
        if any(x.find(exp.Column) for x in sides) or not any(constant_timestamp(x) for x in sides):
            continue
        for side in sides:
            lit_ = date_literal(side)
            if lit_ is None:
                continue
            try:
                day = datetime.date.fromisoformat(lit_.this.name.strip())
            except ValueError:
                continue  # (not a date: the cast's own error says so)
            lit_.replace(exp.Cast(this=exp.Literal.string(f"{day.isoformat()} 00:00:00"),
                                  to=exp.DataType.build("TIMESTAMP")))


def _time_shifts_of_date_literals(tree: Any) -> None:
    """``x - INTERVAL 12 HOUR`` as ``CAST(x AS TIMESTAMP) - INTERVAL 12 HOUR``, in place: a DATE
    shifted by hours, minutes or seconds is a TIMESTAMP in DuckDB, and sqlglot's simplify folds
    ``DATE '2023-12-31' - INTERVAL 12 HOUR`` to ``CAST('2023-12-30 12:00:00' AS DATE)``, a date."""
    for iv in reversed(list(tree.find_all(exp.Interval))):  # (inner ones first: an outer one copies its base)
        op = iv.parent
        unit = iv.args.get("unit")
        if not (isinstance(op, (exp.Add, exp.Sub)) and op.expression is iv):
            continue
        if unit is None or unit.name.upper().rstrip("S") not in ("HOUR", "MINUTE", "SECOND"):
            # DATE '2020-01-31' + INTERVAL 1 MONTH is a TIMESTAMP too (simplify folds it to a DATE):
            # cast where the type shows, not where it is compared (d < DATE '1998-12-01' + INTERVAL
            # 1 YEAR compares as the date, which keeps the comparison a DATE one)
            base, up = op.this, op.parent
            while isinstance(up, exp.Paren):
                up = up.parent
            if (isinstance(base, exp.Cast) and base.to.is_type(exp.DataType.Type.DATE) and not base.find(exp.Column)
                    and not isinstance(up, (exp.Predicate, exp.Cast))):
                base.replace(exp.Cast(this=base.copy(), to=exp.DataType.build("TIMESTAMP")))
            continue
        base = op.this
        if not (isinstance(base, exp.Cast) and base.to.is_type(exp.DataType.Type.TIMESTAMP)):
            base.replace(exp.Cast(this=base.copy(), to=exp.DataType.build("TIMESTAMP")))


#: a stand-in function around a step of a chained computation with constants (see
#: ``_keep_constant_steps``); the translation reads through it
KEEP_STEP = "__thresher_step"
KEEP_EVALUATED = "__thresher_evaluated"
_STEP_NODES = (exp.Add, exp.Sub, exp.Mul)


def _is_number(node: Any) -> bool:
    """A number, or constants alone (``1000 * 2``)."""
    return _is_constant(node)


def _is_constant(node: Any) -> bool:
    """A number, or +, -, * of numbers."""
    while isinstance(node, (exp.Neg, exp.Paren)):
        node = node.this
    if isinstance(node, _STEP_NODES):
        return _is_constant(node.this) and _is_constant(node.expression)
    return isinstance(node, exp.Literal) and not node.is_string


def _integer_constant(node: Any) -> bool:
    return all(x.is_int for x in node.find_all(exp.Literal))


def _is_zero(node: Any) -> bool:
    while isinstance(node, (exp.Neg, exp.Paren)):
        node = node.this
    try:
        return float(node.name) == 0
    except ValueError:
        return False


def _keep_constant_steps(tree: Any) -> None:
    """In place: ``x * 1000 * 1000`` keeps its two steps. sqlglot's simplify merges the constants
    of a chain (``x * 1000000``, ``2 * x * 3`` to ``6 * x``, ``x + 1 + 2`` to ``x + 3``), where DuckDB
    computes step by step in the operand's type: ``CAST(b AS SMALLINT) * 1000 * 1000`` overflows
    SMALLINT at the second step (an error), and ``x * 1000000`` is an INTEGER. A step with a
    constant whose result another constant combines with is hidden from simplify in a stand-in
    function the translation reads through (constants alone, ``1000 * 1000 * x``, DuckDB folds
    too). DuckDB merges a chain of multiplications itself, in the first step's type (``x * 1000 *
    0`` is 0 where ``x * 1000`` overflows, ``s * 1000 * 1000`` fails folding ``1000 * 1000`` in
    SMALLINT): the same answers as step by step but for a last factor 0 (merged here too) and a
    merged constant that leaves the type while every ``x`` is 0 or NULL (an error in DuckDB)."""
    for node in reversed(list(tree.find_all(*_STEP_NODES))):  # (inner ones first: an outer one copies them)
        parent = node.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        if not isinstance(parent, _STEP_NODES):
            continue
        sides = (node.this, node.expression)
        other = parent.expression if parent.this is node or (
            isinstance(parent.this, exp.Paren) and parent.this.this is node) else parent.this
        if all(map(_is_number, sides)) and not _is_constant(other) and _integer_constant(node):
            # constants alone (1000 * 2 next to a SMALLINT) are an INTEGER in DuckDB (a BIGINT where
            # a literal needs one), not a literal that takes the other operand's type
            wide = any(not -2 ** 31 <= int(x.name) < 2 ** 31 for x in node.find_all(exp.Literal))
            node.replace(exp.Cast(this=node.copy(), to=exp.DataType.build("BIGINT" if wide else "INT")))
            continue
        if sum(map(_is_number, sides)) != 1:
            continue
        if _is_number(other) and not (isinstance(node, exp.Mul) and isinstance(parent, exp.Mul) and _is_zero(other)):
            node.replace(exp.Anonymous(this=KEEP_STEP, expressions=[node.copy()]))


def _keep_double_literals(tree: Any) -> None:
    """In place: a DOUBLE literal (``1.5e0``, ``1e3``) in arithmetic stays a DOUBLE: sqlglot's
    simplify folds it with another constant into a DECIMAL or an integer (``1.5e0 * 2`` to ``3.0``,
    ``1e3 + 1`` to ``1001``), so ``r + 1.5e0 * 2`` of a FLOAT ``r`` was computed in FLOAT where
    DuckDB computes a DOUBLE. Each goes in the stand-in the translation reads through."""
    for node in list(tree.find_all(exp.Literal)):
        if node.is_string or "e" not in node.name.lower():
            continue
        parent = node.parent
        while isinstance(parent, (exp.Paren, exp.Neg)):
            parent = parent.parent
        if isinstance(parent, (*_STEP_NODES, exp.Div)):
            node.replace(exp.Anonymous(this=KEEP_STEP, expressions=[node.copy()]))


def _keep_constant_divisions(tree: Any) -> None:
    """In place: a division of constants stays one (a DOUBLE, as DuckDB's ``/`` always is):
    sqlglot's simplify folds ``0.5 / 0.5`` to the integer ``1`` and ``1.5 / 0.5`` to ``3`` (a
    BIGINT; the fuzzer, seed 302) and ``0.1 / 0.3`` to a DECIMAL. Its operands go in the
    stand-in the translation reads through (simplify still folds inside a stand-in)."""
    for node in list(tree.find_all(exp.Div)):
        if _is_constant(node.this) and _is_constant(node.expression):
            for side in (node.this, node.expression):
                side.replace(exp.Anonymous(this=KEEP_STEP, expressions=[side.copy()]))


_COMPARISON_NODES = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ, exp.NEQ)


def _constant_step(node: Any) -> bool:
    """``x + c``, ``x - c``, ``c - x`` or ``x * c`` (``c`` a number, ``x`` not a constant)."""
    while isinstance(node, exp.Paren):
        node = node.this
    return (isinstance(node, _STEP_NODES) and sum(map(_is_number, (node.this, node.expression))) == 1)


def _keep_compared_steps(tree: Any) -> None:
    """In place: ``x + c CMP k`` and ``x + c BETWEEN a AND b`` keep their arithmetic through
    sqlglot's simplify, which moves the constant (``s + 30000 > -10000`` to ``s > -40000``, and a
    BETWEEN split into two comparisons likewise) whatever the types. DuckDB moves it only for an
    integer ``x`` and where ``k - c`` fits the type, so ``s + 30000`` of a SMALLINT ``s`` is
    evaluated there, and overflows; ``x * c`` it moves where ``c`` divides ``k`` (the lowering
    does the same: ``expr_to_polars._moved_constants``); a BETWEEN's operand it never moves (it
    stays in a stand-in the translation reads as ``sql_evaluated``: evaluated, overflow included).
    Of a DOUBLE, ``f + 0.1 > 0.3`` is not ``f > 0.2`` in binary arithmetic either."""
    for node in list(tree.find_all(*_COMPARISON_NODES, exp.Between)):
        if isinstance(node, exp.Between):
            if _constant_step(node.this):
                node.this.replace(exp.Anonymous(this=KEEP_EVALUATED, expressions=[node.this.copy()]))
            continue
        for side, other in ((node.this, node.expression), (node.expression, node.this)):
            if _constant_step(side) and _is_number(other):
                side.replace(exp.Anonymous(this=KEEP_STEP, expressions=[side.copy()]))
                break


def _bare_null(node: Any) -> bool:
    """Does ``node`` hold a NULL that is not ``IS [NOT] NULL``'s (simplify folds ``NULL > x``)?"""
    return any(not isinstance(n.parent, exp.Is) for n in node.find_all(exp.Null))


def _keep_constant_cases(tree: Any) -> None:
    """In place: a CASE (or IF) keeps its branches through sqlglot's
    simplify, which replaces it by the branch taken (``CASE WHEN TRUE THEN 0.5 ELSE f END`` by
    ``0.5``, a DECIMAL): its type is that of all its branches in DuckDB (a DOUBLE there, and
    ``CASE WHEN 1 = 1 THEN NULL ELSE s END`` a VARCHAR, not NULL's type), also where a condition
    with a column folds (``NULL > x``, ``x IS NOT NULL OR 1 <= 1``). Its conditions go in a
    stand-in simplify cannot evaluate (it still simplifies inside); the optimizer's constant folding
    then takes the branch, keeping the type. (A simple CASE's WHEN values only where its operand
    is a constant or one holds a NULL.)"""
    for node in list(tree.find_all(exp.Case, exp.If)):
        if isinstance(node, exp.If) and isinstance(node.parent, exp.Case):
            continue  # (a CASE's WHEN ... THEN: the CASE's)
        conditions = [node.this] if isinstance(node, exp.If) else [i.this for i in node.args.get("ifs") or ()]
        # (any condition: one with a column folds too, x IS NOT NULL OR 1 <= 1)
        foldable = bool(conditions)
        if isinstance(node, exp.Case) and node.this is not None:  # (CASE x WHEN v: x = v)
            foldable = not node.this.find(exp.Column) or _bare_null(node.this) or any(map(_bare_null, conditions))
            conditions.append(node.this)
        if foldable and not any(c.find(exp.Subquery, exp.Select) for c in conditions):
            # (each condition in a stand-in the translation reads through, opaque to simplify)
            for c in conditions:
                c.replace(exp.Anonymous(this=KEEP_STEP, expressions=[c.copy()]))


@functools.lru_cache(maxsize=16)
def sqlglot_dialect(name: str) -> Any:
    """sqlglot's ``Dialect`` object for the dialect ``name``, made once per name. Every sqlglot
    function given a dialect by name parses the name and builds a new ``Dialect``
    (``Dialect.get_or_raise``): qualify's steps, the schema, the simplifier and the parser did
    that ~20 times per query; given the object they use it as it is. (A dialect object holds
    only its settings, which nothing changes.)"""
    from sqlglot.dialects.dialect import Dialect

    return Dialect.get_or_raise(name)


def parse_sql(sql: str, dialect: Any) -> Any:
    """``sqlglot.parse_one(sql, dialect)`` (a ``Dialect`` object); where that fails on a query with
    GROUPING SETS, ROLLUP or CUBE, parsed again with each of their elements in parentheses
    (``_parenthesized_grouping_elements``): sqlglot reads an element as arithmetic only, so
    ``ROLLUP (s LIKE 'a%')`` or ``GROUPING SETS (x IN (SELECT ...), ())`` were syntax errors
    (DuckDB takes them). Any other error is sqlglot's."""
    import sqlglot
    from sqlglot.errors import ParseError

    try:
        return sqlglot.parse_one(sql, dialect=dialect)
    except ParseError:
        if not re.search(r"\b(GROUPING\s+SETS|ROLLUP|CUBE)\b", sql, flags=re.IGNORECASE):
            raise
        try:
            again = _parenthesized_grouping_elements(sql, dialect)
            tree = sqlglot.parse_one(again, dialect=dialect) if again != sql else None
        except ParseError:
            tree = None
        if tree is None:
            raise
        return tree


def _parenthesized_grouping_elements(sql: str, dialect: Any) -> str:
    """``sql`` with each element of a GROUPING SETS / ROLLUP / CUBE list that is not already one
    parenthesized group (nor a nested GROUPING SETS / ROLLUP / CUBE) in parentheses:
    ``ROLLUP (s LIKE 'a%', b)`` -> ``ROLLUP ((s LIKE 'a%'), (b))`` (the same grouping)."""
    from sqlglot.tokens import TokenType

    tokens = dialect.tokenize(sql)
    heads = (TokenType.GROUPING_SETS, TokenType.ROLLUP, TokenType.CUBE)
    inserts: list[tuple[int, str]] = []
    for n, tok in enumerate(tokens):
        if tok.token_type not in heads or n + 1 >= len(tokens) or tokens[n + 1].token_type != TokenType.L_PAREN:
            continue
        depth, first, elements = 0, n + 2, []
        for m in range(n + 1, len(tokens)):
            kind = tokens[m].token_type
            if kind == TokenType.L_PAREN:
                depth += 1
            elif kind == TokenType.R_PAREN:
                depth -= 1
                if depth == 0:
                    elements.append((first, m - 1))
                    break
            elif kind == TokenType.COMMA and depth == 1:
                elements.append((first, m - 1))
                first = m + 1
        for a, b in elements:
            if a > b or tokens[a].token_type in heads or _one_group(tokens, a, b):
                continue
            inserts += [(tokens[a].start, "("), (tokens[b].end + 1, ")")]
    for at, text in sorted(inserts, key=lambda x: -x[0]):
        sql = sql[:at] + text + sql[at:]
    return sql


def _one_group(tokens: list[Any], a: int, b: int) -> bool:
    """Whether tokens ``a..b`` are one parenthesized group ``( ... )``."""
    from sqlglot.tokens import TokenType

    if tokens[a].token_type != TokenType.L_PAREN or tokens[b].token_type != TokenType.R_PAREN:
        return False
    depth = 0
    for m in range(a, b + 1):
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(tokens[m].token_type, 0)
        if depth == 0 and m < b:
            return False
    return True


def _sqlglot_passes(tree: Any, schema: Mapping[str, object], dialect: str) -> Any:
    """sqlglot's qualification and decorrelation plus our AST rewrites, in place on ``tree``.

    The same passes ``sqlglot.optimizer.optimize(rules=...)`` would run, called directly: that
    wrapper deep-copies the tree first and inspects every rule's signature on each call. Unlike
    ``optimize``, tables are not isolated (``FROM a JOIN b`` rewritten as ``FROM (SELECT * FROM
    a) AS a JOIN (SELECT * FROM b) AS b``): sqlglot wants that for its own merge and pushdown
    passes, which we do not run, and every later pass and the translation then walked a scope,
    a CTE and a projection per joined table. The optimized plans of the 99 TPC-DS and 22 TPC-H
    queries are the same either way; translating the 22 TPC-H queries costs a third less.
    """
    from sqlglot.optimizer.eliminate_ctes import eliminate_ctes
    from sqlglot.optimizer.eliminate_subqueries import eliminate_subqueries
    from sqlglot.optimizer.normalize import normalize
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.simplify import simplify
    from sqlglot.optimizer.unnest_subqueries import unnest_subqueries
    from sqlglot.schema import ensure_schema

    from thresher.planner.sql.domain_decorrelation import (
        decorrelate_by_domain,
        hoist_nested_scalar_subqueries,
        put_back_hoisted,
    )
    from thresher.planner.sql.lateral_joins import lateral_joins
    from thresher.planner.sql.quantified_comparisons import quantified_comparisons
    from thresher.planner.sql.rewrites import (
        array_any_to_min_max,
        count_subquery_to_exists,
        factor_or_conjuncts,
        hide_local_ors,
        normalize_sharing,
        presimplify_shared,
        put_back_local_ors,
        set_aside_local_ors,
        set_aside_ors_across_tables,
        show_hidden_ors,
        sort_plain_wheres,
    )
    from thresher.planner.sql.subquery_key_types import cast_subquery_keys

    names_normalized = _normalized_names(schema, dialect)
    dialect = sqlglot_dialect(dialect)  # (sqlglot's passes then take it as it is, see sqlglot_dialect)
    mapping = ensure_schema(dict(schema), dialect=dialect, normalize=not names_normalized)
    for j in tree.find_all(exp.Join):  # (qualify writes USING and NATURAL as ON: see Translator._on_terms)
        if j.args.get("using") or j.method == "NATURAL":
            j.meta[_USING] = True
            _check_using_sides(j, schema)
    tree = qualify(tree, dialect=dialect, schema=mapping, isolate_tables=False, quote_identifiers=False,
                   validate_qualify_columns=True)
    kinds, nested = _tree_kinds(tree)
    if exp.Lateral in kinds:
        lateral_joins(tree)
        kinds, nested = _tree_kinds(tree)
    if exp.Interval in kinds:
        _time_shifts_of_date_literals(tree)
    if exp.Cast in kinds:
        _date_literals_beside_timestamps(tree)
    if (sum(k in kinds for k in _STEP_NODES) or exp.Div in kinds) and exp.Literal in kinds:
        _keep_double_literals(tree)
    if sum(k in kinds for k in _STEP_NODES) and exp.Literal in kinds:
        _keep_constant_steps(tree)
        _keep_compared_steps(tree)
    if exp.Div in kinds and exp.Literal in kinds:
        _keep_constant_divisions(tree)
    if exp.Case in kinds or exp.If in kinds:
        _keep_constant_cases(tree)
    has_or = any(issubclass(k, exp.Or) for k in kinds)
    aside: list[tuple[Any, Any]] = []
    if has_or:
        tree = factor_or_conjuncts(tree)
        if not nested:  # (decorrelation reads the columns of conditions: no stand-ins there)
            aside = set_aside_local_ors(tree)
        aside += set_aside_ors_across_tables(tree)
        # normalize(tree), a repeated OR conjunct distributed once (lazily where no pass before
        # presimplify_shared reads the tree: only decorrelation and the CTE passes do)
        tree = normalize_sharing(tree, lazy=not nested and not any(issubclass(k, exp.CTE) for k in kinds))
    if nested and any(issubclass(k, exp.Count) for k in kinds):  # (a compared subquery is nested)
        tree = count_subquery_to_exists(tree)
    hidden = False
    if has_or and nested:  # (only decorrelation needs the ORs hidden, and only a nested query has a correlation)
        tree, hidden = hide_local_ors(tree)
    if nested:
        if exp.Subquery in kinds:
            tree = _ordered_by_subqueries(tree)
        if exp.Tuple in kinds and _row_in_subqueries(tree):
            kinds.add(exp.Exists)
        _refuse_nested_correlation(tree)
        tree = _lifted(tree)
        if (exp.Any in kinds or exp.All in kinds) and quantified_comparisons(tree):
            kinds.add(exp.In)
        if any(getattr(c, "floating", True) for c in schema.values()) or exp.DataType in kinds and any(
                t.this in _FLOATING for t in tree.find_all(exp.DataType)):
            cast_subquery_keys(tree, mapping)  # (before decorrelation groups a subquery by its keys)
        if exp.In in kinds:
            _in_one_aggregate_as_comparison(tree)
        rewritten = exp.In in kinds and _observed_in_subqueries(tree)
        if rewritten or exp.Exists in kinds or any(issubclass(k, exp.Count) for k in kinds):
            _uncorrelated_exists(tree)
        if exp.Subquery in kinds:
            _correlated_row_subqueries(tree)
        hoisted = hoist_nested_scalar_subqueries(tree)
        hidden |= decorrelate_by_domain(tree, mapping)
        _guard_scalar_subqueries(tree)
        steps = _open_steps(tree)
        tree = unnest_subqueries(tree)
        _close_steps(steps, tree)
        put_back_hoisted(hoisted)
        _exists_tests_never_null(tree)
    if nested or any(issubclass(k, exp.ArrayAgg) for k in kinds):
        tree = array_any_to_min_max(tree)
    if nested or any(issubclass(k, exp.CTE) for k in kinds):
        tree = eliminate_subqueries(tree)
        if not _every_cte_read(tree):
            tree = eliminate_ctes(tree)
    if hidden:
        tree = show_hidden_ors(tree)
    if has_or:
        tree = presimplify_shared(tree, lambda t: simplify(t, dialect=dialect))
    sort_plain_wheres(tree)
    tree = simplify(tree, dialect=dialect)
    if aside:
        tree = put_back_local_ors(tree, aside, lambda t: simplify(normalize(t), dialect=dialect))
    if exp.Null in kinds:
        _null_conditions_typed(tree)
    return tree


def _null_conditions_typed(tree: Any) -> None:
    """In place: a NULL written where a condition goes (``WHERE NULL``, ``CASE WHEN NULL``, ``NOT
    NULL``, ``p AND NULL``, ``JOIN ... ON NULL``, ``FILTER (WHERE NULL)``) as ``CAST(NULL AS
    BOOLEAN)``: untyped, it failed while running (Polars wants a Boolean condition) or gave a column
    of no type where the plan said BOOLEAN (DuckDB: the unknown truth value, NULL BOOLEAN)."""
    for null in list(tree.find_all(exp.Null)):
        child, up = null, null.parent
        while isinstance(up, exp.Paren):
            child, up = up, up.parent
        if isinstance(up, exp.Anonymous) and up.name == KEEP_STEP and isinstance(up.parent, exp.If):
            child, up = up, up.parent  # (a CASE's condition in _keep_constant_cases' stand-in)
        if (isinstance(up, (exp.And, exp.Or, exp.Not, exp.Where, exp.Having, exp.Qualify))
                or (isinstance(up, exp.If) and up.this is child)
                or (isinstance(up, exp.Join) and up.args.get("on") is child)):
            null.replace(exp.Cast(this=exp.Null(), to=exp.DataType.build("BOOLEAN")))


#: sqlglot's FLOAT and DOUBLE types (a query's CAST to one of them: see ``cast_subquery_keys``)
_FLOATING = frozenset({exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE})


def _row_in_subqueries(tree: Any) -> bool:
    """``(a, b) IN (SELECT x, y ...)`` that is a WHERE condition (ANDed with the others) as
    ``EXISTS (SELECT 1 FROM (SELECT x AS c0, y AS c1 ...) AS r WHERE r.c0 = a AND r.c1 = b)``:
    in a WHERE only TRUE keeps a row, and the IN is TRUE exactly where some row of the subquery
    equals the row value column by column (DuckDB's; the comparison is NULL where a column is
    NULL, so a NULL never matches). Elsewhere (a value, under NOT or OR, NOT IN) it is refused:
    there its NULL would be seen."""
    changed = False
    for node in list(tree.find_all(exp.In)):
        query = node.args.get("query")
        if not isinstance(node.this, exp.Tuple) or query is None:
            continue
        inner = query.this if isinstance(query, exp.Subquery) else query
        values = node.this.expressions
        if isinstance(node.parent, exp.Not) or not _where_conjunct(node.parent):
            raise UnsupportedError(f"a row value [NOT] IN (subquery) is supported only as a WHERE condition ANDed "
                                   f"with the others, not as a value, under NOT or OR, nor as NOT IN: "
                                   f"{_where(node.parent if isinstance(node.parent, exp.Not) else node)}")
        if not isinstance(inner, exp.Select) or len(inner.selects) != len(values):
            raise UnsupportedError(f"a row value IN needs a SELECT of {len(values)} columns: {_where(node)}")
        alias = _fresh_alias(tree, "__row_in")
        cols = [f"c{i}" for i in range(len(values))]
        select = inner.copy()
        select.set("expressions", [exp.alias_(e.unalias(), c) for e, c in zip(select.expressions, cols)])
        derived = exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(alias)))
        cond = exp.and_(*(exp.EQ(this=exp.column(c, table=alias), expression=v.copy()) for c, v in zip(cols, values)))
        exists = exp.Exists(this=exp.select(exp.Literal.number(1)).from_(derived).where(cond))
        node.replace(exists)
        changed = True
    return changed


def _ordered_by_subqueries(tree: Any) -> Any:
    """A SELECT ordered by a subquery (``ORDER BY (SELECT count(*) FROM u WHERE u.k = t.k)``) as
    that SELECT with each such ORDER BY term as one more (hidden) output, read by an outer SELECT of
    its outputs that orders (and limits) by them: the subquery is then a scalar subquery of a
    SELECT list, decorrelated as those are. Left as it is (and refused where translated) under
    DISTINCT or where two outputs share a name."""
    for select in list(tree.find_all(exp.Select)):
        order = select.args.get("order")
        if order is None or not any(o.find(exp.Select) for o in order.expressions):
            continue
        names = [p.alias_or_name for p in select.selects]
        if select.args.get("distinct") or len(set(names)) != len(names) or any(
                not n or isinstance(p, exp.Star) for n, p in zip(names, select.selects)):
            continue
        inner_name = _fresh_alias(tree, "th_ordered")
        terms = []
        for k, o in enumerate(order.expressions):
            key = o.this
            if isinstance(key, exp.Column) and not key.table and key.name in names:
                ref = key.name
            else:
                ref = _fresh_alias(tree, f"th_order{k}")
                select.append("expressions", exp.Alias(this=key.copy(), alias=exp.to_identifier(ref)))
            terms.append(exp.Ordered(this=exp.column(ref, table=inner_name), desc=o.args.get("desc"),
                                     nulls_first=o.args.get("nulls_first")))
        outer = exp.Select(expressions=[exp.alias_(exp.column(n, table=inner_name), n) for n in names])
        for key in ("limit", "offset", "with_"):
            if select.args.get(key) is not None:
                outer.set(key, select.args[key].pop())
        order.pop()
        outer.set("order", exp.Order(expressions=terms))
        if select is tree:
            outer.set("from_", exp.From(this=exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(
                inner_name)))))
            tree = outer
        else:
            select.replace(outer)
            outer.set("from_", exp.From(this=exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(
                inner_name)))))
    return tree


def _refuse_nested_correlation(tree: Any) -> None:
    """A subquery (in an expression) that reads a column of a query two or more levels out, past
    the subquery it sits in, is refused naming it: decorrelation joins a subquery onto the query
    right outside it, where that column does not exist (it failed later, with a missing column,
    an unsupported join condition or an EXISTS that could not be decorrelated)."""
    from sqlglot.optimizer.scope import ScopeType, traverse_scope

    for scope in traverse_scope(tree):
        parent = scope.parent
        if scope.scope_type != ScopeType.SUBQUERY or parent is None or parent.scope_type != ScopeType.SUBQUERY:
            continue
        for col in scope.external_columns:
            if col.table in parent.sources:
                continue
            up = parent.parent
            while up is not None and col.table not in up.sources:
                up = up.parent
            if up is not None:
                raise UnsupportedError(
                    f"a subquery correlated to a query two or more levels out (it reads {col.sql()}, a column of "
                    f"neither its own tables nor those of the subquery it sits in) is not supported: "
                    f"{_where(scope.expression)}; join that table in the middle subquery, or correlate each "
                    f"level with the one right outside it")


def _lifted(tree: Any) -> Any:
    """``lift_grouped_subqueries``, its refusals as UnsupportedError naming the query."""
    from thresher.planner.sql.rewrites import LiftRefused, lift_grouped_subqueries

    try:
        return lift_grouped_subqueries(tree)
    except LiftRefused as exc:
        raise UnsupportedError(f"{exc} is not supported: {_where(tree)}; compute the grouped query in a "
                               f"derived table and use the subquery in a SELECT over it") from exc


def _observed_in_subqueries(tree: Any) -> bool:
    """Rewrites ``x [NOT] IN (subquery)`` where its NULL would be seen into a CASE with SQL's
    three-valued answer; returns whether it rewrote any (then EXISTS nodes were added).

    ``x IN (subquery)`` is decorrelated into a join that gives FALSE where SQL gives NULL (no
    match, and a NULL ``x`` or a NULL in the subquery). That is the same answer where NULL and
    FALSE both reject a row: in a WHERE, HAVING, QUALIFY, ON or CASE WHEN condition, under AND
    and OR only, and those stay as they are (as does an uncorrelated ``NOT IN`` that is a WHERE
    conjunct: ``_not_in_nulls``). Anywhere else (a select list, under NOT or IS, compared, in a
    function) it becomes

        CASE WHEN NOT EXISTS (q) THEN FALSE WHEN x IS NULL THEN NULL WHEN x IN (q) THEN TRUE
             WHEN EXISTS (q's rows whose value is NULL) THEN NULL ELSE FALSE END

    whose IN is a CASE WHEN condition (FALSE and NULL alike there) and whose EXISTS are
    decorrelated (correlated by equalities) or counted (``_uncorrelated_exists``). A correlated
    subquery must be a plain SELECT (no aggregate, GROUP BY, LIMIT or set operation): its NULL
    test is added to its WHERE."""
    rewritten = False
    for node in list(tree.find_all(exp.In)):
        q = node.args.get("query")
        if q is None:
            continue
        child, up = node, node.parent
        negated = isinstance(up, exp.Not)
        if negated:
            child, up = up, up.parent
        while isinstance(up, exp.Paren):
            child, up = up, up.parent
        if negated and _where_conjunct(up):
            if not _correlated(q):
                continue  # (the anti join with _not_in_nulls)
        elif not negated:
            while isinstance(up, (exp.Paren, exp.And, exp.Or)):
                child, up = up, up.parent
            if isinstance(up, (exp.Where, exp.Having, exp.Qualify)) or (
                    isinstance(up, exp.If) and child is up.this) or (
                    isinstance(up, exp.Join) and child is up.args.get("on")):
                continue
        node.replace(_three_valued_in(node))
        rewritten = True
    return rewritten


def _in_one_aggregate_as_comparison(tree: Any) -> None:
    """A correlated ``x IN (SELECT agg(...) FROM ... WHERE ...)`` (one aggregate value, no GROUP BY,
    HAVING, LIMIT or OFFSET: exactly one row per outer row) as ``x = (SELECT agg(...) ...)``: the
    same three-valued answer (NULL where ``x`` or the value is NULL), and a scalar subquery that
    decorrelation joins on its equalities; the IN was refused as a value and in a CASE condition
    (its NULL test needs the subquery's rows, not its groups). ``NOT`` above it stays."""
    for node in list(tree.find_all(exp.In)):
        sub = node.args.get("query")
        q = sub.this if isinstance(sub, exp.Subquery) else sub
        if not isinstance(q, exp.Select) or len(q.selects) != 1 or any(
                q.args.get(k) for k in ("group", "having", "limit", "offset", "qualify", "distinct")):
            continue
        value = q.selects[0]
        if not value.find(exp.AggFunc) or value.find(exp.Window) or not _reads_outside(q):
            continue
        node.replace(exp.Paren(this=exp.EQ(this=node.this, expression=exp.Subquery(this=q))))


def _exists_tests_never_null(tree: Any) -> None:
    """An EXISTS that decorrelation made a list test, as FALSE where that test is NULL, in place.

    ``unnest_subqueries`` writes ``EXISTS (SELECT ... WHERE u.k = t.k AND u.y <> t.x)`` as
    ``(NOT _u_0.k IS NULL AND ARRAY_ANY(_u_0.ys, _x -> _x <> t.x))`` (TPC-H Q21), and the list test
    (or the min/max one ``array_any_to_min_max`` makes of it) is NULL where ``t.x`` is NULL or
    every ``u.y`` of the key is: EXISTS is FALSE there, and ``NOT EXISTS`` or EXISTS as a value was
    NULL instead of TRUE / FALSE (rows lost, a wrong value). The test becomes ``COALESCE(test,
    FALSE)``, except in a WHERE's conjunct, where NULL and FALSE alike drop the row (Q21's EXISTS;
    its NOT EXISTS gets the COALESCE)."""
    for node in list(tree.find_all(exp.ArrayAny)):
        up = node.parent
        if not (isinstance(up, exp.And) and up.expression is node and isinstance(up.this, exp.Not)
                and isinstance(up.this.this, exp.Is) and isinstance(up.parent, exp.Paren)):
            continue
        if _where_conjunct(up.parent):
            continue
        node.replace(exp.Coalesce(this=node.copy(), expressions=[exp.false()]))


def _where_conjunct(node: Any) -> bool:
    """Whether ``node`` is a SELECT's WHERE or (through ANDs and parentheses) its condition's
    conjunct (not an aggregate's FILTER)."""
    up = node
    while isinstance(up, (exp.And, exp.Paren)):
        up = up.parent
    return isinstance(up, exp.Where) and isinstance(up.parent, exp.Select)


def _three_valued_in(node: Any) -> Any:
    """``x IN (q)`` as a CASE with SQL's NULLs (see ``_observed_in_subqueries``)."""
    sub = node.args["query"]
    q = sub.this if isinstance(sub, exp.Subquery) else sub
    names = q.named_selects if isinstance(q, exp.Query) else []
    if len(names) != 1:
        raise SQLError(f"IN subquery must return one column: {_where(node)}")
    if _reads_outside(q):
        if not isinstance(q, exp.Select) or q.args.get("group") or q.args.get("having") or q.args.get("limit") \
                or q.args.get("offset") or any(s.find(exp.AggFunc) for s in q.selects):
            raise UnsupportedError(
                f"a correlated IN (subquery) whose result is used as a value (a select list, NOT, IS, a "
                f"comparison or a function) with an aggregate, GROUP BY, LIMIT or a set operation is not "
                f"supported: {_where(node)}; use it in a WHERE condition, or an EXISTS")
        value = q.selects[0].unalias()
        with_nulls = q.copy().where(exp.Is(this=value.copy(), expression=exp.Null()), copy=False)
    else:
        inner = _fresh_alias(node.root(), "_in_rows")
        with_nulls = exp.select(exp.Literal.number(1)).from_(
            exp.Subquery(this=q.copy(), alias=exp.TableAlias(this=exp.to_identifier(inner)))).where(
            exp.Is(this=exp.column(names[0], table=inner), expression=exp.Null()))
    x = node.this
    return exp.Paren(this=exp.Case(ifs=[
        exp.If(this=exp.Not(this=exp.Exists(this=q.copy())), true=exp.false()),
        exp.If(this=exp.Is(this=x.copy(), expression=exp.Null()), true=exp.null()),
        exp.If(this=exp.In(this=x.copy(), query=sub.copy()), true=exp.true()),
        exp.If(this=exp.Exists(this=with_nulls), true=exp.null()),
    ], default=exp.false()))


def _uncorrelated_exists(tree: Any) -> None:
    """An uncorrelated ``EXISTS (q)`` (decorrelation leaves it as it is) as the scalar subquery
    ``(SELECT count(*) FROM (q)) > 0``: one value, cross-joined onto every row (a comparison,
    so that decorrelation finds it in a WHERE too)."""
    for node in list(tree.find_all(exp.Exists)):
        if _reads_outside(node.this):
            continue
        rows = _fresh_alias(node.root(), "_ex_rows")
        count = exp.select(exp.alias_(exp.Count(this=exp.Star()), "n")).from_(
            exp.Subquery(this=node.this.copy(), alias=exp.TableAlias(this=exp.to_identifier(rows))))
        node.replace(exp.Paren(this=exp.GT(this=exp.Subquery(this=count), expression=exp.Literal.number(0))))


def _open_steps(tree: Any) -> list[Any]:
    """The ``KEEP_STEP`` stand-ins of ``tree`` as parentheses while ``unnest_subqueries`` runs
    (put back by ``_close_steps``): it hoists no subquery of a select list that holds an
    anonymous function (it might be an aggregate), and a stand-in is none; with one in a CASE
    condition beside it, an IN (subquery) was left to the translation, which refused it. So does
    a ``__single_row_value`` of ``_correlated_row_subqueries``, as a COALESCE of its two operands
    (a function sqlglot knows; ``_close_steps`` puts back each, also every copy made of it)."""
    out: list[Any] = []
    for node in list(tree.find_all(exp.Anonymous)):
        if node.name == KEEP_STEP and len(node.expressions) == 1:
            paren = exp.Paren(this=node.expressions[0])
            node.replace(paren)
            out.append(paren)
        elif node.name == SINGLE_ROW_VALUE and node.meta_get(_ROW_CHECK):  # (_correlated_row_subqueries')
            pair = exp.Coalesce(this=node.expressions[0], expressions=[node.expressions[1]])
            pair.meta[_ROW_CHECK] = True
            node.replace(pair)
            out.append(pair)
    return out


def _close_steps(parens: list[Any], tree: Any) -> None:
    for paren in parens:
        if isinstance(paren, exp.Coalesce):
            continue
        if paren.parent is not None:  # (still in the tree: decorrelation does not copy a select list)
            paren.replace(exp.Anonymous(this=KEEP_STEP, expressions=[paren.this]))
    if any(isinstance(p, exp.Coalesce) for p in parens):  # (each, and any copy decorrelation made of it)
        for pair in list(tree.find_all(exp.Coalesce)):
            if pair.meta_get(_ROW_CHECK):
                pair.meta.pop(_ROW_CHECK)
                pair.replace(exp.Anonymous(this=SINGLE_ROW_VALUE, expressions=[pair.this, *pair.expressions]))


#: ``meta`` key of a ``__single_row_value`` that ``_correlated_row_subqueries`` wrote
_ROW_CHECK = "thresher_row_check"


#: the SQL function a guarded scalar subquery's value goes through (``_guard_scalar_subqueries``)
SINGLE_ROW_VALUE = "__single_row_value"


def _guard_scalar_subqueries(tree: Any) -> None:
    """A scalar subquery must return at most one row; SQL (and DuckDB) raise an error when it
    returns more. Decorrelation would instead cross-join every row (duplicating the outer rows)
    or take the first or largest value: a plausible answer that is wrong. So a scalar subquery
    that is not one row by its shape (an aggregate without GROUP BY, LIMIT 0/1, no FROM) is
    checked where it runs: uncorrelated, it becomes ``SELECT __single_row_value(v, n) FROM
    (SELECT first(x) AS v, count(*) AS n FROM (<subquery>))``, whose function raises when ``n``
    exceeds 1 (a one-row aggregate: the check costs nothing measurable; TPC-DS q6/q54/q58's
    ``SELECT DISTINCT d_month_seq ...`` are such). A correlated one is refused: its check would
    be per outer row, which decorrelation does not keep.
    """
    for sq in list(tree.find_all(exp.Subquery)):
        if not _is_scalar_position(sq) or not isinstance(sq.this, (exp.Select, exp.SetOperation)):
            continue
        inner = sq.this
        names = inner.named_selects
        if len(names) != 1 or _one_row_by_shape(inner):
            continue
        if _correlated(sq):
            raise UnsupportedError(
                f"a correlated scalar subquery that may return more than one row (it has no aggregate "
                f"without GROUP BY and no LIMIT 1) is not supported: {_where(sq)}; aggregate its value "
                f"(e.g. max(...)) or add LIMIT 1")
        rows, agg = _fresh_alias(tree, "_sq_rows"), _fresh_alias(tree, "_sq_one")
        counted = exp.select(
            exp.alias_(exp.First(this=exp.column(names[0], table=rows)), "v"),
            exp.alias_(exp.Count(this=exp.Star()), "n"),
        ).from_(exp.Subquery(this=inner.copy(), alias=exp.TableAlias(this=exp.to_identifier(rows))))
        guarded = exp.select(exp.alias_(exp.Anonymous(
            this=SINGLE_ROW_VALUE, expressions=[exp.column("v", table=agg), exp.column("n", table=agg)]), names[0]),
        ).from_(exp.Subquery(this=counted, alias=exp.TableAlias(this=exp.to_identifier(agg))))
        sq.set("this", guarded)


def _correlated_row_subqueries(tree: Any) -> None:
    """A correlated scalar subquery that selects a row's value (no aggregate), as aggregates that
    decorrelation joins:

    ``(SELECT v FROM ... WHERE ... ORDER BY v [ASC | DESC] [NULLS LAST] LIMIT 1)`` is the least
    (greatest) ``v``, NULL only where every ``v`` is (DuckDB puts NULLs last by default):
    ``(SELECT min(v) ...)``, ``(SELECT max(v) ...)``.

    Without LIMIT, DuckDB raises where the subquery returns more than one row for some outer row;
    so does ``__single_row_value((SELECT min(v) ...), (SELECT count(*) ...))`` (the min of at
    most one row is its value). Refused (by ``_guard_scalar_subqueries``) otherwise: a LIMIT 1
    ordered by another key or NULLS FIRST, OFFSET, DISTINCT, GROUP BY, HAVING, a window."""
    for sq in list(tree.find_all(exp.Subquery)):
        q = sq.this
        if (not _is_scalar_position(sq) or not isinstance(q, exp.Select) or len(q.expressions) != 1
                or not _reads_outside(q) or any(q.args.get(k) for k in (
                    "group", "having", "qualify", "offset", "fetch", "distinct", "windows", "laterals", "with_"))
                or q.expressions[0].find(exp.AggFunc, exp.Window, exp.Query)):
            continue
        value = q.expressions[0].unalias()
        limit, order = q.args.get("limit"), q.args.get("order")
        if limit is not None:
            n = limit.expression if isinstance(limit, exp.Limit) else None
            if not (isinstance(n, exp.Literal) and n.name == "1") or order is None or len(order.expressions) != 1:
                continue
            key = order.expressions[0]
            if key.this != value or key.args.get("nulls_first"):
                continue
            agg: Any = exp.Max if key.args.get("desc") else exp.Min
            new = q.copy()
            new.set("limit", None)
            new.set("order", None)
            new.set("expressions", [exp.alias_(agg(this=value.copy()), "v")])
            sq.set("this", new)
            continue
        if order is not None:
            continue
        least, rows = q.copy(), q.copy()
        least.set("expressions", [exp.alias_(exp.Min(this=value.copy()), "v")])
        rows.set("expressions", [exp.alias_(exp.Count(this=exp.Star()), "n")])
        check = exp.Anonymous(this=SINGLE_ROW_VALUE, expressions=[exp.Subquery(this=least), exp.Subquery(this=rows)])
        check.meta[_ROW_CHECK] = True
        sq.replace(check)


def _is_scalar_position(sq: Any) -> bool:
    """Whether subquery ``sq`` is used as a value (not a FROM/JOIN table, an IN/EXISTS/ANY/ALL
    operand, a set operation's side or a CTE)."""
    parent = sq.parent
    if isinstance(parent, (exp.From, exp.Join, exp.Exists, exp.Any, exp.All, exp.SetOperation, exp.CTE,
                           exp.Lateral, exp.Table)):
        return False
    return not (isinstance(parent, exp.In) and parent.args.get("query") is sq)


def _one_row_by_shape(select: Any) -> bool:
    """At most one row whatever the data: no FROM, LIMIT 0 or 1, or an aggregate without GROUP BY
    (and no window function)."""
    if not isinstance(select, exp.Select):
        return False
    limit = select.args.get("limit")
    if limit is not None:
        n = limit.expression if isinstance(limit, exp.Limit) else None
        if isinstance(n, exp.Literal) and not n.is_string and n.this in ("0", "1"):
            return True
    if select.args.get("from_", select.args.get("from")) is None:
        return True
    if select.args.get("group") is not None or any(p.find(exp.Window) for p in select.expressions):
        return False
    if any(p.find(exp.AggFunc) for p in select.expressions):
        return True
    # (a WHERE only drops rows) reading one source that is one row by shape: a derived table, or
    # a CTE such as TPC-DS q14's ``avg_sales``, read as ``(SELECT average_sales FROM avg_sales)``
    source = select.args["from_" if "from_" in select.args else "from"].this
    if select.args.get("joins") or select.args.get("laterals"):
        return False
    if isinstance(source, exp.Subquery):
        return _one_row_by_shape(source.this)
    if isinstance(source, exp.Table) and not source.args.get("db"):
        cte = _cte_named(select, source.name)
        return cte is not None and _one_row_by_shape(cte.this)
    return False


def _cte_named(node: Any, name: str) -> Any:
    """The CTE ``name`` that ``node`` sees (the nearest enclosing WITH that defines it), or None."""
    up = node
    while up is not None:
        with_ = up.args.get("with_") or up.args.get("with") if isinstance(up, exp.Query) else None
        if with_ is not None:
            for cte in with_.expressions:
                if cte.alias_or_name == name:
                    return cte
        up = up.parent
    return None


def _correlated(sq: Any) -> bool:
    """Whether ``sq`` reads a column of a table it does not define itself (after ``qualify`` every
    column names its table alias, and every table has one)."""
    defined = {a.name for a in sq.find_all(exp.TableAlias)} | {t.name for t in sq.find_all(exp.Table)}
    return any(c.table and c.table not in defined for c in sq.find_all(exp.Column))


def _reads_outside(q: Any) -> bool:
    """Whether query ``q`` reads a column of a table of an enclosing query (by sqlglot's scopes:
    ``_correlated`` takes a name defined anywhere inside, ``u`` in ``(SELECT * FROM u) x WHERE
    x.w = u.w``, for the inner one)."""
    from sqlglot.optimizer.scope import build_scope

    if not isinstance(q, exp.Query):
        return True
    root = build_scope(q)
    if root is None:
        return True
    for scope in root.traverse():
        for col in scope.external_columns:
            up = scope.parent
            while up is not None and col.table not in up.sources:
                up = up.parent
            if up is None:
                return True
    return False


def _fresh_alias(tree: Any, prefix: str) -> str:
    taken = {a.name for a in tree.find_all(exp.TableAlias)}
    i = 0
    while f"{prefix}_{i}" in taken:
        i += 1
    return f"{prefix}_{i}"


def _every_cte_read(tree: Any) -> bool:
    """Whether every CTE of ``tree`` is read, so that ``eliminate_ctes`` (which removes the unread
    ones) would leave the tree as it is: all CTEs sit in the root's WITH (``eliminate_subqueries``
    hoists them there) under distinct names, and each name is read by a table of the main query
    or of a later CTE (an earlier CTE's table of that name is the catalog's table). Any other
    shape answers False (the pass then runs). TPC-DS: the pass removed nothing in any of the 45
    queries it ran on (~0.7 ms each)."""
    with_ = tree.args.get("with_") or tree.args.get("with")
    ctes = list(with_.expressions) if with_ is not None else []
    names = [c.alias_or_name.lower() for c in ctes]
    if not names or len(set(names)) != len(names) or sum(1 for _ in tree.find_all(exp.CTE)) != len(ctes):
        return not names and tree.find(exp.CTE) is None
    order = {name: i for i, name in enumerate(names)}
    unread = set(names)
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if name not in unread or table.args.get("db") is not None:
            continue
        holder: Any = table.parent
        while holder is not None and not (isinstance(holder, exp.CTE) and holder.parent is with_):
            holder = holder.parent
        if holder is None or order[holder.alias_or_name.lower()] > order[name]:
            unread.discard(name)
            if not unread:
                return True
    return False


class _Positions(dict):  # type: ignore[type-arg]
    """A node's ``meta`` holding only scalars sqlglot writes there (token positions, flags).

    sqlglot copies each node's meta dict with ``copy.deepcopy`` when it copies a tree
    (normalize's distribution, decorrelation and our rewrites copy subtrees); that generic deep
    copy was over half of a copy's time. Scalars need no deep copy: this meta copies shallowly.
    """

    __slots__ = ()

    def __deepcopy__(self, memo: Any) -> _Positions:
        return _Positions(self)


#: meta keys sqlglot gives scalar values (positions, quoting and nullability flags)
_SCALAR_META = frozenset({"line", "col", "start", "end", "quoted_column", "quoted_table", "is_table", "nonnull"})


_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _ancestors(node: Any) -> list[Any]:
    """``node`` and the nodes above it, innermost first."""
    out = []
    while node is not None:
        out.append(node)
        node = node.parent
    return out


def _check_using_sides(join: Any, schema: Mapping[str, Any]) -> None:
    """Refuse a USING or NATURAL join whose columns sqlglot's qualify would take from the wrong
    table. DuckDB joins ``FROM a, b JOIN c USING (k)`` as ``a, (b JOIN c USING (k))``: the left
    ``k`` is ``b``'s; qualify writes the first FROM item's that holds ``k`` (``a.k = c.k``: other
    rows). And where two tables before the join hold ``k``, not merged by an earlier USING on it
    (``a CROSS JOIN b JOIN c USING (k)``), DuckDB's ``k`` is ambiguous (an error) where qualify
    takes the first. A table whose columns are not known here (a CTE, a derived table) counts
    as holding every column."""
    select = join.parent
    if not isinstance(select, exp.Select) or join.arg_key != "joins":
        return

    def columns(item: Any) -> set[str] | None:
        alias = item.args.get("alias")
        if alias is not None and alias.columns:  # (x(a, b): its columns are named)
            return {c.name.lower() for c in alias.columns}
        if isinstance(item, exp.Table) and not item.args.get("db"):
            for cte in ctes:  # (a CTE's name hides a table's)
                if cte.alias_or_name.lower() == item.name.lower():
                    return columns(cte)
            cols = schema.get(item.name) or schema.get(item.name.lower())
            return {str(c).lower() for c in cols} if cols is not None else None
        if isinstance(item, (exp.Subquery, exp.CTE)) and isinstance(item.this, exp.Select):
            names = item.this.named_selects
            if len(names) == len(item.this.expressions) and "*" not in names:
                return {n.lower() for n in names}
        return None

    ctes = [c for w in (n.args.get("with_") or n.args.get("with") for n in _ancestors(select)) if w for c in w.expressions]

    from_ = select.args.get("from_") or select.args.get("from")
    joins = select.args.get("joins") or []
    before = [from_.this] if from_ is not None else []
    merged: set[str] = set()  # (columns an earlier USING join merged)
    comma = 0  # (where the FROM item the join belongs to starts in ``before``)
    for j in joins:
        if j is join:
            break
        if not j.args.get("kind") and not j.side and not j.method and j.args.get("on") is None \
                and not j.args.get("using"):
            comma = len(before)
        merged |= {c.name.lower() for c in j.args.get("using") or []}
        if j.method == "NATURAL":  # (its common columns are merged: any of the right table's)
            merged |= columns(j.this) or {"*"}
        if str(j.args.get("kind") or "").upper() not in ("SEMI", "ANTI"):  # (their right columns are not in scope)
            before.append(j.this)
    else:
        return

    right = columns(join.this)
    if join.method == "NATURAL":
        if comma and any(columns(t) is None or right is None or columns(t) & right  # type: ignore[operator]
                         for t in before[:comma]):
            raise UnsupportedError(f"a NATURAL JOIN after a comma in FROM is not supported (DuckDB joins it to "
                                   f"the items after the comma only): write its condition with ON: {_where(join)}")
        return
    for c in join.args.get("using") or []:
        name = c.name.lower()
        holders = [t for t in before if (cols := columns(t)) is None or name in cols]
        if comma and any(t in holders for t in before[:comma]):
            raise UnsupportedError(f"USING ({c.name}) after a comma in FROM, where a table before the comma holds "
                                   f"{c.name!r}, is not supported (DuckDB joins it to the items after the comma "
                                   f"only): write the condition with ON: {_where(join)}")
        known = [t for t in holders if columns(t) is not None]
        if len(known) > 1 and name not in merged and "*" not in merged:
            raise SQLError(f"ambiguous column {c.name!r} in USING: more than one table before the join holds it "
                           f"(as DuckDB): write the condition with ON: {_where(join)}")


def _normalized_names(schema: Mapping[str, Any], dialect: str) -> bool:
    """Whether sqlglot's schema may skip normalizing ``schema``'s names: under DuckDB's rules
    (identifiers case-insensitive, lowercased; qualify lowercases the query's own first) a
    lowercase plain identifier is its own normal form, so the normalized mapping is ``schema``
    itself and every lookup finds what it found. Normalizing parsed each column name as an
    identifier, for every column of every table a query names (TPC-DS: ~7% of th.sql)."""
    return dialect == "duckdb" and all(
        _PLAIN_NAME.fullmatch(table) and columns and _plain_columns(columns) for table, columns in schema.items())


def _plain_columns(columns: Any) -> bool:
    plain = getattr(columns, "plain", None)  # (a table's _SQLColumns knows it)
    return bool(plain) if plain is not None else all(_PLAIN_NAME.fullmatch(c) for c in columns)


class _SQLColumns(dict):  # type: ignore[type-arg]
    """A table's columns as sqlglot's schema names their types, whether every name is a plain
    lowercase identifier (see ``_normalized_names``), and whether a column is a FLOAT or a DOUBLE
    (see ``cast_subquery_keys``)."""

    __slots__ = ("floating", "plain")
    plain: bool
    floating: bool


#: plan -> its _SQLColumns. A plan is immutable, so is the schema it has; keyed by the plan
#: object (weakly: an entry goes with its plan). Building these, and checking every name, for
#: each table a query names took ~1.5-2 ms of a query over five TPC-DS tables.
_SQL_COLUMNS: weakref.WeakKeyDictionary[Any, _SQLColumns] = weakref.WeakKeyDictionary()


def _sql_columns(plan: LogicalPlan) -> _SQLColumns:
    """``plan``'s columns for sqlglot's schema (remembered per plan; sqlglot only reads it)."""
    hit = _SQL_COLUMNS.get(plan)
    if hit is None:
        hit = _SQLColumns((c, sql_type_name(t)) for c, t in plan.schema.items())
        hit.plain = bool(hit) and all(_PLAIN_NAME.fullmatch(c) for c in hit)
        hit.floating = any(t in ("FLOAT", "DOUBLE") for t in hit.values())
        _SQL_COLUMNS[plan] = hit
    return hit


def _tree_kinds(tree: Any) -> tuple[set[type], bool]:
    """The node classes in ``tree``, and whether a query sits in an expression (a subquery in a
    condition or a select list, EXISTS, IN, a lateral or other table function) rather than
    only as a FROM/JOIN item, a CTE or a set operation's branch.

    Some passes can only change a tree that holds some kind of node (none of the passes before
    them adds one), so ``_sqlglot_passes`` skips them: without an OR, ``factor_or_conjuncts``,
    ``hide_local_ors`` and ``normalize`` (an AND-only condition is in CNF already); without a
    COUNT and a query in an expression, ``count_subquery_to_exists``; without a query in an expression,
    ``unnest_subqueries`` (it only rewrites subquery scopes and correlated ones, and a correlated
    derived table fails qualification before), ``hide_local_ors`` (it only prepares correlated
    subqueries for that decorrelation; ``show_hidden_ors`` writes back whatever it hid, so the
    tree would be the same), and ``array_any_to_min_max`` unless an
    ``ARRAY_AGG`` is written; without a CTE (and no query in an expression, which
    decorrelation turns into derived tables), ``eliminate_subqueries`` and ``eliminate_ctes``:
    there is no CTE to remove then, and the derived tables they would turn into CTEs translate
    to the same plans where they are (``Translator.relation``; two derived tables of the same
    text, which ``eliminate_subqueries`` would make one CTE, are two equal plans). TPC-H: ~2 ms
    of ~16 per query; TPC-DS q88, eight derived tables: ~5 ms of the two passes.

    The walk also turns each meta dict of scalars into a ``_Positions`` (run after qualify,
    which builds most column nodes anew)."""
    kinds: set[type] = set()
    nested = not isinstance(tree, exp.Query)
    places = (exp.From, exp.Join, exp.CTE, exp.SetOperation)
    for node in tree.walk():
        kinds.add(type(node))
        # (the same walk makes meta dicts copy shallowly, see _Positions; ``_meta`` is sqlglot's
        # private slot, so a sqlglot without it just copies as it always did)
        meta = getattr(node, "_meta", None)
        if meta is not None and type(meta) is dict and meta.keys() <= _SCALAR_META:
            node._meta = _Positions(meta) if meta else None  # (qualify leaves empty ones on columns)
        if nested or node is tree:
            continue
        if isinstance(node, exp.UDTF):
            nested = True
        elif isinstance(node, (exp.Select, exp.SetOperation)):
            up = node.parent
            while isinstance(up, (exp.Subquery, exp.Paren)):
                up = up.parent
            nested = up is not None and not isinstance(up, places)
    return kinds, nested


@dataclass
class TreeFacts:
    """What the translator asks of the whole (passed) tree, found in one walk.

    ``used``: table alias -> the names of the columns the tree reads through it, the names of
    unqualified columns under ``""`` (they may read any table); None when the tree has a star
    (``SELECT *``, ``t.*``) or a ``USING`` join, which read columns not named. A table is then
    renamed ``alias.<name>`` for those columns only (``Translator.relation``): TPC-DS fact tables
    have 23-34 columns, a query reads a few, and every plan node above the renaming derived and
    carried the others until the optimizer pruned them (the optimized plans are the same).
    ``has_windows``: whether any window function is written (``SQLWindows.extract`` otherwise
    walks each select item for one). ``subquery_selects``: the ids of the SELECTs with a subquery
    in their select list (``_select_subqueries`` walks only their items)."""

    used: dict[str, frozenset[str]] | None
    has_windows: bool
    subquery_selects: frozenset[int]


def tree_facts(tree: Any) -> TreeFacts:
    used: dict[str, set[str]] | None = {}
    windows = False
    selects: set[int] = set()
    for node in tree.find_all(exp.Column, exp.Star, exp.Join, exp.Window, exp.Subquery):
        if isinstance(node, exp.Column):
            if used is not None:
                used.setdefault(node.table.lower(), set()).add(node.name.lower())
        elif isinstance(node, exp.Window):
            windows = True
        elif isinstance(node, exp.Subquery):
            sel = node.find_ancestor(exp.Select)
            if sel is not None:
                child: Any = node
                while child.parent is not sel:
                    child = child.parent
                if child.arg_key == "expressions":
                    selects.add(id(sel))
        elif isinstance(node, exp.Join):
            if node.args.get("using"):
                used = None
        elif not isinstance(node.parent, exp.Count):  # a star that is not count(*)
            used = None
    return TreeFacts(None if used is None else {k: frozenset(v) for k, v in used.items()}, windows,
                     frozenset(selects))


def _case_folded(catalog: Mapping[str, LogicalPlan], named: set[str],
                 output_names: dict[str, str]) -> Mapping[str, LogicalPlan]:
    """``catalog`` with the columns of the tables in ``named`` renamed to lowercase.

    DuckDB matches column names case-insensitively (``SELECT name`` and ``SELECT "NAME"`` both
    read a column ``Name``) and outputs a column reference under the table's own spelling;
    sqlglot's DuckDB dialect folds every identifier to lowercase. So a table with a column that
    is not lowercase is read through a renaming projection, and each folded name is added to
    ``output_names`` (lowercase -> the table's spelling; names the query itself writes win) for
    translate() to put back on the result. Two columns that differ only in case are ambiguous
    to a case-insensitive binder, so they are refused rather than one of them silently read."""
    out = dict(catalog)
    for name in named:
        plan = catalog.get(name)
        if plan is None or all(c == c.lower() for c in plan.schema.names):
            continue
        seen: dict[str, str] = {}
        for c in plan.schema.names:
            other = seen.setdefault(c.lower(), c)
            if other != c:
                raise SQLError(f"table {name!r} has columns {other!r} and {c!r}, which differ only in case: "
                               "SQL names are case-insensitive, so rename one of them (df.rename) to query it")
            if c != c.lower():
                output_names.setdefault(c.lower(), c)
        out[name] = Project(plan, tuple(Column(c).alias(c.lower()) for c in plan.schema.names))
    return out


def _check_positions(node: Any) -> None:
    """ORDER BY / GROUP BY positions start at 1: sqlglot's qualify reads 0 or -1 as Python
    indexes (the last select item), so they are refused before it runs, as DuckDB does."""
    for item in node.expressions:
        e = item.this if isinstance(item, exp.Ordered) else item
        if isinstance(e, exp.Neg) and isinstance(e.this, exp.Literal) and e.this.is_int or (
                isinstance(e, exp.Literal) and e.is_int and int(e.name) <= 0):
            clause = "ORDER BY" if isinstance(node, exp.Order) else "GROUP BY"
            raise SQLError(f"{clause} position {e.sql()} is out of range (positions start at 1): {_where(e)}")


def _expand_all(node: Any, select: Any) -> None:
    """DuckDB's ``GROUP BY ALL``: the positions of the select items without an aggregate (none:
    no grouping)."""
    if isinstance(node, exp.Group) and node.args.get("all"):
        items = select.expressions
        if any(isinstance(i, exp.Star) or (isinstance(i, exp.Column) and isinstance(i.this, exp.Star))
               or i.find(exp.Window, exp.Subquery, exp.Select) is not None for i in items):
            raise UnsupportedError(f"GROUP BY ALL with *, a window function or a subquery in the select list is not "
                                   f"supported; name the grouping columns: {_where(select)}")
        if node.expressions or any(node.args.get(k) for k in ("grouping_sets", "cube", "rollup")):
            raise UnsupportedError(f"GROUP BY ALL beside other grouping is not supported: {_where(node)}")
        keys = [exp.Literal.number(n + 1) for n, i in enumerate(items) if i.find(exp.AggFunc) is None]
        if keys:
            node.set("all", None)
            node.set("expressions", keys)
        else:
            select.set("group", None)


def _order_by_all(order: Any, width: int) -> None:
    """DuckDB's ``ORDER BY ALL [ASC|DESC] [NULLS ...]`` as the positions of every output column,
    left to right, each ordered so."""
    if len(order.expressions) == 1 and isinstance(order.expressions[0], exp.Ordered) \
            and isinstance(order.expressions[0].this, exp.Var) and order.expressions[0].this.name.upper() == "ALL":
        o = order.expressions[0]
        order.set("expressions", [exp.Ordered(this=exp.Literal.number(n + 1), desc=o.args.get("desc"),
                                              nulls_first=o.args.get("nulls_first")) for n in range(width)])


def _expand_set_positions(group: Any, select: Any) -> None:
    """A position inside ROLLUP / CUBE / GROUPING SETS (``ROLLUP (1, 2)``) as the select item it
    names, as DuckDB reads it (sqlglot expands only a plain ``GROUP BY 1``; the position stayed a
    constant and the item was "must appear in GROUP BY")."""
    sets = (exp.Rollup, exp.Cube, exp.GroupingSets)
    for node in list(group.find_all(exp.Literal)):
        up = node.parent
        while isinstance(up, (exp.Tuple, exp.Paren)) and not isinstance(up.parent, exp.Group):
            up = up.parent
        if not isinstance(up, sets) or not node.is_int:
            continue
        n = int(node.name)
        if not 1 <= n <= len(select.expressions):
            raise SQLError(f"GROUP BY position {n} is out of range (the select list has "
                           f"{len(select.expressions)} items): {_where(node)}")
        node.replace(select.expressions[n - 1].unalias().copy())


#: the most iterations a WITH RECURSIVE may run before it is an error
RECURSION_LIMIT = 1000


def translate(sql: str, catalog: Mapping[str, LogicalPlan], dialect: str = "duckdb", tree: Any = None,
              execute: Callable[[LogicalPlan], pa.Table] | None = None) -> LogicalPlan:
    """Parse ``sql`` with sqlglot and translate it to a logical plan over ``catalog``.

    ``tree`` is ``sql`` already parsed by the caller (it is rewritten in place). ``execute`` runs a
    plan to its rows (a WITH RECURSIVE's iterations; without it WITH RECURSIVE is refused)."""
    from sqlglot.errors import OptimizeError, ParseError

    try:
        if tree is None:
            tree = parse_sql(sql, sqlglot_dialect(dialect))
    except ParseError as exc:
        raise SQLError("syntax error: " + re.sub(r"\x1b\[[0-9;]*m", "", str(exc))) from exc
    from thresher.planner.sql.names import name_select_items, unknown_column_message

    if any(True for _ in tree.find_all(exp.Pivot)):
        tree = _unpivots_as_unions(tree, catalog, dialect, execute)
    for node in list(tree.find_all(exp.Not)):
        if isinstance(node.this, exp.In) and isinstance(node.this.this, exp.Tuple) and node.this.args.get("query"):
            _row_not_in_as_not_exists(node)
    if any(True for _ in tree.find_all(exp.Columns)):
        _expand_columns(tree, catalog)
    generated = name_select_items(tree)  # count(*) -> "count_star()", a + 1 -> "(a + 1)": DuckDB's names
    ctes: set[str] = set()
    tables: list[Any] = []  # in find_all's order: the first unknown one is reported
    values: list[Any] = []
    derived: list[Any] = []  # joined derived tables: a correlated one is a LATERAL (DuckDB's)
    for node in tree.find_all(exp.CTE, exp.Table, exp.Order, exp.Group, exp.Window, exp.Values, exp.Between,
                              exp.Join):  # one walk
        if isinstance(node, exp.Table):
            tables.append(node)
        elif isinstance(node, exp.Join):
            if isinstance(node.this, exp.Subquery):
                derived.append(node)
        elif isinstance(node, exp.Between):
            if node.args.get("symmetric"):  # (was read as a plain BETWEEN: BETWEEN SYMMETRIC 5 AND 2 kept no row)
                raise UnsupportedError(f"BETWEEN SYMMETRIC is not supported (DuckDB refuses it too): {_where(node)}; "
                                       "write BETWEEN least(a, b) AND greatest(a, b)")
        elif isinstance(node, exp.Values):
            values.append(node)
        elif isinstance(node, exp.CTE):
            ctes.add(node.alias_or_name.lower())
        elif isinstance(node, exp.Window):
            up = node.parent
            while up is not None and not isinstance(up, (exp.Window, exp.Query)):
                up = up.parent
            if isinstance(up, exp.Window):
                raise SQLError(f"window functions cannot be nested (in another's arguments, PARTITION BY or ORDER "
                               f"BY; DuckDB refuses them too): {_where(node)}; compute the inner one in a subquery")
        elif not isinstance(node.parent, exp.Window):
            if isinstance(node.parent, exp.Select):
                _expand_all(node, node.parent)
            _check_positions(node)
            if isinstance(node, exp.Group) and isinstance(node.parent, exp.Select):
                _expand_set_positions(node, node.parent)
    if values:
        tree = _values_as_selects(tree, values)
    if any(isinstance(n.parent, (exp.From, exp.Join)) for n in tree.find_all(exp.Unnest)):
        _unnests_in_from(tree)
    if derived:
        from thresher.planner.sql.lateral_joins import implicit_laterals

        implicit_laterals(derived)
    for table in tables:
        if table.name and table.name.lower() not in catalog and table.name.lower() not in ctes:
            known = sorted(catalog)
            raise SQLError(f"unknown table {table.name!r} in {_where(table)}; known tables: {known} "
                           "(pass frames as th.sql(query, name=df) or th.register(name, df))")
    # sqlglot only needs the tables the query names (building its schema object over a whole
    # catalog of wide tables costs more than qualifying a small query)
    named = {t.name.lower() for t in tables if t.name}
    catalog = _case_folded(catalog, named, generated)
    schema = {name: _sql_columns(plan) for name, plan in catalog.items() if name in named}
    try:
        tree = _sqlglot_passes(tree, schema, dialect)
    except OptimizeError as exc:
        columns = {name: list(plan.schema.names) for name, plan in catalog.items()}
        raise SQLError(unknown_column_message(str(exc), tree, columns) or str(exc)) from exc
    if isinstance(tree, exp.Describe):
        raise UnsupportedError("DESCRIBE is not supported; use df.schema")
    try:
        plan = Translator(catalog, tree_facts(tree), execute).statement(tree)
        if any(n in generated and generated[n] != n for n in plan.schema.names):
            plan = Project(plan, tuple(Column(n).alias(generated.get(n, n)) for n in plan.schema.names))
        return plan
    except ThresherTypeError as exc:
        raise SQLError(f"type error: {exc}") from exc


def _row_not_in_as_not_exists(node: Any) -> None:
    """``(a, b) NOT IN (SELECT x, y ...)`` as a WHERE conjunct, with SQL's (DuckDB's) NULL
    semantics: a row is kept where every subquery row differs from it for certain in some field,
    ``NOT EXISTS (SELECT 1 FROM (SELECT x, y ...) AS s(c0, c1) WHERE (a = s.c0 OR a IS NULL OR
    s.c0 IS NULL) AND (b = s.c1 OR ...))`` (decorrelated to an anti join). Elsewhere (a value,
    under OR) it stays refused."""
    up = node.parent
    while isinstance(up, (exp.And, exp.Paren)):
        up = up.parent
    if not isinstance(up, exp.Where):
        return
    isin = node.this
    lhs = isin.this.expressions
    alias = f"__nin{id(node) % 100000}"
    cols = [f"c{i}" for i in range(len(lhs))]
    terms = []
    for a, c in zip(lhs, cols):
        ref = exp.column(c, table=alias)
        terms.append(exp.paren(exp.or_(exp.EQ(this=a.copy(), expression=ref.copy()),
                                       exp.Is(this=a.copy(), expression=exp.Null()),
                                       exp.Is(this=ref.copy(), expression=exp.Null()))))
    sub = isin.args["query"]
    inner = sub.this if isinstance(sub, exp.Subquery) else sub
    source = exp.Subquery(this=inner.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias),
                                                                  columns=[exp.to_identifier(c) for c in cols]))
    exists = exp.Exists(this=exp.select(exp.Literal.number(1)).from_(source).where(exp.and_(*terms)))
    node.replace(exp.Not(this=exists))


def _source_columns(source: Any, catalog: Mapping[str, LogicalPlan], dialect: str, node: Any) -> list[str]:
    """The column names of a PIVOT / UNPIVOT's source: a table of the catalog, or a derived table
    ``(SELECT ...)`` over the catalog's tables (translated alone for its names)."""
    if isinstance(source, exp.Table) and not source.args.get("db") and source.name.lower() in catalog:
        return list(catalog[source.name.lower()].schema.names)
    inner = source.this if isinstance(source, exp.Subquery) else source
    if isinstance(inner, exp.Query):
        try:
            return [n.split(".", 1)[-1] for n in translate(inner.sql(dialect="duckdb"), catalog, dialect).schema.names]
        except ThresherError:
            pass
    raise UnsupportedError(f"PIVOT / UNPIVOT is supported over a table of the catalog or a (SELECT ...) over them "
                           f"(not a CTE): {_where(node)}")


def _pivot_values(values_node: Any, key: Any, source: Any, dialect: str, catalog: Mapping[str, LogicalPlan],
                  execute: Callable[[LogicalPlan], pa.Table] | None, node: Any) -> list[tuple[Any, str]]:
    """A PIVOT column's values and their names: those listed in IN (...) (``'x' AS ex`` names one
    ex), else the column's distinct non-NULL values in order (read by running a query while planning)."""
    if values_node is not None:
        out: list[tuple[Any, str]] = []
        for v in values_node:
            named = v.args.get("alias") if isinstance(v, exp.PivotAlias) else None
            lit_node = v.this if isinstance(v, exp.PivotAlias) else v
            neg = isinstance(lit_node, exp.Neg)
            lit_node = lit_node.this if neg else lit_node
            if not isinstance(lit_node, exp.Literal) or (neg and lit_node.is_string):
                raise UnsupportedError(f"PIVOT ... IN needs constants: {_where(v)}")
            value = lit_node.name if lit_node.is_string else int(lit_node.name) * (-1 if neg else 1) \
                if lit_node.is_int else None
            if value is None:
                raise UnsupportedError(f"PIVOT ... IN of integers or strings only: {_where(v)}")
            out.append((value, named.name if named is not None else str(value)))
        return out
    if execute is None:
        raise UnsupportedError(f"PIVOT without IN (...) is supported through th.sql only: {_where(node)}")
    src = source.sql(dialect="duckdb") if isinstance(source, exp.Subquery) else f'"{source.name}"'
    q = f'SELECT DISTINCT "{key.name}" AS v FROM {src} AS __pivot_source WHERE "{key.name}" IS NOT NULL ORDER BY 1'
    values = execute(translate(q, catalog, dialect))["v"].to_pylist()
    if not all(isinstance(v, str) or (type(v) is int) for v in values):
        raise UnsupportedError(f"PIVOT over a column of other values than integers and strings is not supported: "
                               f"{_where(node)}")
    return [(v, str(v)) for v in values]


def _pivot_select(node: Any, source: Any, keys: list[tuple[Any, Any]], aggs: list[Any], group: Any,
                  catalog: Mapping[str, LogicalPlan], dialect: str,
                  execute: Callable[[LogicalPlan], pa.Table] | None) -> Any:
    """``SELECT g, agg(x) FILTER (WHERE k1 = v1 AND k2 = w1) AS "v1_w1", ... FROM source GROUP BY g``:
    a column per combination of the ON / FOR columns' values (each column's values in turn, the
    last varying fastest, names joined by _), per aggregate (named ``<value>_<alias>`` where there
    are several or it has an alias); the groups those of GROUP BY, else every source column not in
    ON / FOR or an aggregate (DuckDB's PIVOT and standard PIVOT (... FOR ... IN ...))."""
    import itertools

    for key, _ in keys:
        if not isinstance(key, exp.Column) or key.table:
            raise UnsupportedError(f"PIVOT ... ON / FOR needs a plain column: {_where(node)}")
    named_aggs = []
    for agg in aggs:
        alias = agg.alias if isinstance(agg, exp.Alias) else None
        if alias is None and len(aggs) > 1:
            raise UnsupportedError(f"PIVOT of several aggregates needs an alias (AS) for each: {_where(node)}")
        named_aggs.append((agg.this if isinstance(agg, exp.Alias) else agg, alias))
    columns = _source_columns(source, catalog, dialect, node)
    lowered = {c.lower(): c for c in columns}
    for key, _ in keys:
        if key.name.lower() not in lowered:
            raise SQLError(f"PIVOT: unknown column {key.name!r} in {_where(node)}")
    per_key = [_pivot_values(values, key, source, dialect, catalog, execute, node) for key, values in keys]
    if group is not None:
        groups = [g.copy() for g in group.expressions]
    else:
        used = {c.name.lower() for a, _ in named_aggs for c in a.find_all(exp.Column)} | \
            {key.name.lower() for key, _ in keys}
        groups = [exp.column(n, quoted=True) for n in columns if n.lower() not in used]
    items = [*groups]
    for combo in itertools.product(*per_key):
        cond = exp.and_(*(exp.EQ(this=key.copy(), expression=exp.Literal.string(v) if isinstance(v, str)
                                 else exp.Literal.number(v)) for (key, _), (v, _) in zip(keys, combo)))
        base = "_".join(n for _, n in combo)
        for agg, alias in named_aggs:
            name = base if alias is None else f"{base}_{alias}"
            items.append(exp.alias_(exp.Filter(this=agg.copy(), expression=exp.Where(this=cond.copy())), name,
                                    quoted=True))
    src = source.copy()
    if isinstance(src, exp.Table):
        src.set("pivots", None)
        src.set("alias", None)
    else:
        src.set("pivots", None)
    select = exp.select(*items).from_(src)
    if groups:
        select = select.group_by(*[g.copy() for g in groups])
    return select


def _pivot_as_aggregate(node: Any, catalog: Mapping[str, LogicalPlan], dialect: str,
                        execute: Callable[[LogicalPlan], pa.Table] | None) -> Any:
    """DuckDB's ``PIVOT t ON k1 [IN (v1, v2)], k2 ... USING agg(x) [AS a], ... [GROUP BY g]`` over a
    table of the catalog or a (SELECT ...): ``_pivot_select``."""
    using = node.args.get("using") or []
    if not using or node.args.get("into") is not None:
        raise UnsupportedError(f"PIVOT is supported as PIVOT <table> ON <columns> [IN (values)] USING <aggregates> "
                               f"[GROUP BY ...]: {_where(node)}")
    keys = [(k.this, k.expressions) if isinstance(k, exp.In) else (k, None) for k in node.expressions]
    return _pivot_select(node, node.this, keys, list(using), node.args.get("group"), catalog, dialect, execute)


def _standard_pivot(node: Any, catalog: Mapping[str, LogicalPlan], dialect: str,
                    execute: Callable[[LogicalPlan], pa.Table] | None) -> None:
    """The standard ``FROM source PIVOT (agg(x) [AS a], ... FOR k IN (v1 [AS n1], ...)) [AS p]``, in
    place: the source as a derived table of ``_pivot_select``'s aggregate (named p, else as the source)."""
    source = node.parent
    fields = node.args.get("fields") or []
    if not isinstance(source, (exp.Table, exp.Subquery)) or len(fields) != 1 or not isinstance(fields[0], exp.In) \
            or node.args.get("group") is not None or len(source.args.get("pivots") or []) != 1:
        raise UnsupportedError(f"the standard PIVOT (...) is supported as PIVOT (<aggregates> FOR <column> IN "
                               f"(<values>)) on a table or (SELECT ...): {_where(node)}")
    select = _pivot_select(node, source, [(fields[0].this, fields[0].expressions)], list(node.expressions), None,
                           catalog, dialect, execute)
    alias = node.args.get("alias")
    name = alias.name if alias is not None and alias.name else source.alias_or_name
    source.replace(exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(name))))


def _unpivots_as_unions(tree: Any, catalog: Mapping[str, LogicalPlan], dialect: str = "duckdb",
                        execute: Callable[[LogicalPlan], pa.Table] | None = None) -> Any:
    """DuckDB's ``UNPIVOT t ON a, b [INTO NAME k VALUE v]`` and the standard ``FROM t UNPIVOT (v
    FOR k IN (a, b))``, over a table of the catalog, as a UNION ALL with a branch per column:
    ``SELECT <the other columns>, 'a' AS k, a AS v FROM t WHERE a IS NOT NULL`` (DuckDB's UNPIVOT
    drops NULL values; its default names are ``name`` and ``value``). DuckDB's PIVOT statement:
    ``_pivot_as_aggregate``."""
    for node in list(tree.find_all(exp.Pivot)):
        if not node.args.get("unpivot"):
            if node.this is None:
                _standard_pivot(node, catalog, dialect, execute)
                continue
            select = _pivot_as_aggregate(node, catalog, dialect, execute)
            if node is tree:
                tree = select
            else:
                node.replace(select)
            continue
        source = node.this if node.this is not None else node.parent
        standard = node.this is None
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        if node.find(exp.Columns) or (isinstance(source, exp.Table) and source.name.lower() in ctes):
            raise UnsupportedError(f"UNPIVOT is supported over a table of the catalog or a (SELECT ...), ON its "
                                   f"plain columns: {_where(node)}")
        columns = _source_columns(source, catalog, dialect, node)
        if standard:
            fields = node.args.get("fields") or []
            if len(fields) != 1 or len(node.expressions) != 1 or not isinstance(fields[0], exp.In):
                raise UnsupportedError(f"UNPIVOT (... FOR ... IN (...)) of one FOR is supported: {_where(node)}")
            name = fields[0].this.name
            out = node.expressions[0]
            values = [i.name for i in out.expressions] if isinstance(out, exp.Tuple) else [out.name]
            on = list(fields[0].expressions)
        else:
            into = node.args.get("into")
            name = into.this.name if into is not None else "name"
            values = [v.name for v in into.expressions] if into is not None else ["value"]
            on = list(node.expressions)
        groups: list[tuple[str, list[Any]]] = []  # (the name column's value, the columns unpivoted)
        for item in on:
            label = None
            if isinstance(item, (exp.Alias, exp.PivotAlias)):
                label, item = item.args["alias"].name, item.this
            cols = list(item.expressions) if isinstance(item, exp.Tuple) else [item]
            if not cols or not all(isinstance(c, exp.Column) and not c.table for c in cols):
                raise UnsupportedError(f"UNPIVOT ... ON needs plain column names: {_where(node)}")
            if len(cols) != len(values):
                raise SQLError(f"UNPIVOT: {len(cols)} columns in {item.sql(dialect='duckdb')} for {len(values)} "
                               f"value columns in {_where(node)}")
            groups.append((label if label is not None else "_".join(c.name for c in cols), cols))
        if not groups:
            raise UnsupportedError(f"UNPIVOT ... ON needs plain column names: {_where(node)}")
        lowered = {c.lower(): c for c in columns}
        picked: list[list[str]] = []
        for _, cols in groups:
            for c in cols:
                if c.name.lower() not in lowered:
                    raise SQLError(f"UNPIVOT: unknown column {c.name!r} in {_where(node)}")
            picked.append([lowered[c.name.lower()] for c in cols])
        taken = {c for cols in picked for c in cols}
        others = [c for c in columns if c not in taken]

        def source_copy(source: Any = source) -> Any:
            if isinstance(source, exp.Table):
                return exp.Table(this=exp.to_identifier(source.name))
            sub = source.copy()
            sub.set("pivots", None)
            sub.set("alias", exp.TableAlias(this=exp.to_identifier("__unpivot_source")))
            return sub

        # (DuckDB's UNPIVOT drops a row whose values are NULL: any of them, of several value columns)
        branches = [
            exp.select(*(exp.column(c, quoted=True) for c in others),
                       exp.alias_(exp.Literal.string(label), name, quoted=True),
                       *(exp.alias_(exp.column(c, quoted=True), v, quoted=True) for c, v in zip(cols, values)))
            .from_(source_copy())
            .where(exp.and_(*(exp.Not(this=exp.Is(this=exp.column(c, quoted=True), expression=exp.Null()))
                              for c in cols)))
            for (label, _), cols in zip(groups, picked)]
        union: Any = branches[0]
        for b in branches[1:]:
            union = exp.union(union, b, distinct=False)
        if standard:
            alias = node.args.get("alias")
            named = alias.name if alias is not None and alias.name else source.alias_or_name or "unpivot"
            source.set("pivots", None)
            source.replace(exp.Subquery(this=union, alias=exp.TableAlias(this=exp.to_identifier(named))))
        elif node is tree:
            tree = union
        else:
            node.replace(union)
    return tree


def _expand_columns(tree: Any, catalog: Mapping[str, LogicalPlan]) -> None:
    """DuckDB's star expression ``COLUMNS('regex')`` / ``COLUMNS(*)`` in a select item: the item
    once per column of the FROM whose name the regex finds (a search, case-sensitive), in the FROM's
    order, each named as the column (or the item's alias). Answered over tables of the catalog
    (joined with ON or commas); elsewhere (a CTE or derived table, USING, a lambda, outside the
    select list) it is refused by name and position."""
    import re as regex

    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for node in list(tree.find_all(exp.Columns)):
        select = node.parent
        while select is not None and not isinstance(select, exp.Select):
            select = select.parent
        item = node
        while item.parent is not select:
            item = item.parent
        if select is None or item not in select.expressions:
            raise UnsupportedError(f"COLUMNS(...) outside the select list is not supported: {_where(node)}")
    for select in list(tree.find_all(exp.Select)):
        if not any(isinstance(i, exp.Columns) or i.find(exp.Columns) for i in select.expressions):
            continue
        frm = select.args.get("from_") or select.args.get("from")
        sources = ([frm.this, *(frm.expressions or [])] if frm is not None else []) + \
            [j.this for j in select.args.get("joins") or []]
        if any(j.args.get("using") or j.method for j in select.args.get("joins") or []):
            raise UnsupportedError(f"COLUMNS(...) over a join with USING or NATURAL is not supported: {_where(select)}")
        columns: list[tuple[str, str]] = []  # (table alias, column)
        for src in sources:
            if not isinstance(src, exp.Table) or src.name.lower() in ctes or src.name.lower() not in catalog:
                raise UnsupportedError(f"COLUMNS(...) is supported over the catalog's tables only (not a CTE, a "
                                       f"derived table or a table function): {_where(src)}")
            alias = src.args.get("alias")
            if isinstance(alias, exp.TableAlias) and alias.columns:
                raise UnsupportedError(f"COLUMNS(...) over a table alias with a column list is not supported: "
                                       f"{_where(src)}")
            columns += [(src.alias_or_name, n) for n in catalog[src.name.lower()].schema.names]
        items: list[Any] = []
        for item in select.expressions:
            found = list(item.find_all(exp.Columns))
            if not found:
                items.append(item)
                continue
            patterns: list[Any] = []
            for c in found:
                arg = c.this
                if isinstance(arg, exp.Star):
                    patterns.append(None)
                elif isinstance(arg, exp.Literal) and arg.is_string:
                    try:
                        patterns.append(regex.compile(arg.name))
                    except regex.error as exc:
                        raise SQLError(f"COLUMNS: invalid regular expression {arg.name!r} ({exc}): {_where(c)}") \
                            from None
                else:
                    raise UnsupportedError(f"COLUMNS(...) of other than a regular expression literal or * (a lambda, "
                                           f"a list) is not supported: {_where(c)}")
            matched = [(t, n) for t, n in columns
                       if all(p is None or p.search(n) for p in patterns)]
            if not matched:
                raise SQLError(f"COLUMNS: no column matches in {_where(item)}")
            if len({str(p) for p in patterns}) > 1:
                raise UnsupportedError(f"two different COLUMNS(...) in one select item are not supported: "
                                       f"{_where(item)}")
            for t, n in matched:
                copy = item.copy()
                for c in list(copy.find_all(exp.Columns)):
                    ref = exp.column(n, table=t, quoted=True)
                    if c is copy:
                        copy = ref
                    else:
                        c.replace(ref)
                name = item.alias if isinstance(item, exp.Alias) else n
                inner = copy.this if isinstance(copy, exp.Alias) else copy
                items.append(exp.alias_(inner, name, quoted=True))
        select.set("expressions", items)


def _unnests_in_from(tree: Any) -> None:
    """``FROM unnest([1, 2]) AS u(x)`` (of constants) as ``FROM (SELECT unnest([1, 2]) AS x) AS u``;
    a lateral ``unnest(t.l)`` keeps its place (``Translator._lateral_unnests``). Either is named as
    DuckDB names it: ``AS u(x)``: u.x; ``AS u``: u.u; no alias: unnest.unnest."""
    for node in list(tree.find_all(exp.Unnest)):
        if not isinstance(node.parent, (exp.From, exp.Join)):
            continue
        if len(node.expressions) != 1 or node.args.get("explode_array"):
            raise UnsupportedError(f"unnest of more than one list in FROM is not supported: {_where(node)}")
        alias = node.args.get("alias")
        name = alias.name if alias is not None and alias.name else "unnest"
        columns = list(alias.columns) if alias is not None else []
        if len(columns) > 1:
            raise UnsupportedError(f"unnest(...) AS {name}(...) names one column: {_where(node)}")
        column = columns[0].name if columns else name
        # WITH ORDINALITY: a BIGINT column of the element's position, 1 first (AS u(v, i): i, else
        # DuckDB's "ordinality"), unnested beside the element
        offset = node.args.get("offset")
        ordinal = None if not offset else offset.name if isinstance(offset, exp.Identifier) else "ordinality"
        names = [column] if ordinal is None else [column, ordinal]
        if node.find(exp.Column) is None and isinstance(node.parent, exp.From):
            items = [exp.alias_(exp.Explode(this=node.expressions[0].copy()), column, quoted=False)]
            if ordinal is not None:
                ordinals = exp.Anonymous(this="__sql_list_ordinals", expressions=[node.expressions[0].copy()])
                items.append(exp.alias_(exp.Explode(this=ordinals), ordinal, quoted=False))
            select = exp.select(*items)
            node.replace(exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(name))))
        else:
            node.set("offset", None)
            node.set("alias", exp.TableAlias(this=exp.to_identifier(name), columns=[exp.to_identifier(n) for n in names]))


def _values_as_selects(tree: Any, values: list[Any]) -> Any:
    """``VALUES (1, 'a'), (2, 'b')`` (a statement, or a FROM item ``(VALUES ...) AS v(x, y)``) as
    ``SELECT 1 AS x, 'a' AS y UNION ALL SELECT 2, 'b'``: each column the type of all its rows, as
    DuckDB types it; unnamed columns are DuckDB's ``col0``, ``col1``, ..."""
    for node in values:
        rows = [r.expressions if isinstance(r, exp.Tuple) else [r] for r in node.expressions]
        alias = node.args.get("alias")
        width = len(rows[0]) if rows else 0
        if not rows or any(len(r) != width for r in rows):
            raise SQLError(f"VALUES rows must all have the same number of values: {_where(node)}")
        names = [c.name for c in alias.columns] if alias is not None and alias.columns else []
        if names and len(names) != width:
            raise SQLError(f"VALUES has {width} columns but its alias names {len(names)}: {_where(node)}")
        names = names or [f"col{i}" for i in range(width)]
        query: Any = None
        for r in rows:
            one = exp.select(*(exp.alias_(v.copy(), n) for v, n in zip(r, names)))
            query = one if query is None else exp.union(query, one, distinct=False)
        if node is tree:
            return query
        table = alias.this.copy() if alias is not None and alias.this else exp.to_identifier("valueslist")
        node.replace(exp.Subquery(this=query, alias=exp.TableAlias(this=table)))
    return tree


#: comparisons that are NULL where an argument is NULL (a WHERE keeps no such row)
_NULL_REJECTING = frozenset({"eq", "neq", "lt", "le", "gt", "ge"})


def _rejects_nulls(terms: list[Expr], names: set[str]) -> bool:
    """Does some WHERE conjunct in ``terms`` drop every row where a column in ``names`` is NULL (a
    comparison with such a column as an argument)? (``col IS NOT NULL`` is left to the optimizer:
    over a decorrelated EXISTS it makes the join a semi join, semi_join_from_exists)"""
    for t in terms:
        if isinstance(t, Call) and t.name in _NULL_REJECTING:
            for a in t.args:
                c = strip_alias(a)
                if isinstance(c, Column) and c.name in names:
                    return True
    return False


__all__ = ["SQLError", "Translator", "translate", "sql_type_name"]


def _row_count(node: Any, clause: str) -> int:
    """The number of rows of a LIMIT, OFFSET or FETCH FIRST clause: a literal integer. PERCENT and
    WITH TIES are refused (both were read as a plain count: LIMIT 50 PERCENT kept every row; FETCH
    crashed), as is any other expression."""
    options = node.args.get("limit_options")
    clause = "FETCH FIRST" if isinstance(node, exp.Fetch) else clause
    if options is not None and options.args.get("percent"):
        raise UnsupportedError(f"{clause} ... PERCENT is not supported: {_where(node)}")
    if options is not None and options.args.get("with_ties"):
        raise UnsupportedError(f"{clause} ... WITH TIES is not supported: {_where(node)}; rank() over the ORDER BY "
                               "keys filtered to <= n keeps the ties")
    n = node.args.get("count") if isinstance(node, exp.Fetch) else node.expression
    if isinstance(n, exp.Neg) and isinstance(n.this, exp.Literal):
        raise SQLError(f"{clause} must not be negative: {_where(node)}")
    if not (isinstance(n, exp.Literal) and n.name.isdigit()):  # (DuckDB reads LIMIT '2' as 2 too)
        raise UnsupportedError(f"{clause} takes an integer constant here: {_where(node)}")
    return int(n.name)


def _is_float(x: Expr, schema: Schema | None) -> bool:
    """Is ``x`` of type REAL or DOUBLE over ``schema``? (False where that is unknown)"""
    if schema is None:
        return False
    try:
        return x.resolve(schema).dtype.is_float()
    except ThresherError:
        return False


def _is_float32(x: Expr, schema: Schema | None) -> bool:
    """Is ``x`` of type REAL (float32) over ``schema``? (False where that is unknown)"""
    if schema is None:
        return False
    try:
        return x.resolve(schema).dtype.arrow == pa.float32()
    except ThresherError:
        return False
