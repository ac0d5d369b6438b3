"""LazyFrame ``select`` / ``with_columns`` / ``filter`` / ``group_by().agg`` / ``sort`` / ``join`` over Polars expressions without Polars'
per-argument parsing: the same plans.

Polars' methods first parse each argument (names, nested iterables, literals, booleans, masks,
keyword names) into an expression, one Python call at a time; a query's Polars program renames
every column at every join, so that parsing was a fifth of lowering TPC-H q8/q16/q22. An
expression's parse is its ``_pyexpr`` and a name's is ``pl.col(name)``'s (built once per name
here), which these functions hand Polars directly. Any other argument, or a Polars without
these attributes or with another internal signature (a TypeError), goes through the method itself.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any


def select(lf: Any, exprs: Sequence[Any]) -> Any:
    """``lf.select(exprs)`` for a list of Polars expressions."""
    return _call(lf, "select", exprs)


def with_columns(lf: Any, exprs: Sequence[Any]) -> Any:
    """``lf.with_columns(exprs)`` for a list of Polars expressions."""
    return _call(lf, "with_columns", exprs)


def select_columns(lf: Any, names: Sequence[str]) -> Any:
    """``lf.select(list(names))``: the columns by name."""
    return _call(lf, "select", [col(n) for n in names])


def filter_(lf: Any, predicate: Any) -> Any:
    """``lf.filter(predicate)`` for one Polars expression."""
    try:
        pyexpr = predicate._pyexpr
        call = lf._ldf.filter
    except AttributeError:
        return lf.filter(predicate)
    try:
        return lf._from_pyldf(call(pyexpr))
    except TypeError:  # a Polars whose internal signature differs: the public method
        return lf.filter(predicate)


def group_by_agg(lf: Any, keys: Sequence[Any], aggs: Sequence[Any]) -> Any:
    """``lf.group_by(keys).agg(aggs)`` for lists of Polars expressions."""
    try:
        pykeys = [e._pyexpr for e in keys]
        pyaggs = [e._pyexpr for e in aggs]
        call = lf._ldf.group_by
    except AttributeError:
        return lf.group_by(list(keys)).agg(list(aggs))
    try:
        return lf._from_pyldf(call(pykeys, False).agg(pyaggs))
    except TypeError:  # a Polars whose internal signature differs: the public methods
        return lf.group_by(list(keys)).agg(list(aggs))


def sort(lf: Any, by: Sequence[Any], descending: list[bool], nulls_last: list[bool]) -> Any:
    """``lf.sort(by, descending=..., nulls_last=..., maintain_order=True)`` for a list of Polars
    expressions (one flag of each per expression)."""
    try:
        pyby = [e._pyexpr for e in by]
        call = lf._ldf.sort_by_exprs
    except AttributeError:
        return lf.sort(list(by), descending=descending, nulls_last=nulls_last, maintain_order=True)
    if len(descending) != len(pyby) or len(nulls_last) != len(pyby):
        return lf.sort(list(by), descending=descending, nulls_last=nulls_last, maintain_order=True)  # (its error)
    try:
        return lf._from_pyldf(call(pyby, descending, nulls_last, True, True))
    except TypeError:  # a Polars whose internal signature differs: the public method
        return lf.sort(list(by), descending=descending, nulls_last=nulls_last, maintain_order=True)


#: the internal join's parameters this module passes (positionally): another Polars, another
#: list, and :func:`join` goes through the public method
_JOIN_SIGNATURE = ("($self, other, left_on, right_on, allow_parallel, force_parallel, nulls_equal, how, suffix, "
                   "validate, maintain_order, build_side, coalesce=None)")


#: Polars' internal frame class -> whether its join takes :data:`_JOIN_SIGNATURE`
_JOIN_FAST: dict[Any, bool] = {}


def _join_fast(ldf_type: Any) -> bool:
    fast = _JOIN_FAST.get(ldf_type)
    if fast is None:
        sig = getattr(getattr(ldf_type, "join", None), "__text_signature__", None)
        fast = _JOIN_FAST[ldf_type] = sig == _JOIN_SIGNATURE
    return fast


def join(left: Any, right: Any, left_on: Sequence[Any], right_on: Sequence[Any], how: str,
         coalesce: bool | None = None, nulls_equal: bool = False) -> Any:
    """``left.join(right, left_on=..., right_on=..., how=..., coalesce=..., nulls_equal=...)``
    (``how="cross"``: no keys) with the other arguments Polars' defaults, for keys that are
    column names or Polars expressions. Polars' method parses each key and checks its arguments
    under two decorators (~9 µs a join, a TPC-H query has two or more); the same plan."""
    try:
        ldf = left._ldf
        fast = _join_fast(type(ldf))
    except AttributeError:
        fast = False
    if fast:
        try:
            lk = [col(k)._pyexpr if type(k) is str else k._pyexpr for k in left_on]
            rk = [col(k)._pyexpr if type(k) is str else k._pyexpr for k in right_on]
            return left._from_pyldf(ldf.join(right._ldf, lk, rk, True, False, nulls_equal, how, "_right", "m:m",
                                             "none", "auto", None if how == "cross" else coalesce))
        except (AttributeError, TypeError):
            pass
    if how == "cross":
        return left.join(right, how="cross")
    return left.join(right, left_on=list(left_on), right_on=list(right_on), how=how, coalesce=coalesce,
                     nulls_equal=nulls_equal)


def drop_column(lf: Any, name: str) -> Any:
    """``lf.drop(name)``: Polars' method turns the name into a selector each time (five Python
    calls of its parsing); the selector is built once per name here, the same plan."""
    sel = _drop_selector(name)
    if sel is not None:
        try:
            return lf._from_pyldf(lf._ldf.drop(columns=sel))
        except (AttributeError, TypeError):  # another Polars' internals: the public method
            pass
    return lf.drop(name)


@functools.lru_cache(maxsize=1024)
def _drop_selector(name: str) -> Any:
    """The selector Polars' ``LazyFrame.drop(name)`` builds (None where its internals differ)."""
    try:
        from polars._utils.parse.expr import parse_list_into_selector

        return parse_list_into_selector([name], strict=True)._pyselector
    except (ImportError, AttributeError, TypeError):
        return None


