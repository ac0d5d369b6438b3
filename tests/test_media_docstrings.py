"""The examples in the media functions' docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "thresher.expressions.image",
    "thresher.expressions.video",
    "thresher.expressions.audio",
    "thresher.expressions.tensor",
    "thresher.expressions.embedding",
    "thresher.expressions.url",
    "thresher.operators.kernels.video",
    "thresher.operators.kernels.tensor",
    "thresher.operators.kernels.audio",
    "thresher.operators.kernels.media_procs",
]


def test_reader_and_numpy_examples() -> None:
    import thresher.dataframe
    import thresher.readers

    for module in (thresher.readers, thresher.dataframe):
        finder = doctest.DocTestFinder()
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        for name in ("from_glob_path", "from_pydict", "DataFrame.to_numpy"):
            for t in finder.find(module):
                if t.name.endswith("." + name):
                    runner.run(t)
        assert runner.failures == 0


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
