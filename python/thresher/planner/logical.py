"""Logical plan nodes: immutable, typed, valid by construction.

Each node derives its schema once, when it is made (``__post_init__``, or the ``__init__`` of the
nodes the API builds most), and rejects ill-typed input there (a non-boolean filter, an
aggregation outside ``agg``, a join on incompatible keys), so a type error surfaces when the user
adds the operation, not in the middle of a run.

Nodes compare by value (``key()``), which is what the optimizer's fixpoint loop relies on.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Self

from thresher._lazy import lazy_module
from thresher.datatypes import DataType, Field, Schema, supertype
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import (
    Alias,
    Column,
    Expr,
    _columns,
    _same_fields,
    has_aggregate,
    memo,
)
from thresher.expressions.udf_protocol import GeneratorUDFProtocol
from thresher.expressions.window import WindowFrame, contains_window, is_scalar_result
from thresher.io.predicate import Predicate
from thresher.io.sink import Sink
from thresher.io.source import Source


def _key(v: Any) -> Any:
    if isinstance(v, Expr):
        return v.key()
    if isinstance(v, LogicalPlan):
        return v.key()
    if isinstance(v, (tuple, list)):
        return tuple(_key(x) for x in v)
    if isinstance(v, Schema):
        return ("schema", tuple((f.name, str(f.dtype)) for f in v.fields))
    if isinstance(v, dict):
        return tuple(sorted((k, _key(x)) for k, x in v.items()))
    try:
        hash(v)
    except TypeError:
        return ("id", id(v))
    return v


def _same(a: Any, b: Any) -> bool:
    """``_key(a) == _key(b)``, recursing into plans (see ``LogicalPlan.__eq__``)."""
    if a is b:
        return True
    if isinstance(a, LogicalPlan) and isinstance(b, LogicalPlan):
        return a == b
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(_key(a) == _key(b))


#: (imported on first use, not with the plan nodes: ``import thresher`` loads no operator; a
#: function-level import in Project's schema cost more than the rest of a small projection's checks)
_evaluate = lazy_module("thresher.operators.evaluate")

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


#: id(source) -> (a weak reference to it, its Schema): the optimizer rebuilds scans many times
#: per query and converting a wide Arrow schema each time dominated planning
_SOURCE_SCHEMAS: dict[int, tuple[weakref.ref[Source], Schema]] = {}


def source_schema(source: Source) -> Schema:
    """``Schema.from_arrow(source.arrow_schema())``, computed once per source object."""
    hit = _SOURCE_SCHEMAS.get(id(source))
    if hit is not None and hit[0]() is source:
        return hit[1]
    schema = Schema.from_arrow(source.arrow_schema())
    key = id(source)
    try:
        # the callback runs while the source is freed, before its id can be reused
        ref = weakref.ref(source, lambda _r, k=key: _SOURCE_SCHEMAS.pop(k, None))  # type: ignore[misc]
    except TypeError:  # not weakly referenceable: no caching
        return schema
    _SOURCE_SCHEMAS[key] = (ref, schema)
    return schema


@dataclass(frozen=True, eq=False)
class LogicalPlan:
    """Base class of plan nodes."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_schema", self._derive_schema())

    if TYPE_CHECKING:
        @property
        def schema(self) -> Schema: ...
    else:
        #: the node's output schema (derived once, at construction); read through a C getter, not
        #: a Python method: the planner reads it hundreds of times per query
        schema = property(operator.attrgetter("_schema"))

    def _derive_schema(self) -> Schema:
        raise NotImplementedError

    def children(self) -> tuple[LogicalPlan, ...]:
        return ()

    def with_children(self, children: Sequence[LogicalPlan]) -> LogicalPlan:
        return self

    def _with_inputs(self, children: Sequence[LogicalPlan], **changes: Any) -> LogicalPlan:
        """``dataclasses.replace(self, **changes)``, where ``changes`` put ``children`` in place of
        this node's children. A node's schema (and each of its type checks) is a function of its
        own fields and its children's schemas only, so when every new child has the schema of
        the child it replaces (a filter pushed into a scan, a join order changed below) the copy
        keeps this node's schema instead of deriving it again: the optimizer rebuilds every
        ancestor of a rewritten node, and re-resolving their expressions dominated planning."""
        old = self.children()
        if len(old) != len(children):
            return replace(self, **changes)
        for a, b in zip(old, children):
            if a is not b:
                sa, sb = a._schema, b._schema  # type: ignore[attr-defined]
                if sa is not sb and sa != sb:
                    return replace(self, **changes)
        cls = type(self)
        new = object.__new__(cls)
        setattr_ = object.__setattr__
        for name in _field_names(cls):
            setattr_(new, name, changes[name] if name in changes else getattr(self, name))
        setattr_(new, "_schema", self._schema)  # type: ignore[attr-defined]
        return new

    @classmethod
    def of_checked_fields(cls, schema: Schema, **values: Any) -> Self:
        """A node of ``values`` (every field) whose schema is known: a rule narrowing a node that
        type-checked (fewer output expressions, inputs that keep the same fields for the columns
        the remaining ones read) takes its schema from the node's own instead of deriving it
        again (the checks would pass the same way). ``validate_plan`` (the optimizer's
        ``validate``) rebuilds it with the checks."""
        new = object.__new__(cls)
        for name in _field_names(cls):
            object.__setattr__(new, name, values[name])
        object.__setattr__(new, "_schema", schema)
        return new

    def key(self) -> tuple[Any, ...]:
        k = getattr(self, "_key_cache", None)
        if k is None:
            k = (type(self).__name__,) + tuple(_key(getattr(self, n)) for n in _field_names(type(self)))
            object.__setattr__(self, "_key_cache", k)
        return k

    def __eq__(self, other: object) -> bool:
        """``self.key() == other.key()``, compared field by field: a subplan both sides share
        (the same object) is equal without building its key, so comparing a rewritten plan with
        the one before walks only the path to what changed."""
        if self is other:
            return True
        if not isinstance(other, LogicalPlan):
            return False
        if type(self) is not type(other):
            # a key starts with its node's class name: nodes of two kinds never compare equal
            # (a rule's output is mostly another kind of node than its input: a filter pushed
            # below a projection is a projection; building both trees' keys to say so cost more
            # than the rewrite)
            return type(self).__name__ == type(other).__name__ and self.key() == other.key()
        ka, kb = self.__dict__.get("_key_cache"), other.__dict__.get("_key_cache")
        if ka is not None and kb is not None:
            return bool(ka == kb)
        return all(_same(getattr(self, n), getattr(other, n)) for n in _field_names(type(self)))

    def __hash__(self) -> int:
        return hash(self.key())

    def describe(self) -> str:
        """One line for explain()."""
        return type(self).__name__

    def walk(self) -> list[LogicalPlan]:
        out: list[LogicalPlan] = [self]
        for c in self.children():
            out.extend(c.walk())
        return out

    def pretty(self, indent: int = 0) -> str:
        lines = ["  " * indent + self.describe()]
        for c in self.children():
            lines.append(c.pretty(indent + 1))
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class Unary(LogicalPlan):
    input: LogicalPlan

    def children(self) -> tuple[LogicalPlan, ...]:
        return (self.input,)

    def with_children(self, children: Sequence[LogicalPlan]) -> LogicalPlan:
        return self._with_inputs(children, input=children[0])


