"""The memo tables of one optimize() call (see :func:`rule_memo`): the rules' traversals and the
statistics they ask for keep their answers for the whole call."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, TypeVar

_K = TypeVar("_K")
_V = TypeVar("_V")

#: the memo tables of one optimize() call: tag -> (what keeps the tag's ids valid, the table)
_SCOPE: contextvars.ContextVar[dict[Any, tuple[Any, dict[Any, Any]]] | None] = contextvars.ContextVar(
    "thresher_rule_memo", default=None)


#: the context variable :func:`memo_scope` sets: a caller that already has a try/finally opens a
#: scope with ``SCOPE_VAR.set({})`` and closes it with ``SCOPE_VAR.reset(token)``, without the
#: context manager's Python calls (``build_lazy``, once per Polars program)
SCOPE_VAR = _SCOPE


class _Scope:
    """The context manager :func:`memo_scope` gives: a class, not a ``contextlib.contextmanager``
    generator (entered twice per compile(): the generator's wrapper cost more than the block's
    own bookkeeping)."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _SCOPE.set({})

    def __exit__(self, *exc: object) -> None:
        _SCOPE.reset(self._token)


def memo_scope() -> _Scope:
    """Keep the traversals' memo tables (see :func:`rule_memo`) for the duration of the block:
    the optimizer runner opens one per ``optimize()`` call."""
    return _Scope()


def rule_memo(tag: Any, keep: Any = None) -> dict[Any, Any]:
    """The memo table of one traversal, named by ``tag`` (hashable; ``keep`` holds the objects
    whose ids it contains, so they are not reused).

    Inside :func:`memo_scope` the table lasts for the whole optimize() call: the fixpoint loop
    runs every rule again over a plan that is mostly the same node objects as in the pass
    before, and a node a rule already rewrote (or left alone) gets the same answer again
    without walking its subtree. Outside, a fresh table (one call)."""
    scope = _SCOPE.get()
    if scope is None:
        return {}
    hit = scope.get(tag)
    if hit is None:
        hit = scope[tag] = (keep, {})
    return hit[1]


def memoized_by_identity(tag: Any, compute: Callable[[_K], _V], obj: _K) -> _V:
    """``compute(obj)``, once per object per optimize() call (see :func:`rule_memo`): for
    immutable plan nodes and sources that the rules ask about again and again. The table keeps
    ``obj`` alive, so its id is not reused for another object during the call."""
    scope = _SCOPE.get()  # (rule_memo(tag), inlined: this runs for every question about a node)
    if scope is None:
        return compute(obj)
    table = scope.get(tag)
    if table is None:
        table = scope[tag] = (None, {})
    memo: dict[int, tuple[_K, _V]] = table[1]
    hit = memo.get(id(obj))
    if hit is not None:
        return hit[1]
    out = compute(obj)
    memo[id(obj)] = (obj, out)
    return out


def unlink(fn: Callable[..., Any]) -> None:
    """Empty the closure cell through which the nested function ``fn`` calls itself.

    A recursive nested function is a reference cycle (the function holds the cell, the cell
    holds the function), and everything it closes over (a traversal's memo, which keeps every
    plan version a rule saw alive) lives until the cyclic collector runs, after planning, where
    it was most of the garbage that collection freed (TPC-DS q04: 7,972 objects after
    compile(); q88: 5,632). Called once the traversal is done, so reference counting frees it
    all then. ``fn`` must not be called again."""
    for cell in fn.__closure__ or ():
        if cell.cell_contents is fn:
            del cell.cell_contents
