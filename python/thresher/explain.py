"""``explain()``: the logical plan, the optimized plan, the rules that fired, the physical stages."""

from __future__ import annotations

from typing import Any

from thresher.planner.logical import LogicalPlan


def explain_plan(plan: LogicalPlan, format: str = "text", optimize: bool = True) -> Any:
    from thresher.planner.optimizer.runner import optimize as run_optimizer
    from thresher.planner.physical import plan_physical
    from thresher.session import settings

    result = run_optimizer(plan, disabled=settings().disabled_rules if optimize else {"all"})
    physical = plan_physical(result.plan)
    if format == "dict":
        return {
            "logical": plan.pretty(),
            "optimized": result.plan.pretty(),
            "rules": [
                {"rule": f.rule, "iteration": f.iteration, "before": f.before, "after": f.after,
                 "ms": round(f.seconds * 1000, 3)}
                for f in result.log
            ],
            "physical": physical.to_dict(),
            "schema": {f.name: str(f.dtype) for f in plan.schema.fields},
        }
    if format not in ("text", "html"):
        raise ValueError("explain format must be 'text', 'dict' or 'html'")
    fired = [f"  {i + 1}. {f.rule} (pass {f.iteration + 1}, {f.seconds * 1000:.2f} ms)" for i, f in enumerate(result.log)]
    text = "\n".join(
        [
            "== Logical plan ==",
            plan.pretty(),
            "",
            "== Optimized plan ==",
            result.plan.pretty(),
            "",
            f"== Rules fired ({len(result.log)}) ==",
            *(fired or ["  (none)"]),
            "",
            "== Physical plan ==",
            physical.pretty(),
        ]
    )
    if format == "html":
        import html

        return f"<pre>{html.escape(text)}</pre>"
    return text
