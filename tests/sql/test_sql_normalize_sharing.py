"""``rewrites.normalize_sharing`` is sqlglot's ``normalize`` with a repeated OR conjunct
distributed once: its tree must be exactly the one ``normalize`` gives, shared or not."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot.optimizer.normalize import normalize

from thresher.planner.sql.rewrites import normalize_sharing

_OR = "((h.a = 4 AND h.b <= 4 + 2) OR (h.a = 2 AND h.b <= 2 + 2) OR (h.a = 0 AND h.b <= 0 + 2))"
_OR2 = "((h.c = 1 AND h.d = 2) OR (h.c = 3 AND h.d = 4))"


def _sub(i: int, cond: str) -> str:
    return f"(SELECT count(*) AS n{i} FROM s, h WHERE s.k = h.k AND s.t = {i} AND {cond}) AS q{i}"


_SHAPES = [
    # TPC-DS q88's shape: the same OR in every subquery's WHERE (shared)
    "SELECT * FROM " + ", ".join(_sub(i, _OR) for i in range(4)),
    # two shared ORs per WHERE, and one written once in a third WHERE
    "SELECT * FROM " + ", ".join(_sub(i, f"{_OR} AND {_OR2}") for i in range(3)) + ", " + _sub(9, _OR2),
    # a WHERE with a shared OR and one of its own (not shared: sqlglot's steps), then shared ones
    "SELECT * FROM " + _sub(0, f"{_OR} AND (h.e = 1 OR (h.f = 2 AND h.g = 3))") + ", "
    + ", ".join(_sub(i, _OR) for i in range(1, 3)),
    # BETWEEN in the WHERE (normalize rewrites it): not shared
    "SELECT * FROM " + ", ".join(_sub(i, f"{_OR} AND h.z BETWEEN 1 AND 5") for i in range(3)),
    # BETWEEN inside the shared OR
    "SELECT * FROM " + ", ".join(_sub(i, "((h.a BETWEEN 1 AND 2 AND h.b = 1) OR (h.a = 5 AND h.b = 2))")
                                 for i in range(3)),
    # a subquery in the WHERE: not shared (distributive_law rewrites inside it too)
    "SELECT * FROM " + ", ".join(_sub(i, f"{_OR} AND h.k IN (SELECT k FROM u WHERE (u.x = 1 AND u.y = 2) OR u.z = 3)")
                                 for i in range(3)),
    # too far from CNF (distance over 128): normalize gives up, and so must the sharing
    "SELECT * FROM " + ", ".join(_sub(i, "(" + " OR ".join(f"(h.a = {j} AND h.b = {j} AND h.c = {j})" for j in range(6))
                                      + ")") for i in range(3)),
    # a condition outside any WHERE, before and after the shared ones
    "SELECT CASE WHEN (x.a = 1 AND x.b = 2) OR x.c = 3 THEN 1 END AS c FROM "
    + ", ".join(_sub(i, _OR) for i in range(3)) + ", x",
    # no repeat: plain normalize
    "SELECT * FROM " + _sub(0, _OR),
]


@pytest.mark.parametrize("sql", _SHAPES)
def test_normalize_sharing_is_normalize(sql: str) -> None:
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    expected = normalize(tree.copy())
    got = normalize_sharing(tree.copy())
    assert repr(got) == repr(expected)
    assert got.sql() == expected.sql()


def test_repeated_or_is_distributed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """On q88's shape the sharing path runs, not a fallback to normalize: one distribution."""
    import sqlglot.helper
    import sqlglot.optimizer.normalize as norm

    real = sqlglot.helper.while_changing
    calls = []

    def counting(expression, func):  # type: ignore[no-untyped-def]
        calls.append(expression)
        return real(expression, func)

    monkeypatch.setattr(norm, "normalize", lambda *a, **k: pytest.fail("fell back to normalize"))
    monkeypatch.setattr(sqlglot.helper, "while_changing", counting)
    tree = sqlglot.parse_one("SELECT * FROM " + ", ".join(_sub(i, _OR) for i in range(4)), dialect="duckdb")
    expected = normalize(tree.copy())
    calls.clear()
    assert repr(normalize_sharing(tree)) == repr(expected)
    assert len(calls) == 1


def _plans_with_and_without_presimplify(monkeypatch: pytest.MonkeyPatch, queries: list[str],
                                        frames: dict) -> tuple[list[str], list[str]]:  # type: ignore[type-arg]
    import thresher as th
    import thresher.planner.sql.rewrites as rewrites
    from thresher.sql_frontend import clear_plan_cache

    def plans() -> list[str]:
        clear_plan_cache()
        return [th.sql(q, **frames).plan.pretty() for q in queries]

    with_it = plans()
    real = rewrites.normalize_sharing
    # (without presimplify_shared, the sharing must make the copies: a lazy one leaves them to it)
    monkeypatch.setattr(rewrites, "normalize_sharing", lambda tree, lazy=False: real(tree))
    monkeypatch.setattr(rewrites, "presimplify_shared", lambda tree, simplify: tree)
    return with_it, plans()


