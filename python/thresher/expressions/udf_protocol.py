"""The declared interface of a user-defined function: what the planner, the operators and the
executors may read from the ``udf`` of a :class:`~thresher.expressions.expr.UDFCall` or a
``FlatMap`` node.

It lives here, below the planner, the operators and ``udfs`` (peers that must not import each
other), because an expression node holds the UDF. Three classes implement it: ``@th.udf``'s
:class:`~thresher.udfs.udf.UDF`, the model calls of ``th.functions``
(:class:`~thresher.udfs.ai.model_functions.ModelFunction`) and the video frame generator of
``video.frames`` (``operators/kernels/video.py``). Every member is declared, so readers use plain
attribute access and mypy checks each implementation (``tests/udfs/test_udf_protocol.py``).

Examples
--------
>>> import thresher as th
>>> @th.udf(return_dtype="int64", num_cpus=2)
... def double(x):
...     return x * 2
>>> isinstance(double, ExprUDFProtocol), double.num_cpus, double.cost
(True, 2, 'model')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa

    from thresher.datatypes import DataType, Field

#: how a UDF's concurrency is given: a fixed number of workers or an autoscaling (min, max) pair
Concurrency = int | tuple[int, int] | None


@runtime_checkable
class UDFProtocol(Protocol):
    """What every layer reads from any UDF: resources, scheduling and cost hints. Implementations
    may use plain attributes (dataclass fields, class attributes) or properties: every member is
    read-only here. A UDF is used through one of the two protocols below."""

    @property
    def name(self) -> str:
        """The name in plans, errors and ``explain()``."""
        ...

    @property
    def num_cpus(self) -> float:
        """CPUs one worker needs (a stage takes the largest of its UDFs')."""
        ...

    @property
    def num_gpus(self) -> float:
        """GPUs one worker needs (fractions share a device)."""
        ...

    @property
    def memory(self) -> int | None:
        """Bytes of worker heap one worker needs (None: unknown)."""
        ...

    @property
    def concurrency(self) -> Concurrency:
        """Workers of the stage: a number, an autoscaling ``(min, max)``, or None (the executor's choice)."""
        ...

    @property
    def batch_size(self) -> int | None:
        """Rows per call (None: the stage's batch size)."""
        ...

    @property
    def max_retries(self) -> int:
        """Retries of a failed task on Ray."""
        ...

    @property
    def on_error(self) -> str:
        """``"raise"``, ``"null"`` or ``"column"``: a failing row raises, becomes null, or fills an error column."""
        ...

    @property
    def cost(self) -> str:
        """The cost class: ``"scalar"``, ``"io"``, ``"decode"`` or ``"model"`` (``expressions/cost.py``)."""
        ...

    @property
    def cost_per_row(self) -> float | None:
        """A per-row cost estimate that overrides the class's (None: the class's)."""
        ...

    @property
    def thread_safe(self) -> bool:
        """Whether threads of one process may call it at once (the local executor then does)."""
        ...

    @property
    def is_class(self) -> bool:
        """A class UDF: constructed once per worker (a model load), so it runs in an actor stage."""
        ...

    @property
    def is_generator(self) -> bool:
        """It yields several rows per input row (``DataFrame.flat_map``)."""
        ...

    @property
    def explain_name(self) -> str:
        """The label ``explain()`` prints for the call."""
        ...

    def shared_service(self, max_replicas: int) -> Any:
        """The helper all workers of the UDF's pool share (a ``udfs.service.SharedService``, e.g.
        the prompt router), or None. Typed ``Any`` here: the service type lives in ``udfs``,
        above this module."""
        ...



@runtime_checkable
class ExprUDFProtocol(UDFProtocol, Protocol):
    """A UDF called inside an expression (:class:`~thresher.expressions.expr.UDFCall`): one output
    value per input row."""

    def resolve_return_dtype(self, fields: Sequence[Field]) -> DataType:
        """The output type for arguments of these types (raises ``ThresherTypeError`` when they do not fit)."""
        ...

    def make_runner(self) -> Callable[[list[pa.Array], dict[str, Any], Field], Any]:
        """A callable for one worker (a class UDF is constructed here, once): ``(args, kwargs,
        output field) -> values`` or ``(values, errors)``."""
        ...


@runtime_checkable
class GeneratorUDFProtocol(UDFProtocol, Protocol):
    """A generator UDF as ``DataFrame.flat_map`` runs it (``operators/flatmap.py``)."""

    @property
    def fn(self) -> Any:
        """The function or class that yields (a class is constructed once per worker)."""
        ...

    @property
    def return_dtype(self) -> DataType:
        """The type of one yielded value (a struct: its fields become columns)."""
        ...

    @property
    def init_args(self) -> tuple[Any, ...]:
        """Arguments of a class UDF's constructor."""
        ...

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of a class UDF's constructor."""
        ...

    @property
    def buffer_args(self) -> bool:
        """Whether binary arguments arrive as zero-copy views of the Arrow buffer (not ``bytes``)."""
        ...

    @property
    def row_nbytes(self) -> Callable[[Any], int] | None:
        """Bytes one yielded row holds, for the fan-out's batch limits (None: measured from Arrow)."""
        ...

    @property
    def build_column(self) -> Callable[[Sequence[Any]], pa.Array] | None:
        """Builds the output column of a batch of yielded rows at once (None: Arrow conversion)."""
        ...
