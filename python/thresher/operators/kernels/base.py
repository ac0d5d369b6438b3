"""What every kernel returns, and the helper that runs a per-item function over an Arrow array.

A kernel evaluates one registered function over Arrow arrays. Media kernels work item by item
(Pillow/PyAV decode one file at a time), so they catch a failure per row: the row becomes null and
its message goes into ``errors`` (``on_error="null"``, the default), or the whole call raises with
the row and its source (``on_error="raise"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from thresher.errors import ThresherExecutionError


@dataclass
class KernelOutput:
    """A kernel's result: ``values`` and, per row, an error message or null."""

    values: pa.Array
    errors: pa.Array | None = None  # large_string, null where the row succeeded


class RowError(ThresherExecutionError):
    """A kernel failed on one row (raised with on_error='raise')."""


def map_items(
    fn: Callable[[Any], Any],
    arr: pa.Array,
    out_type: pa.DataType,
    *,
    on_error: str = "null",
    what: str = "value",
    sources: list[Any] | None = None,
) -> KernelOutput:
    """Apply ``fn`` to every non-null item of ``arr``; build an array of ``out_type``.

    ``fn`` takes the Python value of one item and returns the Python value of the result.
    ``sources`` (optional) names each row's origin (path/url) for error messages.
    """
    items = arr.to_pylist()
    out: list[Any] = [None] * len(items)
    errors: list[str | None] = [None] * len(items)
    any_error = False
    for i, item in enumerate(items):
        if item is None:
            continue
        try:
            out[i] = fn(item)
        except Exception as exc:  # noqa: BLE001 - one bad row must not kill the job
            src = f" ({sources[i]})" if sources is not None and sources[i] is not None else ""
            msg = f"{what} failed on row {i}{src}: {type(exc).__name__}: {exc}"
            if on_error == "raise":
                raise RowError(msg) from exc
            errors[i] = msg
            any_error = True
    values = pa.array(out, type=out_type)
    return KernelOutput(values, pa.array(errors, type=pa.large_string()) if any_error else None)
