"""The optimizer's questions about a node's column names read the schema's name index without
copying it (``Schema.names_view``); ``Schema.names`` stays a callable list copy."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from thresher.datatypes import Schema, SchemaNames
from thresher.planner.optimizer import runner


def test_names_view_is_the_names_without_a_copy() -> None:
    s = Schema.from_arrow(pa.schema([("b", pa.int64()), ("a", pa.string()), ("c", pa.float64())]))
    view = s.names_view
    assert list(view) == s.names == s.names() == ["b", "a", "c"]
    assert "a" in view and "z" not in view and len(view) == 3
    assert view <= {"a", "b", "c", "d"} and set(view) & {"c", "x"} == {"c"}
    assert min(view) == "a" and next(iter(view)) == "b"
    assert view.mapping == {"b": 0, "a": 1, "c": 2}  # the schema's own index (a read-only proxy)
    with pytest.raises(TypeError):
        view[0]  # type: ignore[index]  # (not a list: the public names is one)
    names = s.names
    assert isinstance(names, SchemaNames) and names is not s.names  # a copy each time
    names.append("x")
    assert s.names == ["b", "a", "c"]


def test_tpch_planning_copies_few_name_lists(tpch_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Optimizing the 22 TPC-H DataFrame queries asked for ``schema.names`` (a list copied from the
    name index) 994 times, ~45 per query: set(...) of a join side's names, ``name in``
    (projection_pushdown, join_order, the statistics); they read ``names_view`` now (121)."""
    from benchmarks.tpch.queries_df import QUERIES, tables

    t = tables(tpch_dir)
    plans = [f(t).plan for f in QUERIES.values()]
    copies = [0]
    names = Schema.names.fget
    assert names is not None

    def counted(self: Schema) -> SchemaNames:
        copies[0] += 1
        return names(self)

    monkeypatch.setattr(Schema, "names", property(counted))
    for p in plans:
        runner.optimize(p)
    assert copies[0] <= 150, copies[0]
