"""Every docstring example in the ``thresher`` package runs and prints what it shows.

``test_docs.py`` runs the examples of the objects the reference pages name; this runs the rest
(module docstrings, helpers no page shows), so an example cannot go stale unseen.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import thresher
import thresher.sql_frontend as sql_frontend

MODULES = sorted(m.name for m in pkgutil.walk_packages(thresher.__path__, "thresher."))


def test_the_walk_sees_the_package() -> None:
    assert {"thresher.dataframe", "thresher.expressions.numeric", "thresher.planner.optimizer"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_module_docstring_examples_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(sql_frontend, "_CATALOG", dict(sql_frontend._CATALOG))
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             report=False, verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} docstring example(s) fail (python -m doctest on it)"
