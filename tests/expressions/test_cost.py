"""Cost classes (``expressions/cost.py``): the one module the optimizer and the planner read."""

from __future__ import annotations

import doctest

import pytest

import thresher as th
from thresher import col
from thresher.expressions import cost
from thresher.expressions.cost import CLASS_COST, COST_ORDER, cost_class, cost_rank, expr_cost, most_expensive


def test_docstring_examples() -> None:
    assert doctest.testmod(cost).failed == 0


def test_class_and_cost_of_nested_calls_and_udfs() -> None:
    decode_width = col("b").image.decode().image.width()
    assert cost_class(col("a")) == "scalar" and expr_cost(col("a")) == 0.0
    assert cost_class(decode_width + col("a")) == "decode"
    # the per-row cost is the sum over the calls: decode + width (io) + add (scalar)
    assert expr_cost(decode_width + col("a")) == CLASS_COST["decode"] + CLASS_COST["io"] + CLASS_COST["scalar"]

    @th.udf(return_dtype="int64", cost="io")
    def f(x: int) -> int:
        return x

    @th.udf(return_dtype="int64")
    def g(x: int) -> int:
        return x

    assert cost_class(f(col("a"))) == "io" and expr_cost(f(col("a"))) == CLASS_COST["io"]
    assert cost_class(g(col("a")) > 1) == "model"  # a UDF without a hint is assumed expensive
    assert cost_class(f(decode_width)) == "decode"


def test_order_and_validation() -> None:
    assert [cost_rank(c) for c in COST_ORDER] == [0, 1, 2, 3]
    assert most_expensive(["io", "model", "scalar"]) == "model"
    with pytest.raises(ValueError, match="cost of udf h must be one of scalar, io, decode, model"):
        th.udf(return_dtype="int64", cost="cheap", name="h")(lambda x: x)
