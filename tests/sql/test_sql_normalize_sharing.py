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


@pytest.mark.parametrize("sql", [
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
])
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
