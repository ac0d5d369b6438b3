"""The expression tree: immutable nodes that know their type.

``Expr`` methods only build new nodes; nothing here evaluates data. ``expr.resolve(schema)``
infers the output :class:`~thresher.datatypes.Field` or raises :class:`ThresherTypeError` naming the
column, the type it has and the type needed. Evaluation lives in ``operators/evaluate.py``.

Because ``==`` builds a comparison, structural equality of expressions is ``a.key() == b.key()``
(or :func:`expr_equal`).

Examples
--------
>>> from thresher import col, lit
>>> e = (col("price") * lit(2)).alias("double")
>>> e
(col("price") * 2).alias("double")
>>> e.output_name()
'double'
"""

from __future__ import annotations

import builtins
import contextlib
import contextvars
import datetime
import importlib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from thresher._typing import IntoExpr
from thresher.datatypes import (
    DataType,
    Field,
    Schema,
    infer_literal_type,
    literal_type_next_to,
    polars_supertype,
    supertype,
    to_dtype,
)
from thresher.errors import ThresherTypeError, UnsupportedError
from thresher.expressions import registry as F
from thresher.expressions.cost import CLASS_COST, CostClass, mark_not_scalar, udf_cost
from thresher.expressions.registry import _REGISTRY as _FUNCTIONS
from thresher.expressions.registry import NOT_SCALAR as _NOT_SCALAR
from thresher.expressions.udf_protocol import ExprUDFProtocol

if TYPE_CHECKING:
    from thresher.expressions.audio import AudioNamespace
    from thresher.expressions.datetime import DateTimeNamespace
    from thresher.expressions.embedding import EmbeddingNamespace
    from thresher.expressions.image import ImageNamespace
    from thresher.expressions.list import ListNamespace
    from thresher.expressions.string import StringNamespace
    from thresher.expressions.struct import StructNamespace
    from thresher.expressions.tensor import TensorNamespace
    from thresher.expressions.url import UrlNamespace
    from thresher.expressions.video import VideoNamespace



#: the exact types a key holds as they are (hashable values: see :func:`_freeze`)
_FROZEN_SCALARS = frozenset({str, int, float, bool, type(None), bytes})


def _freeze(v: Any) -> Any:
    """``v`` as a hashable key part: dicts and sets as sorted tuples, lists and tuples as tuples
    of their parts' keys, expressions as their keys, anything unhashable by identity."""
    t = type(v)
    if t in _FROZEN_SCALARS:
        return v
    if t is tuple or t is list:
        # (a call's options, an is_in's values: mostly scalars, kept without a call for each)
        for x in v:
            if type(x) not in _FROZEN_SCALARS:
                return tuple([_freeze(x) for x in v])
        return v if t is tuple else tuple(v)
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, Expr):
        return v.key()
    if isinstance(v, set):
        return tuple(sorted(v, key=repr))
    try:
        hash(v)
    except TypeError:
        return ("id", id(v))
    return v


def memo(e: Expr, slot: str, compute: Callable[[Expr], Any]) -> Any:
    """``compute(e)``, computed once per node: expressions are immutable, and the planner asks
    the same questions (key, type, does it aggregate...) of the same nodes many times while the
    optimizer rebuilds the plans around them. Stored in the node's ``__dict__`` under ``slot``
    (dropped when pickled)."""
    d = e.__dict__
    v = d.get(slot, _MISSING)  # (not try/except KeyError: most questions are asked of new nodes, and
    if v is _MISSING:          # raising the KeyError of each miss cost more than the lookups)
        v = d[slot] = compute(e)
    return v


_MISSING: Any = object()

#: class name -> a namespace class (``.str``, ``.dt``, ...) of ``thresher.expressions.<module>``
_NAMESPACES: dict[str, Any] = {}


def _namespace(module: str, cls: str) -> Any:
    """The namespace class ``cls`` of ``thresher.expressions.<module>``, imported on first use (the
    module imports this one): a function-level import at each ``.str`` cost more than the call
    it builds, when building a query after a pause (Python's import machinery is then cold)."""
    c = _NAMESPACES.get(cls)
    if c is None:
        c = _NAMESPACES[cls] = getattr(importlib.import_module(f"thresher.expressions.{module}"), cls)
    return c


_RESOLVE_MEMO = "_memo_resolve"


def _unmemoized(fn: Callable[..., Field]) -> Callable[..., Field]:
    """Mark a ``resolve`` cheaper than its memo (a column's field looked up in the schema, a
    constant's own field): ``Expr.__init_subclass__`` leaves it unwrapped."""
    fn._memoized = True  # type: ignore[attr-defined]
    return fn


def _same_fields(old: Schema, new: Schema, names: frozenset[str]) -> bool:
    """Whether ``new`` has the same fields as ``old`` under ``names`` (all present in ``old``)."""
    try:
        for n in names:
            a, b = old.field(n), new.field(n)
            if a is not b and a != b:
                return False
    except KeyError:  # ColumnNotFoundError: the full resolve names what is missing
        return False
    return True


_NO_NEW: Any = object()  # (replace's `new` left out: `old` is a mapping)


