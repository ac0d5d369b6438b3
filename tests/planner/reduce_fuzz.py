"""A differential fuzzer for the Polars lowering's group-by reductions (``_reduced_right``:
a join whose right side groups on the join keys computes only the left side's groups).

Queries of the shapes the rule rewrites are drawn as text: DataFrame pipelines (evaluated with
``th`` and with Polars) and SQL (Thresher and DuckDB): inner, left, semi and anti joins (EXISTS,
NOT EXISTS, IN, NOT IN) whose right side is a group-by on the join keys, on a subset or a
superset of them, with filters below and above the group-bys on either side, HAVING filters,
nested group-bys, one CTE on both sides, int32/int64 and string keys, NULL and duplicate keys,
empty tables; also steps above the group-by that see every group (windows, a sort and a limit,
DISTINCT), correlated scalar subqueries (TPC-H Q17's shape), TPC-H Q21's shape (a semi join below
the group-by that the left side's keys imply, which the rule drops) and ``nulls_equal`` joins
(never reduced). Each query runs three ways: with the rule forced wherever the shape allows it
(:func:`forced`: no row floor, no size ratio, no filter needed on the left side), with it off,
and in the reference engine; all three must agree (rows as multisets). With ``big`` rows added
to table ``b`` (numpy, over ``REDUCE_APART_MIN_ROWS``) the rule runs at its real thresholds, the
left side filtered only below its own group-by (b3c9034's case).

``python tests/planner/reduce_fuzz.py frame|sql SEED N [BIG]`` runs N cases and prints the
counts and every failing query (``PYTHONPATH=python``).
"""

from __future__ import annotations

import contextlib
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
import pyarrow as pa

import thresher as th
import thresher.planner.polars_plan as polars_plan


@contextlib.contextmanager
def forced() -> Iterator[None]:
    """The reduction wherever the right side groups on the join keys."""
    saved = (polars_plan.REDUCE_APART_MIN_ROWS, polars_plan.REDUCE_MAX_RATIO, polars_plan._filtered_apart)
    polars_plan.REDUCE_APART_MIN_ROWS = 0
    polars_plan.REDUCE_MAX_RATIO = math.inf
    real = polars_plan._filtered_apart
    polars_plan._filtered_apart = lambda node, other: real(node, other) or True  # (still run: it must not fail)
    try:
        yield
    finally:
        polars_plan.REDUCE_APART_MIN_ROWS, polars_plan.REDUCE_MAX_RATIO, polars_plan._filtered_apart = saved


#: what the rule did in the forced runs: the joins it reduced (by ``how``), the semi joins it dropped
COVERAGE: Counter[str] = Counter()


@contextlib.contextmanager
def watched() -> Iterator[None]:
    reduce, strip = polars_plan._reduced_right, polars_plan._without_implied_semi_joins

    def reduced(node: Any, left: Any, leaf: Any) -> Any:
        out = reduce(node, left, leaf)
        if out is not None:
            COVERAGE[f"reduced {node.how}"] += 1
        return out

    def stripped(node: Any, *args: Any) -> Any:
        out = strip(node, *args)
        if out is not node:
            COVERAGE["implied semi join dropped"] += 1
        return out

    polars_plan._reduced_right, polars_plan._without_implied_semi_joins = reduced, stripped
    try:
        yield
    finally:
        polars_plan._reduced_right, polars_plan._without_implied_semi_joins = reduce, strip


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    saved = polars_plan._reduced_right
    polars_plan._reduced_right = lambda node, left, leaf: None
    try:
        yield
    finally:
        polars_plan._reduced_right = saved


