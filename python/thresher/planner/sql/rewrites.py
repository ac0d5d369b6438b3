"""sqlglot AST rewrites that run between sqlglot's optimizer rules and the translation.

``array_any_to_min_max``: sqlglot's ``unnest_subqueries`` decorrelates an ``EXISTS`` whose
correlation has an inequality (TPC-H Q21: ``l2.l_orderkey = l1.l_orderkey AND l2.l_suppkey <>
l1.l_suppkey``) into a left join against ``ARRAY_AGG(l2.l_suppkey)`` per key and a test
``ARRAY_ANY(_u_0._u_1, _x -> _x <> l1.l_suppkey)``. Building a list per group costs about three
times a min/max aggregate, and "some element differs from v" is "min <> v or max <> v", so the
list becomes two aggregates::

    ARRAY_AGG(l2.l_suppkey) AS _u_1          ->  MIN(l2.l_suppkey) AS _u_1__min, MAX(l2.l_suppkey) AS _u_1__max
    ARRAY_ANY(_u_0._u_1, _x -> _x <> v)      ->  (_u_0._u_1__min <> v OR _u_0._u_1__max <> v)

Null elements are ignored either way (the list lowering also compared its min and max), and a
missing group gives NULL, as ``ARRAY_ANY`` over a NULL list does. The rewrite only happens when
every use of the list column is such an ``ARRAY_ANY``.
"""

from __future__ import annotations

import functools
import math
from typing import Any


def count_subquery_to_exists(tree: Any) -> Any:
    """A scalar ``COUNT(*)`` subquery compared with 0 is an (NOT) EXISTS test::

        (SELECT count(*) FROM item WHERE i_manufact = i1.i_manufact AND ...) > 0
            ->  EXISTS (SELECT 1 FROM item WHERE i_manufact = i1.i_manufact AND ...)

    sqlglot does not decorrelate a correlated COUNT (a missing group would read NULL instead of
    0, the "count bug"), but it does decorrelate EXISTS. Exact: COUNT(*) is never NULL, so
    ``> 0``, ``>= 1``, ``<> 0`` are EXISTS and ``= 0``, ``< 1``, ``<= 0`` are NOT EXISTS
    (TPC-DS q41). Only a subquery without GROUP BY, HAVING, LIMIT or DISTINCT qualifies.
    """
    from sqlglot import exp

    positive = {exp.GT: 0, exp.GTE: 1, exp.NEQ: 0}
    negative = {exp.EQ: 0, exp.LT: 1, exp.LTE: 0}

    def count_star_select(node: Any) -> Any:
        while isinstance(node, exp.Paren):
            node = node.this
        if not isinstance(node, exp.Subquery) or not isinstance(node.this, exp.Select):
            return None
        sel = node.this
        if len(sel.expressions) != 1 or any(sel.args.get(k) for k in ("group", "having", "limit", "distinct",
                                                                        "offset", "order")):
            return None
        proj = sel.expressions[0]
        inner = proj.this if isinstance(proj, exp.Alias) else proj
        if not (isinstance(inner, exp.Count) and (inner.this is None or isinstance(inner.this, exp.Star))):
            return None
        return sel

    kinds = tuple(positive) + tuple(negative)
    #: ids of the comparisons in a body moved into an EXISTS: left as they are, as they were
    #: when the body was a copy (those under a replaced node are not visited)
    moved: set[int] = set()

    def rewrite(node: Any) -> Any:
        kind = type(node)
        if (kind not in positive and kind not in negative) or id(node) in moved:
            return node
        sel = count_star_select(node.this)
        other = node.expression
        if sel is None or not (isinstance(other, exp.Literal) and other.is_int):
            return node
        want = positive.get(kind, negative.get(kind))
        if int(other.name) != want:
            return node
        # the select itself, not a copy (the comparison leaves the tree): TPC-DS q41's whole
        # OR of ORs was copied
        moved.update(id(n) for n in sel.find_all(*kinds))
        sel.set("expressions", [exp.Literal.number(1)])
        test: Any = exp.Exists(this=sel)
        return exp.Not(this=test) if kind in negative else test

    return _transform_kinds(tree, kinds, rewrite)


def _transform_kinds(tree: Any, kinds: tuple[type, ...], rewrite: Any) -> Any:
    """``tree.transform(rewrite, copy=False)`` for a ``rewrite`` that returns every node not of
    one of ``kinds`` as it is: only those nodes are visited (``transform`` called back into
    Python for every node of the tree). Ancestors come before descendants here too (a
    breadth-first walk), and the nodes under one ``rewrite`` replaced are skipped, as
    ``transform`` does (they are no longer in the tree)."""
    root: Any = tree
    if isinstance(tree, kinds):
        return root.transform(rewrite, copy=False)
    for node in list(tree.find_all(*kinds)):
        up = node.parent
        while up is not None and up is not tree:
            up = up.parent
        if up is None:
            continue  # under a node already replaced
        new = rewrite(node)
        if new is not node:
            node.replace(new)
    return tree


#: ``meta`` key of a term ``hide_local_ors`` rewrote (copies of the node keep it)
_HIDDEN_OR = "thresher_hidden_or"


def hide_local_ors(tree: Any) -> tuple[Any, bool]:
    """In a correlated subquery, write each OR conjunct that only reads the subquery's own
    tables as ``NOT (NOT x AND NOT y)``; also whether any was rewritten.

    sqlglot refuses to decorrelate a subquery whose WHERE contains any OR, even one that has
    nothing to do with the correlation (TPC-DS q41: ``i_manufact = i1.i_manufact AND (<colors>
    OR <sizes>)``). De Morgan's law holds in three-valued logic, so the test is unchanged; once
    decorrelated the term is an ordinary filter of the grouped subquery. ``show_hidden_ors``
    writes the ORs back after decorrelation.
    """
    from sqlglot import exp

    hidden = False

    for sel in list(tree.find_all(exp.Select)):
        where = sel.args.get("where")
        if sel is tree or where is None or not where.find(exp.Or):
            continue
        frm = sel.args.get("from_") or sel.args.get("from")
        local = ({frm.this.alias_or_name} if frm is not None else set()) | {
            j.this.alias_or_name for j in sel.args.get("joins") or []}
        terms = _conjuncts(where.this)

        def is_local(t: Any, local: set[str] = local) -> bool:
            return all(c.table in local for c in t.find_all(exp.Column)) and not t.find(exp.Select)

        if all(is_local(t) for t in terms):
            continue  # not correlated: nothing to decorrelate
        for t in terms:
            if t.find(exp.Or) and is_local(t):
                rewritten = _de_morgan(t)  # (built of t's own nodes: t leaves the tree)
                rewritten.meta[_HIDDEN_OR] = True
                if rewritten is not t:
                    t.replace(rewritten)
                hidden = True
    return tree, hidden


