"""header_predicates: predicates on image size or media metadata read headers, before any decode.

Before::

    Filter (col("img").image.width() >= 256) & (col("label") == "cat")
      Project [col("label"), col("bytes").image.decode().alias("img"), col("v").video.frames(...).alias("f")]
        Scan t

After::

    Filter col("img").is_not_null() & (col("label") == "cat")
      Project [col("label"), col("bytes").image.decode().alias("img"), col("v").video.frames(...).alias("f")]
        Filter (col("bytes").image.width() >= 256)
          Scan t

Three rewrites, all exact:

* ``width``/``height`` of a decoded image equal the header's on the encoded bytes whenever the
  decode succeeds; a term that is null-strict in them (comparisons, arithmetic, ``is_in``: a null
  width drops the row) is therefore the header term *and* "the decode succeeded":
  ``f(decode(x).width())`` → ``f(x.width()) & decode(x).is_not_null()``. The header term needs no
  pixels; ``cheap_predicate_first`` then runs it before the decode term.
* The same through a projection that computes the decode: the header term moves below the
  projection (so the decode and everything else it computes see only the rows that pass) and
  ``is_not_null`` of the decoded column stays above.
* A term on a column computed by a header/metadata read (``image.width``, ``video.metadata``,
  ``audio.duration``, ... anything of cost class ``io`` at most) moves below a projection that also
  decodes or runs a model, recomputing the cheap read below rather than decoding rows it drops.
  When the encoded input is itself computed (a download), ``common_subexpression_elimination``
  hoists it so it is fetched once.
"""

from __future__ import annotations

from thresher.expressions.cost import cost_class, cost_rank
from thresher.expressions.expr import Call, Cast, Column, Expr, combine_conjunction, split_conjunction, strip_alias
from thresher.planner.logical import Filter, LogicalPlan, Project
from thresher.planner.optimizer.rules._util import plan_is_expensive, rewrite_top_down, substitute

#: header reads that give the same value on encoded bytes and on the decoded pixels
SIZE_HEADERS = ("image.width", "image.height")
#: decodes that keep the image size (a mode conversion does not change it)
SIZE_KEEPING_DECODES = ("image.decode",)
#: null in -> null out: a filter term built only from these drops a row whose header is null
_STRICT = frozenset({"eq", "neq", "lt", "le", "gt", "ge", "add", "sub", "mul", "truediv", "floordiv", "mod",
                     "pow", "neg", "abs", "not", "round", "sqrt", "is_in"})


def _is_target(e: Expr, decoded: set[str] | None = None) -> bool:
    """``width/height(decode(x))`` (inline), or ``width/height(col)`` of a decoded column."""
    if not (isinstance(e, Call) and e.name in SIZE_HEADERS):
        return False
    arg = e.args[0]
    if decoded is not None:
        return isinstance(arg, Column) and arg.name in decoded
    return isinstance(arg, Call) and arg.name in SIZE_KEEPING_DECODES


def _strict(e: Expr, is_target: object, root: bool = True) -> bool:
    """Every target in ``e`` reaches the root through null-strict functions only."""
    if is_target(e):  # type: ignore[operator]
        return True
    if not any(is_target(n) for n in e.walk()):  # type: ignore[operator]
        return True
    if isinstance(e, Cast) or (isinstance(e, Call) and (e.name in _STRICT or (root and e.name == "is_not_null"))):
        return all(_strict(c, is_target, False) for c in e.children())
    return False


def _inline(term: Expr) -> list[Expr] | None:
    """``f(decode(x).width())`` -> ``[f(x.width()), decode(x).is_not_null()]``."""
    if not any(_is_target(n) for n in term.walk()) or not _strict(term, _is_target):
        return None
    decodes: dict[tuple[object, ...], Expr] = {}

    def fn(e: Expr) -> Expr | None:
        if _is_target(e):
            assert isinstance(e, Call)
            dec = e.args[0]
            decodes[dec.key()] = dec
            return Call(e.name, dec.args[:1], e.options)
        return None

    header = term.transform(fn)
    return [header, *(Call("is_not_null", (d,)) for d in decodes.values())]


def _dedupe(terms: list[Expr]) -> list[Expr]:
    seen: set[tuple[object, ...]] = set()
    out = []
    for t in terms:
        if t.key() not in seen:
            seen.add(t.key())
            out.append(t)
    return out


def _rewrite_filter(node: Filter) -> LogicalPlan | None:
    terms = split_conjunction(node.predicate)
    out: list[Expr] = []
    changed = False
    for t in terms:
        new = _inline(t)
        if new is None:
            out.append(t)
        else:
            out.extend(new)
            changed = True
    if not changed:
        return None
    return Filter(node.input, combine_conjunction(_dedupe(out)))


def _through_project(node: Filter, proj: Project) -> LogicalPlan | None:
    mapping = {e.output_name(): strip_alias(e) for e in proj.exprs}
    if not any(cost_rank(cost_class(e)) >= cost_rank("decode") for e in mapping.values()):
        return None  # nothing expensive to save
    decoded = {n for n, e in mapping.items() if isinstance(e, Call) and e.name in SIZE_KEEPING_DECODES}
    down: list[Expr] = []
    up: list[Expr] = []
    for t in split_conjunction(node.predicate):
        cols = t.columns()
        if not cols or not all(c in mapping for c in cols):
            up.append(t)
            continue

        def is_t(e: Expr) -> bool:
            return _is_target(e, decoded)

        # decoded columns may be used only through width/height, null-strictly
        used_decoded = {c for c in cols if c in decoded}
        if used_decoded:
            rest = t.transform(lambda e: Column("__hdr") if is_t(e) else None)
            if rest.columns() & used_decoded or not _strict(t, is_t):
                up.append(t)
                continue
        others = cols - used_decoded
        if not all(cost_rank(cost_class(mapping[c])) <= cost_rank("io") for c in others):
            up.append(t)
            continue
        if not used_decoded and all(cost_rank(cost_class(mapping[c])) == 0 for c in others):
            up.append(t)  # plain scalar terms: predicate_pushdown's job
            continue

        def header_of(e: Expr) -> Expr | None:
            if is_t(e):
                assert isinstance(e, Call) and isinstance(e.args[0], Column)
                dec = mapping[e.args[0].name]
                assert isinstance(dec, Call)
                return Call(e.name, dec.args[:1], e.options)
            return None

        header = t.transform(header_of)
        down.append(substitute(header, mapping))
        up.extend(Call("is_not_null", (Column(c),)) for c in sorted(used_decoded))
    if not down:
        return None
    below = Project(Filter(proj.input, combine_conjunction(_dedupe(down))), proj.exprs)
    return Filter(below, combine_conjunction(_dedupe(up))) if up else below


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    if not plan_is_expensive(plan):  # every rewrite saves a decode or a model's work
        return None

    def visit(node: LogicalPlan) -> LogicalPlan | None:
        if not isinstance(node, Filter):
            return None
        if isinstance(node.input, Project):
            out = _through_project(node, node.input)
            if out is not None:
                return out
        return _rewrite_filter(node)

    return rewrite_top_down(plan, visit, only=(Filter,))