def _exprs(es: Sequence[Expr]) -> str:
    return ", ".join(repr(e) for e in es)


@dataclass(frozen=True, eq=False)
class ScanSource(LogicalPlan):
    """Read from an io ``Source`` with pushed-down columns, predicate and limit."""

    source: Source
    columns: tuple[str, ...] | None = None
    predicate: Predicate | None = None
    limit: int | None = None

    def _derive_schema(self) -> Schema:
        full = source_schema(self.source)
        return full if self.columns is None else full.select(self.columns)

    def full_schema(self) -> Schema:
        return source_schema(self.source)

    def describe(self) -> str:
        parts = [f"Scan {self.source.name}"]
        if self.columns is not None:
            parts.append(f"columns=[{', '.join(self.columns)}]")
        if self.predicate is not None:
            parts.append(f"predicate=[{self.predicate}]")
        if self.limit is not None:
            parts.append(f"limit={self.limit}")
        return " ".join(parts)


@dataclass(frozen=True, eq=False)
class Project(Unary):
    """Compute ``exprs`` (one output column each)."""

    exprs: tuple[Expr, ...] = ()

    # (the nodes the API builds most write their fields into the instance dict themselves: the
    # __init__ a frozen dataclass generates sets each one through object.__setattr__)
    def __init__(self, input: LogicalPlan, exprs: tuple[Expr, ...] = ()) -> None:
        d = self.__dict__
        d["input"] = input
        d["exprs"] = exprs
        d["_schema"] = self._derive_schema()

    def _derive_schema(self) -> Schema:
        out: list[Field] = []
        schema = self.input.schema
        for e in self.exprs:
            # a column passed through or renamed (most of what SQL's projections hold): no
            # aggregate, window or fallible call in it, its type is the input column's
            if isinstance(e, Column):
                out.append(schema.field(e.name))
                continue
            if isinstance(e, Alias) and isinstance(e.child, Column):
                f = schema.field(e.child.name)
                out.append(Field(e.name, f.dtype, f.nullable))
                continue
            if has_aggregate(e):
                raise ThresherTypeError(f"aggregation {e!r} outside of group_by().agg() / agg()")
            if contains_window(e):
                raise ThresherTypeError(f"{e!r} depends on other rows: it needs a Window node (select/with_columns "
                                        "place it there)")
            f = e.resolve(self.input.schema)
            name = e.output_name()
            out.append(f if f.name == name else Field(name, f.dtype, f.nullable))  # (a Field is immutable)
            if _evaluate.wants_error_column(e):
                out.append(Field(_evaluate.error_column_name(e.output_name()), DataType.string()))
        return Schema(out)

    def describe(self) -> str:
        return f"Project [{_exprs(self.exprs)}]"


