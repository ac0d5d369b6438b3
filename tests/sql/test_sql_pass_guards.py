"""``_sqlglot_passes`` skips the passes a tree cannot need (translate._tree_kinds): the skipped
passes must have been no-ops, so every plan is the one all passes give."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

import thresher as th

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import tpcds  # noqa: E402
from benchmarks.tpch import dataframe_queries as dq  # noqa: E402
from benchmarks.tpch.sql_queries import QUERIES  # noqa: E402

translate_mod = importlib.import_module("thresher.planner.sql.translate")


def _every_pass(tree: object) -> tuple[set[type], bool]:
    # (a division and a literal: _keep_constant_divisions, which changes TPC-DS q21/q23's constants)
    return {exp.Or, exp.Count, exp.Subquery, exp.ArrayAgg, exp.CTE, exp.Div, exp.Literal}, True


def _plans(queries: list[str], frames: dict[str, th.DataFrame]) -> list[str]:
    from thresher.sql_frontend import clear_plan_cache

    clear_plan_cache()
    return [th.sql(q, **frames).plan.pretty() for q in queries]


def _same_with_every_pass(monkeypatch: pytest.MonkeyPatch, queries: list[str], frames: dict[str, th.DataFrame]) -> None:
    guarded = _plans(queries, frames)
    monkeypatch.setattr(translate_mod, "_tree_kinds", _every_pass)
    assert _plans(queries, frames) == guarded


def test_tpch_plans_same_with_every_pass(monkeypatch: pytest.MonkeyPatch, tpch_dir: Path) -> None:
    _same_with_every_pass(monkeypatch, [QUERIES[q] for q in sorted(QUERIES)], dq.tables(tpch_dir))


def test_tpcds_plans_same_with_every_pass(monkeypatch: pytest.MonkeyPatch, tpcds_generate) -> None:  # type: ignore[no-untyped-def]
    frames = tpcds.tables(tpcds_generate(0.01))
    _same_with_every_pass(monkeypatch, [tpcds.query(q) for q in tpcds.query_numbers()], frames)


def test_plans_same_with_normalized_schema_names(monkeypatch: pytest.MonkeyPatch, tpch_dir: Path,
                                                 tpcds_generate) -> None:  # type: ignore[no-untyped-def]
    """sqlglot's schema skips normalizing names already in DuckDB's normal form
    (``_normalized_names``): the plans are those of a normalized schema."""
    cases = [([QUERIES[q] for q in sorted(QUERIES)], dq.tables(tpch_dir)),
             ([tpcds.query(q) for q in tpcds.query_numbers()], tpcds.tables(tpcds_generate(0.01)))]
    fast = [_plans(queries, frames) for queries, frames in cases]
    monkeypatch.setattr(translate_mod, "_normalized_names", lambda schema, dialect: False)
    assert [_plans(queries, frames) for queries, frames in cases] == fast


def test_plans_same_without_shared_renames(monkeypatch: pytest.MonkeyPatch, tpcds_generate) -> None:  # type: ignore[no-untyped-def]
    """A table read under the same alias twice shares one renaming projection (Translator.relation):
    the compiled plans are those of separate, equal projections."""
    from thresher.planner.physical import compile

    class Forgetful(dict):  # type: ignore[type-arg]
        def __setitem__(self, key: object, value: object) -> None:
            pass

    frames = tpcds.tables(tpcds_generate(0.01))
    queries = [tpcds.query(q) for q in (14, 23, 64, 88)]

    def plans() -> list[str]:
        from thresher.sql_frontend import clear_plan_cache

        clear_plan_cache()
        return [compile(th.sql(q, **frames).plan).pretty() for q in queries]

    shared = plans()
    real_init = translate_mod.Translator.__init__

    def init(self, catalog, *args):  # type: ignore[no-untyped-def]
        real_init(self, catalog, *args)
        self._renamed = Forgetful()

    monkeypatch.setattr(translate_mod.Translator, "__init__", init)
    assert plans() == shared


@pytest.mark.parametrize(("schema", "plain"), [
    ({"t": {"a": "INT", "b_2": "VARCHAR"}}, True),
    ({"t": {"A": "INT"}}, False),
    ({"T": {"a": "INT"}}, False),
    ({"t": {"a b": "INT"}}, False),
    ({"t": {"1a": "INT"}}, False),
    ({"t": {}}, False),
])
def test_normalized_names(schema: dict[str, dict[str, str]], plain: bool) -> None:
    assert translate_mod._normalized_names(schema, "duckdb") is plain
    assert translate_mod._normalized_names(schema, "snowflake") is False


def test_upper_case_and_quoted_names_match_duckdb() -> None:
    """The query's own names are still normalized (qualify does it) with the schema's left as they are."""
    duckdb = pytest.importorskip("duckdb")
    import pyarrow as pa

    t = pa.table({"name": ["a", "b", "c"], "v": [1, 2, 3]})
    con = duckdb.connect()
    con.register("t", t)
    for sql in ['SELECT "name", v FROM t WHERE v > 1 ORDER BY v', "SELECT NAME, V FROM T WHERE T.V > 1 ORDER BY v",
                'SELECT "V", "Name" FROM "T" ORDER BY "v"']:
        assert th.sql(sql, t=th.from_arrow(t)).to_pylist() == con.sql(sql).to_arrow_table().to_pylist()


@pytest.mark.parametrize(("sql", "nested"), [
    ("SELECT a FROM t WHERE a > 1", False),
    ("SELECT t.a FROM t JOIN (SELECT a FROM u) s ON t.a = s.a", False),
    ("WITH c AS (SELECT a FROM t) SELECT a FROM c UNION ALL SELECT a FROM u", False),
    ("SELECT a FROM (SELECT a FROM t UNION SELECT a FROM u) s", False),
    ("SELECT a FROM t WHERE a > (SELECT max(a) FROM u)", True),
    ("SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a = t.a)", True),
    ("SELECT a FROM t WHERE a IN (SELECT a FROM u UNION SELECT a FROM v)", True),
    ("SELECT a, (SELECT count(*) FROM u) AS n FROM t", True),
    ("SELECT a FROM t, UNNEST([1, 2]) AS x(b)", True),
    ("WITH c AS (SELECT a FROM t WHERE a IN (SELECT a FROM u)) SELECT a FROM c", True),
])
def test_tree_kinds_finds_queries_in_expressions(sql: str, nested: bool) -> None:
    assert translate_mod._tree_kinds(sqlglot.parse_one(sql, dialect="duckdb"))[1] is nested


@pytest.mark.parametrize("sql", [
    "SELECT a FROM t WHERE a IN (SELECT a FROM u) OR a > (SELECT max(a) FROM u) - 1 ORDER BY a",
    "SELECT a FROM t WHERE a > 1 OR a IS NULL ORDER BY a",
    "SELECT t.a FROM t JOIN (SELECT a FROM u WHERE a < 3 OR a > 2) s ON t.a = s.a ORDER BY t.a",
])
def test_guarded_passes_match_duckdb(sql: str) -> None:
    duckdb = pytest.importorskip("duckdb")
    import pyarrow as pa

    data = {"t": {"a": [1, 2, 3, None]}, "u": {"a": [2, 3, 3]}}
    con = duckdb.connect()
    for name, cols in data.items():
        con.register(name, pa.table(cols))
    frames = {name: th.from_pydict(cols) for name, cols in data.items()}
    assert th.sql(sql, **frames).to_pylist() == con.sql(sql).to_arrow_table().to_pylist()


def test_tpcds_plans_same_with_ors_left_to_simplify(monkeypatch: pytest.MonkeyPatch, tpcds_generate) -> None:  # type: ignore[no-untyped-def]
    """``show_hidden_ors`` writes back the ORs ``hide_local_ors`` hid (q41) before ``simplify``,
    which would undo De Morgan's law itself, slower: the plans must be the ones simplify gives."""
    import thresher.planner.sql.rewrites as rewrites

    frames = tpcds.tables(tpcds_generate(0.01))
    queries = [tpcds.query(q) for q in tpcds.query_numbers()]
    shown = _plans(queries, frames)
    calls: list[object] = []
    monkeypatch.setattr(rewrites, "show_hidden_ors", lambda tree: calls.append(tree) or tree)
    assert _plans(queries, frames) == shown
    assert calls  # q41 hides its ORs: the comparison covered a tree that had some


