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
    r"""The plan lines a rule removed (``- ...``) and added (``+ ...``), indentation kept.

    Lines are compared without their indentation: a node that only moved up or down a level
    (its parent was removed or added) is not a change and is not shown.

    >>> plan_diff("Filter x\n  Project a\n    Scan t", "Project a\n  Scan t predicate=[x]")
    ['- Filter x', '-     Scan t', '+   Scan t predicate=[x]']
    """
    a, b = before.splitlines(), after.splitlines()
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, [x.strip() for x in a], [y.strip() for y in b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            out.extend("- " + x for x in a[i1:i2])
        if tag in ("replace", "insert"):
            out.extend("+ " + y for y in b[j1:j2])
    return out


def _rules_text(rules: list[dict[str, Any]]) -> list[str]:
    """Each rule that fired, once (in the order it first fired), with the lines its firings changed."""
    lines: list[str] = []
    for k, (name, firings) in enumerate(_by_rule(rules).items()):
        lines.append(f"  {k + 1}. {name} ({_when(firings)})")
        for f in firings:
            lines.extend("       " + d for d in f["changes"])
    return lines


def _by_rule(rules: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The firings of each rule, rules in the order they first fired."""
    order: dict[str, list[dict[str, Any]]] = {}
    for r in rules:
        order.setdefault(r["rule"], []).append(r)
    return order


def _when(firings: list[dict[str, Any]]) -> str:
    """"pass 1, 0.20 ms" or "passes 1, 2, fired 2 times, 0.41 ms"."""
    passes = sorted({f["iteration"] + 1 for f in firings})
    when = f"pass {passes[0]}" if len(passes) == 1 else f"passes {', '.join(map(str, passes))}"
    times = f", fired {len(firings)} times" if len(firings) > 1 else ""
    return f"{when}{times}, {sum(f['ms'] for f in firings):.2f} ms"


def _stage_lines(stage: Any, depth: int, out: list[str]) -> None:
    """The physical plan as an indented tree; a relational stage lists the operators of its
    Polars program (``<- stage N`` where an input stage feeds it) instead of one line."""
    pad = "  " * depth
    head = stage.describe()
    if stage.kind == "relational" and stage.logical is not None:
        out.append(pad + head.split(": polars: ", 1)[0] + ": a Polars LazyFrame of")
        feeds = {id(leaf): inp for leaf, inp in zip(getattr(stage.spec.program, "leaves", ()), stage.inputs)}

        def walk(node: Any, d: int) -> None:
            inp = feeds.get(id(node))
            if inp is not None:
                out.append(pad + "    " + "  " * d + f"<- Stage {inp.id}")
                return
            out.append(pad + "    " + "  " * d + node.describe())
            for c in node.children():
                walk(c, d + 1)

        walk(stage.logical, 0)
    else:
        out.append(pad + head)
    for i in stage.inputs:
        _stage_lines(i, depth + 1, out)


def _polars_program(stage: Any) -> str | None:
    """Polars' own (optimized) plan of a relational stage, over empty inputs of the right schema."""
    try:
        from thresher.engine.polars_frames import table_to_lazy

        frames = [table_to_lazy(i.schema.to_arrow().empty_table(), i.schema) for i in stage.inputs]
        return str(stage.spec.program(frames).explain())
    except Exception:  # noqa: BLE001 - explain shows what it can; the run reports real errors
        return None


class Explanation(str):
    """The text of ``explain()``; shows as formatted HTML in a notebook."""

    sections: dict[str, Any]

    def _repr_html_(self) -> str:
        s = self.sections
        esc = html.escape

        def pre(text: str) -> str:
            return f"<pre style='margin:0.2em 0 0.6em 1em'>{esc(text)}</pre>"

        rules = []
        for name, firings in _by_rule(s["rules"]).items():
            changes = [d for f in firings for d in f["changes"]]
            diff = "".join(
                f"<div style='color:{'#b00' if d.startswith('-') else '#070'}'>{esc(d)}</div>" for d in changes
            )
            rules.append(
                f"<details><summary><code>{esc(name)}</code> ({esc(_when(firings))}, "
                f"{len(changes)} lines)</summary><pre style='margin-left:1em'>{diff}</pre></details>"
            )
        stages = "".join(
            f"<tr><td>{st['id']}</td><td>{esc(st['kind'])}</td><td>{esc(st['boundary'])}</td>"
            f"<td>{esc(_res(st['resources']))}</td><td>{st['batch_size']}</td><td>{esc(str(st['concurrency']))}</td>"
            f"<td>{'yes' if st['actor'] else ''}</td><td><code>{esc(' → '.join(st['ops']))}</code>"
            + (f"<details><summary>Polars plan</summary>{pre(st['program'])}</details>" if st.get("program") else "")
            + "</td></tr>"
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
        "physical": [
            {**st.to_dict(), **({"program": _polars_program(st)} if st.kind == "relational" else {})}
            for st in physical.stages()
        ],
        "schema": {f.name: str(f.dtype) for f in plan.schema.fields},
    }
    if format == "dict":
        return data
    rules: list[dict[str, Any]] = data["rules"]  # type: ignore[assignment]
    fired = _rules_text(rules)
    stage_lines: list[str] = []
    _stage_lines(physical.root, 0, stage_lines)
    n_rules = len({r["rule"] for r in rules})
    text = "\n".join(
        [
            "== Logical plan ==",
            str(data["logical"]),
            "",
            "== Optimized plan ==",
            str(data["optimized"]),
            "",
            f"== Rules fired ({n_rules}) ==",
            *(fired or ["  (none)"]),
            "",
            "== Physical plan ==",
            *stage_lines,
        ]
    )
    out = Explanation(text)
    out.sections = data
    return out
