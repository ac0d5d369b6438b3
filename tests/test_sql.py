"""th.sql: clauses, joins, subqueries, windows, set operations, media functions, EXPLAIN, errors."""

from __future__ import annotations

import pytest

import thresher as th
from thresher.testing.media import make_jpeg


@pytest.fixture
def t() -> th.DataFrame:
    return th.from_pydict({"k": ["a", "b", "a", "c"], "v": [1, 2, 3, 4], "d": [None, 1.5, 2.5, 3.5]})


def test_basic_clauses(t: th.DataFrame) -> None:
    out = th.sql("SELECT k, sum(v) AS s, count(*) AS n FROM t WHERE v > 1 GROUP BY k HAVING sum(v) > 2 "
                 "ORDER BY s DESC LIMIT 5", t=t).to_pydict()
    assert out == {"k": ["c", "a"], "s": [4, 3], "n": [1, 1]}
    assert th.sql("SELECT v FROM t ORDER BY v LIMIT 2 OFFSET 1", t=t).to_pydict() == {"v": [2, 3]}
    assert th.sql("SELECT DISTINCT k FROM t ORDER BY 1", t=t).to_pydict() == {"k": ["a", "b", "c"]}
    out = th.sql("SELECT count(DISTINCT k) AS n, coalesce(sum(d), 0) AS s FROM t", t=t).to_pydict()
    assert out == {"n": [3], "s": [7.5]}


def test_case_cast_like_between(t: th.DataFrame) -> None:
    out = th.sql("SELECT CASE WHEN v BETWEEN 2 AND 3 THEN 'mid' ELSE 'edge' END AS c, CAST(v AS DOUBLE) AS f "
                 "FROM t WHERE k LIKE 'a%' OR k ILIKE 'C' ORDER BY v", t=t).to_pydict()
    assert out == {"c": ["edge", "mid", "edge"], "f": [1.0, 3.0, 4.0]}


def test_joins_subqueries_ctes(t: th.DataFrame) -> None:
    u = th.from_pydict({"k": ["a", "b", "z"], "w": [10, 20, 30]})
    assert th.sql("SELECT t.k, w FROM t JOIN u USING (k) ORDER BY v", t=t, u=u).to_pydict() == {
        "k": ["a", "b", "a"], "w": [10, 20, 10]}
    left = th.sql("SELECT t.v, u.w FROM t LEFT JOIN u ON t.k = u.k ORDER BY t.v", t=t, u=u).to_pydict()
    assert left == {"v": [1, 2, 3, 4], "w": [10, 20, 10, None]}
    q = """WITH big AS (SELECT * FROM t WHERE v >= 2)
           SELECT k FROM big WHERE EXISTS (SELECT 1 FROM u WHERE u.k = big.k) AND v < (SELECT max(v) FROM t)
           ORDER BY k"""
    assert th.sql(q, t=t, u=u).to_pydict() == {"k": ["a", "b"]}
    assert th.sql("SELECT k FROM t WHERE k NOT IN (SELECT k FROM u) ", t=t, u=u).to_pydict() == {"k": ["c"]}
    sub = th.sql("SELECT k, s FROM (SELECT k, sum(v) AS s FROM t GROUP BY k) AS x WHERE s > 3 ORDER BY k", t=t)
    assert sub.to_pydict() == {"k": ["a", "c"], "s": [4, 4]}


def test_union_and_windows(t: th.DataFrame) -> None:
    out = th.sql("SELECT k FROM t UNION SELECT 'z' AS k ORDER BY k", t=t).to_pydict()
    assert out == {"k": ["a", "b", "c", "z"]}
    out = th.sql("SELECT k, v, row_number() OVER (PARTITION BY k ORDER BY v DESC) AS rn, "
                 "sum(v) OVER (PARTITION BY k) AS total FROM t ORDER BY k, v", t=t).to_pydict()
    assert out["rn"] == [2, 1, 1, 1] and out["total"] == [4, 4, 2, 4]


def test_media_functions_in_sql() -> None:
    files = th.from_pydict({"name": ["a", "b"], "raw": [make_jpeg(640, 480, seed=1), make_jpeg(128, 96, seed=2)]})
    out = th.sql("SELECT name, image_width(raw) AS w FROM files WHERE image_width(raw) > 512", files=files).to_pydict()
    assert out == {"name": ["a"], "w": [640]}
    small = th.sql("SELECT image_resize(image_decode(raw), 32, 24) AS img FROM files", files=files)
    assert small.schema["img"].kind == "image"
    assert [r.shape for r in small.to_pydict()["img"]] == [(24, 32, 3), (24, 32, 3)]
    with pytest.raises(th.ThresherError, match="image"):
        th.sql("SELECT image_resize(name, 2, 2) FROM files", files=files)


def test_register_and_explain(t: th.DataFrame) -> None:
    th.register("people_t", t)
    try:
        assert th.sql("SELECT count(*) AS n FROM people_t").to_pydict() == {"n": [4]}
        plan = th.sql("EXPLAIN SELECT k FROM people_t WHERE v > 2").to_pydict()["plan"][0]
        assert "Optimized plan" in plan and "predicate=[v > 2]" in plan
    finally:
        th.unregister("people_t")


def test_errors_name_the_problem(t: th.DataFrame) -> None:
    with pytest.raises(th.ThresherError, match="syntax"):
        th.sql("SELECT FROM WHERE", t=t)
    with pytest.raises(th.ThresherError, match="nope"):
        th.sql("SELECT nope FROM t", t=t)
    with pytest.raises(th.ThresherError, match="missing"):
        th.sql("SELECT * FROM missing", t=t)
    with pytest.raises(th.ThresherError, match="k'.*string"):
        th.sql("SELECT k + 1 AS x FROM t", t=t)
