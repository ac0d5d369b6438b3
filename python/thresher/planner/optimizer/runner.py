"""The optimizer: rules run in a fixed, commented order until nothing changes.

Each rule lives in its own module under ``rules/`` and exposes ``apply(plan) -> plan | None``
(None: nothing changed). The runner records every change (rule name, the plan before and
after, time spent) for ``explain()``; users switch rules off by name, and unknown names raise.
A rule module may declare ``IDEMPOTENT = True`` (its output is its own fixpoint: the runner does
not rerun it on a plan it just produced), ``SETS_JOIN_STRATEGIES = True`` (see :func:`hints_only`),
``NARROWS_ONLY = True`` (see :func:`narrows_only`), ``QUIET_AFTER_NARROWING = "<why>"`` (see
:func:`quiet_after_narrowing`) or ``QUIET_AFTER = {"<rule>": "<why>"}`` (see :func:`quiet_after`).
``optimize(validate=True)`` checks every such declaration where the runner relies on it.
"""

from __future__ import annotations

import functools
import importlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from thresher.datatypes import Schema
from thresher.errors import ThresherError
from thresher.expressions import cost as _cost
from thresher.planner.logical import Explode, Filter, Join, Limit, LogicalPlan, Project, _field_names
from thresher.planner.memo import memo_scope
from thresher.planner.optimizer.rules._util import (
    _KIND_BITS,
    AggregateOverJoin,
    ConjunctionFilter,
    FilterOverFilter,
    FilterOverLeftJoin,
    InnerOverInner,
    JoinChain,
    JoinOnGroupBy,
    KeySetSemiJoin,
    OneRowSideJoin,
    ProjectOverProject,
    SemiJoin,
    Shape,
    kinds_mask,
    plan_kinds,
)

# The order matters: simplify first, then move filters and limits down, then cut columns, then
# the media-aware rewrites that depend on knowing which columns survive, then ordering work by
# cost, then the join decisions that need the final shape of each input. The whole tuple runs
# again until a pass changes nothing, so a rewrite late in the order still feeds the early ones.
RULES: tuple[str, ...] = (
    "constant_folding",  # fold literal-only expressions, drop always-true filters
    "merge_filters",  # Filter(Filter(x)) -> one conjunction (unless the lower one is cheaper)
    "predicate_pushdown",  # move filter terms below projections/joins/unions and into scans
    "aggregate_to_window",  # a join with a group-by of rows the join already has -> a window over them
    "semi_join_from_exists",  # left join + IS [NOT] NULL on its key (decorrelated EXISTS/IN) -> semi/anti join
    "semi_join_pushdown",  # a semi/anti join moves below inner joins to the side with its keys (or above, by rows)
    "semi_join_reduction",  # a group-by joined on its keys first semi-joins the outer side's filtered keys
    "semi_join_key_set",  # a semi join's right side computes its set of keys (a self-join on != -> min/max per key)
    "projection_merge",  # Project(Project(x)) -> one Project when nothing expensive is duplicated
    "limit_pushdown",  # move limits below row-local maps and into scans (early stop)
    "projection_pushdown",  # read and compute only the columns something downstream uses
    "fuse_decode_resize",  # image.decode -> image.resize becomes one draft-mode image.decode_resize
    "fuse_decode_resize_encode",  # image.encode(image.decode_resize) becomes one call, no pixels in Arrow
    "header_predicates",  # width/height/metadata predicates read headers before any decode
    "stream_video_frames",  # explode(video.frames) becomes a streaming FlatMap (no list per video)
    "common_subexpression_elimination",  # an expensive subexpression used twice is computed once
    "cheap_predicate_first",  # split filters by cost class, cheapest lowest, so decodes see fewer rows
    "join_order",  # a tree of inner joins: rebuilt greedily, smallest estimated join first
    "join_reorder",  # inner join chains: join the smaller inputs first (estimated from statistics)
    "eager_aggregation",  # a group-by over a join first groups the big side on its join keys
    "broadcast_join",  # a small join side (from statistics) is broadcast instead of shuffled
)

