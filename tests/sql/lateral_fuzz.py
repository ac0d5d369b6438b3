"""A small seeded differential fuzzer of LATERAL joins against DuckDB (used by
``test_sql_lateral_joins.py``).

``lateral_case(seed)`` draws two tiny tables (keys with NULLs and repeats, so laterals match zero,
one or several rows) and one query of the forms Thresher supports: ``CROSS JOIN LATERAL``, a comma
before ``LATERAL``, ``[LEFT] JOIN LATERAL ... ON TRUE`` or ``ON`` a condition (a fifth of them
without the word LATERAL, which DuckDB implies for a derived table reading an earlier one); the subquery a
plain SELECT correlated by equalities and comparisons (in its WHERE, and outer columns in its
select list), one aggregate row (sum, count, min, a CASE over count), a GROUP BY or DISTINCT
correlated by equalities, ORDER BY ... LIMIT / OFFSET per key (ordered by a unique column, so
ties cannot choose the rows), a FROM-less SELECT of outer columns, an uncorrelated subquery, and
two laterals where the second reads the first; the outer query selects everything, filters on a
lateral column, or groups over it.
"""

from __future__ import annotations

import random

import pyarrow as pa


def lateral_tables(rng: random.Random) -> dict[str, pa.Table]:
    def keys(n: int) -> list[int | None]:
        return [rng.choice([None, 1, 1, 2, 3, 4]) for _ in range(n)]

    n, m = rng.randint(0, 6), rng.randint(0, 8)
    t = pa.table({"k": pa.array(keys(n), pa.int64()),
                  "x": pa.array([rng.choice([None, -2, 0, 3, 5, 8]) for _ in range(n)], pa.int32()),
                  "s": pa.array([rng.choice([None, "a", "b"]) for _ in range(n)], pa.string())})
    u = pa.table({"id": pa.array(list(range(m)), pa.int64()),  # (unique: a total order for LIMIT)
                  "k": pa.array(keys(m), pa.int32()),
                  "y": pa.array([rng.choice([None, -1, 2, 4, 6, 9]) for _ in range(m)], pa.int64()),
                  "g": pa.array([rng.choice([None, "a", "b", "c"]) for _ in range(m)], pa.string())})
    return {"t": t, "u": u}


def _join(rng: random.Random, body: str, alias: str, on_cols: list[str]) -> str:
    form = rng.randrange(5)
    word = "LATERAL " if rng.random() < 0.8 else ""  # (without it: DuckDB's implicit LATERAL)
    if form == 0:
        return f"CROSS JOIN {word}({body}) {alias}"
    if form == 1:
        return f", {word}({body}) {alias}"
    if form == 2:
        return f"LEFT JOIN {word}({body}) {alias} ON true"
    cond = f"{alias}.{rng.choice(on_cols)} {rng.choice(['>', '<=', '<>'])} {rng.choice([0, 2, 4])}"
    if form == 3:
        return f"JOIN {word}({body}) {alias} ON {cond}"
    return f"LEFT JOIN {word}({body}) {alias} ON {cond}"


def _correlation(rng: random.Random, equalities_only: bool) -> str:
    terms = [rng.choice(["u.k = t.k", "t.k = u.k", "u.k + 1 = t.k + 1"])]
    if rng.random() < 0.4:
        terms.append(rng.choice(["u.y > 0", "u.g IS NOT NULL", "u.g <> 'c'"]))
    if not equalities_only and rng.random() < 0.5:
        terms.append(rng.choice(["u.y < t.x", "u.y + t.x > 3", "t.x > 0", "(u.y = t.x OR u.g = t.s)"]))
    if not equalities_only and rng.random() < 0.15:
        terms = [rng.choice(["u.y <= t.x", "u.g = t.s"])]
    rng.shuffle(terms)
    return " AND ".join(terms)


def lateral_query(rng: random.Random) -> str:
    form = rng.randrange(8)
    on_cols = ["v"]
    if form == 0:  # plain SELECT, outer columns in the select list too
        item = rng.choice(["u.y", "u.y + t.x", "coalesce(u.g, t.s)", "CASE WHEN u.y > t.x THEN u.g END"])
        body = f"SELECT {item} AS v, u.id AS w FROM u WHERE {_correlation(rng, False)}"
        on_cols = ["v", "w"] if item.startswith("u.y") else ["w"]
    elif form == 1:  # one aggregate row
        agg = rng.choice(["sum(u.y)", "count(*)", "count(u.y)", "min(u.g)", "CASE WHEN count(*) > 1 THEN 1 ELSE 0 END",
                          "coalesce(sum(u.y), 0) + count(*)", "max(u.y)"])
        body = f"SELECT {agg} AS v FROM u WHERE {_correlation(rng, False)}"
        on_cols = ["v"] if not agg.startswith("min(u.g") else []
    elif form == 2:  # GROUP BY, correlated by equalities
        agg = rng.choice(["sum(u.y)", "count(*)", "max(u.y)"])
        having = rng.choice(["", "", " HAVING count(*) > 1"])
        body = f"SELECT u.g AS w, {agg} AS v FROM u WHERE {_correlation(rng, True)} GROUP BY u.g{having}"
    elif form == 3:  # DISTINCT
        body = f"SELECT DISTINCT u.y AS v FROM u WHERE {_correlation(rng, True)}"
    elif form == 4:  # top-n per key
        order = rng.choice(["u.id", "u.id DESC", "u.y NULLS FIRST, u.id", "u.y DESC NULLS LAST, u.id"])
        tail = rng.choice(["LIMIT 1", "LIMIT 2", "LIMIT 2 OFFSET 1", "OFFSET 1"])
        body = f"SELECT u.y AS v, u.id AS w FROM u WHERE {_correlation(rng, True)} ORDER BY {order} {tail}"
        on_cols = ["v", "w"]
    elif form == 5:  # no FROM: outer columns only
        body = rng.choice(["SELECT t.x * 2 AS v", "SELECT t.x + t.k AS v, t.s AS w"])
    elif form == 6:  # uncorrelated
        body = rng.choice(["SELECT u.y AS v FROM u WHERE u.y > 2", "SELECT count(*) AS v FROM u"])
    else:  # a second lateral reads the first
        first = f"SELECT u.y AS v FROM u WHERE {_correlation(rng, False)}"
        second = rng.choice(["SELECT a.v + t.x AS v2", "SELECT count(*) AS v2 FROM u WHERE u.y = a.v",
                             "SELECT u.id AS v2 FROM u WHERE u.y = a.v AND u.k = t.k"])
        return (f"SELECT t.k, t.x, a.v, b.v2 FROM t {_join(rng, first, 'a', ['v'])} "
                f"{_join(rng, second, 'b', ['v2'])}")
    join = _join(rng, body, "a", on_cols or ["v"]) if on_cols else f", LATERAL ({body}) a"
    outer = rng.randrange(4)
    if outer == 0:
        return f"SELECT * FROM t {join}"
    if outer == 1:
        return f"SELECT t.k, t.x, a.v FROM t {join} WHERE a.v IS NOT NULL OR t.x > 0"
    if outer == 2:
        return f"SELECT t.k, count(*) AS n, count(a.v) AS nv FROM t {join} GROUP BY t.k"
    return f"SELECT t.s, a.v FROM t {join} ORDER BY t.s LIMIT 100"


def lateral_case(seed: int) -> tuple[dict[str, pa.Table], str]:
    rng = random.Random(seed)
    return lateral_tables(rng), lateral_query(rng)
