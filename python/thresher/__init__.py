"""Thresher: a lazy, strongly typed DataFrame engine for multimodal data.

>>> import thresher as th
>>> df = th.from_pydict({"x": [1, 2, 3]})
>>> df.with_columns(y=th.col("x") * 2).filter(th.col("y") > 2).to_pydict()
{'x': [2, 3], 'y': [4, 6]}
"""

from __future__ import annotations

import builtins
import os
from typing import Any

# Before PyArrow loads (mimalloc, its default pool, reads its options when libarrow is loaded):
# no transparent huge pages for mimalloc's arena. A 2 MiB page is resident whole once touched, so
# a job's first few Arrow allocations held 4 MiB (a local video job: 109 -> 105 MiB peak), and
# huge pages bought no measurable speed on TPC-H (SF 1, 9 queries, 9 interleaved rounds: process
# CPU time 0.99x with them off, range 0.92-1.11). MIMALLOC_ALLOW_THP=1 keeps them.
os.environ.setdefault("MIMALLOC_ALLOW_THP", "0")

# first: on import it keeps PyArrow from importing pandas (~40 MiB) until something else does
from thresher import _lazy  # noqa: F401
from thresher.dataframe import DataFrame, GroupBy
from thresher.datatypes import DataType, Field, Schema
from thresher.errors import (
    ColumnNotFoundError,
    SettingError,
    ThresherError,
    ThresherExecutionError,
    ThresherIOError,
    ThresherTypeError,
    UnsupportedError,
)
from thresher.expressions.expr import Expr, col, count, register_expr_namespace
from thresher.expressions.expr import user_lit as lit
from thresher.expressions.expr import user_when as when
from thresher.expressions.horizontal import (
    all_horizontal,
    any_horizontal,
    concat_str,
    max_horizontal,
    mean_horizontal,
    min_horizontal,
    struct,
    sum_horizontal,
)
from thresher.expressions.list import element
from thresher.expressions.shortcuts import (  # noqa: A004 - Polars' names: th.sum("a"), th.min("a"), ...
    exclude,
    first,
    last,
    max,
    mean,
    median,
    min,
    n_unique,
    quantile,
    std,
    sum,
    var,
)
from thresher.frame_ops import all, coalesce, concat, len  # noqa: A004 - Polars' names: th.all(), th.len()
from thresher.io.config import (
    AzureConfig,
    GCSConfig,
    HFConfig,
    HTTPConfig,
    IOConfig,
    S3Config,
    get_io_config,
    set_io_config,
)
from thresher.readers import (
    from_arrow,
    from_glob_path,
    from_pandas,
    from_polars,
    from_pydict,
    from_pylist,
    iceberg_catalog,
    read_csv,
    read_iceberg,
    read_json,
    read_lance,
    read_parquet,
)
from thresher.series import Series
from thresher.session import get_runner_name, set_memory_budget, set_optimizer, set_progress, set_runner

__version__ = "0.1.0"


def sql(query: str, dialect: str = "duckdb", **tables: Any) -> DataFrame:
    """Run SQL over registered frames and the frames given by keyword (see ``thresher.sql_frontend``).

    >>> import thresher as th
    >>> t = th.from_pydict({"x": [1, 2, 3]})
    >>> th.sql("SELECT sum(x) AS s FROM t", t=t).to_pydict()
    {'s': [6]}
    """
    from thresher.sql_frontend import sql as _sql

    return _sql(query, dialect=dialect, **tables)


def register(name: str, df: Any) -> None:
    """Make ``df`` queryable as table ``name`` in later ``th.sql`` calls."""
    from thresher.sql_frontend import register as _register

    _register(name, df)


def unregister(name: str) -> None:
    from thresher.sql_frontend import unregister as _unregister

    _unregister(name)


def __dir__() -> list[str]:
    # the lazily loaded parts are listed too, for tab completion
    return sorted({*globals(), "config", "functions", "udf"})


def __getattr__(name: str) -> Any:
    # heavier parts load on first use, so `import thresher` stays light
    if name == "udf":
        from thresher.udfs.udf import udf

        return udf
    if name == "functions":
        import thresher.functions as functions

        return functions
    if name == "config":
        # the module is callable: th.config(max_download_bytes=...), th.config.x, with th.config(...)
        import thresher.config as config

        return config
    raise AttributeError(f"module 'thresher' has no attribute {name!r}")


__all__ = [
    "AzureConfig",
    "GCSConfig",
    "HFConfig",
    "HTTPConfig",
    "IOConfig",
    "S3Config",
    "get_io_config",
    "set_io_config",
    "ColumnNotFoundError",
    "DataFrame",
    "DataType",
    "Expr",
    "Field",
    "GroupBy",
    "Schema",
    "Series",
    "SettingError",
    "ThresherError",
    "ThresherExecutionError",
    "ThresherIOError",
    "ThresherTypeError",
    "UnsupportedError",
    "all",
    "all_horizontal",
    "any_horizontal",
    "coalesce",
    "col",
    "concat",
    "concat_str",
    "count",
    "element",
    "from_arrow",
    "from_glob_path",
    "from_pandas",
    "from_polars",
    "from_pydict",
    "from_pylist",
    "get_runner_name",
    "iceberg_catalog",
    "len",
    "lit",
    "max_horizontal",
    "mean_horizontal",
    "min_horizontal",
    "read_csv",
    "read_iceberg",
    "read_json",
    "read_lance",
    "read_parquet",
    "register",
    "sql",
    "unregister",
    "register_expr_namespace",
    "set_memory_budget",
    "set_optimizer",
    "set_progress",
    "set_runner",
    "struct",
    "sum_horizontal",
    "when",
    "exclude",
    "first",
    "last",
    "max",
    "mean",
    "median",
    "min",
    "n_unique",
    "quantile",
    "std",
    "sum",
    "var",
]


def _cap_malloc_arenas() -> None:
    """At most two glibc malloc arenas per core (glibc's default: eight), unless the user set
    ``MALLOC_ARENA_MAX``; a no-op without glibc.

    Every thread that allocates gets an arena of its own while a free one is not at hand, and
    an arena keeps the pages its live blocks are scattered over: the executor's threads of one
    run after another spread over more and more of them (a local video job, 2 cores: ~6 arenas
    after a few runs; with 4 its peak RSS is ~1 MiB lower: video benchmark 99.4 -> 97.5 MiB).
    glibc fixes its limit the first time it needs one (past eight arenas), so this is set on
    import, before any job starts threads. Same speed within noise on 2 cores (image pipeline,
    5 pairs of runs: ratio to the hand-written loop 1.15-1.36x without, 1.16-1.76x with; audio,
    4 pairs: 0.82-1.26x without, 0.80-1.05x with).
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(-8, 2 * builtins.max(1, os.cpu_count() or 1))  # -8: M_ARENA_MAX


_cap_malloc_arenas()