#: rules that only ever rewrite at a Join node (and no rule makes a join where there was none): a
#: plan without a Join skips them, and a process that never plans a join never imports them (a
#: small job's peak memory: ~0.4 MiB of modules, with the statistics code they use)
JOIN_ONLY_RULES = frozenset({
    "aggregate_to_window", "semi_join_from_exists", "semi_join_pushdown", "semi_join_reduction", "semi_join_key_set", "join_order",
    "join_reorder", "eager_aggregation", "broadcast_join",
})

#: rules that can only change a plan one of whose expressions costs more than ``scalar`` (a decode,
#: an IO read, a model, a UDF with such a hint): each returns None at once when ``plan_facts`` finds
#: none, and it finds none without a look while no such expression exists in the process
#: (``cost.NOT_SCALAR_BUILT``). The runner skips them there without calling them: a relational
#: process never imports them, and its plannings do not run them once a pass (each TPC-H plan ran
#: the four in its first pass: 120 of the 22 DataFrame queries' 424 rule runs).
#: ``optimize(validate=True)`` runs them there and checks that they change nothing.
EXPENSIVE_ONLY_RULES = frozenset({
    "fuse_decode_resize", "fuse_decode_resize_encode", "header_predicates", "common_subexpression_elimination",
})

#: rules that rewrite only at nodes of these classes (each walks the plan with ``only=`` them, and
#: returns None for a plan without one): the runner skips them on such a plan without calling them
#: (a relational plan has no Explode, most have no Limit). ``optimize(validate=True)`` runs a
#: skipped rule and checks that it changes nothing.
#: A rule may instead name shapes of node (see :class:`Shape`: a filter directly over a filter, a
#: semi join), each a necessary condition of its changes, so that a plan with filters and joins
#: but none of those skips it too (each TPC-H plan has filters, projections and joins: with the
#: node classes alone the 22 DataFrame queries ran 697 rules, with the shapes 426).
NEEDS_KINDS: dict[str, tuple[type[LogicalPlan] | type[Shape], ...]] = {
    "constant_folding": (Filter, Project),
    "merge_filters": (FilterOverFilter,),
    "predicate_pushdown": (Filter,),
    "projection_merge": (ProjectOverProject,),
    "limit_pushdown": (Limit,),
    "header_predicates": (Filter,),
    "stream_video_frames": (Explode,),
    "common_subexpression_elimination": (Project, Filter),
    "cheap_predicate_first": (ConjunctionFilter,),  # (a one-term filter is left as it is)
    **{name: (Join,) for name in JOIN_ONLY_RULES},
    # (after the line above, which gave it (Join,): a group-by over a join of the kinds it starts from)
    "eager_aggregation": (AggregateOverJoin,),
    "aggregate_to_window": (JoinOnGroupBy,),
    "semi_join_from_exists": (FilterOverLeftJoin, JoinOnGroupBy, OneRowSideJoin),
    "semi_join_pushdown": (SemiJoin,),
    "semi_join_reduction": (JoinOnGroupBy,),
    "semi_join_key_set": (KeySetSemiJoin,),  # (a semi join whose right side is a filtered scan: no key set to compute)
    "join_order": (JoinChain,),  # a region of three inputs or more
    "join_reorder": (InnerOverInner,),
}

#: rules added at run time with register_rule: (name, the rule it follows or None = the end)
_EXTRA_RULES: list[tuple[str, str | None]] = []


def register_rule(name: str, after: str | None = None) -> None:
    """Add a rule module ``thresher.planner.optimizer.rules.<name>`` to the order.

    ``after`` places it right after that rule (default: at the end). Registering twice is a no-op.
    """
    if name in rule_names():
        return
    if after is not None and after not in rule_names():
        raise ThresherError(f"register_rule: unknown rule {after!r}; rules are {list(rule_names())}")
    _EXTRA_RULES.append((name, after))


