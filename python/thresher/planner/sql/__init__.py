"""SQL front end: sqlglot AST → Thresher logical plan."""

from thresher.planner.sql.translate import SQLError, translate

__all__ = ["SQLError", "translate"]