@dataclass(frozen=True, eq=False)
class Filter(Unary):
    predicate: Expr = field(default=None)  # type: ignore[assignment]

    def __init__(self, input: LogicalPlan, predicate: Expr = None) -> None:  # type: ignore[assignment]
        d = self.__dict__
        d["input"] = input
        d["predicate"] = predicate
        d["_schema"] = self._derive_schema()

    def _derive_schema(self) -> Schema:
        f = self.predicate.resolve(self.input.schema)
        if has_aggregate(self.predicate):
            raise ThresherTypeError(f"filter predicate {self.predicate!r} contains an aggregation")
        if not (f.dtype.is_bool() or f.dtype.is_null()):
            raise ThresherTypeError(f"filter predicate {self.predicate!r} has type {f.dtype}, expected bool")
        return self.input.schema

    @classmethod
    def of_checked_terms(cls, input: LogicalPlan, predicate: Expr) -> Filter:
        """A filter of terms that type-checked (as bool terms of a filter) over columns of the
        types ``input`` gives them: a rule moving a filter's terms below a projection (by
        substitution), to one side of a join, below a sort or group-by on the columns they
        read. Its schema is its input's and the checks are not run again (pushing a filter
        down a level at a time re-checked every term at each level). ``validate_plan`` (the
        optimizer's ``validate``) rebuilds it with the checks."""
        new = object.__new__(cls)
        object.__setattr__(new, "input", input)
        object.__setattr__(new, "predicate", predicate)
        object.__setattr__(new, "_schema", input.schema)
        return new

    def with_children(self, children: Sequence[LogicalPlan]) -> LogicalPlan:
        """Over a new input whose fields for the columns the predicate reads are the old
        input's (projection pushdown narrowing the scan below, a join order changed below), the
        checks pass the same way and the schema is the input's: not derived again."""
        if len(children) == 1:
            new_in, old_in = children[0], self.input
            sa, sb = old_in._schema, new_in._schema  # type: ignore[attr-defined]
            if sa is not sb and sa != sb and _same_fields(sa, sb, memo(self.predicate, "_memo_columns", _columns)):
                return Filter.of_checked_terms(new_in, self.predicate)
        return self._with_inputs(children, input=children[0])

    def describe(self) -> str:
        return f"Filter {self.predicate!r}"


@dataclass(frozen=True, eq=False)
class Explode(Unary):
    columns: tuple[str, ...] = ()

    def _derive_schema(self) -> Schema:
        out = []
        for f in self.input.schema.fields:
            if f.name in self.columns:
                if not f.dtype.is_list():
                    raise ThresherTypeError(f"explode: column {f.name!r} has type {f.dtype}, expected a list")
                out.append(Field(f.name, f.dtype.inner()))
            else:
                out.append(f)
        for c in self.columns:
            self.input.schema.field(c)
        return Schema(out)

    def describe(self) -> str:
        return f"Explode [{', '.join(self.columns)}]"


