"""Cost classes: the one place that says what a call costs, read by the optimizer and the planner.

Every registered function declares a class (``FunctionSpec.cost``) and every UDF a ``cost`` hint
(optionally a number, ``cost_per_row``). The classes are ordered cheapest first::

    scalar < io < decode < model

An expression's class is the most expensive class of the calls it makes (:func:`cost_class`:
the optimizer keeps expensive expressions from being duplicated or pushed below cheap filters,
the planner gives ``model`` calls a stage of their own); its cost is the sum of the calls'
per-row costs (:func:`expr_cost`: filter terms are ordered cheapest first).

Examples
--------
>>> from thresher.expressions.expr import col
>>> cost_class(col("a") + 1), cost_class(col("b").image.decode().image.width() > 1)
('scalar', 'decode')
>>> expr_cost(col("a") > 1) < expr_cost(col("b").image.decode().image.width() > 1)
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, cast

if TYPE_CHECKING:
    from thresher.expressions.expr import Expr
    from thresher.expressions.udf_protocol import UDFProtocol

CostClass = Literal["scalar", "io", "decode", "model"]

#: the cost classes, cheapest first
COST_ORDER: tuple[CostClass, ...] = ("scalar", "io", "decode", "model")

#: relative cost per row of one call of each class (a decode is ~1000 vectorized scalar ops)
CLASS_COST: dict[CostClass, float] = {"scalar": 1.0, "io": 100.0, "decode": 1_000.0, "model": 10_000.0}


#: False while no expression of this process can cost more than ``scalar``: no call of a function
#: registered with another class has been built (nor unpickled, nor a function re-registered as
#: such after calls of it were built), no UDF call, no ``Expr`` subclass with a ``call_cost`` of its
#: own. :func:`cost_class` then answers ``"scalar"`` without looking, and the optimizer's walks
#: for media calls and expensive expressions (``plan_facts``) find none without walking: a
#: relational process does not pay for them (~40 us of a TPC-H query's ~600 us planning). Set by
#: :func:`mark_not_scalar`, never cleared.
NOT_SCALAR_BUILT = False


def mark_not_scalar() -> None:
    """Note that an expression costing more than ``scalar`` may exist (see ``NOT_SCALAR_BUILT``)."""
    global NOT_SCALAR_BUILT
    NOT_SCALAR_BUILT = True


def cost_rank(cls: str) -> int:
    """Position of a cost class, cheapest first (scalar=0, io=1, decode=2, model=3).

    Examples
    --------
    >>> [cost_rank(c) for c in COST_ORDER]
    [0, 1, 2, 3]
    """
    rank = _RANK.get(cls)
    return COST_ORDER.index(cast(CostClass, cls)) if rank is None else rank  # (an unknown class: ValueError)


_RANK: dict[str, int] = {c: k for k, c in enumerate(COST_ORDER)}


def check_cost_class(value: str, owner: str) -> CostClass:
    """``value`` as a cost class, or ``ValueError`` naming ``owner`` (a function or UDF) and the classes."""
    if value not in COST_ORDER:
        raise ValueError(f"cost of {owner} must be one of {', '.join(COST_ORDER)}, got {value!r}")
    return value


def most_expensive(classes: Iterable[str]) -> CostClass:
    """The most expensive of some cost classes (``"scalar"`` when there are none).

    Examples
    --------
    >>> most_expensive(["io", "scalar", "decode"]), most_expensive([])
    ('decode', 'scalar')
    """
    best: CostClass = "scalar"
    for c in classes:
        if cost_rank(c) > cost_rank(best):
            best = cast(CostClass, c)
    return best


def udf_cost(udf: UDFProtocol) -> tuple[CostClass, float]:
    """A UDF's cost class (its ``cost`` hint) and per-row cost (its ``cost_per_row`` hint, else
    its class's)."""
    cls = check_cost_class(udf.cost, f"udf {udf.name}")
    return cls, CLASS_COST[cls] if udf.cost_per_row is None else float(udf.cost_per_row)


def cost_class(e: Expr) -> CostClass:
    """The most expensive cost class among the calls ``e`` makes (UDFs count by their hint).

    Computed once per node from its children's (expressions are immutable; the optimizer asks
    about every subexpression of every expression, which walked each subtree again); ``"scalar"``
    without a look while no expression in the process costs more (see ``NOT_SCALAR_BUILT``)."""
    if not NOT_SCALAR_BUILT:
        return "scalar"
    d = e.__dict__
    hit: CostClass | None = d.get("_memo_cost_class")
    if hit is None:
        # most_expensive([own, *children's]) without the list (relational plans: all "scalar")
        hit = e.call_cost()[0]
        cost_rank(hit)
        for c in e.children():
            k = cost_class(c)
            if k is not hit and cost_rank(k) > cost_rank(hit):
                hit = k
        d["_memo_cost_class"] = hit
    return hit


def expr_cost(e: Expr) -> float:
    """Estimated cost per row of evaluating ``e``: the sum over the calls it makes."""
    return sum(n.call_cost()[1] for n in e.walk())