def rule_names() -> tuple[str, ...]:
    out = list(RULES)
    for name, after in _EXTRA_RULES:
        out.insert(out.index(after) + 1 if after is not None else len(out), name)
    return tuple(out)


def hints_only(before: LogicalPlan, after: LogicalPlan) -> bool:
    """``after`` is ``before`` with only some joins' ``strategy`` changed: a physical hint that no
    rule reads (rules copy it onto the joins they rebuild; none decides on it), so every rule
    that left ``before`` unchanged leaves ``after`` unchanged too. Walks only the nodes that are
    not shared between the two plans."""
    if before is after:
        return True
    cls = type(before)
    if cls is not type(after):
        return False
    for name in _field_names(cls):
        a, b = getattr(before, name), getattr(after, name)
        if a is b or (cls is Join and name == "strategy"):
            continue
        if isinstance(a, LogicalPlan):
            if not (isinstance(b, LogicalPlan) and hints_only(a, b)):
                return False
        elif isinstance(a, tuple) and a and isinstance(a[0], LogicalPlan):
            if not (isinstance(b, tuple) and len(a) == len(b) and all(map(hints_only, a, b))):
                return False
        elif not (type(a) in _SCALARS and a == b):
            # (a rule that sets a hint copies the node's other fields: anything else that is not
            # the same object is taken as a change, without comparing expressions by value)
            return False
    return True


_SCALARS = (str, int, float, bool, type(None))


def is_idempotent(name: str) -> bool:
    """Whether rule ``name`` declares ``IDEMPOTENT = True``: its output is its own fixpoint, so
    once it has changed the plan it counts as having run quietly on the result."""
    return bool(getattr(_MODULES.get(name), "IDEMPOTENT", False))


def narrows_only(name: str) -> bool:
    """Whether rule ``name`` declares ``NARROWS_ONLY = True``: every change it makes only narrows
    the plan (a scan reads fewer of its columns, a projection or an aggregation computes fewer of
    its expressions, a union input gets a projection onto the columns kept), nothing else."""
    return bool(getattr(_MODULES.get(name), "NARROWS_ONLY", False))


def quiet_after_narrowing(name: str) -> str | None:
    """The reason rule ``name`` gives (``QUIET_AFTER_NARROWING = "..."``) why it cannot change a
    plan that a ``NARROWS_ONLY`` rule made from one it left unchanged, else None: the runner then
    counts it as quiet on the narrowed plan without running it; ``optimize(validate=True)`` runs it
    and checks."""
    reason = getattr(_MODULES.get(name), "QUIET_AFTER_NARROWING", None)
    return reason if isinstance(reason, str) and reason else None


def quiet_after(name: str, fired: str) -> str | None:
    """The reason rule ``name`` gives (``QUIET_AFTER = {"<fired>": "..."}``) why it cannot change a
    plan that rule ``fired`` made from one ``name`` left unchanged, else None: the runner then
    counts it as quiet on ``fired``'s output without running it (the fixpoint's next pass would
    run every rule before ``fired`` again only to find nothing); ``optimize(validate=True)`` runs
    it and checks."""
    declared = getattr(_MODULES.get(name), "QUIET_AFTER", None)
    reason = declared.get(fired) if isinstance(declared, dict) else None
    return reason if isinstance(reason, str) and reason else None


def validate_plan(plan: LogicalPlan, schema: Schema, rule: str = "?") -> None:
    """Raise unless ``plan`` rebuilds node by node (every type check passes again) with ``schema``."""

    def rebuild(node: LogicalPlan) -> LogicalPlan:
        kids = [rebuild(c) for c in node.children()]
        values = {f.name: getattr(node, f.name) for f in fields(node)}
        fresh = type(node)(**values)  # re-runs the constructor's checks
        return fresh.with_children(kids) if kids else fresh

    try:
        rebuilt = rebuild(plan)
    except Exception as exc:  # noqa: BLE001 - report which rule broke the plan
        raise ThresherError(f"rule {rule} produced an invalid plan: {exc}\n{plan.pretty()}") from exc
    got = [(f.name, str(f.dtype)) for f in rebuilt.schema.fields]
    want = [(f.name, str(f.dtype)) for f in schema.fields]
    if got != want:
        raise ThresherError(f"rule {rule} changed the output schema: {want} -> {got}")