@dataclass(frozen=True, eq=False)
class Limit(Unary):
    n: int = 0
    offset: int = 0

    def _derive_schema(self) -> Schema:
        if self.n < 0 or self.offset < 0:
            raise ValueError(f"limit and offset must be non-negative, got {self.n}, {self.offset}")
        return self.input.schema

    def describe(self) -> str:
        return f"Limit {self.n}" + (f" offset {self.offset}" if self.offset else "")


@dataclass(frozen=True, eq=False)
class Sort(Unary):
    by: tuple[Expr, ...] = ()
    descending: tuple[bool, ...] = ()
    nulls_last: tuple[bool, ...] = ()

    def __init__(self, input: LogicalPlan, by: tuple[Expr, ...] = (), descending: tuple[bool, ...] = (),
                 nulls_last: tuple[bool, ...] = ()) -> None:
        d = self.__dict__
        d["input"] = input
        d["by"] = by
        d["descending"] = descending
        d["nulls_last"] = nulls_last
        d["_schema"] = self._derive_schema()

    def _derive_schema(self) -> Schema:
        for e in self.by:
            # (a column key's field read here: one call less)
            f = self.input.schema.field(e.name) if e.__class__ is Column else e.resolve(self.input.schema)  # type: ignore[attr-defined]
            if f.dtype.is_media() or f.dtype.is_struct():
                raise ThresherTypeError(f"sort: cannot sort by {e!r} of type {f.dtype}")
        return self.input.schema

    def describe(self) -> str:
        keys = ", ".join(f"{e!r}{' desc' if d else ''}" for e, d in zip(self.by, self.descending))
        return f"Sort [{keys}]"


@dataclass(frozen=True, eq=False)
class Aggregate(Unary):
    keys: tuple[Expr, ...] = ()
    aggs: tuple[Expr, ...] = ()

    def __init__(self, input: LogicalPlan, keys: tuple[Expr, ...] = (), aggs: tuple[Expr, ...] = ()) -> None:
        d = self.__dict__
        d["input"] = input
        d["keys"] = keys
        d["aggs"] = aggs
        d["_schema"] = self._derive_schema()

    def _derive_schema(self) -> Schema:
        out: list[Field] = []
        for k in self.keys:
            # (a column key's field read here: one call less)
            f = self.input.schema.field(k.name) if k.__class__ is Column else k.resolve(self.input.schema)  # type: ignore[attr-defined]
            if f.dtype.is_media():
                raise ThresherTypeError(f"group_by: cannot group by {k!r} of type {f.dtype}")
            name = k.output_name()
            # (the key's own Field where it has this name and is nullable: a Field is immutable)
            out.append(f if f.nullable is True and f.name == name else Field(name, f.dtype))
        for a in self.aggs:
            if not has_aggregate(a):
                raise ThresherTypeError(f"agg: {a!r} is not an aggregation (use .sum(), .mean(), ...)")
            f = a.resolve(self.input.schema)
            name = a.output_name()
            out.append(f if f.nullable is True and f.name == name else Field(name, f.dtype))
        return Schema(out)

    def describe(self) -> str:
        return f"Aggregate keys=[{_exprs(self.keys)}] aggs=[{_exprs(self.aggs)}]"


JOIN_TYPES = ("inner", "left", "right", "outer", "semi", "anti", "cross")