def show_hidden_ors(tree: Any) -> Any:
    """The terms ``hide_local_ors`` rewrote, as ORs again (``NOT (NOT x AND NOT y)`` -> ``x OR y``).

    ``simplify`` would undo De Morgan's law itself, but slowly: on TPC-DS q41's eight hidden
    branches it took ~60 ms, on the same condition written with ORs ~15 ms, and its result is the
    same (the plans of the 99 TPC-DS and 22 TPC-H queries are identical either way).
    """
    for node in list(tree.walk()):
        if node.meta_get(_HIDDEN_OR):  # (node.meta would give every node an empty dict to copy)
            node.meta.pop(_HIDDEN_OR)
            shown = _show(node)
            if node is tree:
                tree = shown
            else:
                node.replace(shown)
    return tree


def _show(n: Any) -> Any:
    """The inverse of ``_de_morgan``."""
    from sqlglot import exp

    if isinstance(n, exp.Paren):
        return exp.Paren(this=_show(n.this))
    if isinstance(n, exp.Not):
        inner = n.this
        if isinstance(inner, exp.Paren) and isinstance(inner.this, exp.And):
            parts = list(inner.this.flatten())
            if all(isinstance(p, exp.Not) and isinstance(p.this, exp.Paren) for p in parts):
                return exp.or_(*(_show(p.this.this) for p in parts), copy=False)
        return exp.Not(this=_show(inner))
    if isinstance(n, exp.And):
        return exp.and_(*(_show(p) for p in n.flatten()), copy=False)
    return n


def _conjuncts(node: Any) -> list[Any]:
    from sqlglot import exp

    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    if isinstance(node, exp.And):
        return [t for part in (node.this, node.expression) for t in _conjuncts(part)]
    return [node]


def _de_morgan(node: Any) -> Any:
    """``a OR b`` as ``NOT (NOT a AND NOT b)``, recursively (no OR is left), built of ``node``'s own
    leaves (moved, not copied: every new AND takes its fresh parts as they are; copying them
    at each level copied each branch once per level of nesting, TPC-DS q41 ~1.5 ms)."""
    from sqlglot import exp

    def go(n: Any) -> Any:
        if isinstance(n, exp.Paren):
            return exp.Paren(this=go(n.this))
        if isinstance(n, exp.Or):
            parts = [exp.Not(this=exp.Paren(this=go(p))) for p in list(n.flatten())]
            return exp.Not(this=exp.Paren(this=exp.and_(*parts, copy=False)))
        if isinstance(n, exp.And):
            return exp.and_(*[exp.Paren(this=go(p)) for p in list(n.flatten())], copy=False)
        if isinstance(n, exp.Not):
            return exp.Not(this=go(n.this))
        return n

    return go(node)


def factor_or_conjuncts(tree: Any) -> Any:
    """Pull the conjuncts every branch of an OR shares out of it::

        (a = b AND x) OR (a = b AND y)   ->   a = b AND (x OR y)

    TPC-DS q13/q48 put their join keys inside each OR branch: without this the join is planned
    as a cross join with a filter. q41 correlates a scalar subquery inside OR branches, which
    sqlglot cannot decorrelate until the correlation is pulled out. The rewrite is exact under
    SQL's three-valued logic (AND and OR distribute over each other there too); where a branch
    is nothing but shared conjuncts the OR is dropped (``(a AND x) OR a`` is ``a``).
    """
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect

    # a conjunct's identity is its SQL text (what ``c.sql()`` gives), written by one generator
    # and once per conjunct (each ``c.sql()`` builds a generator: TPC-H q19 4.5 -> 1 ms)
    generator = Dialect.get_or_raise(None).generator()

    def conjuncts(node: Any) -> list[Any]:
        while isinstance(node, exp.Paren):
            node = node.this
        return list(node.flatten()) if isinstance(node, exp.And) else [node]

    def unparen(node: Any) -> Any:
        while isinstance(node, exp.Paren):
            node = node.this
        return node

    def rewrite(node: Any) -> Any:
        if not isinstance(node, exp.Or):
            return node
        if isinstance(node.parent, exp.Or) or (isinstance(node.parent, exp.Paren)
                                                and isinstance(node.parent.parent, exp.Or)):
            return node  # the outermost OR of a chain handles it
        branches = [conjuncts(b) for b in (unparen(x) for x in node.flatten())]
        if len(branches) < 2:
            return node
        # branch by branch, stopping at the first that shares none of the first's conjuncts (most
        # ORs: TPC-DS q88 wrote one of three branches in each of eight WHEREs)
        texts: list[list[str]] = []
        keyed: list[dict[str, Any]] = []
        candidates: set[str] | None = None
        for b in branches:
            t = [generator.generate(c) for c in b]
            texts.append(t)
            keyed.append(dict(zip(t, b)))
            candidates = set(t) if candidates is None else candidates & set(t)
            if not candidates:
                return node
        common = [k for k in keyed[0] if all(k in other for other in keyed[1:])]
        if not common:
            return node
        rests = [[c for c, k in zip(b, t) if k not in common] for b, t in zip(branches, texts)]
        shared = [keyed[0][k].copy() for k in common]
        wrap = (lambda x: x) if isinstance(node.parent, (exp.Where, exp.And)) else (lambda x: exp.Paren(this=x))
        # every part is a fresh copy already: and_/or_ need not copy it again
        if any(not r for r in rests):
            return wrap(exp.and_(*shared, copy=False))
        ors = exp.or_(*(exp.Paren(this=exp.and_(*(c.copy() for c in r), copy=False)) for r in rests), copy=False)
        return wrap(exp.and_(*shared, exp.Paren(this=ors), copy=False))

    return _transform_kinds(tree, (exp.Or,), rewrite)


