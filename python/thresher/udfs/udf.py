"""``@th.udf``: user-defined functions with declared return types and resources.

Four kinds, one decorator:

* **row** functions (the default) take Python values and return one value; they run batched
  under the hood;
* **batch** functions (``batch=True``) take whole columns (``pyarrow``, ``numpy`` or ``polars``
  per ``batch_format``) and return a column of the same length;
* **class** UDFs (decorate a class): ``__init__`` runs once per worker — load a model there —
  and ``__call__`` runs per batch (``batch=True``) or per row;
* **generator** UDFs (functions/classes that ``yield``) emit several rows per input row and are
  used through :meth:`DataFrame.flat_map` for fan-out.

Calling a UDF on expressions builds an expression; calling it on plain values runs it, so it is
easy to unit-test. The return type is required (``return_dtype=`` or the return annotation) and
checked: a wrong type or length fails naming the UDF and the column.

Examples
--------
>>> import thresher as th
>>> @th.udf(return_dtype="int64")
... def double(x):
...     return x * 2
>>> double(21)
42
>>> th.from_pydict({"a": [1, 2]}).select(double(th.col("a")).alias("b")).to_pydict()
{'b': [2, 4]}
"""

from __future__ import annotations

import functools
import inspect
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, get_type_hints

import numpy as np
import pyarrow as pa

from thresher.datatypes import DataType, Field, Schema, conform_array, storage_array, to_dtype
from thresher.errors import ThresherExecutionError, ThresherTypeError
from thresher.expressions.cost import check_cost_class
from thresher.expressions.expr import Expr, UDFCall, lit_if_needed
from thresher.expressions.udf_protocol import GeneratorUDFProtocol

_ANNOTATION_TYPES: dict[Any, Callable[[], DataType]] = {
    int: DataType.int64, float: DataType.float64, str: DataType.string, bool: DataType.bool, bytes: DataType.binary,
}


def _dtype_from_annotation(fn: Callable[..., Any]) -> DataType | None:
    target = fn.__call__ if inspect.isclass(fn) else fn  # type: ignore[operator]
    try:
        hints = get_type_hints(target)
    except Exception:  # noqa: BLE001 - unresolvable annotations: the user must pass return_dtype
        return None
    ret = hints.get("return")
    if ret in _ANNOTATION_TYPES:
        return _ANNOTATION_TYPES[ret]()
    if isinstance(ret, DataType):
        return ret
    if isinstance(ret, pa.DataType):
        return DataType(ret)
    return None


_FORMAT_NAMES = {
    "ndarray": "numpy", "np.ndarray": "numpy", "numpy.ndarray": "numpy", "NDArray": "numpy",
    "Series": "polars", "pl.Series": "polars", "polars.Series": "polars",
    "Array": "arrow", "pa.Array": "arrow", "pyarrow.Array": "arrow", "ChunkedArray": "arrow", "pa.ChunkedArray": "arrow",
    "list": "python",
}


def _format_from_annotation(fn: Any) -> str:
    """``batch_format`` for a batch UDF from its first parameter's annotation (arrow if none)."""
    target = fn.__call__ if inspect.isclass(fn) else fn
    try:
        params = [p for p in inspect.signature(target).parameters.values() if p.name != "self"]
    except (TypeError, ValueError):
        return "arrow"
    if not params or params[0].annotation is inspect.Parameter.empty:
        return "arrow"
    ann = params[0].annotation
    if not isinstance(ann, str):
        mod = getattr(ann, "__module__", "") or ""
        name = getattr(ann, "__name__", "") or str(ann)
        if mod.startswith("numpy"):
            return "numpy"
        if mod.startswith("polars"):
            return "polars"
        if mod.startswith("pyarrow"):
            return "arrow"
        ann = name
    head = ann.split("[", 1)[0].strip()
    return _FORMAT_NAMES.get(head, _FORMAT_NAMES.get(head.rsplit(".", 1)[-1], "arrow"))


def _is_generator(fn: Any) -> bool:
    target = fn.__call__ if inspect.isclass(fn) else fn
    return inspect.isgeneratorfunction(target)