class Expr:
    """Base of every expression node. Subclasses are immutable."""

    __slots__ = ()
    #: a node whose type is a function of its own fields and the input fields of the columns it
    #: reads through ``children()`` (every subexpression is a child): over another schema that
    #: has the same fields for those columns, it keeps the type it had (a filter pushed below a
    #: join or a projection is re-checked against the input's schema, a new object with the same
    #: fields; re-deriving the types of every term dominated pushing it)
    _RESOLVES_BY_COLUMNS = False
    #: whether a node of this class itself depends on other rows (``window.is_order_dependent``):
    #: True for an aggregation or an ``over``, None for a call (its function decides), else False
    _ORDER_DEPENDENT: ClassVar[bool | None] = False
    #: a node of this class has no subexpressions (its class keeps ``Expr.children``): the walks
    #: that every new node goes through (``needs_window``, ``has_aggregate``, ...) stop at it
    #: without calling ``children()``
    _LEAF: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # memoize each subclass's key() and resolve(): see `memo`
        super().__init_subclass__(**kwargs)
        if "call_cost" in cls.__dict__ and not getattr(cls, "_MARKS_NOT_SCALAR", False):
            mark_not_scalar()  # (a cost of its own that its constructor does not report: see cost.py)
        cls._LEAF = cls.children is Expr.children
        own_key = cls.__dict__.get("key")
        if own_key is not None and not getattr(own_key, "_memoized", False):
            def key(self: Expr, _k: Callable[[Expr], tuple[Any, ...]] = own_key) -> tuple[Any, ...]:
                return memo(self, "_memo_key", _k)  # type: ignore[no-any-return]

            key._memoized = True  # type: ignore[attr-defined]
            key.__doc__ = own_key.__doc__
            cls.key = key  # type: ignore[method-assign]
        own_resolve = cls.__dict__.get("resolve")
        if own_resolve is not None and not getattr(own_resolve, "_memoized", False):
            by_columns = cls.__dict__.get("_RESOLVES_BY_COLUMNS", False)

            def resolve(self: Expr, schema: Schema, _r: Callable[[Expr, Schema], Field] = own_resolve,
                        _by_columns: bool = by_columns) -> Field:
                # one entry: the last schema object asked about (plans rebuilt around an
                # unchanged input hand the same object again)
                d = self.__dict__
                hit = d.get(_RESOLVE_MEMO)
                if hit is not None:
                    if hit[0] is schema:
                        return hit[1]  # type: ignore[no-any-return]
                    if _by_columns and _same_fields(hit[0], schema, memo(self, "_memo_columns", _columns)):
                        d[_RESOLVE_MEMO] = (schema, hit[1])
                        return hit[1]  # type: ignore[no-any-return]
                f = _r(self, schema)
                d[_RESOLVE_MEMO] = (schema, f)
                return f

            resolve._memoized = True  # type: ignore[attr-defined]
            resolve.__doc__ = own_resolve.__doc__
            cls.resolve = resolve  # type: ignore[method-assign]

    def __getstate__(self) -> dict[str, Any]:
        # memoized answers stay behind (a schema object and cached keys need not travel to workers)
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_memo_")}

    # ---- structure ----------------------------------------------------------------------
    def children(self) -> tuple[Expr, ...]:
        return ()

    def with_children(self, children: Sequence[Expr]) -> Expr:
        return self

    def key(self) -> tuple[Any, ...]:
        """A hashable structural identity (``==`` builds a comparison instead)."""
        raise NotImplementedError

    def __hash__(self) -> int:
        return hash(self.key())

    def __bool__(self) -> bool:
        raise TypeError(
            "the truth value of an expression is ambiguous; use & | ~ instead of and/or/not, "
            "and expr_equal(a, b) to compare expressions"
        )

    def resolve(self, schema: Schema) -> Field:
        """The output field of this expression over ``schema`` (type checking happens here)."""
        raise NotImplementedError

    def output_name(self) -> str:
        """The column name this expression produces (the leftmost column, or its alias)."""
        for c in self.children():
            return c.output_name()
        return "literal"

    def columns(self) -> set[str]:
        """Names of the columns this expression reads."""
        return set(memo(self, "_memo_columns", _columns))

    def call_cost(self) -> tuple[CostClass, float]:
        """This node's own cost class and per-row cost, its children not counted: nothing for a
        plain node; calls of functions and UDFs override it (sums and maxima: ``expressions/cost.py``)."""
        return "scalar", 0.0

    def walk(self) -> Iterable[Expr]:
        """All nodes, parents before children."""
        stack: list[Expr] = [self]
        while stack:
            e = stack.pop()
            yield e
            stack.extend(reversed(e.children()))

    def transform(self, fn: Callable[[Expr], Expr | None]) -> Expr:
        """Rewrite bottom-up: ``fn`` returns a replacement or None to keep a node."""
        kids = self.children()
        node: Expr = self
        if kids:
            # (a loop, not a tuple of a generator and any(): the optimizer's rules walk every
            # expression of the plans they rebuild with this)
            new: list[Expr] | None = None
            for i, c in enumerate(kids):
                n = c.transform(fn)
                if n is not c:
                    if new is None:
                        new = list(kids)
                    new[i] = n
            if new is not None:
                node = self.with_children(tuple(new))
        out = fn(node)
        return node if out is None else out

    # ---- naming and casting ---------------------------------------------------------------
    def alias(self, name: str) -> Expr:
        """Rename the output column."""
        return Alias(self, name)

    def cast(self, dtype: DataType | pa.DataType | str | Any, strict: bool = True) -> Expr:
        """Convert to ``dtype``: a DataType, an Arrow type, a Polars or NumPy dtype, a Python
        type or a name like "int64" (see :func:`to_dtype`).

        >>> import polars as pl
        >>> col("a").cast(pl.Float64)
        col("a").cast(double)
        """
        return Cast(self, to_dtype(dtype), strict)

    # ---- operators ----------------------------------------------------------------------
    # (each builds its Call itself, without a shared helper: a query builds dozens, once each,
    # and every Python frame on that path is one more step of cold code)
    def __add__(self, other: IntoExpr) -> Expr:
        return Call("add", (self, _dynamic(other)))

    def __radd__(self, other: IntoExpr) -> Expr:
        return Call("add", (_dynamic(other), self))

    def __sub__(self, other: IntoExpr) -> Expr:
        return Call("sub", (self, _dynamic(other)))

    def __rsub__(self, other: IntoExpr) -> Expr:
        return Call("sub", (_dynamic(other), self))

    def __mul__(self, other: IntoExpr) -> Expr:
        return Call("mul", (self, _dynamic(other)))

    def __rmul__(self, other: IntoExpr) -> Expr:
        return Call("mul", (_dynamic(other), self))

    def __truediv__(self, other: IntoExpr) -> Expr:
        return Call("truediv", (self, _dynamic(other)))

    def __rtruediv__(self, other: IntoExpr) -> Expr:
        return Call("truediv", (_dynamic(other), self))

    def __floordiv__(self, other: IntoExpr) -> Expr:
        return Call("floordiv", (self, _dynamic(other)))

    def __rfloordiv__(self, other: IntoExpr) -> Expr:
        return Call("floordiv", (_dynamic(other), self))

    def __mod__(self, other: IntoExpr) -> Expr:
        return Call("mod", (self, _dynamic(other)))

    def __rmod__(self, other: IntoExpr) -> Expr:
        return Call("mod", (_dynamic(other), self))

    def __pow__(self, other: IntoExpr) -> Expr:
        return Call("pow", (self, _dynamic(other)))

    def __rpow__(self, other: IntoExpr) -> Expr:
        if type(other) is int and -(2**31) <= other < 2**31:  # (2 ** col(n): Polars' Int32 base)
            return Call("pow", (Literal(other, DataType.int32(), True), self))
        return Call("pow", (_dynamic(other), self))

    # ---- Polars' named operators (``col("a").add(1)`` is ``col("a") + 1``) --------------------
    def add(self, other: IntoExpr) -> Expr:
        return self + other

    def sub(self, other: IntoExpr) -> Expr:
        return self - other

    def mul(self, other: IntoExpr) -> Expr:
        return self * other

    def truediv(self, other: IntoExpr) -> Expr:
        return self / other

    def floordiv(self, other: IntoExpr) -> Expr:
        return self // other

    def mod(self, other: IntoExpr) -> Expr:
        return self % other

    def pow(self, exponent: IntoExpr) -> Expr:
        """``self ** exponent``, as Polars (an integer to an integer power stays that integer type)."""
        return self**exponent

    def neg(self) -> Expr:
        return -self

    def eq(self, other: IntoExpr) -> Expr:
        return self == other

    def ne(self, other: IntoExpr) -> Expr:
        return self != other

    def lt(self, other: IntoExpr) -> Expr:
        return self < other

    def le(self, other: IntoExpr) -> Expr:
        return self <= other

    def gt(self, other: IntoExpr) -> Expr:
        return self > other

    def ge(self, other: IntoExpr) -> Expr:
        return self >= other

    def and_(self, *others: IntoExpr) -> Expr:
        out = self
        for o in others:
            out = out & o
        return out

    def or_(self, *others: IntoExpr) -> Expr:
        out = self
        for o in others:
            out = out | o
        return out

    def not_(self) -> Expr:
        return ~self

    def eq_missing(self, other: IntoExpr) -> Expr:
        """``self == other`` where NULL equals NULL (never NULL itself), as Polars."""
        o = _dynamic(other)
        a_null, b_null = Call("is_null", (self,)), Call("is_null", (o,))
        return when(a_null | b_null).then(a_null & b_null).otherwise(self == o)

    def hash(self, seed: int = 0) -> Expr:
        """A uint64 hash of each value, Polars' (the same values as ``pl.col(x).hash(seed)``)."""
        return Call("hash", (self,), (("seed", seed),))

    def ne_missing(self, other: IntoExpr) -> Expr:
        """``self != other`` where NULL equals NULL (never NULL itself), as Polars."""
        return ~self.eq_missing(other)

    def __neg__(self) -> Expr:
        return Call("neg", (self,))

    def __eq__(self, other: IntoExpr) -> Expr:  # type: ignore[override]
        return Call("eq", (self, _dynamic(other)))

    def __ne__(self, other: IntoExpr) -> Expr:  # type: ignore[override]
        return Call("neq", (self, _dynamic(other)))

    def __lt__(self, other: IntoExpr) -> Expr:
        return Call("lt", (self, _dynamic(other)))

    def __le__(self, other: IntoExpr) -> Expr:
        return Call("le", (self, _dynamic(other)))

    def __gt__(self, other: IntoExpr) -> Expr:
        return Call("gt", (self, _dynamic(other)))

    def __ge__(self, other: IntoExpr) -> Expr:
        return Call("ge", (self, _dynamic(other)))

    def __and__(self, other: IntoExpr) -> Expr:
        return Call("and", (self, _dynamic(other)))

    def __rand__(self, other: IntoExpr) -> Expr:
        return Call("and", (_dynamic(other), self))

    def __or__(self, other: IntoExpr) -> Expr:
        return Call("or", (self, _dynamic(other)))

    def __ror__(self, other: IntoExpr) -> Expr:
        return Call("or", (_dynamic(other), self))

    def __invert__(self) -> Expr:
        return Call("not", (self,))

    def abs(self) -> Expr:
        return Call("abs", (self,))

    def round(self, decimals: int = 0, mode: builtins.str = "half_to_even") -> Expr:
        """Round to ``decimals`` digits, ties to even (Polars' default) or, with
        ``mode="half_away_from_zero"``, away from zero; as Polars (a decimal rounded to fewer
        digits than its scale gains a digit of precision).

        >>> import thresher as th
        >>> f = th.from_pydict({"x": [2.5, -0.5]})
        >>> f.select(a=th.col("x").round(), b=th.col("x").round(mode="half_away_from_zero")).to_pydict()
        {'a': [2.0, -0.0], 'b': [3.0, -1.0]}
        """
        if mode == "half_to_even":
            return Call("round", (self,), (("decimals", decimals),))
        if mode != "half_away_from_zero":
            raise ValueError(f"round: mode must be 'half_to_even' or 'half_away_from_zero', not {mode!r}")
        # (typed as Polars types it, not as SQL's round, which gives a mode too and types itself)
        return Call("round", (self,), (("decimals", decimals), ("mode", mode), ("polars_type", True)))

    def sqrt(self) -> Expr:
        return Call("sqrt", (self,))

    def _numeric_call(self, name: builtins.str, args: tuple[Expr, ...] = (), **opts: Any) -> Expr:
        import thresher.expressions.numeric  # noqa: F401  (registers the functions)

        return Call(name, (self, *args), tuple(opts.items()))

    def floor(self) -> Expr:
        """Round down to an integral value (an integer column is unchanged), as Polars."""
        return self._numeric_call("floor")

    def ceil(self) -> Expr:
        """Round up to an integral value (an integer column is unchanged), as Polars."""
        return self._numeric_call("ceil")

    def clip(self, lower_bound: IntoExpr | None = None, upper_bound: IntoExpr | None = None) -> Expr:
        """The value limited to ``[lower_bound, upper_bound]`` (either may be None: unbounded; a
        string names a column), in the column's type, as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"x": [-3, 1, 9]}).select(th.col("x").clip(0, 5)).to_pydict()
        {'x': [0, 1, 5]}
        """
        bounds = tuple(_expr_or_column(b) for b in (lower_bound, upper_bound) if b is not None)
        return self._numeric_call("clip", bounds, lower=lower_bound is not None, upper=upper_bound is not None)

    def cut(self, breaks: Sequence[float], *, labels: Sequence[builtins.str] | None = None,
            left_closed: builtins.bool = False, include_breaks: builtins.bool = False) -> Expr:
        """The interval of ``breaks`` each value falls in, as its label (``labels``, one more than
        ``breaks``; else Polars' ``"(-inf, 2]"`` names), as Polars' ``cut``; a string, as Thresher
        reads Polars' categoricals. NULL and NaN give NULL. ``include_breaks=True``: the struct
        ``{breakpoint: the interval's upper break (float64), category: the label}``, as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, 3, None]}).select(th.col("x").cut([2])).to_pydict()
        {'x': ['(-inf, 2]', '(2, inf]', None]}
        >>> th.from_pydict({"x": [1, 3]}).select(th.col("x").cut([2], include_breaks=True)).unnest("x").rows()
        [(2.0, '(-inf, 2]'), (inf, '(2, inf]')]
        """
        labels_opt = None if labels is None else tuple(labels)
        opts: dict[builtins.str, Any] = {"breaks": tuple(breaks), "labels": labels_opt, "left_closed": left_closed}
        if include_breaks:  # (only then: the plans of every other cut keep their key)
            opts["include_breaks"] = True
        return self._numeric_call("cut", **opts)

    def qcut(self, quantiles: Sequence[float] | int, *, labels: Sequence[builtins.str] | None = None,
             left_closed: builtins.bool = False, allow_duplicates: builtins.bool = False,
             include_breaks: builtins.bool = False) -> Expr:
        """The quantile interval each value falls in, as Polars' ``qcut``: ``quantiles`` a list of
        probabilities or a number of equal-sized bins; the breaks are the column's quantiles (per
        group under ``over``), so it runs over the whole column, as a window. A string label (as
        Thresher reads Polars' categoricals), or with ``include_breaks`` the struct
        ``{breakpoint, category}``. NULL and NaN give NULL; breaks that repeat raise when the frame
        runs unless ``allow_duplicates``.

        >>> import thresher as th
        >>> df = th.from_pydict({"x": [1, 2, 3, 4]})
        >>> df.select(th.col("x").qcut([0.5], labels=["low", "high"])).to_pydict()
        {'x': ['low', 'low', 'high', 'high']}
        """
        if isinstance(quantiles, builtins.bool) or not isinstance(quantiles, (int, Sequence)):
            raise ThresherTypeError(f"qcut: quantiles must be a list of probabilities or an int, got {quantiles!r}")
        q: Any = quantiles if isinstance(quantiles, int) else tuple(float(x) for x in quantiles)
        opts: dict[builtins.str, Any] = {"quantiles": q, "labels": None if labels is None else tuple(labels),
                                         "left_closed": builtins.bool(left_closed),
                                         "allow_duplicates": builtins.bool(allow_duplicates),
                                         "include_breaks": builtins.bool(include_breaks)}
        return self._window_call("qcut", **opts)

    def fill_nan(self, value: IntoExpr) -> Expr:
        """NaN replaced by ``value`` (NULL stays NULL), as Polars."""
        return self._numeric_call("fill_nan", (_dynamic(value),))

    def is_nan(self) -> Expr:
        """True where the value is NaN (NULL where it is NULL)."""
        return self._numeric_call("is_nan")

    def is_not_nan(self) -> Expr:
        """True where the value is not NaN (NULL where it is NULL)."""
        return self._numeric_call("is_not_nan")

    def is_finite(self) -> Expr:
        """True where the value is neither infinite nor NaN (NULL where it is NULL)."""
        return self._numeric_call("is_finite")

    def is_infinite(self) -> Expr:
        """True where the value is +inf or -inf (NULL where it is NULL)."""
        return self._numeric_call("is_infinite")

    # ---- Polars' math (a float of the input's width; sign keeps the input's type) ------------
    def sin(self) -> Expr:
        return self._numeric_call("sin")

    def cos(self) -> Expr:
        return self._numeric_call("cos")

    def tan(self) -> Expr:
        return self._numeric_call("tan")

    def cot(self) -> Expr:
        return self._numeric_call("cot")

    def arcsin(self) -> Expr:
        return self._numeric_call("arcsin")

    def arccos(self) -> Expr:
        return self._numeric_call("arccos")

    def arctan(self) -> Expr:
        return self._numeric_call("arctan")

    def sinh(self) -> Expr:
        return self._numeric_call("sinh")

    def cosh(self) -> Expr:
        return self._numeric_call("cosh")

    def tanh(self) -> Expr:
        return self._numeric_call("tanh")

    def arcsinh(self) -> Expr:
        return self._numeric_call("arcsinh")

    def arccosh(self) -> Expr:
        return self._numeric_call("arccosh")

    def arctanh(self) -> Expr:
        return self._numeric_call("arctanh")

    def degrees(self) -> Expr:
        return self._numeric_call("degrees")

    def radians(self) -> Expr:
        return self._numeric_call("radians")

    def exp(self) -> Expr:
        return self._numeric_call("exp")

    def log(self, base: float = math.e) -> Expr:
        """The logarithm to ``base`` (a number; the natural one by default), as Polars."""
        return self._numeric_call("log", base=float(base))

    def log10(self) -> Expr:
        return self._numeric_call("log10")

    def log1p(self) -> Expr:
        return self._numeric_call("log1p")

    def cbrt(self) -> Expr:
        return self._numeric_call("cbrt")

    def sign(self) -> Expr:
        return self._numeric_call("sign")

    def truncate(self, decimals: int = 0) -> Expr:
        """Rounded toward zero to ``decimals`` digits (an integer column is unchanged), as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"x": [1.57, -1.57]}).select(th.col("x").truncate(1)).to_pydict()
        {'x': [1.5, -1.5]}
        """
        return self._numeric_call("truncate", decimals=_int_option("truncate", decimals))

    def round_sig_figs(self, digits: int) -> Expr:
        """Rounded to ``digits`` significant digits, as Polars."""
        return self._numeric_call("round_sig_figs", digits=_int_option("round_sig_figs", digits))

    def erf(self) -> Expr:
        """The error function (float), as Polars."""
        return self._numeric_call("erf")

    def bitwise_count_ones(self) -> Expr:
        """The number of one bits of an integer (uint32), as Polars."""
        return self._numeric_call("bitwise_count_ones")

    def bitwise_count_zeros(self) -> Expr:
        """The number of zero bits of an integer (uint32), as Polars."""
        return self._numeric_call("bitwise_count_zeros")

    def bitwise_leading_ones(self) -> Expr:
        """The number of leading one bits (uint32), as Polars."""
        return self._numeric_call("bitwise_leading_ones")

    def bitwise_leading_zeros(self) -> Expr:
        """The number of leading zero bits (uint32), as Polars."""
        return self._numeric_call("bitwise_leading_zeros")

    def bitwise_trailing_ones(self) -> Expr:
        """The number of trailing one bits (uint32), as Polars."""
        return self._numeric_call("bitwise_trailing_ones")

    def bitwise_trailing_zeros(self) -> Expr:
        """The number of trailing zero bits (uint32), as Polars."""
        return self._numeric_call("bitwise_trailing_zeros")

    def xor(self, other: IntoExpr) -> Expr:
        """Exclusive or: of booleans (NULL where either is NULL) or, bitwise, of integers, as Polars.

        >>> import thresher as th
        >>> f = th.from_pydict({"a": [True, True, None], "b": [True, False, False]})
        >>> f.select(th.col("a").xor(th.col("b"))).to_pydict()
        {'a': [False, True, None]}
        """
        return self._numeric_call("xor", (_dynamic(other),))

    def is_close(self, other: IntoExpr, *, abs_tol: float = 0.0, rel_tol: float = 1e-09,
                 nans_equal: builtins.bool = False) -> Expr:
        """Whether the value is within ``abs_tol`` or ``rel_tol`` (relative) of ``other``, as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"x": [1.0, 1.1]}).select(th.col("x").is_close(1.05, abs_tol=0.06)).to_pydict()
        {'x': [True, True]}
        """
        return self._numeric_call("is_close", (_dynamic(other),), abs_tol=float(abs_tol), rel_tol=float(rel_tol),
                                  nans_equal=builtins.bool(nans_equal))

    # ---- null handling and membership ------------------------------------------------------
    def is_null(self) -> Expr:
        return Call("is_null", (self,))

    def is_not_null(self) -> Expr:
        return Call("is_not_null", (self,))

    def fill_null(self, value: IntoExpr = None, strategy: builtins.str | None = None,
                  limit: int | None = None) -> Expr:
        """Nulls replaced by ``value``, or by ``strategy`` as Polars: "forward"/"backward" (the
        previous/next non-null value, at most ``limit`` in a row; per group under ``over``),
        "min", "max", "mean" (of the column, or of the group), "zero", "one".

        >>> import thresher as th
        >>> df = th.from_pydict({"x": [1, None, None, 4]})
        >>> df.select(th.col("x").fill_null(strategy="forward", limit=1)).to_pydict()
        {'x': [1, 1, None, 4]}
        """
        if strategy is None:
            if limit is not None:
                raise ThresherTypeError("fill_null: 'limit' needs strategy='forward' or 'backward'")
            if value is None:
                raise ThresherTypeError("fill_null needs a value or a strategy")
            return Call("fill_null", (self, _dynamic(value)))
        if value is not None:
            raise ThresherTypeError("fill_null: give a value or a strategy, not both")
        if strategy not in ("forward", "backward", "min", "max", "mean", "zero", "one"):
            raise ThresherTypeError(f"fill_null: strategy must be one of forward, backward, min, max, mean, zero, "
                                    f"one; got {strategy!r}")
        if limit is not None and (strategy not in ("forward", "backward") or not isinstance(limit, int)
                                  or isinstance(limit, builtins.bool) or limit < 0):
            raise ThresherTypeError(f"fill_null: limit must be a non-negative int with strategy='forward' or "
                                    f"'backward', got limit={limit!r} with strategy={strategy!r}")
        return self._window_call("fill_null_strategy", strategy=strategy, limit=limit)

    def forward_fill(self, limit: int | None = None) -> Expr:
        """Each null replaced by the last non-null value before it (at most ``limit`` in a row), as
        Polars; per group, in ``order_by`` order, under ``over``.

        >>> import thresher as th
        >>> th.from_pydict({"x": [None, 1, None, None]}).select(th.col("x").forward_fill()).to_pydict()
        {'x': [None, 1, 1, 1]}
        """
        return self.fill_null(strategy="forward", limit=limit)

    def backward_fill(self, limit: int | None = None) -> Expr:
        """Each null replaced by the first non-null value after it (at most ``limit`` in a row).

        >>> import thresher as th
        >>> th.from_pydict({"x": [None, None, 2, None]}).select(th.col("x").backward_fill(1)).to_pydict()
        {'x': [None, 2, 2, None]}
        """
        return self.fill_null(strategy="backward", limit=limit)

    def is_in(self, values: Iterable[Any], *, nulls_equal: builtins.bool = False) -> Expr:
        """True where the value is one of ``values`` (a list of Python scalars). A NULL value
        gives NULL; with ``nulls_equal=True`` it gives whether ``values`` holds None, as Polars.

        >>> import thresher as th
        >>> f = th.from_pydict({"x": [1, None, 3]})
        >>> f.select(a=th.col("x").is_in([1, None]), b=th.col("x").is_in([1, None], nulls_equal=True)).to_pydict()
        {'a': [True, None, False], 'b': [True, True, False]}
        """
        if isinstance(values, Expr):
            from thresher.errors import UnsupportedError

            raise UnsupportedError(f"is_in({values!r}): is_in of an expression (a column, a list column) is not "
                                   "supported; pass a list of Python values, or use a semi join")
        vals = tuple(values)
        if nulls_equal:
            # (a CASE around the plain is_in: the planner reads an is_in as a comparison, NULLs never matching)
            # (the is_in first: it names the result, as in Polars)
            return when(self.is_not_null()).then(self.is_in(vals)).otherwise(lit(any(v is None for v in vals)))
        return Call("is_in", (self,), (("values", vals),))

    def replace(self, old: Any, new: Any = _NO_NEW) -> Expr:
        """Values equal to one of ``old`` replaced by the matching ``new`` (a scalar for all, or
        a list as long as ``old``; or ``old`` a mapping of old to new values); the rest and the
        type stay, as Polars (None in ``old`` replaces NULLs). Values are Python scalars, or
        ``old`` / ``new`` an expression of one value (an aggregate such as ``col("y").max()``,
        a literal). Polars also reads a column there, as the list of its values: Thresher
        refuses that (use a join with the mapping frame).

        >>> import thresher as th
        >>> f = th.from_pydict({"x": [1, None, 3]})
        >>> f.select(th.col("x").replace({1: 10, None: 0})).to_pydict()
        {'x': [10, 0, 3]}
        >>> f.select(th.col("x").replace(1, th.col("x").max())).to_pydict()
        {'x': [3, None, 3]}
        """
        if new is _NO_NEW:
            if not isinstance(old, Mapping):
                raise TypeError("replace: without `new`, `old` must be a mapping of old to new values")
            old, new = tuple(old.keys()), tuple(old.values())
        if isinstance(old, Expr) or isinstance(new, Expr):
            return self._replace_by_exprs(old, new)
        olds = tuple(old) if isinstance(old, (list, tuple)) else (old,)
        news = tuple(new) if isinstance(new, (list, tuple)) else (new,) * len(olds)
        if any(isinstance(v, Expr) for v in (*olds, *news)):
            from thresher.errors import UnsupportedError

            raise UnsupportedError(f"replace({old!r}, {new!r}): a list of old or new values holding an expression "
                                   "is not supported (Polars refuses it too); give Python values, or one expression")
        if len(olds) != len(news):
            raise ValueError(f"replace: {len(olds)} old values but {len(news)} new values")
        return Call("replace", (self,), (("old", olds), ("new", news)))

    def _replace_by_exprs(self, old: Any, new: Any) -> Expr:
        """``replace`` where ``old`` or ``new`` is an expression: each must give one value."""
        from thresher.errors import UnsupportedError
        from thresher.expressions.window import is_scalar_result

        args: list[Expr] = [self]
        opts: list[tuple[builtins.str, Any]] = []
        for what, v in (("old", old), ("new", new)):
            if isinstance(v, Expr):
                if v.columns() and not is_scalar_result(v):
                    raise UnsupportedError(
                        f"replace: `{what}` = {v!r} reads a column row by row; Polars takes it as the list of the "
                        "column's values (a mapping), which Thresher does not support: give an expression of one "
                        "value (an aggregate, a literal) or Python values, or join with the mapping as a frame")
                args.append(v)
                opts.append((f"{what}_expr", True))
            else:
                vals = tuple(v) if isinstance(v, (list, tuple)) else (v,)
                if any(isinstance(x, Expr) for x in vals):
                    raise UnsupportedError(f"replace: a list of {what} values holding an expression is not supported")
                opts.append((what, vals))
        olds, news = dict(opts).get("old"), dict(opts).get("new")
        if olds is not None and news is not None and len(news) not in (1, len(olds)):
            raise ValueError(f"replace: {len(olds)} old values but {len(news)} new values")
        if news is not None and olds is None and len(news) != 1:
            raise ValueError("replace: an expression of one old value needs one new value")
        return Call("replace", tuple(args), tuple(opts))

    def replace_strict(self, old: Any, new: Any = _NO_NEW, *, default: Any = _NO_NEW,
                       return_dtype: DataType | pa.DataType | str | Any | None = None) -> Expr:
        """Each value mapped through ``old`` -> ``new`` (Python values, as :meth:`replace` takes
        them) into a new type, as Polars: the type of ``new`` (Polars' Series inference, joined
        with a ``default``'s) or ``return_dtype``. A value ``old`` lacks gives ``default`` (a
        Python value, or an expression read row by row: ``default=col("x")`` keeps the values
        the mapping lacks); with no ``default`` a non-NULL one raises when the frame runs.

        >>> import thresher as th
        >>> f = th.from_pydict({"x": [1, None, 3]})
        >>> f.select(th.col("x").replace_strict({1: "a", 3: "c"})).to_pydict()
        {'x': ['a', None, 'c']}
        >>> f.select(th.col("x").replace_strict({1: 1.5}, default=th.col("x"))).to_pydict()
        {'x': [1.5, None, 3.0]}
        """
        if isinstance(old, Expr) or isinstance(new, Expr):
            from thresher.errors import UnsupportedError

            raise UnsupportedError("replace_strict: old and new values must be Python values (a mapping or lists), "
                                   "not expressions; an expression is taken as `default`")
        call = self.replace(old, new)
        assert isinstance(call, Call)
        opts = call.options
        args: tuple[Expr, ...] = (self,)
        if default is not _NO_NEW:
            if isinstance(default, Expr):
                args = (self, default)
                opts += (("default_expr", True),)
            else:
                opts += (("default", default),)
        if return_dtype is not None:
            opts += (("return_dtype", to_dtype(return_dtype)),)
        return Call("replace_strict", args, opts)

    def is_duplicated(self) -> Expr:
        """True where the value occurs more than once in the column (per group under ``over``;
        NULL and NaN count as values), as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, 2, 1, None]}).select(th.col("x").is_duplicated()).to_pydict()
        {'x': [True, False, True, False]}
        """
        return self._window_call("is_duplicated")

    def is_unique(self) -> Expr:
        """True where the value occurs once in the column (per group under ``over``), as Polars."""
        return self._window_call("is_unique")

    def is_first_distinct(self) -> Expr:
        """True on the first row of each value (in row order; per group, in ``order_by`` order,
        under ``over``), as Polars.

        >>> import thresher as th
        >>> df = th.from_pydict({"k": [1, 1, 2, 2], "x": [5, 5, 5, 6]})
        >>> df.select(th.col("x").is_first_distinct().over("k")).to_pydict()
        {'x': [True, False, True, True]}
        """
        return self._window_call("is_first_distinct")

    def is_last_distinct(self) -> Expr:
        """True on the last row of each value (in row order), as Polars."""
        return self._window_call("is_last_distinct")

    def is_between(self, lower: IntoExpr, upper: IntoExpr, closed: str = "both") -> Expr:
        """``lower <= x <= upper`` (``closed`` = "both" | "left" | "right" | "none"); a string
        bound names a column, as in Polars."""
        lo, hi = _expr_or_column(lower), _expr_or_column(upper)
        left = self >= lo if closed in ("both", "left") else self > lo
        right = self <= hi if closed in ("both", "right") else self < hi
        return left & right

    # ---- expressions of their own length (see SeqOp) ---------------------------------------
    def _seq(self, op: builtins.str, **options: Any) -> Expr:
        return SeqOp(op, self, tuple(options.items()))

    def unique(self, *, maintain_order: builtins.bool = False) -> Expr:
        """The distinct values (NULL and NaN are values), in the order of their first row with
        ``maintain_order=True`` (else in no set order, as Polars). Changes the number of rows: see
        :class:`SeqOp` for where it is taken.

        >>> import thresher as th
        >>> df = th.from_pydict({"x": [2, 1, 2, None]})
        >>> df.select(th.col("x").unique(maintain_order=True)).to_pydict()
        {'x': [2, 1, None]}
        """
        return self._seq("unique", maintain_order=builtins.bool(maintain_order))

    def sort(self, *, descending: builtins.bool = False, nulls_last: builtins.bool = False) -> Expr:
        """The values sorted (NULLs first unless ``nulls_last``; NaN above every number), as
        Polars' ``Expr.sort``: in ``select`` it sorts this column alone.

        >>> import thresher as th
        >>> df = th.from_pydict({"x": [2, None, 1], "y": ["a", "b", "c"]})
        >>> df.select(th.col("x").sort(nulls_last=True), "y").rows()
        [(1, 'a'), (2, 'b'), (None, 'c')]
        """
        return self._seq("sort", descending=builtins.bool(descending), nulls_last=builtins.bool(nulls_last))

    def head(self, n: int = 10) -> Expr:
        """The first ``n`` values (Polars' default 10).

        >>> import thresher as th
        >>> th.from_pydict({"x": [5, 6, 7]}).select(th.col("x").head(2)).to_pydict()
        {'x': [5, 6]}
        """
        return self._seq("head", n=_count_arg("head", n))

    limit = head

    def tail(self, n: int = 10) -> Expr:
        """The last ``n`` values (Polars' default 10)."""
        return self._seq("tail", n=_count_arg("tail", n))

    def slice(self, offset: int, length: int | None = None) -> Expr:
        """``length`` values from ``offset`` (negative: from the end), as Polars."""
        if not isinstance(offset, int) or (length is not None and not isinstance(length, int)):
            raise ThresherTypeError("slice: offset and length must be Python ints (not expressions)")
        return self._seq("slice", offset=offset, length=length if length is None else _count_arg("slice", length))

    def reverse(self) -> Expr:
        """The values in reverse order."""
        return self._seq("reverse")

    def sort_by(self, by: Any, *more_by: Any, descending: builtins.bool | Sequence[builtins.bool] = False,
                nulls_last: builtins.bool | Sequence[builtins.bool] = False, multithreaded: builtins.bool = True,
                maintain_order: builtins.bool = False) -> Expr:
        """The values in the order of ``by`` (columns or expressions; ``descending`` and
        ``nulls_last`` per key or for all), stable among ties, as Polars' ``sort_by`` with
        ``maintain_order=True``: in ``select`` it orders this column alone; in ``agg`` each
        group's values (``col("x").sort_by("t").last()``: x at the greatest t).

        >>> import thresher as th
        >>> df = th.from_pydict({"k": ["a", "a", "b"], "x": [1, 2, 3], "t": [9, 5, 7]})
        >>> df.select(th.col("x").sort_by("t")).to_pydict()
        {'x': [2, 3, 1]}
        >>> df.group_by("k", maintain_order=True).agg(th.col("x").sort_by("t").last()).rows()
        [('a', 1), ('b', 3)]
        """
        del multithreaded, maintain_order  # (the sort is stable either way)
        items = [*(by if isinstance(by, (list, tuple)) else [by]), *more_by]
        keys = tuple(_expr_or_column(b) for b in items)
        if not keys:
            raise ThresherTypeError("sort_by needs at least one key")
        desc = (descending,) * len(keys) if isinstance(descending, builtins.bool) else tuple(descending)
        nl = (nulls_last,) * len(keys) if isinstance(nulls_last, builtins.bool) else tuple(nulls_last)
        if len(desc) != len(keys) or len(nl) != len(keys):
            raise ThresherTypeError("sort_by: descending/nulls_last must have one value per key")
        return self._seq("sort_by", by=keys, descending=desc, nulls_last=nl)

    def drop_nulls(self) -> Expr:
        """The values without the NULLs.

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, None, 3]}).select(th.col("x").drop_nulls()).to_pydict()
        {'x': [1, 3]}
        """
        return self._seq("drop_nulls")

    def drop_nans(self) -> Expr:
        """The values without the NaNs (NULLs stay), as Polars."""
        return self._seq("drop_nans")

    def top_k(self, k: int = 5) -> Expr:
        """The ``k`` largest values (NaN above every number; NULLs only when fewer than ``k``
        values are not NULL), largest first. Polars returns the same values in no set order.

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, None, 5, 3]}).select(th.col("x").top_k(2)).to_pydict()
        {'x': [5, 3]}
        """
        return self._seq("top_k", k=_count_arg("top_k", k))

    def bottom_k(self, k: int = 5) -> Expr:
        """The ``k`` smallest values (NULLs only when fewer than ``k`` are not NULL), smallest
        first. Polars returns the same values in no set order."""
        return self._seq("bottom_k", k=_count_arg("bottom_k", k))

    def gather_every(self, n: int, offset: int = 0) -> Expr:
        """Every ``n``-th value from ``offset``, as Polars."""
        return self._seq("gather_every", n=_count_arg("gather_every", n), offset=_count_arg("gather_every", offset))

    def value_counts(self, *, sort: builtins.bool = False, parallel: builtins.bool = False,
                     name: builtins.str | None = None, normalize: builtins.bool = False) -> Expr:
        """Each distinct value with the number of rows holding it, as Polars' ``value_counts``: a
        struct column ``{<column>: value, count: n}`` (``name`` renames the count; ``normalize``
        gives the share of the rows, a float64 named ``proportion``), most frequent first with
        ``sort=True`` (ties in the order of their first row). NULL and NaN are values. Differs
        from Polars: the count is int64 (Polars: u32), and without ``sort`` the values come in the
        order of their first row (Polars: no set order). ``parallel`` is accepted and ignored.

        >>> import thresher as th
        >>> df = th.from_pydict({"x": ["a", "b", "b", None]})
        >>> df.select(th.col("x").value_counts(sort=True)).unnest("x").rows()
        [('b', 2), ('a', 1), (None, 1)]
        """
        del parallel
        out = name if name is not None else ("proportion" if normalize else "count")
        return self._seq("value_counts", sort=builtins.bool(sort), name=out, normalize=builtins.bool(normalize))

    def unique_counts(self) -> Expr:
        """The number of rows of each distinct value, in the order of the values' first rows (as
        Polars; int64 where Polars gives u32).

        >>> import thresher as th
        >>> th.from_pydict({"x": [2, 1, 2]}).select(th.col("x").unique_counts()).to_pydict()
        {'x': [2, 1]}
        """
        return self._seq("unique_counts")

    def mode(self, *, maintain_order: builtins.bool = False) -> Expr:
        """The most frequent value(s) (all of them on a tie; NULL and NaN are values), in the order
        of their first row (Polars: that order with ``maintain_order=True``, else none).

        >>> import thresher as th
        >>> th.from_pydict({"x": [3, 1, 3, 1, 2]}).select(th.col("x").mode()).to_pydict()
        {'x': [3, 1]}
        """
        del maintain_order
        return self._seq("mode")

    # ---- aggregations -----------------------------------------------------------------------
    def filter(self, *predicates: IntoExpr) -> _Filtered:
        """The values where every predicate is true, to aggregate (Polars' ``col(x).filter(p).sum()``
        in ``agg``/``select``/``over``): sum, mean, min, max, count, len, std, var, median and
        quantile (each the aggregation of ``when(p).then(x)``: they skip the NULLs that leaves).

        >>> col("x").filter(col("y") > 0).sum()
        when((col("y") > 0)).then(col("x")).otherwise(None).sum().alias("x")
        """
        if not predicates:
            raise ThresherTypeError("filter() needs a predicate")
        cond = _expr_or_column(predicates[0])
        for p in predicates[1:]:
            cond = cond & _expr_or_column(p)
        return _Filtered(self, cond)

    def sum(self) -> Expr:
        """The sum of the non-null values; Polars' semantics: 0 when there are none.

        SQL (``th.sql``) follows DuckDB instead: ``SUM`` over no non-NULL values is NULL.
        """
        return AggCall("sum", self)

    def mean(self) -> Expr:
        return AggCall("mean", self)

    def min(self) -> Expr:
        return AggCall("min", self)

    def max(self) -> Expr:
        return AggCall("max", self)

    def count(self) -> Expr:
        """Number of non-null values."""
        return AggCall("count", self)

    def len(self) -> Expr:
        """Number of values, NULLs included (int64; Polars: u32), as Polars' ``Expr.len``."""
        if any(isinstance(x, SeqOp) for x in self.walk()):  # (its own length, not the frame's rows)
            return AggCall("count", self.is_null())  # (named as the column it reads, as Polars)
        return Alias(CountStar(), self.output_name())

    def null_count(self) -> Expr:
        """Number of null values (int64; Polars: u32).

        >>> col("x").null_count()
        col("x").is_null().sum()
        """
        return AggCall("sum", self.is_null())

    def n_unique(self) -> Expr:
        """Number of distinct values, null counted as one (as Polars; SQL's ``count(distinct x)``
        does not count it)."""
        return AggCall("n_unique", self, (("nulls", True),))

    def first(self, *, ignore_nulls: builtins.bool = False) -> Expr:
        """The group's first value (``ignore_nulls``: its first non-null one), as Polars."""
        return AggCall("first", self, (("ignore_nulls", True),) if ignore_nulls else ())

    def last(self, *, ignore_nulls: builtins.bool = False) -> Expr:
        """The group's last value (``ignore_nulls``: its last non-null one), as Polars."""
        return AggCall("last", self, (("ignore_nulls", True),) if ignore_nulls else ())

    def std(self, ddof: int = 1) -> Expr:
        return AggCall("std", self, (("ddof", ddof),))

    def var(self, ddof: int = 1) -> Expr:
        return AggCall("var", self, (("ddof", ddof),))

    def median(self) -> Expr:
        return AggCall("median", self)

    def quantile(self, quantile: float, interpolation: builtins.str = "nearest") -> Expr:
        """The ``quantile`` (0..1) of the group's values (Polars' interpolation methods).

        >>> col("x").quantile(0.25)
        col("x").quantile()
        """
        if not 0.0 <= float(quantile) <= 1.0:
            raise ValueError(f"quantile must be between 0 and 1, got {quantile}")
        return AggCall("quantile", self, (("quantile", float(quantile)), ("interpolation", interpolation)))

    def agg_list(self) -> Expr:
        """Collect the group's values into a list."""
        return AggCall("agg_list", self)

    def implode(self, *, maintain_order: builtins.bool = True) -> Expr:
        """All the values (NULLs too) as one list, in row order; per group in ``agg``. Polars'
        name of :meth:`agg_list`.

        >>> import thresher as th
        >>> th.from_pydict({"x": [2, None, 1]}).select(th.col("x").implode()).to_pydict()
        {'x': [[2, None, 1]]}
        """
        del maintain_order  # (the values stay in row order either way)
        return AggCall("agg_list", self)

    def any(self) -> Expr:
        return AggCall("any", self)

    def all(self) -> Expr:
        return AggCall("all", self)

    def has_nulls(self) -> Expr:
        """True where the column (the group) holds a NULL, as Polars."""
        return AggCall("any", Call("is_null", (self,)))

    def product(self) -> Expr:
        """The product of the non-null values, as Polars' ``product``: 1 where there is none; an
        integer or boolean column multiplies in int64 (uint64 stays uint64, wrapping on overflow
        as Polars does), a float or decimal keeps its type. SQL's ``product`` follows DuckDB
        instead (a double, NULL over no value).

        >>> import thresher as th
        >>> df = th.from_pydict({"k": ["a", "a", "b"], "x": [2, 3, None]})
        >>> df.group_by("k", maintain_order=True).agg(th.col("x").product()).rows()
        [('a', 6), ('b', 1)]
        """
        return AggCall("product", self, (("polars", True),))

    def arg_max(self) -> Expr:
        """The position (uint32, from 0) of the largest value (its first row among ties; NULLs
        and NaN skipped; NULL where there is no value), per group in ``agg``, as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"x": [3, None, 7, 7]}).select(th.col("x").arg_max()).to_pydict()
        {'x': [2]}
        """
        return AggCall("arg_max", self)

    def arg_min(self) -> Expr:
        """The position (uint32, from 0) of the smallest value (see :meth:`arg_max`), as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"x": [3, None, 1, 1]}).select(th.col("x").arg_min()).to_pydict()
        {'x': [2]}
        """
        return AggCall("arg_min", self)

    def max_by(self, by: IntoExpr) -> Expr:
        """The value at the row with the greatest ``by`` (a column name or an expression; rows
        where ``by`` is NULL skipped, NULL where every one is; among tied rows the one Polars
        picks, which differs between its plans), per group in ``agg``, as Polars' ``max_by``.
        SQL's ``arg_max`` / ``max_by`` follow DuckDB instead (rows where the value is NULL are
        skipped too, the first of tied rows).

        >>> import thresher as th
        >>> df = th.from_pydict({"k": ["a", "a", "b"], "x": [1, 2, 3], "t": [9, 5, None]})
        >>> df.group_by("k", maintain_order=True).agg(th.col("x").max_by("t")).rows()
        [('a', 1), ('b', None)]
        """
        return AggCall("max_by", Call("struct.value_by", (self, _expr_or_column(by))), (("polars", True),))

    def min_by(self, by: IntoExpr) -> Expr:
        """The value at the row with the least ``by`` (see :meth:`max_by`), as Polars."""
        return AggCall("min_by", Call("struct.value_by", (self, _expr_or_column(by))), (("polars", True),))

    def skew(self, *, bias: builtins.bool = True) -> Expr:
        """The sample skewness (float64; NULLs skipped), per group in ``agg``, as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, 2, 2, 9]}).select(th.col("x").skew().round(3)).to_pydict()
        {'x': [1.097]}
        """
        return AggCall("skew", self, (("bias", builtins.bool(bias)),))

    def kurtosis(self, *, fisher: builtins.bool = True, bias: builtins.bool = True) -> Expr:
        """The sample kurtosis (Fisher's by default; float64), per group in ``agg``, as Polars."""
        return AggCall("kurtosis", self, (("bias", builtins.bool(bias)), ("fisher", builtins.bool(fisher))))

    def entropy(self, base: float = math.e, *, normalize: builtins.bool = True) -> Expr:
        """The entropy of the values taken as probabilities (normalized to sum 1 unless
        ``normalize=False``), per group in ``agg``, as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, 1]}).select(th.col("x").entropy(base=2)).to_pydict()
        {'x': [1.0]}
        """
        return AggCall("entropy", self, (("base", float(base)), ("normalize", builtins.bool(normalize))))

    def nan_max(self) -> Expr:
        """The largest value, NaN the largest of all (Polars' ``nan_max``; ``max`` skips NaN)."""
        return AggCall("nan_max", self)

    def nan_min(self) -> Expr:
        """The smallest value, NaN the smallest of all (Polars' ``nan_min``)."""
        return AggCall("nan_min", self)

    def approx_n_unique(self) -> Expr:
        """Polars' estimate of the number of distinct values (uint32; HyperLogLog: exact on
        small columns), per group in ``agg``."""
        return AggCall("approx_n_unique", self)

    def index_of(self, element: Any) -> Expr:
        """The position (uint32, from 0) of the first value equal to ``element`` (a Python value;
        None finds the first NULL), NULL where there is none, as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"x": [5, None, 7, 7]}).select(th.col("x").index_of(7)).to_pydict()
        {'x': [2]}
        """
        if isinstance(element, Expr):
            from thresher.errors import UnsupportedError

            raise UnsupportedError("index_of: element must be a Python value, not an expression")
        return AggCall("index_of", self, (("element", element),))

    def search_sorted(self, element: Any, side: builtins.str = "any", *, descending: builtins.bool = False) -> Expr:
        """Where ``element`` (a Python value) would go to keep the sorted column sorted (uint32),
        as Polars; the column must be sorted (``descending`` says which way).

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, 3, 5]}).select(th.col("x").search_sorted(4)).to_pydict()
        {'x': [2]}
        """
        if isinstance(element, Expr) or isinstance(element, (list, tuple)):
            from thresher.errors import UnsupportedError

            raise UnsupportedError("search_sorted: element must be one Python value (not an expression or a list)")
        if side not in ("any", "left", "right"):
            raise ThresherTypeError(f"search_sorted: side must be 'any', 'left' or 'right', got {side!r}")
        return AggCall("search_sorted", self, (("element", element), ("side", side),
                                               ("descending", builtins.bool(descending))))

    def bitwise_and(self) -> Expr:
        """The bitwise AND of the integers (NULLs skipped; NULL where there is none), as Polars."""
        return AggCall("bit_and", self)

    def bitwise_or(self) -> Expr:
        """The bitwise OR of the integers (NULLs skipped; NULL where there is none), as Polars."""
        return AggCall("bit_or", self)

    def bitwise_xor(self) -> Expr:
        """The bitwise XOR of the integers (NULLs skipped; NULL where there is none), as Polars."""
        return AggCall("bit_xor", self)

    # ---- windows (Polars semantics; see expressions/window.py) ------------------------------
    def over(self, partition_by: Any = None, *more_exprs: Any, order_by: Any = None, descending: builtins.bool = False,
             nulls_last: builtins.bool = False, mapping_strategy: builtins.str = "group_to_rows") -> Expr:
        """Evaluate this expression per group of ``partition_by``, rows sorted by ``order_by``; results
        go back to the rows (``mapping_strategy="join"``: each row gets its group's list;
        ``"explode"``: the groups' results one after another, groups in the order of their first
        row, a column of its own length, as Polars). An expression that changes the length
        (``col("x").unique()``, ``.head(n)``) takes ``"join"`` or ``"explode"``; one that keeps
        it (``.sort()``, ``.reverse()``) also the default.

        Examples
        --------
        >>> import thresher as th
        >>> df = th.from_pydict({"k": ["a", "b", "a"], "d": [2, 1, 1], "x": [10, 20, 30]})
        >>> df.with_columns(s=th.col("x").cum_sum().over("k", order_by="d")).to_pydict()["s"]
        [40, 20, 30]
        >>> df.select(th.col("x").sort(descending=True).over("k")).to_pydict()
        {'x': [30, 20, 10]}
        >>> df.select(th.col("x").head(1).over("k", mapping_strategy="explode")).to_pydict()
        {'x': [10, 20]}
        """
        from thresher.expressions.window import Over

        def exprs(v: Any) -> tuple[Expr, ...]:
            if v is None:
                return ()
            items = v if isinstance(v, (list, tuple)) else [v]
            return tuple(Column(i) if isinstance(i, builtins.str) else lit_if_needed(i) for i in items)

        part = exprs(partition_by) + exprs(list(more_exprs))
        order = exprs(order_by)
        for k in (*part, *order):
            if any(isinstance(n, Over) for n in k.walk()):
                from thresher.errors import UnsupportedError

                raise UnsupportedError(f"over(): a key holding an over ({k!r}) is not supported; compute it "
                                       "in a with_columns first")
        if mapping_strategy == "explode":  # (a column of its own length: planned as a SeqOp, see frame_seq)
            if order:
                from thresher.errors import UnsupportedError

                raise UnsupportedError("over(mapping_strategy='explode', order_by=...) is not supported: sort the "
                                       "frame first, or use mapping_strategy='join'")
            if not part:
                raise ThresherTypeError("over(mapping_strategy='explode') needs partition_by")
            return SeqOp("over_explode", self, (("partition_by", part),))
        return Over(self, part, order, descending, nulls_last, mapping_strategy)

    def _window_call(self, name: builtins.str, args: tuple[Expr, ...] = (), **opts: Any) -> Expr:
        import thresher.expressions.window  # noqa: F401  (registers the functions)

        return Call(name, (self, *args), tuple((k, v) for k, v in opts.items() if v is not None))

    def cum_sum(self, *, reverse: builtins.bool = False) -> Expr:
        """Cumulative sum in row order (per group under ``over``).

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, 2, 3]}).select(th.col("x").cum_sum()).to_pydict()
        {'x': [1, 3, 6]}
        """
        return self._window_call("cum_sum", reverse=reverse)

    def cum_count(self, *, reverse: builtins.bool = False) -> Expr:
        """Running count of non-null values."""
        return self._window_call("cum_count", reverse=reverse)

    def cum_min(self, *, reverse: builtins.bool = False) -> Expr:
        """Running minimum."""
        return self._window_call("cum_min", reverse=reverse)

    def cum_max(self, *, reverse: builtins.bool = False) -> Expr:
        """Running maximum."""
        return self._window_call("cum_max", reverse=reverse)

    def cum_prod(self, *, reverse: builtins.bool = False) -> Expr:
        """Running product."""
        return self._window_call("cum_prod", reverse=reverse)

    def shift(self, n: int = 1, *, fill_value: IntoExpr | None = None) -> Expr:
        """The value ``n`` rows earlier (``n`` < 0: later); ``fill_value`` where there is none.

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, 2, 3]}).select(th.col("x").shift(1, fill_value=0)).to_pydict()
        {'x': [0, 1, 2]}
        """
        if not isinstance(n, int) or isinstance(n, builtins.bool):
            raise ThresherTypeError(f"shift: n must be an int, got {n!r}" + (
                " (shift by an expression is not supported)" if isinstance(n, Expr) else ""))
        fill = () if fill_value is None else (lit_if_needed(fill_value),)
        return self._window_call("shift", fill, n=n)

    def rank(self, method: builtins.str = "average", *, descending: builtins.bool = False,
             seed: int | None = None) -> Expr:
        """Rank of each value ("average", "min", "max", "dense", "ordinal", "random"), as Polars."""
        return self._window_call("rank", method=method, descending=descending, seed=seed)

    def _rolling(self, name: builtins.str, window_size: int, weights: Sequence[float] | None,
                 min_samples: int | None, center: builtins.bool, **extra: Any) -> Expr:
        return self._window_call(name, window_size=window_size,
                                 weights=tuple(weights) if weights is not None else None,
                                 min_samples=min_samples, center=center, **extra)

    def rolling_sum(self, window_size: int, weights: Sequence[float] | None = None, *, min_samples: int | None = None,
                    center: builtins.bool = False) -> Expr:
        """Sum over the last ``window_size`` rows (null until ``min_samples`` values, default the window).

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, 2, 3]}).select(th.col("x").rolling_sum(2)).to_pydict()
        {'x': [None, 3, 5]}
        """
        return self._rolling("rolling_sum", window_size, weights, min_samples, center)

    def rolling_mean(self, window_size: int, weights: Sequence[float] | None = None, *,
                     min_samples: int | None = None, center: builtins.bool = False) -> Expr:
        """Mean over the last ``window_size`` rows."""
        return self._rolling("rolling_mean", window_size, weights, min_samples, center)

    def rolling_min(self, window_size: int, weights: Sequence[float] | None = None, *,
                    min_samples: int | None = None, center: builtins.bool = False) -> Expr:
        """Minimum over the last ``window_size`` rows."""
        return self._rolling("rolling_min", window_size, weights, min_samples, center)

    def rolling_max(self, window_size: int, weights: Sequence[float] | None = None, *,
                    min_samples: int | None = None, center: builtins.bool = False) -> Expr:
        """Maximum over the last ``window_size`` rows."""
        return self._rolling("rolling_max", window_size, weights, min_samples, center)

    def rolling_std(self, window_size: int, weights: Sequence[float] | None = None, *,
                    min_samples: int | None = None, center: builtins.bool = False, ddof: int = 1) -> Expr:
        """Standard deviation over the last ``window_size`` rows."""
        return self._rolling("rolling_std", window_size, weights, min_samples, center, ddof=ddof)

    def rolling_var(self, window_size: int, weights: Sequence[float] | None = None, *,
                    min_samples: int | None = None, center: builtins.bool = False, ddof: int = 1) -> Expr:
        """Variance over the last ``window_size`` rows."""
        return self._rolling("rolling_var", window_size, weights, min_samples, center, ddof=ddof)

    def rolling_median(self, window_size: int, weights: Sequence[float] | None = None, *,
                       min_samples: int | None = None, center: builtins.bool = False) -> Expr:
        """Median over the last ``window_size`` rows.

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, 5, 2, 8]}).select(th.col("x").rolling_median(3, min_samples=1)).to_pydict()
        {'x': [1.0, 3.0, 2.0, 5.0]}
        """
        return self._rolling("rolling_median", window_size, weights, min_samples, center)

    def rolling_quantile(self, quantile: float, interpolation: builtins.str = "nearest", window_size: int = 2,
                         weights: Sequence[float] | None = None, *, min_samples: int | None = None,
                         center: builtins.bool = False) -> Expr:
        """The ``quantile`` (0..1) over the last ``window_size`` rows (Polars' interpolation methods).

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, 5, 2, 8]}).select(th.col("x").rolling_quantile(0.5, "linear", 2)).to_pydict()
        {'x': [None, 3.0, 3.5, 5.0]}
        """
        if isinstance(quantile, builtins.bool) or not isinstance(quantile, (int, float)) \
                or not 0.0 <= float(quantile) <= 1.0:
            raise ThresherTypeError(f"rolling_quantile: quantile must be a number between 0 and 1, got {quantile!r}")
        return self._rolling("rolling_quantile", window_size, weights, min_samples, center,
                             quantile=float(quantile), interpolation=interpolation)

    def rolling_skew(self, window_size: int, *, bias: builtins.bool = True, min_samples: int | None = None,
                     center: builtins.bool = False) -> Expr:
        """Skewness over the last ``window_size`` rows, as Polars."""
        return self._rolling("rolling_skew", window_size, None, min_samples, center, bias=bias)

    def rolling_kurtosis(self, window_size: int, *, fisher: builtins.bool = True, bias: builtins.bool = True,
                         min_samples: int | None = None, center: builtins.bool = False) -> Expr:
        """Kurtosis over the last ``window_size`` rows, as Polars."""
        return self._rolling("rolling_kurtosis", window_size, None, min_samples, center, fisher=fisher, bias=bias)

    def rolling_rank(self, window_size: int, method: builtins.str = "average", *, seed: int | None = None,
                     min_samples: int | None = None, center: builtins.bool = False) -> Expr:
        """The rank of each value among the last ``window_size`` rows (float64), as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"x": [3, 1, 2, 5]}).select(th.col("x").rolling_rank(2)).to_pydict()
        {'x': [None, 1.0, 2.0, 2.0]}
        """
        if method not in ("average", "min", "max", "dense", "random"):
            raise ThresherTypeError(f"rolling_rank: unknown method {method!r}")
        return self._rolling("rolling_rank", window_size, None, min_samples, center, method=method, seed=seed)

    def interpolate(self, method: builtins.str = "linear") -> Expr:
        """Nulls between two values filled by a straight line between them ("linear", float64) or
        by the nearer of the two ("nearest", the column's type), as Polars; leading and trailing
        nulls stay.

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, None, 4, None]}).select(th.col("x").interpolate()).to_pydict()
        {'x': [1.0, 2.5, 4.0, None]}
        """
        if method not in ("linear", "nearest"):
            raise ThresherTypeError(f"interpolate: method must be 'linear' or 'nearest', got {method!r}")
        return self._window_call("interpolate", method=method)

    def _ewm(self, name: builtins.str, com: float | None, span: float | None, half_life: float | None,
             alpha: float | None, adjust: builtins.bool, min_samples: int, ignore_nulls: builtins.bool,
             bias: builtins.bool | None = None) -> Expr:
        if sum(v is not None for v in (com, span, half_life, alpha)) != 1:
            raise ThresherTypeError(f"{name}: give exactly one of com, span, half_life, alpha")
        return self._window_call(name, com=com, span=span, half_life=half_life, alpha=alpha, adjust=adjust,
                                 min_samples=min_samples, ignore_nulls=ignore_nulls, bias=bias)

    def ewm_mean(self, *, com: float | None = None, span: float | None = None, half_life: float | None = None,
                 alpha: float | None = None, adjust: builtins.bool = True, min_samples: int = 1,
                 ignore_nulls: builtins.bool = False) -> Expr:
        """Exponentially weighted mean in row order (per group under ``over``), as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, 2, 3]}).select(th.col("x").ewm_mean(alpha=0.5, adjust=False)).to_pydict()
        {'x': [1.0, 1.5, 2.25]}
        """
        return self._ewm("ewm_mean", com, span, half_life, alpha, adjust, min_samples, ignore_nulls)

    def ewm_std(self, *, com: float | None = None, span: float | None = None, half_life: float | None = None,
                alpha: float | None = None, adjust: builtins.bool = True, bias: builtins.bool = False,
                min_samples: int = 1, ignore_nulls: builtins.bool = False) -> Expr:
        """Exponentially weighted standard deviation, as Polars."""
        return self._ewm("ewm_std", com, span, half_life, alpha, adjust, min_samples, ignore_nulls, bias)

    def ewm_var(self, *, com: float | None = None, span: float | None = None, half_life: float | None = None,
                alpha: float | None = None, adjust: builtins.bool = True, bias: builtins.bool = False,
                min_samples: int = 1, ignore_nulls: builtins.bool = False) -> Expr:
        """Exponentially weighted variance, as Polars."""
        return self._ewm("ewm_var", com, span, half_life, alpha, adjust, min_samples, ignore_nulls, bias)

    def rle_id(self) -> Expr:
        """A run id: it starts at 0 and grows by one wherever the value changes from the row
        before (null a value of its own), as Polars (uint32).

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, 1, 2, 1]}).select(th.col("x").rle_id()).to_pydict()
        {'x': [0, 0, 1, 2]}
        """
        return self._window_call("rle_id")

    def diff(self, n: int = 1, null_behavior: builtins.str = "ignore") -> Expr:
        """This value minus the one ``n`` rows earlier (``n`` < 0: later), as Polars.

        >>> import thresher as th
        >>> th.from_pydict({"x": [1, 4, 9]}).select(th.col("x").diff()).to_pydict()
        {'x': [None, 3, 5]}
        """
        if not isinstance(n, int) or isinstance(n, builtins.bool):
            raise ThresherTypeError(f"diff: n must be an int, got {n!r}")
        if null_behavior not in ("ignore", "drop"):
            raise ThresherTypeError(f"diff: null_behavior must be 'ignore' or 'drop', got {null_behavior!r}")
        if null_behavior == "drop":
            from thresher.errors import UnsupportedError

            raise UnsupportedError("diff(null_behavior='drop') is not supported (it changes the column's length)")
        return self._window_call("diff", n=n)

    def pct_change(self, n: int = 1) -> Expr:
        """The change from the value ``n`` rows earlier, as a fraction of it (Polars' ``pct_change``)."""
        if not isinstance(n, int) or isinstance(n, builtins.bool):
            raise ThresherTypeError(f"pct_change: n must be an int, got {n!r}")
        return self._window_call("pct_change", n=n)

    def _rolling_by(self, name: builtins.str, by: IntoExpr, window_size: builtins.str | datetime.timedelta,
                    min_samples: int | None, closed: builtins.str, **extra: Any) -> Expr:
        if isinstance(window_size, datetime.timedelta):
            window_size = f"{window_size // datetime.timedelta(microseconds=1)}us"
        by_e = Column(by) if isinstance(by, builtins.str) else lit_if_needed(by)
        return self._window_call(name, (by_e,), window_size=window_size, min_samples=min_samples, closed=closed,
                                 **extra)

    def rolling_sum_by(self, by: IntoExpr, window_size: builtins.str | datetime.timedelta, *,
                       min_samples: int | None = None, closed: builtins.str = "right") -> Expr:
        """Sum over the rows whose ``by`` value lies in the ``window_size`` before this row's
        (``closed="right"``: ``(by - window_size, by]``), as Polars' ``rolling_sum_by``. ``by`` is a
        date, datetime or integer column, in any order; ``window_size`` a Polars duration such as
        ``"7d"``, ``"2h"``, ``"1mo"`` (or ``"3i"`` for an integer ``by``). SQL's ``RANGE BETWEEN
        INTERVAL 6 DAYS PRECEDING AND CURRENT ROW`` is ``rolling_sum_by(d, "7d")``.

        >>> import datetime, thresher as th
        >>> df = th.from_pydict({"d": [datetime.date(2024, 1, n) for n in (1, 2, 5)], "x": [1, 2, 3]})
        >>> df.select(th.col("x").rolling_sum_by("d", "2d")).to_pydict()
        {'x': [1, 3, 3]}
        """
        return self._rolling_by("rolling_sum_by", by, window_size, min_samples, closed)

    def rolling_mean_by(self, by: IntoExpr, window_size: builtins.str | datetime.timedelta, *,
                        min_samples: int | None = None, closed: builtins.str = "right") -> Expr:
        """Mean over a ``window_size`` of ``by`` (see :meth:`rolling_sum_by`)."""
        return self._rolling_by("rolling_mean_by", by, window_size, min_samples, closed)

    def rolling_min_by(self, by: IntoExpr, window_size: builtins.str | datetime.timedelta, *,
                       min_samples: int | None = None, closed: builtins.str = "right") -> Expr:
        """Minimum over a ``window_size`` of ``by`` (see :meth:`rolling_sum_by`)."""
        return self._rolling_by("rolling_min_by", by, window_size, min_samples, closed)

    def rolling_max_by(self, by: IntoExpr, window_size: builtins.str | datetime.timedelta, *,
                       min_samples: int | None = None, closed: builtins.str = "right") -> Expr:
        """Maximum over a ``window_size`` of ``by`` (see :meth:`rolling_sum_by`)."""
        return self._rolling_by("rolling_max_by", by, window_size, min_samples, closed)

    def rolling_std_by(self, by: IntoExpr, window_size: builtins.str | datetime.timedelta, *,
                       min_samples: int | None = None, closed: builtins.str = "right", ddof: int = 1) -> Expr:
        """Standard deviation over a ``window_size`` of ``by`` (see :meth:`rolling_sum_by`)."""
        return self._rolling_by("rolling_std_by", by, window_size, min_samples, closed, ddof=ddof)

    def rolling_var_by(self, by: IntoExpr, window_size: builtins.str | datetime.timedelta, *,
                       min_samples: int | None = None, closed: builtins.str = "right", ddof: int = 1) -> Expr:
        """Variance over a ``window_size`` of ``by`` (see :meth:`rolling_sum_by`)."""
        return self._rolling_by("rolling_var_by", by, window_size, min_samples, closed, ddof=ddof)

    def rolling_median_by(self, by: IntoExpr, window_size: builtins.str | datetime.timedelta, *,
                          min_samples: int | None = None, closed: builtins.str = "right") -> Expr:
        """Median over a ``window_size`` of ``by`` (see :meth:`rolling_sum_by`)."""
        return self._rolling_by("rolling_median_by", by, window_size, min_samples, closed)

    def rolling_quantile_by(self, by: IntoExpr, window_size: builtins.str | datetime.timedelta, *,
                            quantile: float, interpolation: builtins.str = "nearest", min_samples: int | None = None,
                            closed: builtins.str = "right") -> Expr:
        """The ``quantile`` over a ``window_size`` of ``by`` (see :meth:`rolling_sum_by`)."""
        if isinstance(quantile, builtins.bool) or not isinstance(quantile, (int, float)) \
                or not 0.0 <= float(quantile) <= 1.0:
            raise ThresherTypeError(f"rolling_quantile_by: quantile must be a number between 0 and 1, got {quantile!r}")
        return self._rolling_by("rolling_quantile_by", by, window_size, min_samples, closed,
                                quantile=float(quantile), interpolation=interpolation)

    def minhash(
        self, num_perm: int = 128, ngram: int = 5, unit: builtins.str = "char", seed: int = 1,
        hash: builtins.str = "poly64",
    ) -> Expr:
        """MinHash signature of a text column: ``fixed_size_list<uint32, num_perm>``.

        Shingles are ``ngram`` characters (``unit="char"``) or words (``unit="word"``). With
        ``hash="sha1_32"`` the signature equals datasketch's ``MinHash`` for the same shingles.
        """
        return Call("minhash", (self,), (("num_perm", num_perm), ("ngram", ngram), ("unit", unit), ("seed", seed),
                                         ("hash", hash)))

    # ---- namespaces -------------------------------------------------------------------------
    @property
    def str(self) -> StringNamespace:
        return _namespace("string", "StringNamespace")(self)  # type: ignore[no-any-return]

    @property
    def dt(self) -> DateTimeNamespace:
        return _namespace("datetime", "DateTimeNamespace")(self)  # type: ignore[no-any-return]

    @property
    def list(self) -> ListNamespace:
        return _namespace("list", "ListNamespace")(self)  # type: ignore[no-any-return]

    @property
    def struct(self) -> StructNamespace:
        return _namespace("struct", "StructNamespace")(self)  # type: ignore[no-any-return]

    @property
    def url(self) -> UrlNamespace:
        return _namespace("url", "UrlNamespace")(self)  # type: ignore[no-any-return]

    @property
    def image(self) -> ImageNamespace:
        return _namespace("image", "ImageNamespace")(self)  # type: ignore[no-any-return]

    @property
    def video(self) -> VideoNamespace:
        return _namespace("video", "VideoNamespace")(self)  # type: ignore[no-any-return]

    @property
    def audio(self) -> AudioNamespace:
        return _namespace("audio", "AudioNamespace")(self)  # type: ignore[no-any-return]

    @property
    def tensor(self) -> TensorNamespace:
        return _namespace("tensor", "TensorNamespace")(self)  # type: ignore[no-any-return]

    @property
    def embedding(self) -> EmbeddingNamespace:
        return _namespace("embedding", "EmbeddingNamespace")(self)  # type: ignore[no-any-return]

    def __getattr__(self, name: builtins.str) -> Any:
        ns = _USER_NAMESPACES.get(name)
        if ns is not None:
            return ns(self)
        hint = POLARS_EXPR_UNSUPPORTED.get(name)
        if hint is not None:
            from thresher.errors import UnsupportedMethodError

            err = UnsupportedMethodError(f"Expr.{name}() (Polars') is not supported by Thresher" +
                                         (f"; use {hint}" if hint else ""))
            err.name, err.obj = name, self
            raise err
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def pipe(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``function(self, *args, **kwargs)``, as Polars' ``Expr.pipe``.

        >>> col("x").pipe(lambda e, n: e * n, 2)
        (col("x") * 2)
        """
        return function(self, *args, **kwargs)


_USER_NAMESPACES: dict[str, Callable[[Expr], Any]] = {}

#: Polars' namespace methods Thresher does not have (``"str.join"`` -> the nearest supported
#: spelling, or ""): each raises an ``UnsupportedMethodError`` naming it (see :func:`namespace_miss`)
POLARS_NAMESPACE_UNSUPPORTED: dict[str, str] = {
    "str.join": "implode().list.join(separator) (or str.concat in agg)",
    "str.replace_many": "chained str.replace(...) calls",
    "str.extract_many": "str.extract_all(pattern)",
    "str.find_many": "str.find(pattern)",
    "str.to_time": "str.to_datetime(...) then dt.time() in Polars, or a UDF",
    "str.encode": "a UDF", "str.decode": "a UDF",
    "dt.replace_time_zone": "cast(...) to a timestamp of the wanted zone",
    "dt.convert_time_zone": "cast(...) to a timestamp of the wanted zone",
    "dt.cast_time_unit": "cast(...) to a timestamp of the wanted unit",
    "dt.time": "", "dt.combine": "", "dt.replace": "", "dt.base_utc_offset": "", "dt.dst_offset": "",
    "dt.add_business_days": "", "dt.is_business_day": "",
    "list.explode": "DataFrame.explode(column)",
    "list.eval": "", "list.agg": "list.eval(...)", "list.filter": "list.eval(th.element().filter(...))",
    "list.concat": "", "list.gather": "list.get(index) per index", "list.item": "list.first()",
    "list.sample": "", "list.to_array": "", "list.to_struct": "list.get(i) per field in th.struct(...)",
    "list.to_map": "",
    **{f"list.set_{op}": "" for op in ("union", "difference", "intersection", "symmetric_difference")},
    "struct.rename_fields": "th.struct(col.struct.field(a).alias(b), ...)",
    "struct.with_fields": "th.struct(...) of the fields", "struct.unnest": "DataFrame.unnest(column)",
    "struct.json_encode": "", "struct.drop": "th.struct(...) of the other fields", "struct.eval": "",
}


def namespace_miss(namespace: str, name: str) -> AttributeError:
    """The error of ``expr.<namespace>.<name>`` that Thresher lacks: an ``UnsupportedMethodError``
    naming it where it is Polars', else a plain ``AttributeError``."""
    from thresher.errors import UnsupportedMethodError

    hint = POLARS_NAMESPACE_UNSUPPORTED.get(f"{namespace}.{name}")
    if hint is None:
        return AttributeError(f"Expr.{namespace} has no method {name!r}")
    err = UnsupportedMethodError(f"Expr.{namespace}.{name}() (Polars') is not supported by Thresher" +
                                 (f"; use {hint}" if hint else ""))
    err.name = name
    return err

#: Polars' ``Expr`` methods Thresher does not have: each raises an ``UnsupportedMethodError``
#: (an ``AttributeError``) naming it, with the nearest supported spelling where there is one
POLARS_EXPR_UNSUPPORTED: dict[str, str] = {
    "map_elements": "a row UDF (@th.udf) in with_columns",
    "map_batches": "a batch UDF (@th.udf(batch=True)) in with_columns",
    "map": "a batch UDF (@th.udf(batch=True)) in with_columns",
    "rolling_map": "a rolling_* method, or a batch UDF",
    "rolling": "rolling_*_by(by, window_size) expressions",
    "rolling_rank_by": "rolling_rank(window_size) over rows sorted by the key",
    "cumulative_eval": "cum_sum / cum_max / ... or rolling_* methods",
    "ewm_mean_by": "ewm_mean(...) over rows sorted by the key",
    "ewm_sum": "ewm_mean(...) times the window's weight sum",
    "ewm_sum_by": "ewm_mean(...) over rows sorted by the key",
    "interpolate_by": "interpolate() over rows sorted by the key",
    "explode": "DataFrame.explode(column) (a list column: implode() or agg_list() first)",
    "repeat_by": "a list column and DataFrame.explode",
    "reshape": "DataFrame.explode or list methods",
    "append": "th.concat([...]) of frames",
    "extend_constant": "th.concat([...]) of frames",
    "gather": "implode().list.get(index) or with_row_index() and a filter",
    "get": "implode().list.get(index)",
    "item": "first() (a frame of one row) or df.item()",
    "arg_sort": "with_row_index() and sort(...)",
    "arg_unique": "with_row_index() and unique(subset=..., keep='first')",
    "arg_true": "with_row_index() and filter(...)",
    "top_k_by": "DataFrame.top_k(k, by=...)",
    "bottom_k_by": "DataFrame.bottom_k(k, by=...)",
    "sample": "DataFrame.sample(...)",
    "shuffle": "DataFrame.sample(fraction=1.0, shuffle=True)",
    "rle": "rle_id() and a group_by on it",
    "hist": "cut(...) and value_counts()",
    "bin": "cut(...) or qcut(...)",
    "bin_intervals": "cut(...)",
    "bin_quantiles": "qcut(...)",
    "bin_ranks": "qcut(...)",
    "approx_quantile": "quantile(...) (exact)",
    "peak_max": "(x > x.shift(1)) & (x > x.shift(-1))",
    "peak_min": "(x < x.shift(1)) & (x < x.shift(-1))",
    "lower_bound": "a literal of the type's limit",
    "upper_bound": "a literal of the type's limit",
    "is_sorted": "comparing with sort()",
    "set_sorted": "sort(...) (Thresher keeps no sortedness flags)",
    "is_empty": "len() == 0",
    "truncdiv": "(x / y).truncate() or x // y",
    "dot": "(x * y).sum()",
    "erfc": "1 - x.erf()",
    "reinterpret": "cast(...)",
    "to_physical": "cast(...)",
    "exclude": "th.exclude(...)",
    "inspect": "collect() or show()",
    "deserialize": "building the expression again",
    "pipe_with_dtype": "pipe(...)",
    "meta": "repr() or output_name()",
    "cat": "str methods (Thresher reads categoricals as strings)",
    "arr": "list methods (a fixed-size list is a list)",
    "ext": "",
}


def register_expr_namespace(name: builtins.str) -> Callable[[type], type]:
    """Register a class as ``expr.<name>`` (a plugin namespace, like Polars').

    Examples
    --------
    >>> @register_expr_namespace("demo_ns")
    ... class Demo:
    ...     def __init__(self, expr): self._expr = expr
    ...     def twice(self): return self._expr * 2
    >>> from thresher import col
    >>> col("x").demo_ns.twice()
    (col("x") * 2)
    """

    def deco(cls: type) -> type:
        if hasattr(Expr, name):
            raise ValueError(f"namespace {name!r} would shadow a built-in Expr attribute")
        _USER_NAMESPACES[name] = cls
        return cls

    return deco


# --------------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Column(Expr):
    name: str

    # (each node class writes its fields into the instance dict itself: the __init__ a frozen
    # dataclass generates sets each one through object.__setattr__, and a query builds and the
    # optimizer rebuilds these nodes by the hundred)
    def __init__(self, name: str) -> None:
        self.__dict__["name"] = name

    def key(self) -> tuple[Any, ...]:
        return ("col", self.name)

    @_unmemoized
    def resolve(self, schema: Schema) -> Field:
        return schema.field(self.name)

    def output_name(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f'col("{self.name}")'


@dataclass(frozen=True, eq=False, repr=False)
class Literal(Expr):
    """A constant. ``dynamic``: a Python number written next to an expression (``col("x") * 3``,
    ``fill_null(0)``): as in Polars, its type follows the other operand's
    (:func:`~thresher.datatypes.literal_type_next_to`: ``int8 * 3`` is int8); ``dtype`` is its
    type alone."""

    value: Any
    dtype: DataType
    dynamic: bool = False

    def __init__(self, value: Any, dtype: DataType, dynamic: bool = False) -> None:
        d = self.__dict__
        d["value"] = value
        d["dtype"] = dtype
        d["dynamic"] = dynamic

    def key(self) -> tuple[Any, ...]:
        return ("lit", _freeze(self.value), str(self.dtype), self.dynamic)

    @_unmemoized
    def resolve(self, schema: Schema) -> Field:
        f: Field | None = self.__dict__.get("_memo_field")  # (the same for every schema)
        if f is None:
            f = self.__dict__["_memo_field"] = Field("literal", self.dtype)
        return f

    def output_name(self) -> str:
        return "literal"

    def __repr__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True, eq=False, repr=False)
class Alias(Expr):
    _RESOLVES_BY_COLUMNS = True

    child: Expr
    name: str

    def __init__(self, child: Expr, name: str) -> None:
        d = self.__dict__
        d["child"] = child
        d["name"] = name

    def children(self) -> tuple[Expr, ...]:
        return (self.child,)

    def with_children(self, children: Sequence[Expr]) -> Expr:
        return Alias(children[0], self.name)

    def key(self) -> tuple[Any, ...]:
        return ("alias", self.child.key(), self.name)

    def resolve(self, schema: Schema) -> Field:
        c = self.child  # (a column's field read here: one call less for the most common child)
        f = schema.field(c.name) if c.__class__ is Column else c.resolve(schema)  # type: ignore[attr-defined]
        return Field(self.name, f.dtype, f.nullable)

    def output_name(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f'{self.child!r}.alias("{self.name}")'


@dataclass(frozen=True, eq=False, repr=False)
class Cast(Expr):
    _RESOLVES_BY_COLUMNS = True

    child: Expr
    dtype: DataType
    strict: bool = True

    def __init__(self, child: Expr, dtype: DataType, strict: bool = True) -> None:
        d = self.__dict__
        d["child"] = child
        d["dtype"] = dtype
        d["strict"] = strict

    def children(self) -> tuple[Expr, ...]:
        return (self.child,)

    def with_children(self, children: Sequence[Expr]) -> Expr:
        return Cast(children[0], self.dtype, self.strict)

    def key(self) -> tuple[Any, ...]:
        return ("cast", self.child.key(), str(self.dtype), self.strict)

    def resolve(self, schema: Schema) -> Field:
        c = self.child  # (a column's field read here: one call less for the most common child)
        f = schema.field(c.name) if c.__class__ is Column else c.resolve(schema)  # type: ignore[attr-defined]
        src, dst = f.dtype, self.dtype
        if src.is_media() and not dst.is_media() and not (dst.storage == src.storage):
            raise ThresherTypeError(f"cannot cast column {f.name!r} of type {src} to {dst}")
        if src.is_string() and dst.kind in ("file", "image", "video", "audio"):
            # a cast would take the path's own characters as the media bytes (every row null later)
            raise ThresherTypeError(
                f"cannot cast string column {f.name!r} to {dst}: a string is not the media's bytes; if it holds "
                f"paths or urls, fetch them first: col({f.name!r}).url.download() gives the bytes (a file), "
                f"which .cast({dst}) or the {dst.kind} functions accept"
            )
        return Field(f.name, dst, f.nullable)

    def __repr__(self) -> str:
        return f"{self.child!r}.cast({self.dtype})"


_INFIX = {
    "add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%", "pow": "**",
    "eq": "==", "neq": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "and": "&", "or": "|",
}


_DEFAULTS_CACHE: dict[builtins.str, dict[builtins.str, Any]] = {}

# a plan's fingerprint must change when a default changes between versions, so it is taken
# from reprs that spell out every option (the short form is for people)
_EVERY_OPTION: contextvars.ContextVar[bool] = contextvars.ContextVar("thresher_every_option", default=False)


@contextlib.contextmanager
def every_option_shown() -> Iterator[None]:
    """Within this block, calls' reprs show every option, defaults included.

    >>> import thresher as th
    >>> e = th.col("u").url.download()
    >>> "timeout" in repr(e)
    False
    >>> with every_option_shown():
    ...     "timeout" in repr(e)
    True
    """
    token = _EVERY_OPTION.set(True)
    try:
        yield
    finally:
        _EVERY_OPTION.reset(token)


def _option_defaults(name: builtins.str) -> dict[builtins.str, Any]:
    """The default option values of the method that builds calls of ``name`` (``url.download``:
    ``col(...).url.download``'s keyword defaults), so a call's repr shows only what was chosen,
    as Polars does. A name the optimizer made by fusing (``image.decode_resize``) takes the
    defaults of its parts; a name no method builds has none (every option shows)."""
    found = _DEFAULTS_CACHE.get(name)
    if found is not None:
        return found
    import inspect

    ns, _, meth = name.rpartition(".")
    out: dict[builtins.str, Any] = {}
    try:
        holder: Any = getattr(Column("_"), ns) if ns else Column("_")
        parts = [meth] if callable(getattr(holder, meth, None)) else meth.split("_")
        methods = [getattr(holder, m, None) for m in parts]
        if all(callable(m) for m in methods):
            for m in methods:
                assert m is not None
                for p in inspect.signature(m).parameters.values():
                    if p.default is not inspect.Parameter.empty:
                        out.setdefault(p.name, p.default)
    except (AttributeError, TypeError, ValueError):
        out = {}
    _DEFAULTS_CACHE[name] = out
    return out


def _same(value: Any, default: Any) -> bool:
    if value is None or default is None:
        return value is default
    if isinstance(default, float) and type(value) in (int, float) and not isinstance(value, bool):
        return bool(value == default)
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:  # noqa: BLE001 - values without a plain equality (arrays) always show
        return False


@dataclass(frozen=True, eq=False, repr=False)
class Call(Expr):
    """A call of a registered scalar function (see ``expressions/registry.py``)."""

    _RESOLVES_BY_COLUMNS = True
    _ORDER_DEPENDENT = None
    _MARKS_NOT_SCALAR = True  # (see cost.NOT_SCALAR_BUILT)

    name: str
    args: tuple[Expr, ...]
    options: tuple[tuple[str, Any], ...] = ()

    def __init__(self, name: str, args: tuple[Expr, ...], options: tuple[tuple[str, Any], ...] = ()) -> None:
        if name not in _FUNCTIONS:
            F.get(name)  # unknown function names fail when the expression is built (or load their module)
        if name in _NOT_SCALAR:
            mark_not_scalar()
        d = self.__dict__
        d["name"] = name
        d["args"] = args
        d["options"] = options

    def __setstate__(self, state: dict[str, Any]) -> None:
        # (unpickled or copied without __init__: its function may cost more, see cost.NOT_SCALAR_BUILT)
        self.__dict__.update(state)
        if state.get("name") not in _FUNCTIONS or state.get("name") in _NOT_SCALAR:
            mark_not_scalar()

    @property
    def spec(self) -> F.FunctionSpec:
        return F.get(self.name)

    def call_cost(self) -> tuple[CostClass, float]:
        c = self.spec.cost
        return c, CLASS_COST[c]

    def option(self, name: str, default: Any = None) -> Any:
        for k, v in self.options:
            if k == name:
                return v
        return default

    @property
    def opts(self) -> dict[str, Any]:
        return dict(self.options)

    def children(self) -> tuple[Expr, ...]:
        return self.args

    def with_children(self, children: Sequence[Expr]) -> Expr:
        return Call(self.name, tuple(children), self.options)

    def key(self) -> tuple[Any, ...]:
        return ("call", self.name, tuple(a.key() for a in self.args), _freeze(self.options))

    def resolve(self, schema: Schema) -> Field:
        fields = []
        for a in self.args:  # (a loop, not a comprehension: no frame of its own; a column's field read here)
            fields.append(schema.field(a.name) if a.__class__ is Column else a.resolve(schema))  # type: ignore[attr-defined]
        if len(fields) == 2 and self.name in _DYNAMIC_OPERANDS:
            for i, a in enumerate(self.args):
                other = self.args[1 - i]
                if isinstance(a, Literal) and a.dynamic and not (isinstance(other, Literal) and other.dynamic):
                    fields[i] = Field(fields[i].name, literal_type_next_to(a.value, fields[1 - i].dtype))
                    if fields[i].dtype._tid == _INT64_ID and fields[1 - i].dtype._tid == _UINT64_ID:
                        # (a negative number next to a uint64: Polars computes both in Int64)
                        fields[1 - i] = Field(fields[1 - i].name, fields[i].dtype)
        elif self.name in _DYNAMIC_ARGUMENTS:
            _type_dynamic_literals(self.args, fields)
        spec = _FUNCTIONS.get(self.name) or F.get(self.name)  # (self.spec, self.opts)
        dtype = spec.type_rule(fields, dict(self.options))
        name = fields[0].name if fields else self.name
        return Field(name, dtype)

    def __repr__(self) -> str:
        if self.name in _INFIX and len(self.args) == 2:
            return f"({self.args[0]!r} {_INFIX[self.name]} {self.args[1]!r})"
        if self.name == "not":
            return f"~{self.args[0]!r}"
        head, *rest = self.args if self.args else (None,)
        defaults = {} if _EVERY_OPTION.get() else _option_defaults(self.name)
        params = [repr(a) for a in rest] + [f"{k}={v!r}" for k, v in self.options
                                            if not (k in defaults and _same(v, defaults[k]))]
        if head is None:
            return f"{self.name}({', '.join(params)})"
        return f"{head!r}.{self.name}({', '.join(params)})"


_INT64_ID, _UINT64_ID = pa.int64().id, pa.uint64().id


@dataclass(frozen=True, eq=False, repr=False)
class AggCall(Expr):
    """An aggregation (sum, mean, ...) over a group."""

    _RESOLVES_BY_COLUMNS = True
    _ORDER_DEPENDENT = True

    name: str
    child: Expr
    options: tuple[tuple[str, Any], ...] = ()

    def __init__(self, name: str, child: Expr, options: tuple[tuple[str, Any], ...] = ()) -> None:
        if name not in F.AGGREGATES:
            raise ThresherTypeError(f"unknown aggregation {name!r}")
        d = self.__dict__
        d["name"] = name
        d["child"] = child
        d["options"] = options

    def children(self) -> tuple[Expr, ...]:
        return (self.child,)

    def with_children(self, children: Sequence[Expr]) -> Expr:
        return AggCall(self.name, children[0], self.options)

    def key(self) -> tuple[Any, ...]:
        return ("agg", self.name, self.child.key(), _freeze(self.options))

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)

    def resolve(self, schema: Schema) -> Field:
        c = self.child  # (a column's field read here: one call less for the most common child)
        f = schema.field(c.name) if c.__class__ is Column else c.resolve(schema)  # type: ignore[attr-defined]
        return Field(f.name, F.AGGREGATES[self.name](f, dict(self.options)))

    def __repr__(self) -> str:
        return f"{self.child!r}.{self.name}()"


#: what each SeqOp does to the number of rows: "keep" (sort, reverse) or "change"
SEQ_KEEPS_LENGTH = frozenset(("sort", "reverse", "sort_by"))


@dataclass(frozen=True, eq=False, repr=False)
class SeqOp(Expr):
    """An expression with a length of its own (Polars' ``col("x").unique()``, ``.sort()``,
    ``.head(n)``, ``.value_counts()``, ...): it does not give one value per row.

    Thresher takes it (``thresher.frame_seq``) at the top of a ``select`` (also inside other
    expressions there: ``col("x").unique().len()``, ``col("x").sort() * 2``), alone or next to
    aggregates, or next to per-row columns when it keeps the number of rows (``sort``,
    ``reverse``, also in ``with_columns``), and in ``group_by().agg()`` (the list operation of each
    group's values: ``col("x").unique()`` is ``col("x").list.unique()`` of the group's list).
    Anywhere else (a filter, a window, a join key, next to per-row columns when it changes the
    number of rows) the plan refuses it when built, naming it.
    """

    _ORDER_DEPENDENT = True

    op: str
    child: Expr
    options: tuple[tuple[str, Any], ...] = ()

    def __init__(self, op: str, child: Expr, options: tuple[tuple[str, Any], ...] = ()) -> None:
        d = self.__dict__
        d["op"] = op
        d["child"] = child
        d["options"] = options

    def children(self) -> tuple[Expr, ...]:
        return (self.child,)

    def with_children(self, children: Sequence[Expr]) -> Expr:
        return SeqOp(self.op, children[0], self.options)

    def key(self) -> tuple[Any, ...]:
        return ("seq", self.op, self.child.key(), _freeze(self.options))

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)

    def output_name(self) -> str:
        return self.child.output_name()

    def resolve(self, schema: Schema) -> Field:
        self.child.resolve(schema)  # (a wrong column or type named first)
        raise ThresherTypeError(
            f"{self!r}: {self.op}() gives a column of its own length (not one value per row); Thresher "
            f"takes it in select() (alone, next to aggregates, or, for sort/reverse, next to per-row "
            f"columns), in with_columns() for sort/reverse, and in group_by().agg(); not here")

    def __repr__(self) -> str:
        if self.op == "over_explode":
            return f"{self.child!r}.over({list(self.option('partition_by'))!r}, mapping_strategy='explode')"
        args = ", ".join(f"{k}={v!r}" for k, v in self.options)
        return f"{self.child!r}.{self.op}({args})"