def array_any_to_min_max(tree: Any) -> Any:
    from sqlglot import exp

    if tree.find(exp.ArrayAgg) is None:
        return tree  # (it rewrites ARRAY_AGG projections only: no Python walk over every column)
    uses: dict[tuple[str, str], list[Any]] = {}
    for col in tree.find_all(exp.Column):
        if col.table:
            uses.setdefault((col.table, col.name), []).append(col)
    for sub in list(tree.find_all(exp.Subquery)):
        inner = sub.this
        if not isinstance(inner, exp.Select) or not sub.alias:
            continue
        for proj in list(inner.expressions):
            if not (isinstance(proj, exp.Alias) and isinstance(proj.this, exp.ArrayAgg)):
                continue
            refs = uses.get((sub.alias, proj.alias), [])
            tests = [_ne_test(r) for r in refs]
            if not refs or any(t is None for t in tests):
                continue
            arg = proj.this.this
            lo, hi = f"{proj.alias}__min", f"{proj.alias}__max"
            proj.replace(exp.alias_(exp.Min(this=arg.copy()), lo))
            inner.append("expressions", exp.alias_(exp.Max(this=arg.copy()), hi))
            for test in tests:
                assert test is not None
                any_node, value = test
                cond = exp.or_(
                    exp.NEQ(this=exp.column(lo, table=sub.alias), expression=value.copy()),
                    exp.NEQ(this=exp.column(hi, table=sub.alias), expression=value.copy()),
                )
                any_node.replace(exp.Paren(this=cond))
    return tree


def _ne_test(ref: Any) -> tuple[Any, Any] | None:
    """``(array_any_node, v)`` when ``ref`` is the list of ``ARRAY_ANY(ref, x -> x <> v)``."""
    from sqlglot import exp

    node = ref.parent
    if not (isinstance(node, exp.ArrayAny) and node.this is ref):
        return None
    lam = node.expression
    if not (isinstance(lam, exp.Lambda) and len(lam.expressions) == 1 and isinstance(lam.this, exp.NEQ)):
        return None
    var = lam.expressions[0].name
    a, b = lam.this.this, lam.this.expression

    def is_var(n: Any) -> bool:
        return isinstance(n, (exp.Column, exp.Identifier)) and n.name == var and not getattr(n, "table", "")

    def mentions_var(n: Any) -> bool:
        return any(is_var(x) for x in n.walk())

    if is_var(a) and not mentions_var(b):
        return node, b
    if is_var(b) and not mentions_var(a):
        return node, a
    return None


#: ``meta`` key of each occurrence of an OR conjunct ``normalize_sharing`` normalized once (its text)
_SHARED_CNF = "thresher_shared_cnf"
#: root ``meta`` key of a lazy ``normalize_sharing``'s normal forms (conjunct text -> its normal form)
_SHARED_FORMS = "thresher_shared_forms"


def presimplify_shared(tree: Any, simplify: Any) -> Any:
    """Simplify once each conjunct ``normalize_sharing`` shared, and put a copy of the result
    in every WHERE that has it, before ``simplify`` runs over the whole tree.

    On TPC-DS q88 the shared OR's conjunctive normal form is eight clauses in each of eight
    WHEREs; simplifying each WHERE merged and absorbed them again (~4.5 ms a WHERE). Given
    the clauses already simplified (three), a WHERE takes ~2.4 ms and the tree's plans are the
    same (checked on the 99 TPC-DS and 22 TPC-H queries and in tests). ``simplify`` keeps the
    meaning whatever it is given, so a query where it would stop at another equivalent form
    still gets a right plan. Each WHERE that got such a conjunct is then written in the order
    ``simplify`` leaves it in (see ``_sort_conjuncts``).
    """
    from sqlglot import exp

    memo: dict[str, Any] = {}
    forms: dict[str, Any] = tree.meta.pop(_SHARED_FORMS, None) or {}
    for where in list(tree.find_all(exp.Where)):
        cond = where.this
        shared = False
        for part in list(cond.flatten(unnest=False) if isinstance(cond, exp.And) else [cond]):
            key = part.meta_get(_SHARED_CNF) if isinstance(part, exp.Paren) else None
            if key is None:
                continue
            part.meta.pop(_SHARED_CNF)
            if key not in memo:  # (a lazy normalize_sharing left the later occurrences as written)
                memo[key] = simplify(forms.get(key, part).copy())
            new = memo[key].copy()
            part.replace(exp.Paren(this=new) if isinstance(new, exp.Connector) else new)
            shared = True
        if shared:
            _sort_conjuncts(where)
    return tree


def sort_plain_wheres(tree: Any) -> None:
    """Write each WHERE that is an AND of conjuncts without NOT, IS or OR in ``simplify``'s order
    (see ``_sort_conjuncts``), and each WHERE of ANDs and ORs without NOT, IS, NULL or a subquery
    in the order ``simplify`` settles such a condition in (see ``_sort_connectives``), in place,
    before the whole tree's ``simplify``.

    Such a WHERE (join keys, comparisons with constants, IN lists, BETWEEN, CASE comparisons)
    took ``simplify`` two or three passes, the first mostly sorting it and turning comparisons;
    given it sorted, one or two (TPC-DS: q04 ~6.9 -> ~4.1 ms of simplify, q64 ~7.5 -> ~5.1,
    q23 ~3.9 -> ~2.2, q14 ~7.7 -> ~6.4). Where ``simplify`` rewrites a NOT or an IS (decorrelated
    EXISTS: ``NOT x IS NOT NULL``), the order it met them in can change the form it stops at
    (TPC-DS q16, q69, q94, TPC-H q22), so those WHEREs are left as they are. The sort keeps the
    meaning (operands of an AND or an OR reordered, a repeated one dropped, comparisons turned,
    a TRUE conjunct dropped); the plans of the 99 TPC-DS and 22 TPC-H queries are the same with
    it and without it."""
    from sqlglot import exp

    for where in list(tree.find_all(exp.Where)):
        cond = where.this
        if isinstance(cond, exp.And) and not cond.find(exp.Not, exp.Is, exp.Or):
            _sort_conjuncts(where)
        elif (cond.find(exp.Or) and not cond.find(exp.Not, exp.Is, exp.Null, exp.Query)
              and all(b.this is True and isinstance(b.parent, exp.And) for b in cond.find_all(exp.Boolean))):
            _sort_connectives(where)