def tables(rnd: random.Random, big: int = 0) -> dict[str, pa.Table]:
    """Two small tables ``a`` and ``b`` full of NULL and duplicate keys (``big`` more rows in ``b``)."""
    def col(pool: list[Any], n: int) -> list[Any]:
        return [rnd.choice(pool) for _ in range(n)]

    out = {}
    # ``a`` (mostly the left side) small, ``b`` (mostly the grouped right side) larger and with
    # more keys: most of ``b``'s groups have no partner, so a wrong reduction shows
    for name, (t1, t2) in {"a": (pa.int64(), pa.int32()), "b": (pa.int32(), pa.int64())}.items():
        sizes, k1s = ([0, 1, 2, 3, 5, 8], [None, 0, 1, 2, 3]) if name == "a" else \
            ([0, 3, 6, 10, 14, 20], [None, 0, 1, 2, 3, 4, 5, 6])
        n = rnd.choice(sizes) if rnd.random() < 0.95 else 0
        out[name] = pa.table({
            "k1": pa.array(col(k1s, n), t1),
            "k2": pa.array(col([None, 0, 1], n), t2),
            "ks": pa.array(col([None, "a", "a", "b", ""], n), pa.string()),
            "o": pa.array(rnd.sample(range(10 * n + 1), n), pa.int64()),
            "v": pa.array(col([None, -1, 0, 1, 2, 5], n), pa.int64()),
            "q": pa.array(col([None, 0.5, 1.0, 2.0, -3.0], n), pa.float64()),
        })
    if big:
        import numpy as np

        gen = np.random.default_rng(rnd.randrange(2 ** 32))
        b = out["b"]

        def arr(values: Any, null: float, t: pa.DataType) -> pa.Array:
            return pa.array(values, t, mask=gen.random(big) < null)

        more = pa.table({
            "k1": arr(gen.integers(0, 400, big), 0.05, pa.int32()),
            "k2": arr(gen.integers(0, 3, big), 0.1, pa.int64()),
            "ks": pa.array(np.array(["a", "b", "", "c"], dtype=object)[gen.integers(0, 4, big)], pa.string(),
                           mask=gen.random(big) < 0.1),
            "o": pa.array(gen.permutation(big) + 10 * b.num_rows + 1, pa.int64()),
            "v": arr(gen.integers(-1, 6, big), 0.1, pa.int64()),
            "q": arr(gen.choice([0.5, 1.0, 2.0, -3.0], big), 0.1, pa.float64()),
        })
        out["b"] = pa.concat_tables([b, more])
    return out


KEYS = ["k1", "k2", "ks"]


def _group_keys(rnd: random.Random) -> list[str]:
    """One to three of :data:`KEYS` (mostly fewer: three keys of small tables rarely match)."""
    return rnd.sample(KEYS, rnd.choices([1, 2, 3], [5, 4, 1])[0])


def _rows(table: pa.Table) -> Counter[tuple[Any, ...]]:
    def norm(v: Any) -> Any:
        if isinstance(v, float):
            return None if math.isnan(v) else round(v, 9)
        return v
    return Counter(tuple(norm(v) for v in row.values()) for row in table.to_pylist())


# ---------------------------------------------------------------- DataFrame pipelines (th or pl as ``ns``)

def _pred(rnd: random.Random, cols: list[str]) -> str:
    """A filter that keeps some rows (mostly about half; NULL tests rarely: they empty joins)."""
    c = rnd.choice(cols)
    if c == "ks":
        return rnd.choice(['ns.col("ks") != "b"', 'ns.col("ks") != "a"', 'ns.col("ks") == "a"', 'ns.col("ks").is_null()'])
    return rnd.choices([f'ns.col("{c}") > {rnd.choice([-1, 0, 1])}', f'ns.col("{c}") <= {rnd.choice([1, 2, 3])}',
                        f'ns.col("{c}").is_not_null()', f'ns.col("{c}").is_null()'], [3, 3, 2, 1])[0]


def _aggs(rnd: random.Random, prefix: str, ordered: bool = True) -> list[tuple[str, str]]:
    """Aggregates that depend on the group's rows; first/last only where the rows' order is
    defined (a table's own order, kept by filters and semi joins; not a group-by's output)."""
    pool = ['ns.len()', 'ns.col("q").sum()', 'ns.col("v").min()', 'ns.col("v").max()', 'ns.col("q").count()',
            'ns.col("v").n_unique()', 'ns.col("q").mean()', 'ns.col("v").null_count()', 'ns.col("v").sum()',
            'ns.col("o").min()', 'ns.col("o").max()'] + (['ns.col("o").first()', 'ns.col("o").last()'] if ordered else [])
    return [(f"{prefix}{i}", e) for i, e in enumerate(rnd.sample(pool, rnd.randint(1, 3)))]