def test_show_hidden_ors_inverts_de_morgan() -> None:
    from thresher.planner.sql.rewrites import _de_morgan, _show

    for text in ["a = 1 OR b = 2", "(a = 1 AND (b = 2 OR c = 3)) OR NOT d = 4", "x AND (y OR z OR w)"]:
        node = sqlglot.parse_one(text)
        hidden = _de_morgan(node.copy())
        assert not hidden.find(exp.Or)
        assert _show(hidden).sql() == node.sql()



def test_hide_local_ors_moves_the_nodes_it_rewrites() -> None:
    """``hide_local_ors`` builds each hidden term of the term's own leaves (it leaves the tree):
    no copy of the term, nor of each part once per level of nesting (TPC-DS q41's OR)."""
    from thresher.planner.sql.rewrites import _de_morgan, hide_local_ors

    node = sqlglot.parse_one("(a = 1 AND (b = 2 OR c = 3)) OR NOT d = 4")
    leaves = [id(n) for n in node.find_all(exp.EQ)]
    hidden = _de_morgan(node)
    assert sorted(id(n) for n in hidden.find_all(exp.EQ)) == sorted(leaves)
    tree = sqlglot.parse_one("SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a = t.a AND (u.b = 1 OR u.c = 2))")
    eqs = {id(n) for n in tree.find_all(exp.EQ)}
    tree, was_hidden = hide_local_ors(tree)
    assert was_hidden and not tree.find(exp.Or)
    assert {id(n) for n in tree.find_all(exp.EQ)} == eqs