def _sort_connectives(where: Any) -> None:
    """Write ``where``'s condition of ANDs and ORs as ``simplify`` settles it: each AND and OR
    flattened (through parentheses), its operands settled the same way first, then deduplicated
    and sorted by ``simplify``'s text of each (its ``uniq_sort``), a TRUE conjunct dropped, each
    comparison turned the way ``simplify`` turns it (``_sort_conjuncts`` does this for one AND).

    ``simplify`` sorts an OR's operands before it sorts theirs (a pre-order step), so an OR of
    ANDs of ORs came out of its first pass sorted by its operands' old texts, the second pass
    sorted it again, and a third found nothing to do. Settled bottom-up here, the first pass
    finds nothing to sort (TPC-DS q41, an OR of eight ANDs of ORs: ~8.4 -> ~3.7 ms of simplify,
    this sort included; q13 ~3.4 -> ~1.4, q48 ~3.1 -> ~1.1, q85 ~4.0 -> ~1.2, TPC-H q19 ~2.9 ->
    ~2.2). The simplified trees of the 99 TPC-DS and 22 TPC-H queries are the same with it and
    without it; a sqlglot that orders otherwise only takes its passes again."""
    from sqlglot import exp

    order = _simplify_order()
    if order is None:
        return
    turn, gen = order
    simplifier = _simplifier()

    def settle(e: Any) -> Any:
        kind = type(e)
        if kind is not exp.And and kind is not exp.Or:
            return turn(simplifier, e)
        ops: list[Any] = []

        def collect(x: Any) -> None:
            u = x.unnest() if isinstance(x, exp.Paren) else x
            if type(u) is kind:
                collect(u.this)
                collect(u.expression)
            else:
                ops.append(u)

        collect(e)
        settled = [settle(op) for op in ops if not (kind is exp.And and isinstance(op, exp.Boolean))]
        keys = [gen(op) for op in settled]  # (TRUE AND x is x; the caller refuses a FALSE)
        if not settled:
            return e
        if len(settled) == len(ops) and all(a < b for a, b in zip(keys, keys[1:])):
            # sorted already, nothing repeated: uniq_sort keeps the connector's own nesting
            leaves = iter(settled)

            def rebuild(x: Any) -> Any:
                u = x.unnest() if isinstance(x, exp.Paren) else x
                if type(u) is kind:
                    return kind(this=rebuild(u.this), expression=rebuild(u.expression))
                leaf = next(leaves)
                return exp.paren(leaf, copy=False) if isinstance(leaf, exp.Connector) else leaf

            return rebuild(e)
        deduped = dict(zip(keys, settled))  # (uniq_sort's dict: the last of equal operands)
        if len(deduped) == 1:
            return next(iter(deduped.values()))
        combine = exp.and_ if kind is exp.And else exp.or_  # (each connector operand in parentheses)
        return combine(*(op for _, op in sorted(deduped.items(), key=lambda kv: kv[0])), copy=False)

    where.set("this", settle(where.this.unnest()))


def _sort_conjuncts(where: Any) -> None:
    """Write ``where``'s condition as ``simplify`` leaves an AND of conjuncts it has nothing else
    to do to: flattened, each comparison turned the way ``simplify`` turns it, duplicates
    dropped and the rest sorted by ``simplify``'s text of each (its ``uniq_sort``).

    ``simplify`` repeats its pass over a condition until a pass changes nothing. Given a WHERE
    whose shared conjunct ``presimplify_shared`` put back already simplified, its first pass
    flattened and sorted the AND and turned comparisons, its second sorted again (a turned
    comparison sorts elsewhere) and the third found nothing to do; given the WHERE in that
    order, the first pass finds nothing (TPC-DS q88: eight WHEREs, the whole tree's simplify
    ~22 -> ~7 ms; its plans are the same). Reordering conjuncts, dropping a repeated one and
    turning ``a < b`` into ``b > a`` keep the meaning, so a sqlglot that orders otherwise only
    takes its passes again."""
    from sqlglot import exp

    order = _simplify_order()
    if order is None:
        return
    turn, gen = order
    ops: list[Any] = []

    def collect(e: Any) -> None:  # (what And.flatten() gives, through nested parenthesized ANDs too)
        u = e.unnest() if isinstance(e, exp.Paren) else e
        if isinstance(u, exp.And):
            collect(u.this)
            collect(u.expression)
        else:
            ops.append(u)

    collect(where.this)
    simplifier = _simplifier()
    deduped = {}
    for op in ops:
        op = turn(simplifier, op)
        deduped[gen(op)] = op  # (uniq_sort's dict: the first one's place, the last one)
    where.set("this", exp.and_(*(op for _, op in sorted(deduped.items(), key=lambda kv: kv[0])), copy=False))


def _simplify_order() -> tuple[Any, Any] | None:
    """simplify's own ``(sort_comparison, gen)``: not sqlglot's public API, so another sqlglot
    may lack it (None: the caller leaves the tree to simplify)."""
    try:
        from sqlglot.optimizer.simplify import Simplifier, gen
    except ImportError:
        return None
    turn = getattr(Simplifier, "sort_comparison", None)
    return None if turn is None else (turn, gen)


@functools.cache
def _simplifier() -> Any:
    """The Simplifier whose sort_comparison _sort_conjuncts uses (it holds no state between calls)."""
    from sqlglot.optimizer.simplify import Simplifier

    return Simplifier(annotate_new_expressions=False)