def test_presimplified_shared_conjuncts_give_the_same_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    """``presimplify_shared`` simplifies a shared conjunct once before the whole tree: the plans
    are those of simplifying the whole tree alone, and the answers DuckDB's."""
    duckdb = pytest.importorskip("duckdb")
    import pyarrow as pa

    import thresher as th

    s = pa.table({"k": [1, 2, 3, 4, 5, 1, 2], "t": [0, 1, 2, 3, 0, 1, 2]})
    h = pa.table({"k": [1, 2, 3, 4, 5], "a": [4, 2, 0, 4, None], "b": [6, 4, 1, 9, 2],
                  "c": [1, 3, 1, 3, 1], "d": [2, 4, 2, 2, None]})
    queries = [
        "SELECT * FROM " + ", ".join(_sub(i, _OR) for i in range(4)),
        "SELECT * FROM " + ", ".join(_sub(i, f"{_OR} AND {_OR2}") for i in range(3)),
        "SELECT * FROM " + ", ".join(_sub(i, f"{_OR} AND h.b <= 6 AND h.a = 4") for i in range(3)),
    ]
    frames = {"s": th.from_arrow(s), "h": th.from_arrow(h)}
    with_it, without = _plans_with_and_without_presimplify(monkeypatch, queries, frames)
    assert with_it == without
    con = duckdb.connect()
    con.register("s", s)
    con.register("h", h)
    for q in queries:
        assert th.sql(q, **frames).to_pylist() == con.sql(q).to_arrow_table().to_pylist()


def test_tpcds_q88_same_plan_with_presimplify(monkeypatch: pytest.MonkeyPatch, tpcds_generate) -> None:  # type: ignore[no-untyped-def]
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks import tpcds

    frames = tpcds.tables(tpcds_generate(0.01))
    with_it, without = _plans_with_and_without_presimplify(monkeypatch, [tpcds.query(88)], frames)
    assert with_it == without


def test_falls_back_to_normalize_without_sqlglot_internals(monkeypatch: pytest.MonkeyPatch) -> None:
    # the steps it reuses are sqlglot internals: a sqlglot without them gets normalize() itself
    import sqlglot.helper

    sql = "SELECT * FROM " + ", ".join(_sub(i, _OR) for i in range(3))
    want = normalize(sqlglot.parse_one(sql))
    monkeypatch.delattr(sqlglot.helper, "while_changing")  # (normalize holds its own reference)
    assert normalize_sharing(sqlglot.parse_one(sql)) == want


@pytest.mark.parametrize(("cond", "settled"), [
    (_OR, True),  # TPC-DS q88's shape
    (f"{_OR} AND {_OR2}", True),
    (f"h.z > s.t AND {_OR} AND 5 < h.y AND (h.e = 1 OR h.f = 2)", True),  # comparisons simplify turns
    (f"{_OR} AND h.b <= 6 AND h.a = 4 AND 4 = h.a", False),  # simplify absorbs the shared clauses
])
def test_presimplified_where_is_in_simplify_order(monkeypatch: pytest.MonkeyPatch, cond: str, settled: bool) -> None:
    """A WHERE that got a presimplified shared conjunct is put in the order ``simplify`` leaves
    it in (where simplify has nothing else to do, its first pass over it changes nothing), and
    the simplified tree is the one simplifying it unsorted gives."""
    from sqlglot import exp
    from sqlglot.optimizer.simplify import simplify

    import thresher.planner.sql.rewrites as rewrites

    sql = "SELECT * FROM " + ", ".join(_sub(i, cond) for i in range(3))

    def prepared() -> exp.Expr:
        return rewrites.presimplify_shared(normalize_sharing(sqlglot.parse_one(sql, dialect="duckdb")), simplify)

    tree = prepared()
    for where in tree.find_all(exp.Where):
        assert (simplify(where.this.copy()).sql() == where.this.sql()) == settled
    monkeypatch.setattr(rewrites, "_sort_conjuncts", lambda where: None)
    unsorted = prepared()
    assert unsorted.sql() != tree.sql()  # (the order is not simplify's without the sort)
    got, want = simplify(tree), simplify(unsorted)
    assert got.sql() == want.sql()

    def conjuncts(t: exp.Expr) -> list[list[str]]:  # (what the translation reads: And.flatten())
        return [[c.sql() for c in w.this.flatten()] for w in t.find_all(exp.Where)]

    # (only how the ANDs nest may differ: simplify leaves an AND it finds sorted nested as it is)
    assert conjuncts(got) == conjuncts(want)


@pytest.mark.parametrize("sql", _SHAPES)
def test_lazy_sharing_then_presimplify_is_the_same_tree(sql: str) -> None:
    """``lazy=True`` leaves the later occurrences of a shared conjunct as written (marked):
    after ``presimplify_shared`` and ``simplify`` the tree is the one the copies give."""
    from sqlglot import exp
    from sqlglot.optimizer.simplify import simplify

    from thresher.planner.sql.rewrites import presimplify_shared

    def final(lazy: bool) -> exp.Expr:
        tree = normalize_sharing(sqlglot.parse_one(sql, dialect="duckdb"), lazy=lazy)
        return simplify(presimplify_shared(tree, simplify))

    got, want = final(True), final(False)
    assert got.sql() == want.sql()
    assert [[c.sql() for c in w.this.flatten()] for w in got.find_all(exp.Where)] == \
        [[c.sql() for c in w.this.flatten()] for w in want.find_all(exp.Where)]
    assert "thresher_shared_forms" not in (got.meta or {})