@pytest.mark.parametrize("sql", [
    "SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a = t.a AND (u.d = 10 OR u.d = 50)) ORDER BY a",
    "SELECT DISTINCT b FROM t WHERE (SELECT count(*) FROM u WHERE (u.a = t.a AND (u.d = 30 OR u.d > 40)) "
    "OR (u.a = t.a AND (u.d < 20 OR NOT u.d = 50))) > 0 ORDER BY b",
])
def test_hidden_ors_against_duckdb(sql: str) -> None:
    """Correlated subqueries whose local ORs ``hide_local_ors`` hides for decorrelation (the
    shape of TPC-DS q41): DuckDB's answers."""
    duckdb = pytest.importorskip("duckdb")
    import pyarrow as pa

    t = pa.table({"a": [1, 2, 3, 3, None], "b": ["x", "y", "x", "z", "y"]})
    u = pa.table({"a": [1, 3, 5, None], "d": [10, 30, 50, 10]})
    con = duckdb.connect()
    con.register("t", t)
    con.register("u", u)
    expected = con.sql(sql).to_arrow_table().to_pylist()
    assert th.sql(sql, t=th.from_arrow(t), u=th.from_arrow(u)).to_pylist() == expected


_DERIVED = [
    "SELECT * FROM (SELECT a, b FROM t) AS s(x, y) ORDER BY x NULLS LAST, y",
    # two derived tables of the same text (eliminate_subqueries would make them one CTE)
    "SELECT p.a, q.a AS qa FROM (SELECT a FROM t WHERE a > 1) p, (SELECT a FROM t WHERE a > 1) q "
    "WHERE p.a = q.a ORDER BY 1, 2",
    "SELECT * FROM (SELECT a FROM t UNION SELECT a FROM u) s ORDER BY a NULLS LAST",
    "SELECT * FROM (SELECT a, b FROM t ORDER BY a DESC NULLS LAST LIMIT 2) s ORDER BY a",
    "SELECT * FROM (SELECT a, d FROM u) s JOIN (SELECT a, b FROM t) r USING (a) ORDER BY a, b",
    "SELECT * FROM (SELECT * FROM (SELECT a, b FROM t) i WHERE i.a IS NOT NULL) o ORDER BY a, b",
    "SELECT s.b, s.sc, n FROM (SELECT b, sum(c) AS sc FROM t GROUP BY b) s, "
    "(SELECT count(*) AS n FROM u) c ORDER BY b",
]


@pytest.mark.parametrize("sql", _DERIVED)
def test_derived_tables_without_eliminate_subqueries(monkeypatch: pytest.MonkeyPatch, sql: str) -> None:
    """Derived tables without a CTE or a nested query skip eliminate_subqueries/eliminate_ctes:
    the plans are those of every pass, the answers DuckDB's."""
    duckdb = pytest.importorskip("duckdb")
    import pyarrow as pa

    t = pa.table({"a": [1, 2, 3, 3, None], "b": ["x", "y", "x", "z", "y"], "c": [1.5, 2.5, None, 4.0, 5.0]})
    u = pa.table({"a": [1, 3, 5], "d": [10, 30, 50]})
    frames = {"t": th.from_arrow(t), "u": th.from_arrow(u)}
    ran: list[str] = []
    import sqlglot.optimizer.eliminate_subqueries as es

    real = es.eliminate_subqueries
    monkeypatch.setattr(es, "eliminate_subqueries", lambda tree: ran.append("x") or real(tree))
    guarded = _plans([sql], frames)
    assert not ran  # (the guard skipped the pass)
    con = duckdb.connect()
    con.register("t", t)
    con.register("u", u)
    assert th.sql(sql, **frames).to_pylist() == con.sql(sql).to_arrow_table().to_pylist()
    monkeypatch.setattr(translate_mod, "_tree_kinds", _every_pass)
    assert _plans([sql], frames) == guarded
    assert ran