def normalize_sharing(tree: Any, lazy: bool = False) -> Any:
    """sqlglot's ``normalize`` (conjunctive normal form), each repeated OR conjunct normalized once.

    TPC-DS q88 has eight subqueries whose WHERE clauses share one OR of ANDs
    (``(hd_dep_count = 4 AND hd_vehicle_count <= 4 + 2) OR ...``); sqlglot deep-copies every
    WHERE and distributes each copy of that OR on its own (~3/4 of q88's normalize time). Here
    the first occurrence is distributed in place and the others become copies of its result.

    The result is the tree ``normalize(tree)`` gives: this is its loop (same connectors, same
    order, same distance limit and the same early return), and a WHERE's conjuncts are
    distributed independently there too (``distributive_law`` only recurses into an AND's
    operands, and an already normalized operand is returned as it is), so a conjunct's normal
    form does not depend on its neighbours. The sharing only applies to a WHERE condition
    without a subquery (``distributive_law`` would also rewrite the subquery's conditions)
    or BETWEEN, whose every conjunct still to normalize is a parenthesized OR written at least twice in the
    query; any other connector goes through sqlglot's steps unchanged. Where sqlglot gives up
    on a connector (``OptimizeError``) the condition is put back as it was, as sqlglot does.

    ``lazy``: the later occurrences of a shared conjunct are left as written, marked, instead of
    becoming copies of its normal form: ``presimplify_shared`` replaces every occurrence with a
    simplified copy of that form anyway (the root's meta holds the forms for it). Only for a
    tree no pass between the two reads (no query in an expression, no CTE: see
    ``_sqlglot_passes``); TPC-DS q88: seven copies of an eight-clause CNF not made.
    """
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import OptimizeError
    from sqlglot.optimizer.normalize import normalize, normalized

    try:  # normalize's own steps: not sqlglot's public API, so another sqlglot may lack them
        from sqlglot.helper import while_changing
        from sqlglot.optimizer.normalize import distributive_law, normalization_distance
        from sqlglot.optimizer.simplify import Simplifier
    except ImportError:
        return normalize(tree)

    max_distance = 128
    tops = [n for n in tree.walk(prune=lambda e: isinstance(e, exp.Connector)) if isinstance(n, exp.Connector)]
    pending = [n for n in tops if not normalized(n)]
    if len(pending) < 2 or any(n is tree for n in pending):
        return normalize(tree) if pending else tree
    generator = Dialect.get_or_raise(None).generator()

    def shareable(node: Any) -> list[Any] | None:
        """The conjuncts to normalize of a WHERE condition the sharing applies to."""
        if not isinstance(node.parent, exp.Where) or node.find(exp.Query, exp.Between):
            return None  # (no BETWEEN: normalize's rewrite_between leaves the condition as it is)
        # (flatten() looks through parentheses: the parts are the ORs, each inside a Paren)
        parts = [p for p in (node.flatten() if isinstance(node, exp.And) else [node]) if not normalized(p)]
        if not parts or not all(isinstance(p, exp.Or) and isinstance(p.parent, exp.Paren) for p in parts):
            return None
        return [p.parent for p in parts]

    candidates = {id(n): parts for n in pending if (parts := shareable(n)) is not None}
    texts: dict[int, str] = {}
    counts: dict[str, int] = {}
    for parts in candidates.values():
        for p in parts:
            texts[id(p)] = key = generator.generate(p)
            counts[key] = counts.get(key, 0) + 1
    if not any(c > 1 for c in counts.values()):
        return normalize(tree)
    simplifier = Simplifier(annotate_new_expressions=False)
    done: dict[str, Any] = {}  # conjunct text -> its normal form (a Paren in the tree)
    if lazy:
        tree.meta[_SHARED_FORMS] = done  # (presimplify_shared takes it)
    for node in tops:
        if normalized(node):
            continue
        parts = candidates.get(id(node))
        if parts is None or any(counts[texts[id(p)]] < 2 for p in parts):
            # sqlglot's own steps for this connector (normalize's loop body)
            root = node is tree
            original = node.copy()
            node.transform(simplifier.rewrite_between, copy=False)
            if normalization_distance(node, max_=max_distance) > max_distance:
                return tree
            try:
                node = node.replace(while_changing(
                    node, lambda e: distributive_law(e, False, max_distance, simplifier=simplifier)))
            except OptimizeError:
                node.replace(original)
                return original if root else tree
            if root:
                tree = node
            continue
        if normalization_distance(node, max_=max_distance) > max_distance:
            return tree
        undo: list[tuple[Any, Any]] = []  # (node now in the tree, what it replaced)
        try:
            for p in parts:
                key = texts[id(p)]
                if key in done:
                    if lazy:  # (left as written: presimplify_shared puts its simplified normal form here)
                        p.meta[_SHARED_CNF] = key
                        undo.append((p, None))
                        continue
                    new = done[key].copy()
                    p.replace(new)
                    undo.append((new, p))
                    continue
                inner = p.this
                saved = inner.copy()
                undo.append((inner, saved))
                result = while_changing(
                    inner, lambda e: distributive_law(e, False, max_distance, simplifier=simplifier))
                inner.replace(result)
                undo[-1] = (result, saved)
                p.meta[_SHARED_CNF] = key  # (copies keep it: see presimplify_shared)
                done[key] = p
        except OptimizeError:
            for now, before in reversed(undo):
                if before is None:
                    now.meta.pop(_SHARED_CNF, None)
                else:
                    now.replace(before)
            return tree
    return tree


#: name prefix of the stand-in columns ``set_aside_local_ors`` leaves in a WHERE
_ASIDE = "__thresher_or_"


def set_aside_local_ors(tree: Any) -> list[tuple[Any, Any]]:
    """Replace each conjunct of a WHERE that is an OR with an AND under it and reads the columns
    of one table only by a stand-in column, in place, so that the whole tree's ``normalize`` and
    ``simplify`` pass over a plain conjunct; ``put_back_local_ors`` then puts each one back in
    the form those passes gave it, normalized and simplified once per text. Returns (stand-in,
    conjunct) pairs.

    TPC-DS q88 writes one such OR (three ANDs) in each of eight WHEREs: its normal form is eight
    clauses, merged back into four by ``simplify``; the sharing in ``normalize_sharing`` and
    ``presimplify_shared`` still distributed, copied, simplified and sorted it per WHERE, and the
    whole tree's ``simplify`` took its passes over each copy (q88: ~46 -> ~43 ms CPU per
    planning). The plans of the 99 TPC-DS and 22 TPC-H queries are the same either way (a
    conjunct's normal form does not depend on its neighbours, see ``normalize_sharing``). Only
    for a tree without a query in an expression: decorrelation reads conditions' columns.

    """
    from sqlglot import exp

    out: list[tuple[Any, Any]] = []
    for part, _, tables in _where_ors_of_ands(tree):
        if len(tables) != 1 or "" in tables:
            continue
        stand_in = exp.column(f"{_ASIDE}{len(out)}")
        part.replace(stand_in)
        out.append((stand_in, part))
    return out