@dataclass
class RuleFiring:
    """One rule that changed the plan: the plans before and after (printed on demand: printing
    the whole tree at every firing cost more than the rules themselves) and the time it took."""

    rule: str
    iteration: int
    before_plan: LogicalPlan
    after_plan: LogicalPlan
    seconds: float

    @functools.cached_property
    def before(self) -> str:
        return self.before_plan.pretty()

    @functools.cached_property
    def after(self) -> str:
        return self.after_plan.pretty()


@dataclass
class OptimizerResult:
    plan: LogicalPlan
    log: list[RuleFiring] = field(default_factory=list)
    iterations: int = 0
    #: rule applications (each one walks the plan once or more)
    rule_runs: int = 0


#: rule name -> its module: ``importlib.import_module`` for each rule of each optimize() call
#: was a tenth of the runner's own time (TPC-H q16: 40 lookups)
_MODULES: dict[str, Any] = {}


#: the rules whose modules declare QUIET_AFTER: the runner asks :func:`quiet_after` of these only
#: (asking each settled rule at each change was ~20 calls per TPC-H query)
_DECLARE_QUIET_AFTER: set[str] = set()


def _load(name: str) -> Callable[[LogicalPlan], LogicalPlan | None]:
    """The rule's ``apply``, looked up on its module at each optimize() call (a patched one is
    seen); the module is imported once per process."""
    mod = _MODULES.get(name)
    if mod is None:
        mod = _MODULES[name] = importlib.import_module(f"thresher.planner.optimizer.rules.{name}")
        if getattr(mod, "QUIET_AFTER", None):
            _DECLARE_QUIET_AFTER.add(name)
    fn: Callable[[LogicalPlan], LogicalPlan | None] = mod.apply
    return fn


def optimize(
    plan: LogicalPlan,
    disabled: Iterable[str] = (),
    max_iterations: int = 16,
    validate: bool = False,
) -> OptimizerResult:
    """Run every enabled rule, in order, until none of them changes the plan any more."""
    names = rule_names()
    disabled = set(disabled)
    if disabled:
        unknown = disabled - set(names) - {"all"}
        if unknown:
            raise ThresherError(f"unknown optimizer rule(s) {sorted(unknown)}; rules are {list(names)}")
        if "all" in disabled:
            return OptimizerResult(plan)
    rules = [n for n in names if n not in disabled]
    result = OptimizerResult(plan)
    schema = plan.schema
    with memo_scope():  # a node a rule has seen keeps its answer for the later passes
        _fixpoint(result, rules, schema, max_iterations, validate)
    return result


#: (rule names, whether the EXPENSIVE_ONLY_RULES are left out) -> (the NEEDS_KINDS and
#: EXPENSIVE_ONLY_RULES they were made from, how many node classes had bits then, each rule's mask
#: of the classes it needs)
_NEEDS: dict[tuple[tuple[str, ...], bool], tuple[object, object, int, list[tuple[str, int]]]] = {}


def _needs(rules: tuple[str, ...], scalar_only: bool = False) -> list[tuple[str, int]]:
    """Each rule's mask of the node classes it needs (NEEDS_KINDS; 0: none declared), made once
    per set of enabled rules (21 masks per optimize() call cost ~1% of a TPC-H query's planning);
    ``scalar_only``: without the EXPENSIVE_ONLY_RULES (no expression of the process costs more
    than ``scalar``)."""
    key = (rules, scalar_only)
    hit = _NEEDS.get(key)
    if hit is not None and hit[0] is NEEDS_KINDS and hit[1] is EXPENSIVE_ONLY_RULES and hit[2] == len(_KIND_BITS):
        return hit[3]
    out = [(name, kinds_mask(NEEDS_KINDS[name]) if name in NEEDS_KINDS else 0) for name in rules
           if not (scalar_only and name in EXPENSIVE_ONLY_RULES)]
    # (after kinds_mask: it may give new classes bits)
    _NEEDS[key] = (NEEDS_KINDS, EXPENSIVE_ONLY_RULES, len(_KIND_BITS), out)
    return out


