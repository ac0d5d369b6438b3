"""``Series``: one materialized column, backed by an Arrow array.

What ``collected["a"]``, ``df.get_column("a")`` and ``df.iter_columns()`` return. It holds data
(it is not an expression: ``th.col("a")`` builds expressions), and hands values out the same way
frames do: media as NumPy (see ``thresher.values``).

Examples
--------
>>> import thresher as th
>>> s = th.from_pydict({"a": [3, 1, 2]}).collect()["a"]
>>> s.name, s.dtype, len(s)
('a', DataType(int64), 3)
>>> s.to_list()
[3, 1, 2]
>>> s.sum(), s.max()
(6, 3)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.datatypes import DataType
from thresher.values import column_to_numpy, to_python

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow.compute as pc

    from thresher.dataframe import DataFrame
else:
    pc = lazy_module("pyarrow.compute")  # ~9 MiB: a job that computes nothing with it never loads it


class Series:
    """A named, typed, materialized column (Arrow-backed).

    Parameters
    ----------
    name
        The column name.
    values
        An Arrow array or chunked array (any other sequence is converted with ``pa.array``).

    Examples
    --------
    >>> Series("x", [1.0, None]).to_list()
    [1.0, None]
    """

    __slots__ = ("_arr", "_name")

    def __init__(self, name: str, values: Any) -> None:
        if not isinstance(values, (pa.Array, pa.ChunkedArray)):
            values = pa.array(values)
        self._name = name
        self._arr: pa.ChunkedArray = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])

    # ---- inspection ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def dtype(self) -> DataType:
        """The Thresher type of the values."""
        return DataType(self._arr.type)

    @property
    def shape(self) -> tuple[int]:
        return (len(self._arr),)

    def __len__(self) -> int:
        return len(self._arr)

    def len(self) -> int:
        """The number of values (nulls included), like Polars' ``Series.len()``."""
        return len(self._arr)

    def is_empty(self) -> bool:
        return len(self._arr) == 0

    def null_count(self) -> int:
        return int(self._arr.null_count)

    def alias(self, name: str) -> Series:
        """The same values under another name."""
        return Series(name, self._arr)

    rename = alias

    # ---- values out ---------------------------------------------------------------------
    def to_arrow(self) -> pa.Array:
        """The values as one Arrow array (extension types kept)."""
        return self._arr.combine_chunks() if self._arr.num_chunks != 1 else self._arr.chunk(0)

    def to_list(self, *, images: str = "numpy") -> list[Any]:
        """Python values; media as NumPy arrays (``images="pil"`` for Pillow images).

        >>> Series("s", ["a", None]).to_list()
        ['a', None]
        """
        return to_python(self._arr, images)

    def to_numpy(self, *, writable: bool = False) -> np.ndarray:
        """A NumPy array; a media column is stacked when every row has the same shape, else an
        ``object`` array of per-row arrays (see ``thresher.values.column_to_numpy``).

        >>> Series("f", [1.5, 2.5]).to_numpy().tolist()
        [1.5, 2.5]
        """
        return column_to_numpy(self._arr, writable=writable)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = self.to_numpy(writable=bool(copy))
        return out if dtype is None else out.astype(dtype)

    def to_polars(self) -> pl.Series:
        """A Polars Series (media columns stay Arrow extension columns)."""
        import polars as pl

        out = pl.from_arrow(pa.table({self._name: self._arr}))
        assert isinstance(out, pl.DataFrame)
        return out.to_series()

    def to_pandas(self) -> pd.Series:
        """A pandas Series; media values as NumPy arrays in an ``object`` column."""
        import pandas as pd

        if DataType(self._arr.type).is_media() or self._arr.type != DataType(self._arr.type).storage:
            return pd.Series(self.to_list(), name=self._name, dtype=object)
        return self._arr.to_pandas().rename(self._name)

    def item(self, index: int | None = None) -> Any:
        """The single value of a one-element Series, or the value at ``index``.

        >>> Series("a", [7]).item()
        7
        """
        if index is None:
            if len(self) != 1:
                raise ValueError(
                    f"can only call '.item()' if the Series is of length 1, or an explicit index is "
                    f"provided (Series is of length {len(self)})"
                )
            index = 0
        return self[index]

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                idx = pa.array(range(start, stop, step), pa.int64())
                return Series(self._name, self._arr.take(idx))
            return Series(self._name, self._arr.slice(start, max(0, stop - start)))
        if isinstance(key, (int, np.integer)):
            n = len(self)
            i = int(key)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for sequence of length {n}")
            return to_python(self._arr.slice(i % n, 1))[0]
        raise TypeError(f"cannot index a Series with {type(key).__name__}: {key!r}")

    def __iter__(self) -> Iterator[Any]:
        for chunk in self._arr.chunks:
            yield from to_python(chunk)

    def head(self, n: int = 10) -> Series:
        return self[:n] if n >= 0 else self[: max(0, len(self) + n)]

    def tail(self, n: int = 10) -> Series:
        return self[max(0, len(self) - n):] if n >= 0 else self[-n:]

    # ---- a few reductions (Arrow compute) ------------------------------------------------
    def _reduce(self, fn: str, **kw: Any) -> Any:
        if self.dtype.is_media():
            raise TypeError(f"{fn}() is not defined for a {self.dtype} Series {self._name!r}")
        return getattr(pc, fn)(self._arr, **kw).as_py()

    def sum(self) -> Any:
        """The sum of the non-null values (0 for none, like Polars)."""
        out = self._reduce("sum", min_count=0)
        return out

    def mean(self) -> Any:
        return self._reduce("mean")

    def min(self) -> Any:
        return self._reduce("min")

    def max(self) -> Any:
        return self._reduce("max")

    def n_unique(self) -> int:
        """Distinct values, null counted as one value (like Polars)."""
        return len(pc.unique(self._arr))

    # ---- Polars' Series methods of their own length (the expressions, run on this column) ----------
    def to_frame(self) -> DataFrame:
        """A one-column frame of the values (lazy, over them).

        >>> Series("a", [1, 2]).to_frame().rows()
        [(1,), (2,)]
        """
        from thresher.readers import from_arrow

        return from_arrow(pa.table({self._name: self._arr}))

    def _seq(self, build: Any) -> Series:
        from thresher.expressions.expr import col

        return self.to_frame().select(build(col(self._name))).collect().to_series()

    def value_counts(self, *, sort: bool = False, parallel: bool = False, name: str | None = None,
                     normalize: bool = False) -> DataFrame:
        """Each distinct value and its number of rows, as a frame (as Polars' ``Series.value_counts``;
        the count is int64, and without ``sort`` the values come in the order of their first row:
        see ``Expr.value_counts``).

        >>> Series("x", ["a", "b", "b"]).value_counts(sort=True).rows()
        [('b', 2), ('a', 1)]
        """
        from thresher.expressions.expr import col

        e = col(self._name).value_counts(sort=sort, parallel=parallel, name=name, normalize=normalize)
        return self.to_frame().select(e).unnest(self._name).collect()

    def unique(self, *, maintain_order: bool = False) -> Series:
        """The distinct values (in first-row order with ``maintain_order``).

        >>> Series("x", [2, 1, 2]).unique(maintain_order=True).to_list()
        [2, 1]
        """
        return self._seq(lambda c: c.unique(maintain_order=maintain_order))

    def unique_counts(self) -> Series:
        """The number of rows of each distinct value, in the order of their first rows."""
        return self._seq(lambda c: c.unique_counts())

    def mode(self) -> Series:
        """The most frequent value(s), in the order of their first rows."""
        return self._seq(lambda c: c.mode())

    def sort(self, *, descending: bool = False, nulls_last: bool = False) -> Series:
        """The values sorted (NULLs first unless ``nulls_last``), as Polars.

        >>> Series("x", [2, None, 1]).sort().to_list()
        [None, 1, 2]
        """
        return self._seq(lambda c: c.sort(descending=descending, nulls_last=nulls_last))

    def top_k(self, k: int = 5) -> Series:
        """The ``k`` largest values, largest first (see ``Expr.top_k``)."""
        return self._seq(lambda c: c.top_k(k))

    def bottom_k(self, k: int = 5) -> Series:
        """The ``k`` smallest values, smallest first (see ``Expr.bottom_k``)."""
        return self._seq(lambda c: c.bottom_k(k))

    def drop_nulls(self) -> Series:
        """The values without the NULLs."""
        return self._seq(lambda c: c.drop_nulls())

    def equals(self, other: Series) -> bool:
        """True when names, types and values (nulls included) are the same."""
        return self._name == other._name and self._arr.equals(other._arr)

    def __repr__(self) -> str:
        from thresher.display import table_to_text

        return f"Series {self._name!r} [{self.dtype}]\n" + table_to_text(pa.table({self._name: self._arr}))

    def _repr_html_(self) -> str:
        from thresher.display import table_to_html

        return table_to_html(pa.table({self._name: self._arr}))