def _where_ors_of_ands(tree: Any) -> list[tuple[Any, Any, set[str]]]:
    """``(conjunct, the OR inside its parentheses, the tables its columns name)`` for each WHERE
    conjunct that is an OR holding an AND and no query, found before any is replaced."""
    from sqlglot import exp

    found = []
    for where in list(tree.find_all(exp.Where)):
        for part in _conjuncts(where.this):
            node = part
            while isinstance(node, exp.Paren):
                node = node.this
            if isinstance(node, exp.Or) and node.find(exp.And) is not None and node.find(exp.Query) is None:
                found.append((part, node, {c.table for c in node.find_all(exp.Column)}))
    return found


def set_aside_ors_across_tables(tree: Any) -> list[tuple[Any, Any]]:
    """Replace each conjunct of a WHERE that ``_kept_as_written`` keeps (an OR of ANDs over
    several tables) by a stand-in column, in place, so that the whole tree's ``normalize`` and
    ``simplify`` leave it as written; ``put_back_local_ors`` puts it back so. Only for a tree
    without a query in an expression (whatever passes run: decorrelation reads conditions'
    columns), so that every set of passes gives the same plans."""
    from sqlglot import exp

    out: list[tuple[Any, Any]] = []
    if query_in_expression(tree):
        return out
    for part, node, tables in _where_ors_of_ands(tree):
        if len(tables) < 2 or "" in tables or not _kept_as_written(node):
            continue
        stand_in = exp.column(f"{_ASIDE}{_AS_WRITTEN}{len(out)}")
        part.replace(stand_in)
        out.append((stand_in, part))
    return out


def query_in_expression(tree: Any) -> bool:
    """Whether a query sits in an expression (a subquery in a condition or a select list, EXISTS,
    IN, a table function) rather than only as a FROM/JOIN item, a CTE or a set operation's branch
    (``translate._tree_kinds``'s ``nested``, without its pass guards)."""
    from sqlglot import exp

    places = (exp.From, exp.Join, exp.CTE, exp.SetOperation)
    for node in tree.walk():
        if node is tree:
            continue
        if isinstance(node, exp.UDTF):
            return True
        if isinstance(node, (exp.Select, exp.SetOperation)):
            up = node.parent
            while isinstance(up, (exp.Subquery, exp.Paren)):
                up = up.parent
            if up is not None and not isinstance(up, places):
                return True
    return not isinstance(tree, exp.Query)


#: the stand-in name of a conjunct put back as written (see ``_kept_as_written``)
_AS_WRITTEN = "w"
#: the most CNF clauses an OR over several tables may have to be kept as written (the optimizer's
#: predicate_pushdown writes the same ones for its one-sided clauses: MAX_CNF_CLAUSES)
_MAX_KEPT_CLAUSES = 8


def _kept_as_written(node: Any) -> bool:
    """An OR of ANDs over several tables whose every comparison reads one table (no join
    condition inside) and whose normal form is small: it is put back as written, and the
    optimizer's predicate_pushdown sends its one-sided clauses down and keeps it whole above the
    join, as for the DataFrame API. TPC-H Q7's nation pair: Polars derives each nation's filter
    from it and, with the nations as is_in lists, filters lineitem's scan by the join keys while
    it runs; its conjunctive normal form (two clauses over both nations) does not let it."""
    from sqlglot import exp

    branches = list(node.flatten())
    sizes = []
    for b in branches:
        while isinstance(b, exp.Paren):
            b = b.this
        atoms = list(b.flatten()) if isinstance(b, exp.And) else [b]
        for a in atoms:
            while isinstance(a, exp.Paren):
                a = a.this
            if isinstance(a, (exp.Or, exp.And)) or len({c.table for c in a.find_all(exp.Column)}) != 1:
                return False
        sizes.append(len(atoms))
    return len(branches) >= 2 and math.prod(sizes) <= _MAX_KEPT_CLAUSES


def put_back_local_ors(tree: Any, aside: list[tuple[Any, Any]], simplify: Any = None) -> Any:
    """The conjuncts ``set_aside_local_ors`` took out, back where their stand-ins are now.

    With ``simplify`` (after the whole tree's ``simplify``), each conjunct is put back
    simplified, once per text (TPC-DS q88: one OR in eight WHEREs), and each WHERE that got one
    is written in the order ``simplify`` leaves an AND in (see ``_sort_conjuncts``). A stand-in
    that ``simplify`` dropped (``x AND FALSE``) takes its conjunct with it."""
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect

    if not aside:
        return tree
    parts = {stand_in.name: part for stand_in, part in aside}
    generator = Dialect.get_or_raise(None).generator() if simplify is not None else None
    memo: dict[str, Any] = {}
    wheres: dict[int, Any] = {}
    for col in list(tree.find_all(exp.Column)):
        part = parts.pop(col.name, None) if col.name.startswith(_ASIDE) and not col.table else None
        if part is None:
            continue
        if col.name.startswith(_ASIDE + _AS_WRITTEN):
            part = part.copy()
        elif generator is not None:
            key = generator.generate(part)
            if key not in memo:
                memo[key] = simplify(part)
            new = memo[key].copy()
            part = exp.Paren(this=new) if isinstance(new, exp.Connector) else new
            where = col.find_ancestor(exp.Where)
            if where is not None:
                wheres[id(where)] = where
        if col is tree:
            return part
        col.replace(part)
    for where in wheres.values():
        if isinstance(where.this, exp.And):
            _sort_conjuncts(where)
    return tree


