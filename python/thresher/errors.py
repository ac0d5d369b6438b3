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


class SettingError(ThresherError, ValueError):
    """An unknown setting or option name (with a did-you-mean), or a value it cannot take."""