def _fixpoint(result: OptimizerResult, rules: list[str], schema: Schema, max_iterations: int,
              validate: bool) -> None:
    # a fixpoint is reached once every rule has run on the current plan without changing it:
    # ``settled`` holds the rules that have (or need not: see below), so the pass after the last
    # change stops at the rule that made it (the rules after it in its own pass already saw the
    # final plan) instead of rerunning all of them
    settled: set[str] = set()
    # (no expression of the process costs more than scalar: the rules that look for one are not
    # run, see EXPENSIVE_ONLY_RULES; validate runs them and checks below)
    scalar_only = not _cost.NOT_SCALAR_BUILT
    needs = _needs(tuple(rules), scalar_only and not validate)
    everything = len(needs)  # (``settled`` only ever holds names of ``needs``)
    # the node classes the current plan has, asked once per plan object (plan_kinds remembers each
    # node's answer in this optimize() call: after a rewrite only the new nodes are walked)
    asked: LogicalPlan | None = None
    kinds = 0
    join_mask = kinds_mask((Join,)) if validate else 0
    loaded: dict[str, Callable[[LogicalPlan], LogicalPlan | None]] = {}
    fired: set[str] = set()  # the rules that changed the plan in this call

    def load(name: str) -> Callable[[LogicalPlan], LogicalPlan | None]:
        rule = loaded.get(name)
        if rule is None:
            rule = loaded[name] = _load(name)
        return rule

    for it in range(max_iterations):
        result.iterations = it + 1
        for name, need in needs:
            if len(settled) == everything:
                break
            if name in settled:
                continue  # it ran quietly on this plan, or on one this plan only narrows
            if need:
                if asked is not result.plan:
                    asked, kinds = result.plan, plan_kinds(result.plan)
                if not kinds & need:
                    if validate and (name not in JOIN_ONLY_RULES or kinds & join_mask):
                        # (the join rules stay unimported without a join)
                        _check_skipped(name, load(name), result.plan)
                    settled.add(name)  # it could not change this plan
                    continue
            rule = loaded.get(name)  # (load(name), inlined: once per rule run)
            if rule is None:
                rule = loaded[name] = _load(name)
            t0 = time.perf_counter()
            new = rule(result.plan)
            dt = time.perf_counter() - t0
            result.rule_runs += 1
            # (a rule returns None when it changes nothing, and every rule of the 143 benchmark
            # queries' plannings returns a changed plan otherwise: comparing its output with its
            # input, by value, to be sure was 5% of planning them; a rule that fired before in
            # this call is still compared, so one returning an equal plan stops at its next pass)
            if new is not None and new is not result.plan and (
                    name not in fired or new != result.plan):
                if validate and scalar_only and name in EXPENSIVE_ONLY_RULES:
                    raise ThresherError(f"rule {name} is not run while no expression costs more than scalar "
                                        f"(EXPENSIVE_ONLY_RULES) but changed a plan:\n{result.plan.pretty()}\n->\n"
                                        f"{new.pretty()}")
                if validate and name not in fired and new == result.plan:
                    raise ThresherError(f"rule {name} returned a plan equal to its input (it returns None when it "
                                        f"changes nothing):\n{new.pretty()}")
                fired.add(name)
                result.log.append(RuleFiring(name, it, result.plan, new, dt))
                if validate:
                    validate_plan(new, schema, name)
                # a change of join strategies only (broadcast_join's usual firing) changes
                # nothing any rule decides on: the rules that saw the plan before it stay quiet
                # (TPC-H q12, q14, q16, q19-q22: 40 -> 30 rule runs)
                if getattr(_MODULES.get(name), "SETS_JOIN_STRATEGIES", False) and hints_only(result.plan, new):
                    settled.add(name)
                else:
                    # the rules quiet on the plan before this change that declare they stay
                    # quiet after this rule's changes (QUIET_AFTER): the next pass does not run
                    # them again (constant_folding after predicate_pushdown: one rule run fewer
                    # in TPC-H DataFrame q4, q14, q16, q17, q19-q22)
                    kept: set[str] = {r for r in _DECLARE_QUIET_AFTER if r in settled and quiet_after(r, name)}
                    if validate:
                        for r in sorted(kept):
                            _check_quiet_after(r, load(r), name, result.plan, new)
                    if is_idempotent(name):
                        # a rule whose output is its own fixpoint counts as having run quietly on
                        # it: the pass after its firing stops before running it again when nothing
                        # else changed (projection_pushdown is the last rule to change 14 of the 22
                        # TPC-H DataFrame plans: its rerun was the final pass's largest cost)
                        if validate:
                            _check_idempotent(name, rule, new)
                        if narrows_only(name):
                            # a plan that only reads and computes fewer columns: the rules that were
                            # quiet on the plan before it and declare QUIET_AFTER_NARROWING stay quiet
                            # (the second pass over the 143 benchmark queries ran them for nothing)
                            narrowed = {r for r in settled if quiet_after_narrowing(r)}
                            if validate:
                                for r in sorted(narrowed - kept):
                                    _check_quiet_after_narrowing(r, load(r), result.plan, new)
                            kept |= narrowed
                        kept.add(name)
                    settled = kept
                result.plan = new
            else:
                settled.add(name)
        if len(settled) == everything:
            break