class LiftRefused(ValueError):
    """A grouped query shape ``lift_grouped_subqueries`` leaves out (the message names it)."""


def lift_grouped_subqueries(tree: Any) -> Any:
    """A grouped SELECT (GROUP BY, or an aggregate) whose select list holds a subquery (``x IN
    (q)``, ``EXISTS (q)``, a scalar ``(q)``), or whose HAVING holds an IN or EXISTS, becomes the
    grouped query in a derived table and the subqueries in a SELECT over it::

        SELECT g, g IN (SELECT y FROM u) AS m, count(*) AS c FROM t GROUP BY g
            ->  SELECT _lift._k0 AS g, _lift._l0 IN (SELECT y FROM u) AS m, _lift._k2 AS c
                FROM (SELECT t.g AS _l0, t.g AS _k0, count(*) AS _k2 FROM t GROUP BY t.g) AS _lift

    Decorrelation joins a subquery's rows onto the rows of the query it sits in, and a column
    of those rows in a grouped select list is neither grouped nor aggregated; over the derived
    table there is one row per group, which is what the subquery is evaluated for. Inside a
    subquery target, every aggregate and every column of the grouped query's own tables (also
    one a correlated subquery reads) becomes a column of the derived table; ORDER BY, LIMIT,
    OFFSET and DISTINCT move out with them. A subquery inside an aggregate is evaluated per input
    row and stays (so does one in an aggregate's FILTER). Refused (raises ``LiftRefused`` naming
    the shape; the caller adds the position):
    a window function beside a subquery in HAVING.

    A GROUP BY key holding a subquery is first evaluated per row (``_pregrouped``): the rows go
    into a derived table with the key as a column, and the grouped query reads that.
    """
    from sqlglot import exp

    for select in reversed(list(tree.find_all(exp.Select))):  # (inner queries first: find_all is breadth first)
        pre = _pregrouped(select)
        outer = _lifted_select(pre if pre is not None else select)
        if outer is None:
            outer = pre
        if outer is None:
            continue
        if select is tree:
            tree = outer
        else:
            select.replace(outer)
    return tree


_LIFT = "_lift"


def _own_nodes(node: Any, kinds: tuple[type, ...]) -> list[Any]:
    """``node``'s nodes of ``kinds`` outside nested queries, aggregates and FILTERs (walked by
    hand: ``find_all`` cannot prune)."""
    from sqlglot import exp

    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, kinds):
            out.append(n)
            continue
        if n is not node and isinstance(n, (exp.Query, exp.AggFunc, exp.Filter)):
            continue
        stack.extend(n.iter_expressions())
    return out


def _is_subquery_target(node: Any) -> bool:
    from sqlglot import exp

    return not isinstance(node, exp.In) or node.args.get("query") is not None


def _lifted_select(select: Any) -> Any:
    """``select`` as a SELECT over its grouped self (``lift_grouped_subqueries``), or None where
    it is not grouped or holds no subquery to lift."""
    from sqlglot import exp

    kinds = (exp.Subquery, exp.Exists, exp.In)
    items = select.expressions
    having = select.args.get("having")
    item_targets = [i for i in items if any(_is_subquery_target(n) for n in _own_nodes(i, (*kinds, exp.Any, exp.All)))]
    having_target = having is not None and any(
        isinstance(n, (exp.Exists, exp.In)) and _is_subquery_target(n) or isinstance(n, (exp.Any, exp.All))
        for n in _own_nodes(having.this, (*kinds, exp.Any, exp.All)))
    if not item_targets and not having_target:
        return None
    scopes = [*items, *([having.this] if having is not None else [])]
    group = select.args.get("group")
    if group is None and not any(_own_nodes(x, (exp.AggFunc, exp.Filter)) for x in scopes):
        return None
    qualify = select.args.get("qualify")
    # windows run after HAVING: where HAVING moves out, so do they (over the derived table's
    # rows, one per group kept), else each is a column of the grouped query
    windows_out = having_target
    if windows_out:
        item_targets += [i for i in items if i not in item_targets and _own_nodes(i, (exp.Window,))]
    sources = _source_aliases(select)
    taken = {i.alias_or_name for i in items}
    inner_items: list[Any] = []
    lifted: dict[str, str] = {}

    def fresh(base: str) -> str:
        while base in taken:
            base += "_"
        taken.add(base)
        return base

    def ref(node: Any) -> Any:
        key = node.sql()
        if key not in lifted:
            lifted[key] = fresh(f"_l{len(lifted)}")
            inner_items.append(_as(node.copy(), lifted[key]))
        return exp.column(lifted[key], table=_LIFT)

    def walk(node: Any, shadow: frozenset[str], top: Any) -> Any:
        # (FILTER: its aggregate's; a window: computed over the groups, in the grouped query)
        if isinstance(node, exp.Window) and not shadow:
            if not windows_out:
                return ref(node)
            for key, child in list(node.args.items()):  # (the window's own function stays, its arguments lift)
                if key == "this" and isinstance(child, exp.AggFunc):
                    _walk_children(child, shadow, top, walk)
                elif isinstance(child, exp.Expression):
                    node.set(key, walk(child, shadow, top))
                elif isinstance(child, list):
                    node.set(key, [walk(c, shadow, top) if isinstance(c, exp.Expression) else c for c in child])
            return node
        if isinstance(node, (exp.AggFunc, exp.Filter)) and not shadow:
            return ref(node)
        if isinstance(node, exp.Column):
            return ref(node) if node.table in sources and node.table not in shadow else node
        return _walk_children(node, shadow, top, walk)

    def lift(x: Any) -> Any:
        """``x`` (grouped scope) with its aggregates, windows and own-table columns as ``_lift`` columns."""
        copy = x.copy()
        return walk(copy, frozenset(), copy)

    outer_items = []
    for item in items:
        if item in item_targets:
            outer_items.append(_as(lift(item.unalias()), item.alias_or_name))
        else:  # (under a name of its own: an ORDER BY name is then the output's, not the derived table's)
            name = fresh(f"_k{len(outer_items)}")
            inner_items.append(_as(item.unalias().copy(), name))
            outer_items.append(_as(exp.column(name, table=_LIFT), item.alias_or_name))
    outer_where = lift(having.this) if having_target else None
    outer_qualify = None
    if qualify is not None:  # (after the windows, before DISTINCT, ORDER BY, LIMIT)
        outer_qualify = lift(qualify.this)
        if not windows_out:  # (the windows are columns: a WHERE over them)
            outer_where = outer_qualify if outer_where is None else exp.and_(outer_where, outer_qualify, copy=False)
            outer_qualify = None
    order = select.args.get("order")
    outer_order = None
    if order is not None:
        outer_order = exp.Order(expressions=[
            o if not any(c.table in sources for c in o.find_all(exp.Column)) and not o.find(exp.AggFunc)
            else lift(o) for o in order.expressions])
    inner = select.copy()
    for key in ("order", "limit", "offset", "distinct", "qualify"):
        inner.set(key, None)
    if having_target:
        inner.set("having", None)
    inner.set("expressions", inner_items)
    outer = exp.Select(expressions=outer_items).from_(
        exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(_LIFT))), copy=False)
    if outer_where is not None:
        outer.set("where", exp.Where(this=outer_where))
    if outer_qualify is not None:
        outer.set("qualify", exp.Qualify(this=outer_qualify))
    for key, value in (("order", outer_order), ("limit", select.args.get("limit")),
                       ("offset", select.args.get("offset")), ("distinct", select.args.get("distinct"))):
        if value is not None:
            outer.set(key, value.copy())
    return outer


