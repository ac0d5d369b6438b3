"""Rows and columns out of a frame, the Polars way (mixed into :class:`~thresher.DataFrame`).

``collect()`` returns a *collected* DataFrame: it holds its result, and the same (lazy) API
applies to it. Everything here works on both kinds of frame: on a collected one it reads the held
result; on a lazy one it runs the plan (``iter_rows`` streams batch by batch, ``row(i)`` and
``height`` run a small plan of their own; the rest collect first). Values come out as in
``thresher.values``: media as NumPy arrays.

Iterating a frame (``for row in df``) yields one dict per row, as in Daft (Polars iterates
columns: use ``df.iter_columns()`` for that).

Examples
--------
>>> import thresher as th
>>> df = th.from_pydict({"a": [1, 2], "b": ["x", "y"]}).collect()
>>> df.shape, df.height, df.width
((2, 2), 2, 2)
>>> df.rows()
[(1, 'x'), (2, 'y')]
>>> df.row(1, named=True)
{'a': 2, 'b': 'y'}
>>> [r["b"] for r in df]
['x', 'y']
>>> df["a"].to_list()
[1, 2]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from thresher.errors import ColumnNotFoundError
from thresher.frame_host import FrameHost
from thresher.series import Series
from thresher.values import table_to_pylist, table_to_rows

if TYPE_CHECKING:
    from thresher.expressions.expr import Expr


class RowsMixin(FrameHost):
    """Row and column access; see the module docstring."""

    # ---- size ---------------------------------------------------------------------------
    @property
    def height(self) -> int:
        """The number of rows (a lazy frame runs a count).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2, 3]}).height
        3
        """
        if self._result is not None:
            return int(self._result.num_rows)
        return self.count_rows()

    @property
    def width(self) -> int:
        """The number of columns (known without running anything)."""
        return len(self.columns)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``.

        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2, 3], "b": [0, 0, 0]}).shape
        (3, 2)
        """
        return (self.height, self.width)

    def is_empty(self) -> bool:
        """True when the frame has no rows."""
        if self._result is not None:
            return bool(self._result.num_rows == 0)
        return self.limit(1).to_arrow().num_rows == 0

    # ---- rows ---------------------------------------------------------------------------
    def iter_rows(self, *, named: bool = False, buffer_size: int = 512, images: str = "numpy",
                  **options: Any) -> Iterator[tuple[Any, ...]] | Iterator[dict[str, Any]]:
        """Yield rows as tuples (``named=True``: dicts), streaming batch by batch.

        Parameters
        ----------
        named
            Yield ``{column: value}`` dicts instead of tuples.
        buffer_size
            Accepted for Polars compatibility; rows are converted one batch at a time.
        images
            ``"numpy"`` (``H×W×C`` uint8 arrays) or ``"pil"`` (Pillow images) for image columns.
        **options
            Passed to the executor (``runner=``, ...), as for ``collect``.

        Examples
        --------
        >>> import thresher as th
        >>> list(th.from_pydict({"a": [1, 2]}).iter_rows(named=True))
        [{'a': 1}, {'a': 2}]
        """
        for batch in self.iter_batches(**options):
            table = pa.Table.from_batches([batch])
            if named:
                yield from table_to_pylist(table, images)
            else:
                yield from table_to_rows(table, images)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """One dict per row (as in Daft); ``iter_columns()`` iterates columns."""
        return self.iter_rows(named=True)  # type: ignore[return-value]

    def rows(self, *, named: bool = False, images: str = "numpy", **options: Any) -> list[Any]:
        """All rows as a list of tuples (``named=True``: dicts), media as NumPy.

        Parameters
        ----------
        named
            Return ``{column: value}`` dicts instead of tuples.
        images
            ``"numpy"`` or ``"pil"`` for image columns.

        Returns
        -------
        list
            One tuple (or dict) per row.

        Examples
        --------
        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2], "b": [None, "y"]}).rows()
        [(1, None), (2, 'y')]
        """
        table = self.to_arrow(**options)
        return table_to_pylist(table, images) if named else table_to_rows(table, images)

    def to_dicts(self, *, images: str = "numpy", **options: Any) -> list[dict[str, Any]]:
        """All rows as dicts (the same as ``rows(named=True)``).

        >>> import thresher as th
        >>> th.from_pydict({"a": [1]}).to_dicts()
        [{'a': 1}]
        """
        return table_to_pylist(self.to_arrow(**options), images)  # type: ignore[no-any-return]

    def row(self, index: int | None = None, *, by_predicate: Expr | None = None, named: bool = False,
            images: str = "numpy") -> Any:
        """One row as a tuple (``named=True``: a dict).

        Parameters
        ----------
        index
            The row's position; negative positions count from the end.
        by_predicate
            An expression that must select exactly one row (instead of ``index``).
        named
            Return a ``{column: value}`` dict.
        images
            ``"numpy"`` or ``"pil"`` for image columns.

        Raises
        ------
        IndexError
            ``index`` is out of bounds.
        ValueError
            ``by_predicate`` matches no row or more than one.

        Examples
        --------
        >>> import thresher as th
        >>> df = th.from_pydict({"a": [1, 2, 3], "b": ["x", "y", "z"]})
        >>> df.row(-1)
        (3, 'z')
        >>> df.row(by_predicate=th.col("a") == 2, named=True)
        {'a': 2, 'b': 'y'}
        """
        if (index is None) == (by_predicate is None):
            raise ValueError("row() needs exactly one of 'index' or 'by_predicate'")
        if by_predicate is not None:
            table = self.filter(by_predicate).limit(2).to_arrow()
            if table.num_rows == 0:
                raise ValueError(f"row(by_predicate=...): predicate {by_predicate!r} returned no rows")
            if table.num_rows > 1:
                raise ValueError(f"row(by_predicate=...): predicate {by_predicate!r} returned more than one row")
        else:
            assert index is not None
            i = int(index)
            if self._result is not None or i < 0:
                n = self.height
                if not -n <= i < n:
                    raise IndexError(f"index {i} is out of bounds for a frame of height {n}")
                i %= n
            table = self.limit(1, offset=i).to_arrow()
            if table.num_rows == 0:
                raise IndexError(f"index {i} is out of bounds for a frame of height {self.height}")
        return table_to_pylist(table, images)[0] if named else table_to_rows(table, images)[0]

    def item(self, row: int | None = None, column: int | str | None = None) -> Any:
        """The single value of a 1×1 frame, or the value at (``row``, ``column``).

        Parameters
        ----------
        row
            The row's position (with ``column``).
        column
            The column's name or position (with ``row``).

        Raises
        ------
        ValueError
            Called without ``row``/``column`` on a frame that is not 1×1.

        Examples
        --------
        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2, 3]}).agg(th.col("a").sum()).item()
        6
        """
        if (row is None) != (column is None):
            raise ValueError("item(): give both 'row' and 'column', or neither")
        if row is None:
            table = self.to_arrow()
            if table.shape != (1, 1):
                raise ValueError(
                    "can only call .item() without 'row' and 'column' if the frame has a single "
                    f"element; shape={table.shape}"
                )
            return self.get_column(table.column_names[0])[0]
        assert column is not None
        name = self._column_name(column)
        return self.get_column(name)[int(row)]

    # ---- columns ------------------------------------------------------------------------
    def _column_name(self, column: int | str) -> str:
        cols = self.columns
        if isinstance(column, str):
            if column not in cols:
                raise ColumnNotFoundError(f"column {column!r} not found; available columns: {cols}")
            return column
        i = int(column)
        if not -len(cols) <= i < len(cols):
            raise IndexError(f"column index {i} is out of bounds for a frame of width {len(cols)}")
        return cols[i]

    def get_column(self, name: str) -> Series:
        """One column as a :class:`~thresher.series.Series` (a lazy frame runs the plan).

        Parameters
        ----------
        name
            The column's name.

        Examples
        --------
        >>> import thresher as th
        >>> th.from_pydict({"a": [1, 2]}).get_column("a").to_list()
        [1, 2]
        """
        self._column_name(name)
        table = self._result if self._result is not None else self.to_arrow()
        return Series(name, table.column(name))

    def get_columns(self) -> list[Series]:
        """Every column as a Series."""
        table = self.to_arrow()
        return [Series(n, table.column(n)) for n in table.column_names]

    def iter_columns(self) -> Iterator[Series]:
        """Yield each column as a Series (Polars' ``for s in df``)."""
        yield from self.get_columns()

    def to_series(self, index: int = 0) -> Series:
        """The column at position ``index`` as a Series."""
        return self.get_column(self._column_name(index))
