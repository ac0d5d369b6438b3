"""A differential fuzzer against DuckDB of the SQL clauses the other fuzzers leave out (used by
``test_sql_clause_fuzz.py``), over three small tables whose join keys repeat and hold NULLs and
whose text holds unicode and the empty string:

* ``using_query``: ``JOIN ... USING (...)`` and ``NATURAL JOIN`` of every kind (inner, LEFT,
  RIGHT, FULL, SEMI, ANTI), two or three tables, the merged key read unqualified (COALESCE of
  both sides under FULL) and qualified, ``*``, ``* EXCLUDE``, ``t2.*``, grouped on the merged key,
  filtered on it.
* ``distinct_on_query``: ``DISTINCT ON (keys)`` over a total ORDER BY (the first row per key is
  then one row), with expressions as keys, a WHERE and a LIMIT.
* ``by_name_query``: ``UNION [ALL] BY NAME`` of two or three inputs whose columns come in other
  orders, other letter cases, and some missing (NULL there), inside a derived table or not.
* ``star_query``: ``* EXCLUDE`` / ``* REPLACE``, ``GROUP BY ALL`` / ``ORDER BY ALL``, positions in
  GROUP BY and ORDER BY, a named ``WINDOW`` used twice, a parenthesized input of a set operation
  with its own ORDER BY ... LIMIT, a VALUES list joined to a table.
* ``join_chain_query``: three or four relations joined in the order written, inner, outer,
  CROSS and comma joins mixed (an inner join after a RIGHT or FULL one, a comma before one).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

_K = st.one_of(st.none(), st.sampled_from([0, 1, 1, 2, 3]))
_A = st.one_of(st.none(), st.sampled_from(["", "x", "X", "é", "日", "x y"]))
_V = st.one_of(st.none(), st.sampled_from([-1.5, 0.0, 0.5, 2.0]))
_W = st.one_of(st.none(), st.sampled_from([-2, 0, 5, 10]))

#: table -> column -> (values, Arrow type); t1 and t2 share k and a, t3 shares k with both
CLAUSE_COLUMNS: dict[str, dict[str, tuple[Any, pa.DataType]]] = {
    "t1": {"id": (None, pa.int64()), "k": (_K, pa.int64()), "a": (_A, pa.string()), "v": (_V, pa.float64())},
    "t2": {"k": (_K, pa.int32()), "a": (_A, pa.string()), "w": (_W, pa.int64())},
    "t3": {"k": (_K, pa.int64()), "z": (_A, pa.string())},
}


@st.composite
def clause_tables(draw: Any) -> dict[str, pa.Table]:
    """t1 (0..7 rows, a unique ``id`` in a drawn order), t2 and t3 (0..5 rows)."""
    out = {}
    for name, cols in CLAUSE_COLUMNS.items():
        n = draw(st.integers(0, 7 if name == "t1" else 5))
        data = {}
        for c, (values, t) in cols.items():
            data[c] = pa.array(draw(st.permutations(list(range(n)))) if values is None
                               else draw(st.lists(values, min_size=n, max_size=n)), t)
        out[name] = pa.table(data)
    return out


_KINDS = ["JOIN", "INNER JOIN", "LEFT JOIN", "LEFT OUTER JOIN", "RIGHT JOIN", "FULL JOIN", "FULL OUTER JOIN"]
#: WHERE terms: (the column they read, the term)
_FILTERS = [("k", "k IS NULL"), ("k", "k IS NOT NULL"), ("k", "k > 1"), ("a", "a = 'x'"), ("a", "a IS NULL"),
            ("k", "coalesce(k, -1) <> 1"), ("a", "a > 'x'")]


@st.composite
def using_query(draw: Any) -> str:
    """Two or three tables joined USING their shared columns, or NATURAL."""
    kind = draw(st.sampled_from([*_KINDS, "SEMI JOIN", "ANTI JOIN"]))
    cond = draw(st.sampled_from(["USING (k)", "USING (a)", "USING (k, a)", "USING (a, k)", "NATURAL"]))
    covers = cond in ("USING (k, a)", "USING (a, k)", "NATURAL")  # every shared column merged
    join = f"t1 NATURAL {kind} t2" if cond == "NATURAL" else f"t1 {kind} t2 {cond}"
    semi = kind in ("SEMI JOIN", "ANTI JOIN")
    merged = ["k", "a"] if covers else [cond[7:-1]]
    third = not semi and draw(st.integers(0, 2)) == 0
    if third:
        if "k" not in merged:  # (k would name t1.k or t2.k: ambiguous)
            join = f"t1 {kind} t2 USING (k, a)"
            merged, covers = ["k", "a"], True
        join += f" {draw(st.sampled_from(_KINDS))} t3 USING (k)"
    left_only = ["t1.id", "t1.v"]
    right_only = [] if semi else ["t2.w"] + (["t3.z"] if third else [])
    qualified = [] if semi else [f"{t}.{c}" for c in merged for t in ("t1", "t2")]
    form = draw(st.integers(0, 4))
    if form == 0 and (covers or semi):
        items = "*"
    elif form == 1 and (covers or semi):
        items = f"* EXCLUDE ({draw(st.sampled_from(['v', 'id', 'k', 'a']))})"
    elif form == 2 and not semi:
        items = "t2.*, t1.id"
    else:
        pool = merged + left_only + right_only + qualified
        items = ", ".join(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True)))
    where = ""
    if draw(st.integers(0, 2)) == 0:
        where = " WHERE " + draw(st.sampled_from([f for c, f in _FILTERS if c in merged]))
    if draw(st.integers(0, 3)) == 0:  # grouped on a merged key
        key = draw(st.sampled_from(merged))
        agg = draw(st.sampled_from(["count(*)", "count(t1.id)", "sum(t1.v)", "min(t1.id)"]
                                   + ([] if semi else ["count(t2.w)", "max(t2.k)"])))
        return f"SELECT {key}, {agg} AS n FROM {join}{where} GROUP BY {key}"
    return f"SELECT {items} FROM {join}{where}"


_ON_KEYS = ["k", "a", "k % 2", "lower(a)", "a, k", "k IS NULL"]
_ON_ORDER = ["", " DESC", " NULLS FIRST", " DESC NULLS LAST"]


@st.composite
def distinct_on_query(draw: Any) -> str:
    """DISTINCT ON (keys) ordered by the keys and then a total order (``id`` last)."""
    keys = draw(st.sampled_from(_ON_KEYS))
    lead = ", ".join(f"{k.strip()}{draw(st.sampled_from(_ON_ORDER))}" for k in keys.split(","))
    rest = draw(st.sampled_from(["id", "id DESC", "v NULLS FIRST, id", "v DESC, id DESC", "a, id"]))
    order = f"{lead}, {rest}" if draw(st.integers(0, 4)) else rest  # (the keys not first: still one row each)
    items = draw(st.sampled_from(["*", "id", "k, id", "a, v, id", "id, k % 2 AS p"]))
    where = f" WHERE {draw(st.sampled_from(_FILTERS))[1]}" if draw(st.integers(0, 2)) == 0 else ""
    limit = f" LIMIT {draw(st.integers(0, 3))}" if order != rest and draw(st.integers(0, 3)) == 0 else ""
    return f"SELECT DISTINCT ON ({keys}) {items} FROM t1{where} ORDER BY {order}{limit}"


#: what an input of UNION BY NAME selects: name -> expressions of that name per table
_BY_NAME = {"t1": {"k": ["k", "k + 1"], "a": ["a", "upper(a)"], "v": ["v"], "id": ["id"]},
            "t2": {"k": ["k", "-k"], "a": ["a"], "w": ["w", "w * 2"], "v": ["w / 2"]},
            "t3": {"k": ["k"], "a": ["z"], "z": ["z"]}}


@st.composite
def _by_name_input(draw: Any) -> str:
    table = draw(st.sampled_from(sorted(_BY_NAME)))
    names = draw(st.lists(st.sampled_from(sorted(_BY_NAME[table])), min_size=1, max_size=3, unique=True))
    items = []
    for n in names:
        shown = n.upper() if draw(st.integers(0, 4)) == 0 else n
        items.append(f"{draw(st.sampled_from(_BY_NAME[table][n]))} AS {shown}")
    where = f" WHERE k {draw(st.sampled_from(['IS NULL', '> 0', '<> 1']))}" if draw(st.integers(0, 3)) == 0 else ""
    return f"SELECT {', '.join(items)} FROM {table}{where}"


@st.composite
def by_name_query(draw: Any) -> str:
    """UNION [ALL] BY NAME of two or three inputs; maybe read back through a derived table."""
    parts = [draw(_by_name_input()) for _ in range(draw(st.integers(2, 3)))]
    query = parts[0]
    for p in parts[1:]:
        query += f" {draw(st.sampled_from(['UNION', 'UNION ALL']))} BY NAME {p}"
    if draw(st.integers(0, 3)) == 0:
        return f"SELECT count(*) AS n, count(DISTINCT k) AS d FROM ({query}) AS q"
    return query


_WINDOWS = ["PARTITION BY k ORDER BY id", "ORDER BY v NULLS FIRST, id", "PARTITION BY a ORDER BY k DESC, id",
            "PARTITION BY k"]


@st.composite
def star_query(draw: Any) -> str:
    """Star expansions, ALL and positions, named windows, set-operation inputs with their own
    ORDER BY ... LIMIT and VALUES lists."""
    form = draw(st.integers(0, 5))
    if form == 0:
        ex = draw(st.lists(st.sampled_from(["id", "k", "a", "v"]), min_size=1, max_size=3, unique=True))
        repl = draw(st.sampled_from(["", "", " REPLACE (k * 2 AS k)", " REPLACE (upper(a) AS a)",
                                     " REPLACE (coalesce(v, 0) AS v)"]))
        col = repl.split(" AS ")[-1].rstrip(")") if repl else ""
        if col in ex:
            repl = ""
        if len(ex) == 4:
            ex = ex[:3]
        return f"SELECT * EXCLUDE ({', '.join(ex)}){repl} FROM t1"
    if form == 1:
        keys = draw(st.lists(st.sampled_from(["k", "a", "k % 2", "a IS NULL", "length(a)"]), min_size=1, max_size=2,
                             unique=True))
        agg = draw(st.sampled_from(["count(*)", "sum(v)", "max(id)", "count(DISTINCT a)", "min(a)"]))
        order = draw(st.sampled_from(["", " ORDER BY ALL", " ORDER BY ALL DESC", " ORDER BY 1 NULLS FIRST, 2",
                                      f" ORDER BY {len(keys) + 1} DESC, ALL"]))
        if "ALL" in order.split(",")[-1] and "," in order:
            order = " ORDER BY ALL"
        group = draw(st.sampled_from(["ALL", ", ".join(str(i + 1) for i in range(len(keys))), ", ".join(keys)]))
        marker = f" -- ordered: {len(keys) + 1}" if order else ""
        return f"SELECT {', '.join(keys)}, {agg} AS n FROM t1 GROUP BY {group}{order}{marker}"
    if form == 2:
        w = draw(st.sampled_from(_WINDOWS))
        fns = draw(st.lists(st.sampled_from(["sum(v) OVER w", "count(*) OVER w", "max(id) OVER w", "min(a) OVER w"]
                                            + (["row_number() OVER w", "lag(v) OVER w", "first_value(a) OVER w"]
                                               if "id" in w else [])),
                            min_size=1, max_size=3, unique=True))
        items = ", ".join(f"{f} AS w{i}" for i, f in enumerate(fns))
        qualify = " QUALIFY w0 IS NOT NULL" if draw(st.integers(0, 3)) == 0 else ""
        return f"SELECT id, {items} FROM t1 WINDOW w AS ({w}){qualify}"
    if form == 3:
        op = draw(st.sampled_from(["UNION ALL", "UNION", "INTERSECT", "EXCEPT", "INTERSECT ALL", "EXCEPT ALL"]))
        order = draw(st.sampled_from(["id", "k NULLS FIRST, id", "v DESC, id DESC", "a, id"]))
        left = f"(SELECT k, a FROM t1 ORDER BY {order} LIMIT {draw(st.integers(0, 4))})"
        right = draw(st.sampled_from(["SELECT k, a FROM t2", "(SELECT k, z FROM t3 ORDER BY k, z LIMIT 2)",
                                      "SELECT k, a FROM t1 WHERE v > 0"]))
        return f"{left} {op} {right}"
    if form == 4:
        rows = draw(st.lists(st.tuples(st.sampled_from(["NULL", "1", "2", "3"]),
                                       st.sampled_from(["NULL", "'x'", "'é'", "''"])), min_size=1, max_size=4))
        values = ", ".join(f"({a}, {b})" for a, b in rows)
        kind = draw(st.sampled_from(["JOIN", "LEFT JOIN", "FULL JOIN", "SEMI JOIN", "ANTI JOIN"]))
        on = draw(st.sampled_from(["USING (k)", "ON t1.k = vals.k", "ON t1.a = vals.b AND t1.k = vals.k"]))
        items = "t1.id, t1.k" if kind in ("SEMI JOIN", "ANTI JOIN") else "t1.id, vals.k, vals.b"
        return f"SELECT {items} FROM t1 {kind} (VALUES {values}) AS vals(k, b) {on}"
    # a total ORDER BY with OFFSET / LIMIT over a join with NULL keys
    order = draw(st.sampled_from(["t1.id", "t2.w NULLS FIRST, t1.id", "t1.k DESC NULLS LAST, t1.id"]))
    order += ", t2.w, t2.a"  # (rows tied on every key are the same output row)
    limit = draw(st.sampled_from(["LIMIT 3", "LIMIT 2 OFFSET 1", "OFFSET 2", "LIMIT 0", "LIMIT 10 OFFSET 4"]))
    kind = draw(st.sampled_from(["LEFT JOIN", "JOIN", "FULL JOIN"]))
    return (f"SELECT t1.id, t2.w, t2.a FROM t1 {kind} t2 ON t1.k = t2.k ORDER BY {order} {limit} -- ordered: 3")


#: alias -> (table, its key columns, a column to read)
_CHAIN = {"t1": ("t1", ["k", "a"], "id"), "t2": ("t2", ["k", "a"], "w"), "t3": ("t3", ["k"], "z"),
          "u": ("t1", ["k", "a"], "v")}
_CHAIN_KINDS = ["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "CROSS JOIN", ",", "SEMI JOIN", "ANTI JOIN"]


@st.composite
def join_chain_query(draw: Any) -> str:
    """Three or four relations joined in the order written, inner, outer, CROSS and comma joins
    mixed (an inner join after a RIGHT or FULL one joins its NULL-padded rows), on an equality
    with the relation before or an earlier one, now and then with another term; a WHERE over
    any of them."""
    aliases = draw(st.permutations(sorted(_CHAIN)))[:draw(st.integers(3, 4))]
    text = f"{_CHAIN[aliases[0]][0]} AS {aliases[0]}"
    visible = [aliases[0]]
    using = False
    for al in aliases[1:]:
        kind = draw(st.sampled_from(_CHAIN_KINDS))
        table, keys, _ = _CHAIN[al]
        if kind in (",", "CROSS JOIN"):
            text += f"{kind} {table} AS {al}" if kind == "," else f" {kind} {table} AS {al}"
        else:
            other = draw(st.sampled_from(visible))
            key = draw(st.sampled_from([k for k in keys if k in _CHAIN[other][1]]))
            if draw(st.integers(0, 3)) == 0:  # (USING k: the k of every relation before merged)
                text += f" {kind} {table} AS {al} USING (k)"
                using = using or kind not in ("SEMI JOIN", "ANTI JOIN")
            else:
                on = f"{other}.{key} = {al}.{key}"
                extra = draw(st.sampled_from(["", "", "", f" AND {al}.k > 0", f" AND {other}.k IS NOT NULL",
                                              f" OR {al}.k IS NULL"]))
                text += f" {kind} {table} AS {al} ON {on}{extra}"
        if kind not in ("SEMI JOIN", "ANTI JOIN"):
            visible.append(al)
    items = ", ".join(f"{al}.{_CHAIN[al][2]} AS {al}_{_CHAIN[al][2]}, {al}.k AS {al}_k" for al in visible)
    if using and draw(st.booleans()):
        items += ", k AS merged_k"
    where = ""
    if draw(st.integers(0, 2)) == 0:
        a, b = draw(st.sampled_from(visible)), draw(st.sampled_from(visible))
        where = " WHERE " + draw(st.sampled_from([f"{a}.k = {b}.k", f"{a}.k IS NULL", f"{a}.k > 1",
                                                   f"coalesce({a}.k, {b}.k) = 1"]))
    return f"SELECT {items} FROM {text}{where}"


def clause_queries() -> st.SearchStrategy[str]:
    return st.one_of(using_query(), distinct_on_query(), by_name_query(), star_query(), join_chain_query())