def _walk_children(node: Any, shadow: frozenset[str], top: Any, walk: Any) -> Any:
    """``node`` with ``walk(child, shadow, top)`` put in place of each child; a nested SELECT adds
    its own tables to ``shadow`` (they hide the grouped query's)."""
    from sqlglot import exp

    if isinstance(node, exp.Select) and node is not top:
        shadow = shadow | _source_aliases(node)
    for key, child in list(node.args.items()):
        if isinstance(child, exp.Expression):
            new = walk(child, shadow, top)
            if new is not child:
                node.set(key, new)
        elif isinstance(child, list):
            node.set(key, [walk(c, shadow, top) if isinstance(c, exp.Expression) else c for c in child])
    return node


_PRE = "_pre"


def _pregrouped(select: Any) -> Any:
    """``select`` over a derived table of its rows where a GROUP BY key holds a subquery (``x IN
    (q)``, ``EXISTS (q)``, a scalar ``(q)``), or None where none does::

        SELECT (SELECT max(y) FROM u WHERE u.y = t.g) AS k, count(*) FROM t WHERE t.x > 0 GROUP BY 1
            ->  SELECT _pre._g0 AS k, count(*) FROM (SELECT t.g AS g, (SELECT max(y) FROM u WHERE
                u.y = t.g) AS _g0 FROM t WHERE t.x > 0) AS _pre GROUP BY _pre._g0

    A key is evaluated once per input row, as DuckDB does, and grouped on; each occurrence of the
    key elsewhere in the select list, HAVING, QUALIFY, ORDER BY (the same expression) reads that
    column, and every column of the query's own tables there (also one a subquery reads) reads its
    copy in the derived table (FROM, joins and WHERE stay inside)."""
    from sqlglot import exp

    group = select.args.get("group")
    if group is None:
        return None
    kinds = (exp.Subquery, exp.Exists, exp.In)
    sets = (exp.Group, exp.Rollup, exp.Cube, exp.GroupingSets)
    keys: list[Any] = []
    for n in _own_nodes(group, kinds):
        if not _is_subquery_target(n):
            continue
        k = n
        while not (isinstance(k.parent, sets) or isinstance(k.parent, exp.Tuple) and isinstance(k.parent.parent, sets)):
            k = k.parent
        while isinstance(k, exp.Paren):  # (GROUPING SETS ((x IN (q)), ...): the set of x IN (q))
            k = k.this
        if k not in keys:
            keys.append(k.copy())
    if not keys:
        return None
    sources = _source_aliases(select)
    taken = {f"_g{i}" for i in range(len(keys))}
    columns: dict[tuple[str, str], str] = {}
    inner_items: list[Any] = []

    def walk(node: Any, shadow: frozenset[str], top: Any) -> Any:
        if not shadow:
            for i, k in enumerate(keys):
                if node == k:
                    return exp.column(f"_g{i}", table=_PRE)
        if isinstance(node, exp.Column):
            if node.table not in sources or node.table in shadow:
                return node
            if (node.table, node.name) not in columns:
                name = node.name
                while name in taken:
                    name += "_"
                taken.add(name)
                columns[node.table, node.name] = name
                inner_items.append(_as(node.copy(), name))
            return exp.column(columns[node.table, node.name], table=_PRE)
        return _walk_children(node, shadow, top, walk)

    outer = select.copy()
    for key in ("expressions", "group", "having", "qualify", "windows", "order"):
        part = outer.args.get(key)
        if isinstance(part, exp.Expression):
            outer.set(key, walk(part, frozenset(), part))
        elif isinstance(part, list):
            outer.set(key, [walk(x, frozenset(), x) for x in part])
    inner = select.copy()
    for key in ("group", "having", "qualify", "windows", "order", "limit", "offset", "distinct", "with_", "with"):
        inner.set(key, None)
    inner.set("expressions", [*inner_items, *(_as(k, f"_g{i}") for i, k in enumerate(keys))])
    outer.set("joins", None)
    outer.set("where", None)
    outer.set("from_" if "from_" in select.args or "from" not in select.args else "from",
              exp.From(this=exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(_PRE)))))
    return outer


def _as(e: Any, name: str) -> Any:
    """``e AS name`` (sqlglot's ``alias_`` gives a subquery a table alias instead)."""
    from sqlglot import exp

    return exp.Alias(this=e, alias=exp.to_identifier(name))


def _source_aliases(select: Any) -> frozenset[str]:
    """The names a SELECT's FROM and JOINs define (a table's alias or name)."""
    from sqlglot import exp

    out = set()
    for part in [select.args.get("from_") or select.args.get("from"), *(select.args.get("joins") or [])]:
        if part is not None and isinstance(part.this, exp.Expression):
            out.add(part.this.alias_or_name)
    return frozenset(out)
