"""What the DataFrame mixins (``frame_rows``, ``frame_ops``, ``frame_polars``) call on the
DataFrame they are mixed into, declared once for the type checker.

At run time :class:`FrameHost` is ``object``: the methods are :class:`thresher.DataFrame`'s own.
Under the type checker it declares them, so each mixin's calls are checked against one list
(and ``DataFrame``'s definitions against the same signatures).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from thresher.dataframe import DataFrame
    from thresher.datatypes import Schema
    from thresher.planner.logical import LogicalPlan
    from thresher.series import Series

    class FrameHost:
        _plan: LogicalPlan
        _result: pa.Table | None

        @property
        def schema(self) -> Schema: ...

        @property
        def columns(self) -> list[str]: ...

        def _with(self, plan: LogicalPlan) -> DataFrame: ...

        def select(self, *exprs: Any, **named: Any) -> DataFrame: ...

        def with_columns(self, *exprs: Any, **named: Any) -> DataFrame: ...

        def with_row_index(self, name: str = "index", offset: int = 0) -> DataFrame: ...

        def filter(self, *predicates: Any, **constraints: Any) -> DataFrame: ...

        def agg(self, *aggs: Any, **named_aggs: Any) -> DataFrame: ...

        def sort(self, by: Any, *more: Any, descending: bool | Sequence[bool] = False,
                 nulls_last: bool | Sequence[bool] = False, maintain_order: bool = False,
                 multithreaded: bool = True) -> DataFrame: ...

        def limit(self, n: int, offset: int = 0) -> DataFrame: ...

        def tail(self, n: int = 5) -> DataFrame: ...

        def drop(self, *columns: str) -> DataFrame: ...

        def join(self, other: DataFrame, on: Any = None, left_on: Any = None, right_on: Any = None,
                 how: str = "inner", suffix: str = "_right", strategy: str = "auto", *,
                 coalesce: bool | None = None, nulls_equal: bool = False,
                 maintain_order: str | None = None) -> DataFrame: ...

        def union(self, *others: DataFrame) -> DataFrame: ...

        def unique(self, subset: Sequence[str] | str | None = None, *, keep: str = "first",
                   maintain_order: bool = False) -> DataFrame: ...

        def to_polars(self, **kw: Any) -> Any: ...

        def to_arrow(self, **kw: Any) -> pa.Table: ...

        def iter_batches(self, runner: str | None = None, optimize: bool = True,
                         **options: Any) -> Iterator[pa.RecordBatch]: ...

        def count_rows(self) -> int: ...

        def get_column(self, name: str) -> Series: ...

        def get_columns(self) -> list[Series]: ...

        def write_parquet(self, path: str, *args: Any, **kw: Any) -> DataFrame: ...

        def write_csv(self, path: str, *args: Any, **kw: Any) -> DataFrame: ...

        def write_json(self, path: str, *args: Any, **kw: Any) -> DataFrame: ...
else:
    FrameHost = object