@dataclass(eq=False)
class UDF:
    """A decorated function or class. Attributes are what the planner schedules by: it implements
    the declared UDF protocols (``expressions/udf_protocol.py``)."""

    fn: Any
    return_dtype: DataType
    batch: bool = False
    batch_format: str = "arrow"  # arrow | numpy | polars | python
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: int | None = None
    concurrency: int | tuple[int, int] | None = None
    batch_size: int | None = None
    max_retries: int = 0
    on_error: str = "raise"
    cost: str = "model"
    init_args: tuple[Any, ...] = ()
    init_kwargs: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    #: a per-row cost estimate overriding the cost class's (``expressions/cost.py``)
    cost_per_row: float | None = None
    #: the function may run in several threads of one process at once
    thread_safe: bool = False
    _instance: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.name = self.name or getattr(self.fn, "__name__", "udf")
        c = self.concurrency
        if c is not None and not (
            (isinstance(c, int) and c >= 1)
            or (isinstance(c, tuple) and len(c) == 2 and all(isinstance(x, int) for x in c) and 1 <= c[0] <= c[1])
        ):
            raise ValueError(f"udf {self.name}: concurrency must be an int >= 1 or a (min, max) pair, got {c!r}")
        if self.num_cpus < 0 or self.num_gpus < 0:
            raise ValueError(f"udf {self.name}: num_cpus and num_gpus must be >= 0")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"udf {self.name}: batch_size must be >= 1")
        if self.on_error not in ("raise", "null", "column"):
            raise ValueError(f"udf {self.name}: on_error must be 'raise', 'null' or 'column'")
        check_cost_class(self.cost, f"udf {self.name}")
        if self.batch_format not in ("arrow", "numpy", "polars", "python"):
            raise ValueError(f"udf {self.name}: batch_format must be arrow, numpy, polars or python")
        try:
            # workers receive UDFs the way Ray ships them: by value with cloudpickle when it is
            # there (functions defined in a notebook or a script), by reference otherwise
            try:
                import cloudpickle

                cloudpickle.dumps(self.fn)
            except ImportError:
                pickle.dumps(self.fn)
        except Exception as exc:  # noqa: BLE001 - checked once, here, not on a worker
            raise ThresherTypeError(
                f"udf {self.name} cannot be pickled ({exc}); define it at module level so workers can import it"
            ) from exc

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_instance"] = None  # a model loaded by a direct call never travels to workers
        return state

    @property
    def is_class(self) -> bool:
        return inspect.isclass(self.fn)

    @property
    def is_generator(self) -> bool:
        return _is_generator(self.fn)

    @property
    def explain_name(self) -> str:
        return self.name

    def shared_service(self, max_replicas: int) -> None:
        return None  # workers of a @udf pool share nothing

    # a generator UDF gets Python values and yields Python values: no zero-copy buffers, no
    # measured rows, no column builder (see GeneratorUDFProtocol)
    @property
    def buffer_args(self) -> bool:
        return False

    @property
    def row_nbytes(self) -> None:
        return None

    @property
    def build_column(self) -> None:
        return None

    # -- building expressions / running directly ------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if any(isinstance(a, Expr) for a in args):
            return UDFCall(self, tuple(lit_if_needed(a) for a in args), tuple(sorted(kwargs.items())))
        if self.is_class:
            if self._instance is None:
                self._instance = self.fn(*self.init_args, **self.init_kwargs)
            return self._instance(*args, **kwargs)
        return self.fn(*args, **kwargs)

    def with_init_args(self, *args: Any, **kwargs: Any) -> UDF:
        """The same class UDF, constructed with these arguments on each worker."""
        from dataclasses import replace

        return replace(self, init_args=args, init_kwargs=kwargs, _instance=None)

    def with_options(self, **options: Any) -> UDF:
        from dataclasses import replace

        if "return_dtype" in options:
            options["return_dtype"] = to_dtype(options["return_dtype"])
        return replace(self, _instance=None, **options)

    # -- planning ----------------------------------------------------------------------------------
    def resolve_return_dtype(self, fields: Sequence[Field]) -> DataType:
        return self.return_dtype

    # -- running -------------------------------------------------------------------------------------
    def make_runner(self) -> Callable[[list[pa.Array], dict[str, Any], Field], Any]:
        """A callable for one worker: class UDFs are instantiated here, once."""
        target = self.fn(*self.init_args, **self.init_kwargs) if self.is_class else self.fn

        def run(args: list[pa.Array], kwargs: dict[str, Any], out: Field) -> Any:
            return self._run_batch(target, args, kwargs, out.name)

        return run

    def _convert_in(self, arr: pa.Array) -> Any:
        storage = storage_array(arr, deep=False)
        if self.batch_format == "arrow":
            return arr
        if self.batch_format == "numpy":
            if pa.types.is_fixed_size_list(storage.type):
                flat = storage.flatten().to_numpy(zero_copy_only=False)
                return flat.reshape(len(storage), storage.type.list_size)
            return storage.to_numpy(zero_copy_only=False)
        if self.batch_format == "polars":
            import polars as pl

            return pl.Series(values=storage)
        return arr.to_pylist()

    def _convert_out(self, value: Any, n: int, column: str) -> pa.Array:
        target = self.return_dtype
        try:
            if isinstance(value, pa.ChunkedArray):
                value = value.combine_chunks()
            if isinstance(value, pa.Array):
                arr = value
            elif isinstance(value, np.ndarray) and value.ndim == 2 and target.storage.__class__.__name__ == "FixedSizeListType":
                arr = pa.FixedSizeListArray.from_arrays(pa.array(value.reshape(-1)), value.shape[1])
            elif hasattr(value, "to_arrow") and not isinstance(value, (list, tuple)):
                arr = value.to_arrow()
            else:
                arr = pa.array(list(value) if not isinstance(value, np.ndarray) else value, type=target.storage)
            out = conform_array(arr, target)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError) as exc:
            raise ThresherTypeError(
                f"udf {self.name} (column {column!r}) returned values that are not {target}: {exc}"
            ) from exc
        if len(out) != n:
            raise ThresherExecutionError(f"udf {self.name} (column {column!r}) returned {len(out)} values for {n} rows")
        return out  # type: ignore[return-value]

    def _run_batch(self, target: Any, args: list[pa.Array], kwargs: dict[str, Any], column: str) -> Any:
        n = len(args[0]) if args else 0
        if self.batch:
            inputs = [self._convert_in(a) for a in args]
            try:
                result = self._with_retries(lambda: target(*inputs, **kwargs), column)
            except Exception as exc:
                if self.on_error == "raise":
                    if isinstance(exc, ThresherExecutionError):
                        raise
                    raise ThresherExecutionError(f"udf {self.name} (column {column!r}) failed on a batch of {n} rows: "
                                                 f"{type(exc).__name__}: {exc}") from exc
                return self._run_rows_of_batch(target, args, kwargs, column)
            out = self._convert_out(result, n, column)
            if self.batch_format == "numpy" and any(a.null_count for a in args):
                out = self._null_where_input_null(out, args)
            return out, None
        # row-wise: one call per row, nulls propagate, failures per row
        columns = [a.to_pylist() for a in args]
        values: list[Any] = [None] * n
        errors: list[str | None] = [None] * n
        for i in range(n):
            row = [c[i] for c in columns]
            if any(v is None for v in row):
                continue
            try:
                values[i] = self._with_retries(functools.partial(target, *row, **kwargs), column)
            except Exception as exc:
                if self.on_error == "raise":
                    raise ThresherExecutionError(f"udf {self.name} (column {column!r}) failed on row {i}: "
                                                 f"{type(exc).__name__}: {exc}") from exc
                errors[i] = f"udf {self.name} failed on row {i}: {type(exc).__name__}: {exc}"
        try:
            arr = conform_array(pa.array(values, type=self.return_dtype.storage), self.return_dtype)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ThresherTypeError(
                f"udf {self.name} (column {column!r}) returned values that are not {self.return_dtype}: {exc}"
            ) from exc
        err = pa.array(errors, pa.large_string()) if any(errors) else None
        return arr, err

    def _null_where_input_null(self, out: pa.Array, args: list[pa.Array]) -> pa.Array:
        """NumPy has no nulls: a row with a null input is null in the output (not NaN or 0)."""
        import pyarrow.compute as pc

        mask = None
        for a in args:
            if a.null_count:
                m = pc.is_null(storage_array(a, deep=False))
                mask = m if mask is None else pc.or_(mask, m)
        storage = storage_array(out, deep=False)
        masked = pc.if_else(mask, pa.scalar(None, storage.type), storage)
        return conform_array(masked, self.return_dtype)  # type: ignore[return-value]

    def _run_rows_of_batch(self, target: Any, args: list[pa.Array], kwargs: dict[str, Any], column: str) -> Any:
        """A batch failed with on_error null/column: run it row by row to find the bad rows."""
        n = len(args[0]) if args else 0
        parts: list[pa.Array] = []
        errors: list[str | None] = [None] * n
        for i in range(n):
            inputs = [self._convert_in(a.slice(i, 1)) for a in args]
            try:
                parts.append(self._convert_out(target(*inputs, **kwargs), 1, column))
            except Exception as exc:  # noqa: BLE001 - the row becomes null with its error
                parts.append(pa.nulls(1, self.return_dtype.to_arrow()))
                errors[i] = f"udf {self.name} failed on row {i}: {type(exc).__name__}: {exc}"
        if not parts:
            return pa.array([], self.return_dtype.to_arrow()), None
        values = pa.concat_arrays([storage_array(p, deep=False) for p in parts])
        out = conform_array(values, self.return_dtype)
        return out, (pa.array(errors, pa.large_string()) if any(errors) else None)

    def _with_retries(self, call: Callable[[], Any], column: str) -> Any:
        attempt = 0
        while True:
            try:
                return call()
            except Exception:
                if attempt >= self.max_retries:
                    raise
                attempt += 1