def _having(rnd: random.Random, aggs: list[tuple[str, str]]) -> str:
    name, e = rnd.choice(aggs)
    if "mean" in e or '"q"' in e:
        return f'ns.col("{name}") > {rnd.choice([0, 1.0, -1])}'
    return rnd.choice([f'ns.col("{name}") > {rnd.choice([0, 1, 2])}', f'ns.col("{name}") <= {rnd.choice([1, 2, 3])}',
                       f'ns.col("{name}").is_not_null()'])


def frame_query(rnd: random.Random, apart: bool = False) -> str:
    """A pipeline as Python text over ``A``, ``B`` (frames) and ``ns`` (``th`` or ``pl``)."""
    gkeys = _group_keys(rnd)
    # the join keys: the right side's group keys mostly, sometimes a subset or superset
    r = rnd.random()
    if r < 0.75:
        jkeys = list(gkeys)
        rnd.shuffle(jkeys)
    elif r < 0.9 and len(gkeys) > 1:
        jkeys = gkeys[:-1]
    else:
        jkeys = list(dict.fromkeys(gkeys + [rnd.choice(KEYS)]))
    # the right side
    lpred = _pred(rnd, KEYS + ["v"])  # the left side's filter, also the semi join's below (then implied)
    # one filtered frame on both sides (TPC-DS Q30/Q81's shape: a CTE next to its own group-by)
    shared = None if apart or rnd.random() < 0.8 else f"B.filter({_pred(rnd, KEYS + ['v', 'q'])})"
    src = shared or ("B" if apart else rnd.choice(["A", "B", "B"]))
    right = src
    if rnd.random() < 0.5:
        right += f".filter({_pred(rnd, KEYS + ['v', 'q'])})"
    if rnd.random() < 0.15:  # a nested group-by: fine groups first, then the join keys
        inner = list(dict.fromkeys(gkeys + ["v"]))
        right += f'.group_by({inner!r}).agg(ns.col("q").sum().alias("q"), ns.col("o").min().alias("o"))'
    if rnd.random() < 0.25:  # a semi join below the group-by
        k = rnd.choice(gkeys)
        p = lpred if rnd.random() < 0.5 else _pred(rnd, KEYS + ["v"])
        right += f'.join(A.filter({p}).select("{k}"), on="{k}", how="semi")'
    raggs = _aggs(rnd, "r", ordered=".group_by(" not in right)
    right += f".group_by({gkeys!r}).agg({', '.join(f'{e}.alias({n!r})' for n, e in raggs)})"
    if rnd.random() < 0.5:
        right += f".filter({_having(rnd, raggs)})"
    if rnd.random() < 0.3:  # rename the keys above the group-by
        right += ".rename({" + ", ".join(f'"{k}": "{k}_r"' for k in gkeys) + "})"
        rkeys = [k + "_r" if k in gkeys else k for k in jkeys]
        if any(k not in gkeys for k in jkeys):
            return frame_query(rnd)
    else:
        rkeys = list(jkeys)
    if rnd.random() < 0.2:
        right += f".filter({_having(rnd, raggs)})"
    if rnd.random() < 0.35:  # steps above the group-by that see every group (windows, limits)
        a = rnd.choice(raggs)[0]
        right += rnd.choice([f'.filter(ns.col("{a}").is_duplicated())', f'.filter(ns.col("{a}").is_unique())',
                             f'.filter(ns.col("{a}") >= ns.col("{a}").mean())',
                             f'.with_columns(ns.col("{a}").rank().alias("rk"))',
                             f'.with_columns(ns.col("{a}").sum().alias("tot"))',
                             f'.with_columns((ns.col("{a}") * 2).alias("x2"))',
                             f'.sort({[a] + [k + ("_r" if rkeys != jkeys else "") for k in gkeys]!r}, nulls_last=True).head(2)',
                             '.unique()'])
    # the left side
    left = "A" if apart else shared or rnd.choice(["A", "A", "B"])
    if rnd.random() < 0.7:  # (mostly filtered: fewer keys than the right side, as where the rule pays)
        left += f".filter({lpred if left == 'A' and rnd.random() < 0.6 else _pred(rnd, KEYS + ['v', 'q'])})"
    if apart or rnd.random() < 0.4:  # filtered below its own group-by (b3c9034's shape)
        if apart and ".filter" not in left:
            left += f".filter({_pred(rnd, KEYS + ['v', 'q'])})"
        lkeys = list(dict.fromkeys(jkeys + rnd.sample(KEYS, rnd.randint(0, 2))))
        laggs = _aggs(rnd, "l")
        left += f".group_by({lkeys!r}).agg({', '.join(f'{e}.alias({n!r})' for n, e in laggs)})"
        if rnd.random() < 0.4:
            left += f".filter({_having(rnd, laggs)})"
    how = rnd.choice(["inner", "left", "semi", "anti"])
    nulls = ", nulls_equal=True" if rnd.random() < 0.2 else ""  # (NULL keys match: never reduced)
    if rkeys == jkeys and rnd.random() < 0.7:
        q = f"({left}).join({right}, on={jkeys!r}, how={how!r}{nulls})"
    else:
        q = f"({left}).join({right}, left_on={jkeys!r}, right_on={rkeys!r}, how={how!r}{nulls})"
    if rnd.random() < 0.15:
        q += f".filter({_pred(rnd, jkeys)})"
    return q