def _int_option(fn: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise ThresherTypeError(f"{fn}: expected a Python int, got {n!r}")
    return n


def _count_arg(fn: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise ThresherTypeError(f"{fn}: expected a Python int, got {n!r}")
    if n < 0:
        raise ValueError(f"{fn}: expected a non-negative count, got {n}")
    return n


_COUNT_FIELD = Field("count", DataType.int64(), False)


@dataclass(frozen=True, eq=False, repr=False)
class CountStar(Expr):
    """``th.count()``: the number of rows of a group."""

    _ORDER_DEPENDENT = True

    def key(self) -> tuple[Any, ...]:
        return ("count_star",)

    @_unmemoized
    def resolve(self, schema: Schema) -> Field:
        return _COUNT_FIELD

    def output_name(self) -> str:
        return "count"

    def __repr__(self) -> str:
        return "count()"


@dataclass(frozen=True, eq=False, repr=False)
class When(Expr):
    """``when(c1).then(v1).when(c2).then(v2).otherwise(v3)``."""

    _RESOLVES_BY_COLUMNS = True

    branches: tuple[tuple[Expr, Expr], ...]
    otherwise_: Expr
    #: written with ``th.when`` (the DataFrame API): a decimal next to an integer takes Polars'
    #: common type (:func:`~thresher.datatypes.polars_supertype`)
    polars: bool = False

    def children(self) -> tuple[Expr, ...]:
        out: list[Expr] = []
        for c, v in self.branches:
            out += [c, v]
        return (*out, self.otherwise_)

    def with_children(self, children: Sequence[Expr]) -> Expr:
        kids = list(children)
        branches = tuple((kids[2 * i], kids[2 * i + 1]) for i in range(len(self.branches)))
        return When(branches, kids[-1], self.polars)

    def key(self) -> tuple[Any, ...]:
        return ("when", tuple((c.key(), v.key()) for c, v in self.branches), self.otherwise_.key(), self.polars)

    def output_name(self) -> str:
        return self.branches[0][1].output_name()

    def resolve(self, schema: Schema) -> Field:
        common = polars_supertype if self.polars else supertype
        dtype: DataType | None = None
        for cond, value in self.branches:
            cf = cond.resolve(schema)
            if not (cf.dtype.is_bool() or cf.dtype.is_null()):
                raise ThresherTypeError(f"when() condition {cond!r} must be bool, got {cf.dtype}")
            vt = value.resolve(schema).dtype
            dtype = vt if dtype is None else common(dtype, vt)
            if dtype is None:
                raise ThresherTypeError(f"when() branches have incompatible types ({vt} vs earlier branches)")
        ot = self.otherwise_.resolve(schema).dtype
        assert dtype is not None
        final = common(dtype, ot)
        if final is None:
            raise ThresherTypeError(f"otherwise() value of type {ot} does not match the branches' type {dtype}")
        # a Python number among the values takes its type from the others, as in Polars
        # (``then(col(int8)).otherwise(0)`` is Int8; ``then(1).otherwise(2)`` alone stays Int64)
        values = [v for _, v in self.branches] + [self.otherwise_]
        dynamic = [v for v in values if isinstance(v, Literal) and v.dynamic]
        if dynamic and len(dynamic) < len(values):
            fixed: DataType | None = None
            for v in values:
                if not (isinstance(v, Literal) and v.dynamic):
                    vt = v.resolve(schema).dtype
                    fixed = vt if fixed is None else common(fixed, vt)
            if fixed is not None:
                out = fixed
                for v in dynamic:
                    assert isinstance(v, Literal)
                    out = common(out, literal_type_next_to(v.value, fixed)) or final
                final = out
        return Field(self.output_name(), final)

    def __repr__(self) -> str:
        parts = "".join(f".when({c!r}).then({v!r})" for c, v in self.branches)
        return parts[1:] + f".otherwise({self.otherwise_!r})"


@dataclass(frozen=True, eq=False, repr=False)
class UDFCall(Expr):
    """A call of a user-defined function (see ``udfs/udf.py``); ``udf`` carries resources."""

    _MARKS_NOT_SCALAR = True  # (see cost.NOT_SCALAR_BUILT)

    udf: ExprUDFProtocol
    args: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        mark_not_scalar()  # (a UDF's cost hint: any call of one counts, see cost.NOT_SCALAR_BUILT)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        mark_not_scalar()

    def children(self) -> tuple[Expr, ...]:
        return self.args

    def with_children(self, children: Sequence[Expr]) -> Expr:
        return UDFCall(self.udf, tuple(children), self.kwargs)

    def key(self) -> tuple[Any, ...]:
        return ("udf", id(self.udf), tuple(a.key() for a in self.args), _freeze(self.kwargs))

    def resolve(self, schema: Schema) -> Field:
        fields = [a.resolve(schema) for a in self.args]
        dtype: DataType = self.udf.resolve_return_dtype(fields)
        return Field(fields[0].name if fields else self.udf.name, dtype)

    def call_cost(self) -> tuple[CostClass, float]:
        return udf_cost(self.udf)

    def output_name(self) -> str:
        return self.args[0].output_name() if self.args else str(self.udf.name)

    def __repr__(self) -> str:
        return f"{self.udf.name}({', '.join(repr(a) for a in self.args)})"


# --------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------


def col(name: Any, *more_names: Any) -> Expr:
    """A reference to a column; as Polars, several names (``col("a", "b")``, ``col(["a", "b"])``)
    or data types (``col(pl.Int64)``, ``col(pl.Float64, pl.Int32)``, ``col(pl.Datetime)`` of any
    unit) select several columns: an expression over them is one expression per column (in the
    order given, or the frame's for data types), wherever a wildcard is taken
    (``select``, ``with_columns``, ``agg``).

    >>> col("a")
    col("a")
    >>> import thresher as th, polars as pl
    >>> df = th.from_pydict({"a": [1], "b": [2.5], "c": ["x"]})
    >>> df.select(th.col("c", "a")).columns, df.select(th.col(pl.Float64, pl.Int64) * 2).columns
    (['c', 'a'], ['a', 'b'])
    """
    if isinstance(name, str) and not more_names:
        return Column(name)
    items = [*(name if isinstance(name, (list, tuple)) else [name]), *more_names]
    if items and all(isinstance(i, str) for i in items):
        if len(items) == 1:
            return Column(items[0])
        return Column(_selector("names", tuple(items)))
    if items and not any(isinstance(i, str) for i in items):
        try:
            return Column(_selector("dtypes", tuple(items)))
        except Exception:  # noqa: BLE001 - not a data type: the error below names it
            pass
    from thresher.errors import ThresherTypeError

    raise ThresherTypeError(f"col({', '.join(repr(i) for i in items)}): expected column names or data types "
                            "(not a mix of both)")


#: the pattern names of ``col(*names)`` / ``col(*dtypes)`` -> (kind, what they select): a wildcard
#: (``frame_ops.expand_wildcards``) that expands in the order given / by type
SELECTORS: dict[str, tuple[str, tuple[Any, ...]]] = {}


def _selector(kind: str, items: tuple[Any, ...]) -> str:
    """The column name standing for ``items``: a regex that matches no column on its own (a
    comment), looked up in :data:`SELECTORS` when wildcards are expanded."""
    if kind == "dtypes":
        for d in items:  # (checked now: col(<not a type>) raises where it is written)
            if not _is_polars_dtype(d):
                to_dtype(d)
        text = ", ".join(repr(d) for d in items)
    else:
        text = ", ".join(items)
    pattern = f"^(?#col({text}))$"
    hit = SELECTORS.get(pattern)
    if hit is None:
        SELECTORS[pattern] = (kind, items)
    return pattern


def _is_polars_dtype(d: Any) -> bool:
    mod = getattr(d if isinstance(d, type) else type(d), "__module__", "") or ""
    return mod.startswith("polars.")


def lit(value: Any, dtype: DataType | pa.DataType | str | None = None) -> Expr:
    """A constant. ``dtype`` overrides the inferred type. (``th.lit`` is :func:`user_lit`: a Python
    number there takes its type from the column it meets, as in Polars.)

    >>> lit(3)
    3
    """
    if isinstance(value, Expr):
        return value
    t = to_dtype(dtype) if dtype is not None else infer_literal_type(value)
    return Literal(value, t)


def lit_if_needed(value: IntoExpr) -> Expr:
    return value if isinstance(value, Expr) else Literal(value, infer_literal_type(value))


def user_lit(value: Any, dtype: DataType | pa.DataType | str | None = None) -> Expr:
    """``th.lit``: :func:`lit`, but a Python number without ``dtype`` is dynamic as in Polars
    (``lit(200) * col(int8)`` is Int16; alone it is Int64). The planner's own constants (the SQL
    translator's) use :func:`lit` and keep their type.

    >>> user_lit(3)
    3
    """
    if dtype is None and isinstance(value, (int, float)) and not isinstance(value, builtins.bool):
        return _dynamic(value)
    return lit(value, dtype)


# the calls whose Python-number operand takes its type from the other operand, as in Polars
# (Polars computes them so: a Python number is lowered as an untyped ``pl.lit``)
_DYNAMIC_OPERANDS = frozenset({"add", "sub", "mul", "truediv", "floordiv", "mod", "fill_null", "fill_nan", "xor", "is_close"})
#: functions of any number of arguments where a Python number takes its type from the others, as
#: in Polars (th.max_horizontal("int32 column", 2) is int32)
_DYNAMIC_ARGUMENTS = frozenset({"sum_horizontal", "min_horizontal", "max_horizontal", "mean_horizontal"})


def _type_dynamic_literals(args: Sequence[Expr], fields: list[Field]) -> None:
    """Each dynamic literal of ``args`` typed next to the supertype of the other arguments."""
    fixed: DataType | None = None
    for a, f in zip(args, fields):
        if not (isinstance(a, Literal) and a.dynamic):
            fixed = f.dtype if fixed is None else (supertype(fixed, f.dtype) or fixed)
    if fixed is None:
        return
    for i, a in enumerate(args):
        if isinstance(a, Literal) and a.dynamic:
            fields[i] = Field(fields[i].name, literal_type_next_to(a.value, fixed))


def _dynamic(value: IntoExpr) -> Expr:
    # (lit_if_needed written out: every operator calls this)
    if isinstance(value, Expr):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, builtins.bool):
        return Literal(value, infer_literal_type(value), True)
    return Literal(value, infer_literal_type(value))


def count() -> Expr:
    """The number of rows (of each group in an aggregation)."""
    return CountStar()


def _expr_or_column(value: IntoExpr) -> Expr:
    """A Polars argument that "accepts expression input": a string names a column, a Python
    number is dynamic (typed by what it meets), anything else a literal."""
    if isinstance(value, builtins.str):
        return Column(value)
    return _dynamic(value)


class _WhenBuilder:
    def __init__(self, branches: tuple[tuple[Expr, Expr], ...], cond: IntoExpr, polars: bool = False) -> None:
        self._branches = branches
        self._cond = _expr_or_column(cond)
        self._polars = polars

    def then(self, value: IntoExpr) -> Then:
        return Then(self._branches + ((self._cond, _expr_or_column(value)),), Literal(None, DataType.null()),
                    self._polars)


@dataclass(frozen=True, eq=False, repr=False)
class Then(When):
    """``when(c).then(v)`` before its ``otherwise``: already an expression (NULL where no
    condition holds), as Polars' ``Then``; ``.when(...)`` adds a branch, ``.otherwise(...)`` ends it."""

    def when(self, cond: IntoExpr) -> _WhenBuilder:
        return _WhenBuilder(self.branches, cond, self.polars)

    def otherwise(self, value: IntoExpr) -> Expr:
        return When(self.branches, _expr_or_column(value), self.polars)


class _Filtered:
    """``x.filter(p)``: only an aggregation of it is supported (as ``when(p).then(x)``, whose NULLs
    these aggregations skip)."""

    _SKIPPING = ("sum", "mean", "min", "max", "count", "std", "var", "median", "quantile")

    def __init__(self, child: Expr, cond: Expr) -> None:
        self._child, self._cond = child, cond

    def _masked(self) -> Expr:
        return when(self._cond).then(self._child).otherwise(Literal(None, DataType.null()))

    def __getattr__(self, name: builtins.str) -> Any:
        if name in self._SKIPPING:
            masked = self._masked()
            name_ = self._child.output_name()
            return lambda *a, **kw: getattr(masked, name)(*a, **kw).alias(name_)
        if name == "len":
            cond, out = self._cond, self._child.output_name()
            return lambda: AggCall("count", when(cond).then(lit(1)).otherwise(Literal(None, DataType.null()))
                                   ).alias(out)
        raise UnsupportedError(f"col(...).filter(...).{name} is not supported: only "
                               f"{', '.join(self._SKIPPING)} and len of a filtered column")


def when(condition: IntoExpr) -> _WhenBuilder:
    """Start a conditional: ``when(c).then(a).otherwise(b)``. As in Polars, a string in
    ``when``/``then``/``otherwise`` names a column (``lit("x")`` is the text), and
    ``when(c).then(a)`` without ``otherwise`` is NULL where ``c`` does not hold.

    >>> when(col("x") > 0).then(lit("pos")).otherwise(lit("neg"))
    when((col("x") > 0)).then('pos').otherwise('neg')
    """
    return _WhenBuilder((), condition)


def user_when(condition: IntoExpr) -> _WhenBuilder:
    """``th.when``: :func:`when`, typed as Polars where a decimal meets an integer (the
    planner's own conditionals keep :func:`~thresher.datatypes.supertype`).

    >>> user_when(col("x") > 0).then(lit("pos")).otherwise(lit("neg"))
    when((col("x") > 0)).then('pos').otherwise('neg')
    """
    return _WhenBuilder((), condition, polars=True)


def expr_equal(a: Expr, b: Expr) -> bool:
    """Structural equality of two expressions."""
    return a.key() == b.key()


def strip_alias(e: Expr) -> Expr:
    while isinstance(e, Alias):
        e = e.child
    return e


def plain_column_names(exprs: Iterable[Expr]) -> list[str] | None:
    """The names of the columns ``exprs`` read as they are (aliases aside), or None when any of
    them is not a plain column reference (join keys a rewrite can only follow as columns)."""
    out = []
    for e in exprs:
        c = strip_alias(e)
        if not isinstance(c, Column):
            return None
        out.append(c.name)
    return out


def column_sources(exprs: Iterable[Expr]) -> dict[str, str]:
    """Output name -> the input column it passes on, for each of ``exprs`` (a projection's list)
    that is a plain column reference, renamed or not."""
    out: dict[str, str] = {}
    for e in exprs:
        src = strip_alias(e)
        if isinstance(src, Column):
            out[e.output_name()] = src.name
    return out


def split_conjunction(e: Expr) -> list[Expr]:
    """``a & b & c`` → ``[a, b, c]``."""
    if isinstance(e, Call) and e.name == "and":
        return split_conjunction(e.args[0]) + split_conjunction(e.args[1])
    return [e]


def combine_conjunction(parts: Sequence[Expr]) -> Expr:
    out = parts[0]
    for p in parts[1:]:
        out = Call("and", (out, p))
    return out


def has_aggregate(e: Expr) -> bool:
    v = e.__dict__.get("_memo_has_aggregate", _MISSING)  # (`memo`, inlined: asked of every new node)
    if v is _MISSING:
        v = e.__dict__["_memo_has_aggregate"] = _has_aggregate(e)
    return v  # type: ignore[no-any-return]


# The memoized questions below combine their children's (memoized) answers: an expression the
# optimizer rebuilt around unchanged subexpressions is answered without walking them again.


def _has_aggregate(e: Expr) -> bool:
    if isinstance(e, (AggCall, CountStar)):
        return True
    if e._LEAF:
        return False
    for c in e.children():  # (a loop, not any() over a generator: this runs for every new node)
        if has_aggregate(c):
            return True
    return False


_NO_COLUMNS: frozenset[str] = frozenset()


def _columns(e: Expr) -> frozenset[str]:
    if isinstance(e, Column):
        return frozenset((e.name,))
    if e._LEAF:
        return _NO_COLUMNS
    out: frozenset[str] = _NO_COLUMNS
    for c in e.children():
        d = c.__dict__
        v = d.get("_memo_columns")  # (`memo`, inlined; a column's answered here)
        if v is None:
            v = d["_memo_columns"] = frozenset((c.name,)) if c.__class__ is Column else _columns(c)  # type: ignore[attr-defined]
        out = out | v if out else v
    return out
