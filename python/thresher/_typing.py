"""Type aliases shared by the package (private: the names may change)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    import datetime
    import decimal
    from typing import Any

    from thresher.expressions.expr import Expr

#: a Python value ``lit()`` turns into a literal (see ``expressions.expr.infer_literal_type``)
PythonLiteral: TypeAlias = (
    "bool | int | float | str | bytes | decimal.Decimal | datetime.date | datetime.datetime"
    " | datetime.timedelta | list[Any] | tuple[Any, ...] | None"
)

#: what an Expr method accepts where an expression goes: an expression or a Python literal
IntoExpr: TypeAlias = "Expr | PythonLiteral"