def run_frame(data: dict[str, pa.Table], query: str, force: bool = True) -> str:
    """``"fired"`` or ``"same"`` (the rule did not apply) or ``"refused"``; AssertionError on a difference."""
    def th_run() -> tuple[pa.Table, str]:
        A, B = th.from_arrow(data["a"]), th.from_arrow(data["b"])  # noqa: N806,F841
        frame = eval(query, {"ns": th, "A": A, "B": B})
        from thresher.planner.physical import compile as compile_plan
        return frame.to_arrow(), compile_plan(frame.plan).root.spec.program([]).explain()

    # (Polars refuses to join int32 with int64 keys: its reference reads both as int64)
    A, B = (pl.from_arrow(data[n]).lazy().with_columns(pl.col("k1", "k2").cast(pl.Int64)) for n in "ab")  # noqa: N806
    try:
        want = eval(query, {"ns": pl, "A": A, "B": B}).collect().to_arrow()
    except pl.exceptions.PolarsError:
        return "polars-rejects"
    return _forced_off_and_reference(query, data, th_run, want, "polars", force)


def _forced_off_and_reference(query: str, data: dict[str, pa.Table], th_run: Callable[[], tuple[pa.Table, str]],
                              want: pa.Table, reference: str, force: bool) -> str:
    """Run ``th_run`` with the rule forced (or as it is) and switched off; both must give the
    reference's rows. ``fired`` where the lowered programs differ, ``same`` where they do not."""
    try:
        with forced() if force else contextlib.nullcontext(), watched():
            got, program = th_run()
        with disabled():
            off, program_off = th_run()
    except th.ThresherError:
        return "refused"
    a, b, c = _rows(got), _rows(off), _rows(want)
    assert a == b == c, f"{query}\nforced: {sorted(a.items(), key=repr)}\noff: {sorted(b.items(), key=repr)}\n" \
                        f"{reference}: {sorted(c.items(), key=repr)}\ndata: { {n: t.to_pydict() for n, t in data.items()} }\n{program}"
    return "fired" if program != program_off else "same"


# ---------------------------------------------------------------- SQL (Thresher and DuckDB)

def _sql_pred(rnd: random.Random, alias: str, cols: list[str]) -> str:
    c = rnd.choice(cols)
    p = f"{alias}.{c}" if alias else c
    if c == "ks":
        return rnd.choice([f"{p} <> 'b'", f"{p} <> 'a'", f"{p} = 'a'", f"{p} is null"])
    return rnd.choices([f"{p} > {rnd.choice([-1, 0, 1])}", f"{p} <= {rnd.choice([1, 2, 3])}", f"{p} is not null",
                        f"{p} is null"], [3, 3, 2, 1])[0]


def _sql_aggs(rnd: random.Random, prefix: str) -> list[tuple[str, str]]:
    pool = ["count(*)", "sum(q)", "min(v)", "max(v)", "count(q)", "count(distinct v)", "avg(q)", "sum(v)",
            "min(o)", "max(o)", "count(distinct ks)"]
    return [(f"{prefix}{i}", e) for i, e in enumerate(rnd.sample(pool, rnd.randint(1, 3)))]