@dataclass(frozen=True, eq=False)
class Join(LogicalPlan):
    left: LogicalPlan
    right: LogicalPlan
    left_on: tuple[Expr, ...] = ()
    right_on: tuple[Expr, ...] = ()
    how: str = "inner"
    suffix: str = "_right"
    #: physical strategy hint: "auto" | "broadcast" | "hash"
    strategy: str = "auto"
    #: Polars' ``nulls_equal``: NULL keys match each other (DataFrame API only; every optimizer
    #: rule that reads join keys either keeps it, or leaves such a join alone)
    nulls_equal: bool = False

    def __init__(self, left: LogicalPlan, right: LogicalPlan, left_on: tuple[Expr, ...] = (),
                 right_on: tuple[Expr, ...] = (), how: str = "inner", suffix: str = "_right", strategy: str = "auto",
                 nulls_equal: bool = False) -> None:
        d = self.__dict__
        d["left"] = left
        d["right"] = right
        d["left_on"] = left_on
        d["right_on"] = right_on
        d["how"] = how
        d["suffix"] = suffix
        d["strategy"] = strategy
        d["nulls_equal"] = nulls_equal
        d["_schema"] = self._derive_schema()

    def children(self) -> tuple[LogicalPlan, ...]:
        return (self.left, self.right)

    def with_children(self, children: Sequence[LogicalPlan]) -> LogicalPlan:
        return self._with_inputs(children, left=children[0], right=children[1])

    def _derive_schema(self) -> Schema:
        if self.how not in JOIN_TYPES:
            raise ValueError(f"join type must be one of {JOIN_TYPES}, got {self.how!r}")
        if self.how != "cross" and len(self.left_on) != len(self.right_on):
            raise ThresherTypeError("join: left_on and right_on must have the same length")
        if self.how != "cross" and not self.left_on:
            raise ThresherTypeError("join: give on= or left_on=/right_on= (or how='cross')")
        for l_, r in zip(self.left_on, self.right_on):
            # (a column key's field read here: one call less)
            lf = self.left.schema.field(l_.name) if l_.__class__ is Column else l_.resolve(self.left.schema)  # type: ignore[attr-defined]
            rf = self.right.schema.field(r.name) if r.__class__ is Column else r.resolve(self.right.schema)  # type: ignore[attr-defined]
            if supertype(lf.dtype, rf.dtype) is None:
                raise ThresherTypeError(
                    f"join keys {l_!r} ({lf.dtype}) and {r!r} ({rf.dtype}) have incompatible types"
                )
        if self.how in ("semi", "anti"):
            return self.left.schema
        left = self.left.schema
        out = list(left.fields)
        if self.how in ("outer", "right"):  # (a right row without a match has NULLs on the left)
            out = [f if f.nullable else Field(f.name, f.dtype, True) for f in out]
        left_names = left._index  # (its names' index: `in` without a Python call)
        # the output's index: the left side's, then each right column's (see Schema._of)
        index = left_names.copy()
        # equi-join keys with the same name on both sides appear once (Polars' coalescing rule)
        drop = self.coalesced_right_keys()
        keeps_nulls = self.how in ("inner", "cross")
        for f in self.right.schema.fields:
            if f.name in drop:
                continue
            name = f.name + self.suffix if f.name in left_names else f.name
            if name in index:  # (a suffixed name another column has: Schema raises its error)
                return self._schema_of_clashing(drop, keeps_nulls)
            index[name] = len(out)
            # an inner (or cross) join adds no nulls: keeping the input's nullability lets joins be
            # reordered (join_order) without the output schema changing
            nullable = f.nullable if keeps_nulls else True
            # (a field that keeps its name and nullability is the input's own, frozen, Field)
            out.append(f if name == f.name and nullable == f.nullable else Field(name, f.dtype, nullable))
        return Schema._of(tuple(out), index)

    def _schema_of_clashing(self, drop: set[str], keeps_nulls: bool) -> Schema:
        """The output of a join where a right column's (suffixed) name is taken: ``Schema``
        raises its duplicate-names error."""
        out = list(self.left.schema.fields)
        left_names = self.left.schema._index
        for f in self.right.schema.fields:
            if f.name not in drop:
                name = f.name + self.suffix if f.name in left_names else f.name
                out.append(Field(name, f.dtype, f.nullable if keeps_nulls else True))
        return Schema(out)

    def coalesced_right_keys(self) -> set[str]:
        if self.how in ("cross", "outer"):
            return set()
        out = set()
        for l_, r in zip(self.left_on, self.right_on):
            if isinstance(r, Column):
                if isinstance(l_, Column) and l_.name == r.name or self.how in ("inner", "left", "right"):
                    out.add(r.name)
        return out

    def describe(self) -> str:
        if self.how == "cross":
            return "Join cross"
        on = ", ".join(f"{a!r} = {b!r}" for a, b in zip(self.left_on, self.right_on))
        strat = f" strategy={self.strategy}" if self.strategy != "auto" else ""
        ne = " nulls_equal" if self.nulls_equal else ""
        return f"Join {self.how} on [{on}]{strat}{ne}"