def test_plans_same_without_sorting_plain_wheres(monkeypatch: pytest.MonkeyPatch, tpch_dir: Path,
                                                 tpcds_generate) -> None:  # type: ignore[no-untyped-def]
    """``sort_plain_wheres`` puts WHEREs in simplify's order before it runs (fewer passes): the
    plans are the ones simplify gives the WHEREs as written."""
    import thresher.planner.sql.rewrites as rewrites

    cases = [([QUERIES[q] for q in sorted(QUERIES)], dq.tables(tpch_dir)),
             ([tpcds.query(q) for q in tpcds.query_numbers()], tpcds.tables(tpcds_generate(0.01)))]
    sorted_ = [_plans(queries, frames) for queries, frames in cases]
    monkeypatch.setattr(rewrites, "sort_plain_wheres", lambda tree: None)
    assert [_plans(queries, frames) for queries, frames in cases] == sorted_


@pytest.mark.parametrize(("cond", "settled"), [
    ("t.a = u.a AND t.b > 3 AND 5 <= u.c AND t.d IN (1, 2)", True),
    ("u.c = t.c AND t.a BETWEEN 1 AND 4 AND t.a = u.a AND t.a = u.a", False),  # (BETWEEN is rewritten)
    ("CASE WHEN t.a > 0 THEN t.b / t.a END > CASE WHEN u.a > 0 THEN u.b / u.a END AND t.k = u.k", True),
    # ANDs and ORs (_sort_connectives): an OR of ANDs of ORs, a repeated branch, a turned comparison, a TRUE
    ("TRUE AND ((t.a = 2 AND (t.b = 'y' OR t.b = 'x') AND (u.c = 3 OR 1 = u.c)) OR (t.a = 1 AND (t.b = 'x' "
     "OR t.b = 'y')) OR (t.a = 2 AND (t.b = 'x' OR t.b = 'y') AND (1 = u.c OR u.c = 3)))", True),
    ("(t.k = u.k AND t.a > 3) OR (t.k = u.k AND (t.a < 1 OR (t.b = 'q' AND 5 <= u.c)))", True),
    ("t.k = u.k AND ((t.a = 1 AND t.b > 2) OR t.a = 3) AND (u.c = 1 OR u.c = 2)", True),
    ("t.k = u.k AND (t.a = 1 OR NOT t.b = 2)", False),  # (a NOT: left as written)
    ("t.k = u.k AND (t.a IS NULL OR t.a = 1)", False),  # (an IS: left as written)
])
def test_sorted_where_is_simplify_order(cond: str, settled: bool) -> None:
    from sqlglot.optimizer.simplify import simplify

    from thresher.planner.sql.rewrites import sort_plain_wheres

    tree = sqlglot.parse_one(f"SELECT * FROM t, u WHERE {cond}", dialect="duckdb")
    want = simplify(tree.copy())
    sort_plain_wheres(tree)
    where = tree.find(exp.Where)
    assert (simplify(where.this.copy()).sql() == where.this.sql()) == settled
    got = simplify(tree)
    assert got.sql() == want.sql()
    assert [c.sql() for c in got.find(exp.Where).this.flatten()] == [c.sql() for c in want.find(exp.Where).this.flatten()]


def test_or_wheres_settled_before_simplify(monkeypatch: pytest.MonkeyPatch,
                                           tpcds_generate) -> None:  # type: ignore[no-untyped-def]
    """Each WHERE of ANDs and ORs that ``sort_plain_wheres`` sorts in TPC-DS q13, q41, q48 and
    q85 reaches ``simplify`` settled: its first pass over the WHERE changes nothing (they took
    it three passes, the first sorting by the old texts, see ``_sort_connectives``). (TPC-H q19's
    still has constants to fold: a pass fewer, not none.)"""
    import thresher.planner.sql.rewrites as rewrites

    real = rewrites.sort_plain_wheres
    wheres: list[tuple[str, str]] = []

    def sort_and_keep(tree: object) -> None:
        real(tree)
        for where in tree.find_all(exp.Where):  # type: ignore[attr-defined]
            cond = where.this
            if cond.find(exp.Or) and not cond.find(exp.Not, exp.Is, exp.Null, exp.Query):
                wheres.append((cond.sql(), simplify(cond.copy()).sql()))

    from sqlglot.optimizer.simplify import simplify

    monkeypatch.setattr(rewrites, "sort_plain_wheres", sort_and_keep)
    _plans([tpcds.query(q) for q in (13, 41, 48, 85)], tpcds.tables(tpcds_generate(0.01)))
    assert len(wheres) == 4
    for written, simplified in wheres:
        assert simplified == written


