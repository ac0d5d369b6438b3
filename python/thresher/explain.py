"""``explain()``: the logical plan, the optimized plan, the rules that fired, the physical stages.

Three forms of the same content:

* ``format="text"``: sections a person reads in a terminal; every rule firing shows the plan lines
  it removed (``-``) and added (``+``);
* ``format="dict"``: the same as data, for tests and tools (``rules[i]["changes"]`` lists the
  diff lines, ``physical`` one dict per stage with its resources, batch size and concurrency);
* ``format="html"``: an :class:`Explanation` (a ``str``) whose ``_repr_html_`` renders collapsible
  sections in a notebook.
"""

from __future__ import annotations

import difflib
import html
from typing import Any

from thresher.planner.logical import LogicalPlan


def plan_diff(before: str, after: str) -> list[str]:
    """The lines a rule removed (``- ...``) and added (``+ ...``), indentation kept."""
    out = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        out.append(line[0] + " " + line[1:])
    return out


class Explanation(str):
    """The text of ``explain()``; shows as formatted HTML in a notebook."""

    sections: dict[str, Any]

    def _repr_html_(self) -> str:
        s = self.sections
        esc = html.escape

        def pre(text: str) -> str:
            return f"<pre style='margin:0.2em 0 0.6em 1em'>{esc(text)}</pre>"

        rules = []
        for r in s["rules"]:
            diff = "".join(
                f"<div style='color:{'#b00' if d.startswith('-') else '#070'}'>{esc(d)}</div>" for d in r["changes"]
            )
            rules.append(
                f"<details><summary><code>{esc(r['rule'])}</code> (pass {r['iteration'] + 1}, {r['ms']} ms, "
                f"{len(r['changes'])} lines)</summary><pre style='margin-left:1em'>{diff}</pre></details>"
            )
        stages = "".join(
            f"<tr><td>{st['id']}</td><td>{esc(st['kind'])}</td><td>{esc(st['boundary'])}</td>"
            f"<td>{esc(_res(st['resources']))}</td><td>{st['batch_size']}</td><td>{esc(str(st['concurrency']))}</td>"
            f"<td>{'yes' if st['actor'] else ''}</td><td><code>{esc(' → '.join(st['ops']))}</code></td></tr>"
            for st in s["physical"]
        )
        return (
            "<div class='thresher-explain'>"
            f"<details><summary><b>Logical plan</b></summary>{pre(s['logical'])}</details>"
            f"<details open><summary><b>Optimized plan</b></summary>{pre(s['optimized'])}</details>"
            f"<details><summary><b>Rules fired ({len(s['rules'])})</b></summary>{''.join(rules) or '(none)'}</details>"
            "<details open><summary><b>Physical stages</b></summary><table>"
            "<tr><th>id</th><th>kind</th><th>boundary</th><th>resources</th><th>batch</th><th>concurrency</th>"
            f"<th>actor</th><th>operators</th></tr>{stages}</table></details></div>"
        )


def _res(r: dict[str, Any]) -> str:
    s = f"cpus={r['num_cpus']:g}"
    if r.get("num_gpus"):
        s += f" gpus={r['num_gpus']:g}"
    if r.get("memory"):
        s += f" memory={r['memory'] >> 20}MiB"
    return s


def explain_plan(plan: LogicalPlan, format: str = "text", optimize: bool = True) -> Any:
    from thresher.planner.physical import CompileSettings, compile
    from thresher.session import settings

    if format not in ("text", "dict", "html"):
        raise ValueError("explain format must be 'text', 'dict' or 'html'")
    disabled = set(settings().disabled_rules) if optimize else {"all"}
    physical = compile(plan, CompileSettings(optimize=optimize, disabled_rules=frozenset(disabled)))
    result, optimized = physical.optimizer, physical.optimized
    assert result is not None and optimized is not None
    data = {
        "logical": plan.pretty(),
        "optimized": optimized.pretty(),
        "rules": [
            {"rule": f.rule, "iteration": f.iteration, "before": f.before, "after": f.after,
             "changes": plan_diff(f.before, f.after), "ms": round(f.seconds * 1000, 3)}
            for f in result.log
        ],
        "disabled_rules": sorted(disabled),
        "iterations": result.iterations,
        "physical": physical.to_dict(),
        "schema": {f.name: str(f.dtype) for f in plan.schema.fields},
    }
    if format == "dict":
        return data
    fired: list[str] = []
    rules: list[dict[str, Any]] = data["rules"]  # type: ignore[assignment]
    for i, r in enumerate(rules):
        fired.append(f"  {i + 1}. {r['rule']} (pass {r['iteration'] + 1}, {r['ms']:.2f} ms)")
        fired.extend("       " + d for d in r["changes"])
    text = "\n".join(
        [
            "== Logical plan ==",
            str(data["logical"]),
            "",
            "== Optimized plan ==",
            str(data["optimized"]),
            "",
            f"== Rules fired ({len(rules)}) ==",
            *(fired or ["  (none)"]),
            "",
            "== Physical plan ==",
            physical.pretty(),
        ]
    )
    out = Explanation(text)
    out.sections = data
    return out