@dataclass(frozen=True, eq=False)
class Union(LogicalPlan):
    inputs: tuple[LogicalPlan, ...] = ()

    def children(self) -> tuple[LogicalPlan, ...]:
        return self.inputs

    def with_children(self, children: Sequence[LogicalPlan]) -> LogicalPlan:
        return self._with_inputs(children, inputs=tuple(children))

    def _derive_schema(self) -> Schema:
        first = self.inputs[0].schema
        fields_: list[Field] = list(first.fields)
        for other in self.inputs[1:]:
            s = other.schema
            if s.names != first.names:
                raise ThresherTypeError(f"union: column names differ: {first.names} vs {s.names}")
            for i, f in enumerate(s.fields):
                st = supertype(fields_[i].dtype, f.dtype)
                if st is None:
                    raise ThresherTypeError(
                        f"union: column {f.name!r} has types {fields_[i].dtype} and {f.dtype}"
                    )
                fields_[i] = Field(f.name, st)
        return Schema(fields_)

    def describe(self) -> str:
        return f"Union ({len(self.inputs)} inputs)"


@dataclass(frozen=True, eq=False)
class Distinct(Unary):
    subset: tuple[str, ...] | None = None
    keep: str = "any"  # any | first | last

    def _derive_schema(self) -> Schema:
        for c in self.subset or ():
            self.input.schema.field(c)
        return self.input.schema

    def describe(self) -> str:
        return f"Distinct subset={list(self.subset) if self.subset else 'all'} keep={self.keep}"


@dataclass(frozen=True, eq=False)
class Sample(Unary):
    fraction: float = 0.1
    seed: int | None = None
    with_replacement: bool = False

    def _derive_schema(self) -> Schema:
        if not 0 <= self.fraction <= (1e9 if self.with_replacement else 1):
            raise ValueError(f"sample fraction must be in [0, 1], got {self.fraction}")
        return self.input.schema

    def describe(self) -> str:
        return f"Sample fraction={self.fraction} seed={self.seed}"


@dataclass(frozen=True, eq=False)
class Repartition(Unary):
    num_partitions: int | None = None
    by: tuple[Expr, ...] = ()
    batch_size: int | None = None

    def _derive_schema(self) -> Schema:
        for e in self.by:
            e.resolve(self.input.schema)
        return self.input.schema

    def describe(self) -> str:
        if self.batch_size:
            return f"IntoBatches {self.batch_size}"
        return f"Repartition n={self.num_partitions} by=[{_exprs(self.by)}]"


@dataclass(frozen=True, eq=False)
class WithRowIndex(Unary):
    name: str = "index"
    offset: int = 0

    def _derive_schema(self) -> Schema:
        if self.name in self.input.schema:
            raise ThresherTypeError(f"with_row_index: column {self.name!r} already exists")
        return Schema((Field(self.name, DataType.int64(), False), *self.input.schema.fields))

    def describe(self) -> str:
        return f"WithRowIndex {self.name}"


@dataclass(frozen=True, eq=False)
class FlatMap(Unary):
    """A generator UDF: each input row yields zero or more output rows (fan-out).

    ``outer=True`` gives explode semantics: an input row that yields nothing (a null argument, an
    empty result, or an error under ``on_error="null"``) keeps one output row with the UDF's
    columns null. The ``stream_video_frames`` rule builds such nodes from ``explode``.
    """

    udf: GeneratorUDFProtocol
    args: tuple[Expr, ...] = ()
    output: Schema = field(default_factory=Schema)
    keep_input: tuple[str, ...] = ()
    outer: bool = False

    def _derive_schema(self) -> Schema:
        for a in self.args:
            a.resolve(self.input.schema)
        kept = [self.input.schema.field(c) for c in self.keep_input]
        return Schema((*kept, *self.output.fields))

    def describe(self) -> str:
        outer = " outer" if self.outer else ""
        return f"FlatMap{outer} {self.udf.explain_name}({_exprs(self.args)}) -> [{', '.join(self.output.names)}]"


