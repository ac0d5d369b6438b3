"""``expr.struct``: struct field access.

Examples
--------
>>> from thresher import col
>>> col("meta").struct.field("width")
col("meta").struct.field(name='width').alias("width")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from thresher.datatypes import DataType, Field
from thresher.expressions.expr import Call, Expr
from thresher.expressions.registry import expect, function


@function("struct.field", sql_names=("struct_field",))
def _field(args: Sequence[Field], opts: dict[str, Any]) -> DataType:
    f = args[0]
    expect(f, f.dtype.is_struct() or (f.dtype.is_media() and f.dtype.storage.__class__.__name__ == "StructType"),
           "a struct", "struct.field")
    return f.dtype.field(opts["name"])


class StructNamespace:
    """Struct functions, reached as ``expr.struct``."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    if not TYPE_CHECKING:  # (hidden from mypy: a class __getattr__ would type every misspelling)
        def __getattr__(self, name: str) -> Any:
            from thresher.expressions.expr import namespace_miss

            raise namespace_miss("struct", name)

    def field(self, name: str) -> Expr:
        """The struct field ``name`` as a column (named after the field)."""
        return Call("struct.field", (self._expr,), (("name", name),)).alias(name)