def _sql_having(rnd: random.Random, aggs: list[tuple[str, str]]) -> str:
    _, e = rnd.choice(aggs)
    return rnd.choice([f"{e} > {rnd.choice([0, 1, 2])}", f"{e} <= {rnd.choice([1, 2, 3])}", f"{e} is not null"])


def sql_query(rnd: random.Random, apart: bool = False) -> str:
    gkeys = _group_keys(rnd)
    r = rnd.random()
    if r < 0.75:
        jkeys = list(gkeys)
    elif r < 0.9 and len(gkeys) > 1:
        jkeys = gkeys[:-1]
    else:
        jkeys = list(dict.fromkeys(gkeys + [rnd.choice(KEYS)]))
    ctes = []
    lpred = _sql_pred(rnd, "", KEYS + ["v"])
    shared = not apart and rnd.random() < 0.2
    if shared:
        ctes.append(f"c as (select * from b where {_sql_pred(rnd, '', KEYS + ['v', 'q'])})")
    rsrc = "c" if shared else "b" if apart else rnd.choice(["a", "b", "b"])
    rwhere = []
    if rnd.random() < 0.5:
        rwhere.append(_sql_pred(rnd, "", KEYS + ["v", "q"]))
    # TPC-H Q21's shape: the left side joined with a filtered table, the right side's input
    # semi-joined with the same table's keys (a semi join the left side's keys imply)
    q21 = not apart and rnd.random() < 0.2
    semi_src = "b" if q21 else "a"
    if q21 or rnd.random() < 0.25:
        k = rnd.choice([x for x in gkeys if x in jkeys] or gkeys)
        p = lpred if q21 or rnd.random() < 0.5 else _sql_pred(rnd, "", KEYS + ["v"])
        rwhere.append(f"{k} in (select {k} from {semi_src} where {p})")
    if rnd.random() < 0.15:  # nested group-by
        inner = ", ".join(dict.fromkeys(gkeys + ["v"]))
        rsrc = f"(select {inner}, sum(q) q, min(o) o, max(ks) ks2 from {rsrc} group by {inner})"
    raggs = _sql_aggs(rnd, "r")
    if "(select" in rsrc and "ks" not in gkeys:
        raggs = [(n, e.replace("ks", "ks2")) for n, e in raggs]
    right = (f"select {', '.join(gkeys)}, {', '.join(f'{e} {n}' for n, e in raggs)} from {rsrc}"
             + (f" where {' and '.join(rwhere)}" if rwhere else "") + f" group by {', '.join(gkeys)}"
             + (f" having {_sql_having(rnd, raggs)}" if rnd.random() < 0.5 else ""))
    if rnd.random() < 0.3:  # steps above the group-by that see every group (windows, limits)
        a = rnd.choice(raggs)[0]
        right = rnd.choice([
            f"select * from (select *, count(*) over () cnt from ({right}) w0) w where cnt > 1",
            f"select * from (select *, rank() over (order by {a}) rk from ({right}) w0) w where rk <= 2",
            f"select * from ({right}) w where {a} >= (select avg({a}) from ({right}) w1)",
            f"select * from ({right}) w order by {a} nulls last, {', '.join(gkeys)} nulls last limit 2",
            f"select distinct * from ({right}) w"])
    lsrc = "c" if shared and rnd.random() < 0.7 else "a" if apart else rnd.choice(["a", "a", "b"])
    left = f"select * from {lsrc}"
    if q21:
        left = (f"select {lsrc}.* from {lsrc} join (select * from b where {lpred}) x on {lsrc}.{k} = x.{k}"
                + (f" where {_sql_pred(rnd, lsrc, KEYS + ['v'])}" if rnd.random() < 0.5 else ""))
    elif rnd.random() < 0.7:
        left += f" where {lpred if lsrc == 'a' and rnd.random() < 0.6 else _sql_pred(rnd, '', KEYS + ['v', 'q'])}"
    lcols = ["k1", "k2", "o", "v", "q"]  # the left side's numeric columns
    if apart or rnd.random() < 0.4:
        if apart and "where" not in left:
            left += f" where {_sql_pred(rnd, '', KEYS + ['v', 'q'])}"
        lkeys = list(dict.fromkeys(jkeys + rnd.sample(KEYS, rnd.randint(0, 2))))
        laggs = _sql_aggs(rnd, "l")
        lcols = [c for c in lkeys if c != "ks"] + [n for n, _ in laggs]
        left = (f"select {', '.join(lkeys)}, {', '.join(f'{e} {n}' for n, e in laggs)} from ({left}) l0 "
                f"group by {', '.join(lkeys)}" + (f" having {_sql_having(rnd, laggs)}" if rnd.random() < 0.4 else ""))
    ctes.append(f"l as ({left})")
    ctes.append(f"r as ({right})")
    cond = " and ".join(f"l.{k} = r.{k}" for k in jkeys)
    form = rnd.choice(["inner", "left", "exists", "not exists", "in", "not in", "scalar", "exists-residual"])
    above = f" and {_sql_pred(rnd, 'l', jkeys)}" if rnd.random() < 0.15 else ""
    if form in ("inner", "left"):
        rcols = ", ".join(f"r.{n}" for n, _ in raggs)
        body = f"select l.*, {rcols} from l {form} join r on {cond}" + (f" where true{above}" if above else "")
    elif form in ("exists", "not exists"):
        body = f"select * from l where {form} (select 1 from r where {cond}){above}"
    elif form == "scalar":  # a correlated scalar subquery: a group-by on the correlated keys (TPC-H Q17)
        bsrc = rnd.choice(["a", "b"])
        corr = " and ".join(f"{bsrc}.{k} = l.{k}" for k in jkeys)
        agg = rnd.choice(["count(*)", "sum(v)", "min(o)", "count(distinct v)", "avg(q) * 2", "max(v) - min(v)"])
        extra = f" and {_sql_pred(rnd, bsrc, ['v', 'q', 'ks'])}" if rnd.random() < 0.5 else ""
        col = rnd.choice([c for c in lcols if c != "ks"] or ["k1"])
        body = (f"select * from l where coalesce(l.{col}, 0) {rnd.choice(['>', '<=', '='])} "
                f"(select {agg} from {bsrc} where {corr}{extra}){above}")
    elif form == "exists-residual":
        body = f"select * from l where exists (select 1 from r where {cond} and r.r0 > 0){above}"
    else:
        body = f"select * from l where l.{jkeys[0]} {form} (select r.{jkeys[0]} from r){above}"
    return "with " + ", ".join(ctes) + " " + body