@functools.lru_cache(maxsize=8192)
def col(name: str) -> Any:
    """``pl.col(name)``, built once per name (a Polars expression is an immutable value)."""
    return new_col(name)


@functools.cache
def _builders() -> tuple[Any, Any, Any] | None:
    """Polars' internal ``col`` and ``lit`` functions and its expression wrapper (None where this
    Polars has not got them: the public functions are used)."""
    try:
        import polars as pl
        from polars import _plr

        col_, lit_, wrap = _plr.col, _plr.lit, pl.Expr._from_pyexpr
        # Internal signatures are not Polars' contract (polars is not pinned): use them only where
        # they build exactly what the public functions build, checked once per process
        same = all(wrap(lit_(v, False, True)).meta.serialize() == pl.lit(v).meta.serialize()
                   for v in (1, 1.5, "a", True, None))
        if not same or wrap(col_("a")).meta.serialize() != pl.col("a").meta.serialize():
            return None
        return col_, lit_, wrap
    except (ImportError, AttributeError, TypeError):
        return None


def new_col(name: str) -> Any:
    """A new ``pl.col(name)`` of a column name: what ``pl.col`` builds for a ``str``, without its
    dispatch on the argument (three Python calls; a program builds one per column it reads)."""
    b = _builders()
    if b is not None and type(name) is str:
        try:
            return b[2](b[0](name))
        except TypeError:  # another Polars' internal signature: the public function
            pass
    import polars as pl

    return pl.col(name)


#: the Python types whose untyped ``pl.lit`` is Polars' internal ``lit`` of the value itself
_PLAIN = frozenset({int, float, str, bool, type(None)})


def lit(value: Any) -> Any:
    """``pl.lit(value)`` (no dtype). For an ``int``, ``float``, ``str``, ``bool`` or None, what
    ``pl.lit`` makes of one after testing it for a dozen other kinds (dates, Series, NumPy,
    PyTorch, enums: ~1 µs of its ~1.5 in Python; a program builds one per constant), built
    directly; any other value goes through ``pl.lit``."""
    b = _builders()
    if b is not None and type(value) in _PLAIN:
        try:
            return b[2](b[1](value, False, True))
        except TypeError:  # another Polars' internal signature: the public function
            pass
    import polars as pl

    return pl.lit(value)


def clear_caches() -> None:
    """Forget the column expressions and drop selectors kept per name (see
    ``thresher.operators.expr_to_polars.clear_caches``)."""
    _drop_selector.cache_clear()
    col.cache_clear()


def _call(lf: Any, method: str, exprs: Sequence[Any]) -> Any:
    try:
        pyexprs = [e._pyexpr for e in exprs]
        call = getattr(lf._ldf, method)
    except AttributeError:
        return getattr(lf, method)(list(exprs))
    try:
        return lf._from_pyldf(call(pyexprs))
    except TypeError:  # a Polars whose internal signature differs: the public method
        return getattr(lf, method)(list(exprs))


def list_of(values: Any) -> Any:
    """The one-row Series whose value is the list of the Series ``values``' values:
    ``pl.Series([list(values)], dtype=pl.List(values.dtype))``, which builds its one list the
    same way (``PySeries.new_series_list`` of the inner Series) after converting every value
    again from the Python list, checking each's type (~4x the time: an ``is_in`` list literal,
    TPC-H Q12, Q16, Q19, Q22)."""
    try:
        from polars._plr import PySeries

        return values._from_pyseries(PySeries.new_series_list("", [values._s], True))
    except (ImportError, AttributeError, TypeError):  # another Polars' internals: the public constructor
        import polars as pl

        return pl.Series([values.to_list()], dtype=pl.List(values.dtype))


def from_arrow(data: Any, rechunk: bool = True) -> Any:
    """``pl.from_arrow(data)`` of a table or record batch, with its column names kept: Polars
    renames a column named ``""`` (a pivot of an empty string makes one) to ``column_<i>``."""
    import polars as pl

    df: Any = pl.from_arrow(data, rechunk=rechunk)
    names = data.schema.names
    if "" in names:
        df.columns = list(names)
    return df