@pytest.mark.parametrize(("sql", "read"), [
    ("WITH a AS (SELECT k FROM t) SELECT k FROM a", True),
    ("WITH a AS (SELECT k FROM t) SELECT k FROM t", False),
    ("WITH a AS (SELECT k FROM t), b AS (SELECT k FROM a) SELECT k FROM t", False),  # a read by an unread CTE only
    ("WITH a AS (SELECT k FROM t), b AS (SELECT k FROM a) SELECT k FROM b", True),
    ("WITH a AS (SELECT k FROM b), b AS (SELECT k FROM t) SELECT k FROM a", False),  # an earlier CTE's b is a table
    ("WITH a AS (SELECT k FROM t) SELECT k FROM (WITH c AS (SELECT k FROM a) SELECT k FROM c)", False),  # nested WITH
    ("SELECT k FROM t", True),
])
def test_every_cte_read(sql: str, read: bool) -> None:
    """``_every_cte_read`` answers True only where ``eliminate_ctes`` has nothing to remove."""
    from sqlglot.optimizer.eliminate_ctes import eliminate_ctes

    tree = sqlglot.parse_one(sql, dialect="duckdb")
    assert translate_mod._every_cte_read(tree) is read
    if read:
        assert eliminate_ctes(tree.copy()).sql() == tree.sql()


@pytest.mark.parametrize("sql", [
    # an unread CTE the translator could not translate (a FULL JOIN on an inequality): removed first
    "WITH bad AS (SELECT t.k FROM t FULL JOIN u ON t.k > u.k) SELECT k FROM t WHERE k IN (SELECT k FROM u)",
    "WITH a AS (SELECT k FROM t), b AS (SELECT k FROM a WHERE k > 1), c AS (SELECT k FROM b) "
    "SELECT count(*) AS n FROM b WHERE k IN (SELECT k FROM u)",
])
def test_unread_ctes_are_removed(sql: str) -> None:
    duckdb = pytest.importorskip("duckdb")
    import pyarrow as pa

    t = pa.table({"k": pa.array([1, 2, 2, 3], pa.int64())})
    u = pa.table({"k": pa.array([2, 3, 4], pa.int64())})
    ref = duckdb.connect()
    ref.register("t", t)
    ref.register("u", u)
    want = sorted(ref.sql(sql).fetchall())
    got = th.sql(sql, t=th.from_arrow(t), u=th.from_arrow(u)).to_arrow()
    assert sorted(zip(*(c.to_pylist() for c in got.columns))) == want


def test_plans_same_with_eliminate_ctes_always(monkeypatch: pytest.MonkeyPatch, tpch_dir: Path,
                                               tpcds_generate) -> None:  # type: ignore[no-untyped-def]
    """Skipping ``eliminate_ctes`` where every CTE is read (``_every_cte_read``) gives the plans it gives."""
    cases = [([QUERIES[q] for q in sorted(QUERIES)], dq.tables(tpch_dir)),
             ([tpcds.query(q) for q in tpcds.query_numbers()], tpcds.tables(tpcds_generate(0.01)))]
    fast = [_plans(queries, frames) for queries, frames in cases]
    monkeypatch.setattr(translate_mod, "_every_cte_read", lambda tree: False)
    assert [_plans(queries, frames) for queries, frames in cases] == fast


def test_sql_columns_follow_each_frame() -> None:
    """sqlglot's schema is remembered per plan (``_sql_columns``), never per table name: a name
    bound to another frame is qualified against that frame's columns, and what sqlglot got is
    never changed by it."""
    import pyarrow as pa

    first = th.from_arrow(pa.table({"a": [1, 2], "b": ["x", "y"]}))
    second = th.from_arrow(pa.table({"a": [3], "c b": [4.5]}))
    for _ in range(2):  # (the second time from the remembered columns)
        assert th.sql("SELECT b FROM t ORDER BY a", t=first).to_pydict() == {"b": ["x", "y"]}
        assert th.sql('SELECT "c b" AS c FROM t', t=second).to_pydict() == {"c": [4.5]}
        with pytest.raises(th.errors.ThresherError, match="unknown column 'b'"):
            th.sql("SELECT b FROM t", t=second)
    for frame, plain in ((first, True), (second, False)):
        cols = translate_mod._sql_columns(frame.plan)
        assert dict(cols) == {c: translate_mod.sql_type_name(t) for c, t in frame.plan.schema.items()}
        assert cols.plain is plain