def run_sql(data: dict[str, pa.Table], query: str, force: bool = True) -> str:
    import duckdb

    con = duckdb.connect()
    for n, t in data.items():
        con.register(n, t)
    try:
        want = con.sql(query).to_arrow_table()
    except duckdb.Error:
        return "duckdb-rejects"

    def th_run() -> tuple[pa.Table, str]:
        frame = th.sql(query, **data)
        from thresher.planner.physical import compile as compile_plan
        return frame.to_arrow(), compile_plan(frame.plan).root.spec.program([]).explain()

    return _forced_off_and_reference(query, data, th_run, want, "duckdb", force)


def fuzz(seed: int, n: int, kind: str, keep_going: bool = False, big: int = 0) -> Counter[str]:
    """``n`` cases of ``kind`` (``frame`` or ``sql``); with ``big`` rows more in table ``b``, at
    the rule's real thresholds (not forced), the left side filtered below its group-by."""
    stats: Counter[str] = Counter()
    for i in range(n):
        rnd = random.Random(f"{seed}-{kind}-{i}")
        data = tables(rnd, big)
        q = frame_query(rnd, big > 0) if kind == "frame" else sql_query(rnd, big > 0)
        run = run_frame if kind == "frame" else run_sql
        try:
            stats[run(data, q, force=not big)] += 1
        except Exception as exc:  # noqa: BLE001
            if not keep_going:
                raise
            stats["FAIL"] += 1
            print(f"=== case {seed}-{kind}-{i}\n{type(exc).__name__}: {exc}\n", flush=True)
    return stats


if __name__ == "__main__":
    import sys

    kind, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    big = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    print(kind, seed, big, dict(fuzz(seed, n, kind, keep_going=True, big=big)), dict(COVERAGE))