@dataclass(frozen=True, eq=False)
class Window(Unary):
    """Window functions: ``exprs`` evaluated per partition, rows sorted by ``order_by``.

    ``frame=None``: Polars semantics (the DataFrame API's ``expr.over``): each expression runs on
    its group's rows and maps back to them (``mapping_strategy``). A :class:`WindowFrame`: SQL
    (DuckDB) semantics, every expression an aggregate or a ``win.*`` function over that frame.
    Output columns are appended to the input's.
    """

    exprs: tuple[Expr, ...] = ()
    partition_by: tuple[Expr, ...] = ()
    order_by: tuple[Expr, ...] = ()
    descending: tuple[bool, ...] = ()
    nulls_last: tuple[bool, ...] = ()
    frame: WindowFrame | None = None
    mapping_strategy: str = "group_to_rows"

    def _derive_schema(self) -> Schema:
        for k in (*self.partition_by, *self.order_by):
            kf = k.resolve(self.input.schema)
            if kf.dtype.is_media():
                raise ThresherTypeError(f"window: cannot partition or order by {k!r} of type {kf.dtype}")
        if self.descending and len(self.descending) != len(self.order_by):
            raise ThresherTypeError("window: descending needs one flag per ORDER BY key")
        if self.nulls_last and len(self.nulls_last) != len(self.order_by):
            raise ThresherTypeError("window: nulls_last needs one flag per ORDER BY key")
        out = [f for f in self.input.schema.fields if f.name not in {e.output_name() for e in self.exprs}]
        for e in self.exprs:
            f = e.resolve(self.input.schema)
            joined = self.frame is None and self.mapping_strategy == "join" and not is_scalar_result(e)
            dtype = DataType.list(f.dtype) if joined else f.dtype
            out.append(Field(e.output_name(), dtype))
        return Schema(out)

    def describe(self) -> str:
        order = ""
        if self.order_by:
            keys = [f"{e!r}{' DESC' if self.descending and self.descending[i] else ''}"
                    for i, e in enumerate(self.order_by)]
            order = f" order_by=[{', '.join(keys)}]"
        frame = f" {self.frame!r}" if self.frame is not None else ""
        return f"Window [{_exprs(self.exprs)}] partition_by=[{_exprs(self.partition_by)}]{order}{frame}"


@dataclass(frozen=True, eq=False)
class Write(Unary):
    sink: Sink = field(default=None)  # type: ignore[assignment]
    job_id: str | None = None

    def _derive_schema(self) -> Schema:
        return Schema(
            [
                Field("partition_id", DataType.string()),
                Field("num_rows", DataType.int64()),
                Field("files", DataType.list(DataType.string())),
                Field("status", DataType.string()),
                # the Ray node that wrote the partition's files (null when written in-process)
                Field("node_id", DataType.string()),
            ]
        )

    def describe(self) -> str:
        return f"Write {self.sink.name}" + (f" job_id={self.job_id}" if self.job_id else "")


@dataclass(frozen=True, eq=False)
class Dedup(Unary):
    """A composite dedup (exact / fuzzy / semantic / image): keys per batch, one global decision.

    ``output="filter"`` keeps the input schema and drops duplicates; ``output="groups"`` returns
    one row per input row: its id, its group id and whether it is the kept one.
    """

    method: str = "exact"
    by: Expr = field(default=None)  # type: ignore[assignment]
    params: tuple[tuple[str, Any], ...] = ()
    output: str = "filter"
    priority: Expr | None = None
    id_column: str | None = None

    def _derive_schema(self) -> Schema:
        from thresher.operators.dedup import METHODS

        if self.method not in METHODS:
            raise ThresherTypeError(f"dedup method must be one of {METHODS}, got {self.method!r}")
        f = self.by.resolve(self.input.schema)
        t = f.dtype
        if self.method == "fuzzy" and not t.is_string():
            raise ThresherTypeError(f"dedup.fuzzy: column {f.name!r} has type {t}, expected string")
        if self.method == "semantic" and t.kind not in ("embedding", "fixed_size_list", "tensor"):
            raise ThresherTypeError(f"dedup.semantic: column {f.name!r} has type {t}, expected an embedding")
        if self.method == "image" and t.arrow != DataType.uint64().arrow:
            raise ThresherTypeError(f"dedup.image: key {f.name!r} has type {t}, expected a uint64 perceptual hash")
        if self.priority is not None:
            pf = self.priority.resolve(self.input.schema)
            if not pf.dtype.is_numeric():
                raise ThresherTypeError(f"dedup priority {pf.name!r} must be numeric, got {pf.dtype}")
        if self.output == "groups":
            id_type = self.input.schema[self.id_column] if self.id_column else DataType.int64()
            return Schema([Field("id", id_type), Field("group_id", id_type), Field("is_kept", DataType.bool())])
        if self.output != "filter":
            raise ValueError("dedup output must be 'filter' or 'groups'")
        return self.input.schema

    def describe(self) -> str:
        ps = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"Dedup {self.method}({self.by!r}{', ' + ps if ps else ''}) -> {self.output}"
