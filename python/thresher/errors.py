"""Exceptions raised by Thresher. Every error names what it is about (column, file, row)."""

from __future__ import annotations


class ThresherError(Exception):
    """Base class of every error Thresher raises on purpose."""


class ThresherTypeError(ThresherError, TypeError):
    """An expression or plan is ill-typed; raised when the plan is built, never mid-run."""


class ColumnNotFoundError(ThresherError, KeyError):
    """A column name that is not in the schema."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class ThresherIOError(ThresherError, OSError):
    """Reading or writing a file failed; the message names the file."""


class ThresherExecutionError(ThresherError, RuntimeError):
    """A stage failed while running; the message names the stage and the input partition."""


class UnsupportedError(ThresherError, NotImplementedError):
    """A construct this executor or front end does not support."""


class UnsupportedMethodError(UnsupportedError, AttributeError):
    """A Polars method a frame does not have: the message names it and the nearest supported
    spelling (an ``AttributeError`` too, so ``hasattr`` answers False)."""


class SettingError(ThresherError, ValueError):
    """An unknown setting or option name (with a did-you-mean), or a value it cannot take."""


#: where Polars appends its own context to an exception raised in a function it called (a batch
#: function of a lowered expression): the whole lowered expression, or the plan until the failure
_POLARS_CONTEXT = ("\n\nThis error occurred in the following expression:", "\n\nResolved plan until failure:",
                   "\n\nThis error occurred with the following context stack:")


def without_polars_context(exc: ThresherError) -> ThresherError:
    """``exc`` with the context Polars appended to its message cut off (in place: the type, the
    traceback and the cause stay). A Thresher error raised inside a Polars batch function (SQL
    ``1 // 0``, ``chr(-1)``, a bad ``strptime`` text) comes back from Polars with the whole
    lowered Polars expression after the message: long, and no expression the user wrote; the
    message itself names the construct and the value."""
    if exc.args and isinstance(exc.args[0], str):
        text = exc.args[0]
        cut = min((i for i in (text.find(m) for m in _POLARS_CONTEXT) if i >= 0), default=-1)
        if cut >= 0:
            exc.args = (text[:cut].rstrip(), *exc.args[1:])
    return exc