def udf(
    fn: Any = None,
    *,
    return_dtype: Any = None,
    batch: bool = False,
    batch_format: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    memory: int | None = None,
    concurrency: int | tuple[int, int] | None = None,
    batch_size: int | None = None,
    max_retries: int = 0,
    on_error: str = "raise",
    cost: str = "model",
    name: str | None = None,
) -> Any:
    """Turn a function or class into a typed UDF (see the module docstring).

    Parameters
    ----------
    return_dtype
        A :class:`DataType`, an Arrow type, a type name (``"int64"``) or a Python type; taken
        from the return annotation when omitted. For a generator UDF, a dict of output column
        types (a struct per row).
    batch
        Call the function once per batch with whole columns instead of once per row.
    batch_format
        How a batch UDF receives its columns: ``"arrow"``, ``"numpy"``, ``"polars"`` or
        ``"python"`` (lists); by default from the first parameter's annotation
        (``np.ndarray``, ``pl.Series``, ``pa.Array``), else Arrow.
    num_cpus, num_gpus, memory
        Resources of one worker (memory in bytes); the Ray executor schedules by them.
    concurrency
        Workers of a class UDF: an int, or ``(min, max)`` for an autoscaling actor pool.
    batch_size
        Rows per call (default: small batches for model/media work).
    max_retries
        Retries of a failing call (in the worker), and of a crashed Ray task.
    on_error
        ``"raise"`` (default), ``"null"`` (bad rows become null, the error is counted in
        ``df.stats()``) or ``"column"`` (also an ``<name>_error`` column with the message).
    cost
        ``"scalar"``, ``"io"``, ``"decode"`` or ``"model"``: how the optimizer orders it.
    """

    def wrap(f: Any) -> UDF:
        rt = return_dtype
        if rt is None:
            rt = _dtype_from_annotation(f)
            if rt is None:
                raise ThresherTypeError(
                    f"udf {getattr(f, '__name__', f)}: give return_dtype= (or annotate the return type)")
        if isinstance(rt, dict):
            dtype = DataType.struct({k: to_dtype(v) for k, v in rt.items()})
        else:
            dtype = to_dtype(rt)
        fmt = batch_format or (_format_from_annotation(f) if batch else "python")
        return UDF(f, dtype, batch=batch, batch_format=fmt, num_cpus=num_cpus, num_gpus=num_gpus,
                   memory=memory, concurrency=concurrency, batch_size=batch_size, max_retries=max_retries,
                   on_error=on_error, cost=cost, name=str(name or getattr(f, "__name__", "udf")))

    if fn is not None:
        return wrap(fn)
    return wrap


def output_schema(u: GeneratorUDFProtocol) -> Schema:
    """The columns a generator UDF adds (the fields of its struct return type, or one column)."""
    t = u.return_dtype
    if t.is_struct():
        return Schema([Field(f.name, DataType(f.type)) for f in t.storage])
    return Schema([Field(u.name, t)])