def _check_skipped(name: str, rule: Callable[[LogicalPlan], LogicalPlan | None], plan: LogicalPlan) -> None:
    """Raise unless ``rule`` (skipped: ``plan`` has no node of the classes NEEDS_KINDS gives it)
    leaves ``plan`` as it is."""
    again = rule(plan)
    if again is not None and again != plan:
        raise ThresherError(f"rule {name} needs {NEEDS_KINDS[name]} (NEEDS_KINDS) but changed a plan without "
                            f"them:\n{plan.pretty()}\n->\n{again.pretty()}")


def _check_quiet_after_narrowing(name: str, rule: Callable[[LogicalPlan], LogicalPlan | None],
                                  before: LogicalPlan, narrowed: LogicalPlan) -> None:
    """Raise unless ``rule`` (one that declares ``QUIET_AFTER_NARROWING`` and left ``before``
    unchanged) leaves ``narrowed`` as it is too."""
    again = rule(narrowed)
    if again is not None and again != narrowed:
        raise ThresherError(f"rule {name} declares QUIET_AFTER_NARROWING ({quiet_after_narrowing(name)}) but "
                            f"changed a narrowed plan:\n{before.pretty()}\n-> narrowed\n{narrowed.pretty()}\n->\n"
                            f"{again.pretty()}")


def _check_quiet_after(name: str, rule: Callable[[LogicalPlan], LogicalPlan | None], fired: str,
                       before: LogicalPlan, after: LogicalPlan) -> None:
    """Raise unless ``rule`` (one that declares ``QUIET_AFTER`` rule ``fired`` and left ``before``
    unchanged) leaves ``after``, what ``fired`` made of ``before``, as it is too."""
    again = rule(after)
    if again is not None and again != after:
        raise ThresherError(f"rule {name} declares QUIET_AFTER {fired} ({quiet_after(name, fired)}) but changed "
                            f"its output:\n{before.pretty()}\n-> {fired}\n{after.pretty()}\n->\n{again.pretty()}")


def _check_idempotent(name: str, rule: Callable[[LogicalPlan], LogicalPlan | None], plan: LogicalPlan) -> None:
    """Raise unless ``rule`` (one that declares ``IDEMPOTENT``) leaves its own output ``plan`` as it is."""
    again = rule(plan)
    if again is not None and again != plan:
        raise ThresherError(f"rule {name} declares IDEMPOTENT but changed its own output:\n"
                            f"{plan.pretty()}\n->\n{again.pretty()}")
