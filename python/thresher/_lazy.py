"""Modules imported on first use.

Polars costs ~30 MB of RSS and ~0.2 s to import; a media pipeline that never evaluates a
Polars expression (kernels and column references only) should not pay for it.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class LazyModule(types.ModuleType):
    """Stands in for ``name`` until an attribute is read, then imports it and gets out of the way."""

    def __init__(self, name: str) -> None:
        super().__init__(name)

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)  # later reads are plain attribute lookups
        return getattr(module, attr)


def lazy_module(name: str) -> Any:
    """``name`` imported when first touched (see :class:`LazyModule`)."""
    return LazyModule(name)
