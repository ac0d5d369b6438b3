"""The fan-out's repeat of the input columns (``_repeat_parents``) against Arrow's ``take``."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.datatypes import DataType
from thresher.operators import flatmap
from thresher.operators.flatmap import _repeat_parents
from thresher.operators.kernels.image import images_to_arrow


def _columns() -> list[pa.Array]:
    images = [np.full((2, 3, 3), i, np.uint8) for i in range(5)]
    return [
        pa.array(["a", None, "ccc", "", "e"], pa.large_string()),
        pa.array([1.5, 2.5, None, 4.5, 5.5]),
        pa.array([{"x": 1, "y": [1, 2]}, None, {"x": 3, "y": None}, {"x": 4, "y": []}, {"x": 5, "y": [5]}]),
        pa.array(["p", "q", "p", None, "q"]).dictionary_encode(),
        images_to_arrow([*images[:2], None, *images[3:]], DataType.image()),  # an extension type with a null
        pa.array([b"x", b"yy", None, b"", b"z"], pa.binary()).slice(0, 5),
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(1, 6)), min_size=1, max_size=12))
def test_repeat_parents_matches_take(runs: list[tuple[int, int]]) -> None:
    parents = sorted(p for p, n in runs for _ in range(n))
    cols = _columns()
    got = _repeat_parents(cols, parents)
    want = [c.take(pa.array(parents, pa.int64())) for c in cols]
    for g, w in zip(got, want):
        assert g.type == w.type
        assert g.to_pylist() == w.to_pylist()


def test_many_input_rows_take(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flatmap, "_SLICE_RUNS", 2)  # past it: Arrow's take, same answer
    col = pa.array(range(10), pa.int64())
    parents = [0, 0, 3, 5, 5, 9]
    assert _repeat_parents([col], parents)[0].to_pylist() == [0, 0, 3, 5, 5, 9]
    sliced = pa.array(range(20)).slice(7, 10)  # an offset into the parent's buffers
    assert _repeat_parents([sliced], [1, 1, 2])[0].to_pylist() == [8, 8, 9]


def test_no_columns() -> None:
    assert _repeat_parents([], [0, 0, 1]) == []
