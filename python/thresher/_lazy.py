"""Modules imported on first use.

Polars costs ~30 MB of RSS and ~0.2 s to import; a media pipeline that never evaluates a
Polars expression (kernels and column references only) should not pay for it. Nor should it pay
for pandas, which PyArrow imports on its first conversion of a Python value
(:func:`defer_pyarrow_pandas`).
"""

from __future__ import annotations

import importlib
import sys
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

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # pickled as the module it stands for (imported where it is unpickled): a batch function
        # of a lowered expression that reads ``pl`` travels to a Ray worker inside the Polars plan
        return importlib.import_module, (self.__name__,)


def lazy_module(name: str) -> Any:
    """``name`` imported when first touched (see :class:`LazyModule`)."""
    return LazyModule(name)


# ---- PyArrow's pandas probe ------------------------------------------------------------------
#
# PyArrow asks "is pandas installed?" the first time any Python value is converted (``pa.array``
# of a list, a NumPy array or a scalar) and answers by importing pandas: ~40 MiB of RSS and
# ~0.3 s that a pipeline which never touches pandas pays anyway (a third of a video job's memory).
# No pandas object can exist before pandas is imported, so the probe is answered "no" while
# pandas is not imported, and PyArrow is told the truth the moment anything imports pandas.


class _PandasWatch:
    """A ``sys.meta_path`` entry: refuses ``pandas`` while PyArrow probes for it, then, when
    anything imports pandas, lets the import run and points PyArrow at the loaded module."""

    def __init__(self) -> None:
        self.probing = True

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "pandas":
            return None
        if self.probing:
            raise ModuleNotFoundError("pandas is not imported yet", name="pandas")
        # (a find_spec without an import, e.g. a library checking that pandas is installed,
        # must not end the watch: it ends when pandas' module has run)
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _TellPyArrowAfter(spec.loader, self)
        return spec


class _TellPyArrowAfter:
    """Runs pandas' own loader, then has PyArrow import pandas' integration (its probe said no)."""

    def __init__(self, loader: Any, watch: _PandasWatch) -> None:
        self.loader = loader
        self.watch = watch

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        # pandas sees its own loader, as without this wrapper
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _remove_finder(self.watch)
        _pandas_api_ready()


def _remove_finder(finder: Any) -> None:
    try:
        sys.meta_path.remove(finder)
    except ValueError:
        pass


def _pandas_api() -> Any:
    import pyarrow as pa

    return getattr(getattr(pa, "lib", None), "_pandas_api", None)


def _pandas_api_ready() -> None:
    api = _pandas_api()
    if api is None:
        return
    try:
        api.pd  # noqa: B018 - PyArrow imports pandas and its pandas_compat now (it is in sys.modules)
    except Exception:  # noqa: BLE001 - an unusable pandas: PyArrow says so when it is used, as without us
        pass


def defer_pyarrow_pandas() -> bool:
    """Keep PyArrow from importing pandas until something else does (see above).

    Returns whether the probe was answered. Nothing is done when pandas is already imported,
    when PyArrow has already probed, or when this PyArrow has no pandas shim to answer.
    """
    if "pandas" in sys.modules:
        return False
    api = _pandas_api()
    if api is None or not hasattr(type(api), "have_pandas"):  # (on the instance, hasattr would probe)
        return False
    watch = _PandasWatch()
    sys.meta_path.insert(0, watch)
    try:
        api.have_pandas  # noqa: B018 - the probe: PyArrow tries `import pandas`, which is refused
    except Exception:  # noqa: BLE001 - a PyArrow that probes differently: leave it alone
        _remove_finder(watch)
        return False
    finally:
        watch.probing = False
    if "pandas" in sys.modules:  # imported meanwhile by another thread
        _remove_finder(watch)
        _pandas_api_ready()
    return True


defer_pyarrow_pandas()  # on import, before the package converts its first value (thresher/__init__.py)