def test_plans_same_without_setting_local_ors_aside(monkeypatch: pytest.MonkeyPatch, tpch_dir: Path,
                                                    tpcds_generate) -> None:  # type: ignore[no-untyped-def]
    """A WHERE's OR over one table is kept out of the whole tree's ``normalize`` and
    ``simplify`` and put back in normal form, simplified once per text (``put_back_local_ors``):
    the plans are those of the passes over the whole tree."""
    import thresher.planner.sql.rewrites as rewrites

    cases = [([QUERIES[q] for q in sorted(QUERIES)], dq.tables(tpch_dir)),
             ([tpcds.query(q) for q in tpcds.query_numbers()], tpcds.tables(tpcds_generate(0.01)))]
    aside: list[object] = []
    real = rewrites.set_aside_local_ors
    monkeypatch.setattr(rewrites, "set_aside_local_ors", lambda tree: aside.extend(out := real(tree)) or out)
    with_aside = [_plans(queries, frames) for queries, frames in cases]
    assert len(aside) >= 8  # (TPC-DS q88: one in each of its eight WHEREs)
    monkeypatch.setattr(rewrites, "set_aside_local_ors", lambda tree: [])
    assert [_plans(queries, frames) for queries, frames in cases] == with_aside


_LOCAL_OR = "((a = 1 AND b = 2) OR (a BETWEEN 3 AND 4 AND b IS NULL) OR (a = 5 AND b > 0))"


@pytest.mark.parametrize("sql", [
    f"SELECT a, b FROM t WHERE {_LOCAL_OR} AND a < 10 ORDER BY a, b",
    f"SELECT s1.c AS c1, s2.c AS c2 FROM (SELECT count(*) AS c FROM t WHERE {_LOCAL_OR}) s1, "
    f"(SELECT count(*) AS c FROM t WHERE {_LOCAL_OR} AND b < 5) s2",
    f"SELECT t.a AS ta, u.a AS ua FROM t, u WHERE t.a = u.a AND {_LOCAL_OR.replace('a ', 't.a ').replace('b ', 't.b ')} "
    "ORDER BY t.a, u.a",
    f"SELECT a, b FROM t WHERE {_LOCAL_OR} AND 1 = 0",
    f"WITH c AS (SELECT a, b FROM t WHERE {_LOCAL_OR}) SELECT c.a AS ca, u.a AS ua FROM c JOIN u ON c.a = u.a ORDER BY 1, 2",
    f"SELECT a, b FROM t WHERE NOT {_LOCAL_OR} ORDER BY a, b",
])
def test_local_ors_set_aside_match_duckdb(sql: str) -> None:
    duckdb = pytest.importorskip("duckdb")
    import pyarrow as pa

    data = {"t": {"a": [1, 1, 3, 4, 5, 5, None, 2], "b": [2, None, None, 1, 3, -1, 2, 2]},
            "u": {"a": [1, 3, 5, 5, 7]}}
    con = duckdb.connect()
    for name, cols in data.items():
        con.register(name, pa.table(cols))
    frames = {name: th.from_pydict(cols) for name, cols in data.items()}
    assert th.sql(sql, **frames).to_pylist() == con.sql(sql).to_arrow_table().to_pylist()


def test_count_subquery_to_exists_moves_the_select() -> None:
    """``count_subquery_to_exists`` puts the subquery's own SELECT in the EXISTS (no copy); a
    compared COUNT inside it is left as it is, as it was when the body was a copy."""
    from thresher.planner.sql.rewrites import count_subquery_to_exists

    tree = sqlglot.parse_one("SELECT a FROM t WHERE (SELECT count(*) FROM u WHERE u.a = t.a AND "
                             "(SELECT count(*) FROM v WHERE v.a = u.a) = 0) > 0")
    outer = tree.find(exp.Subquery).this
    tree = count_subquery_to_exists(tree)
    exists = tree.find(exp.Exists)
    assert exists is not None and exists.this is outer
    assert exists.this.find(exp.EQ, exp.Not) is not None
    assert "(SELECT COUNT(*) FROM v WHERE v.a = u.a) = 0" in tree.sql()
