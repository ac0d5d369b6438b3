"""fuse_decode_resize: ``image.decode`` followed by ``image.resize`` becomes one ``image.decode_resize``.

Before::

    Project [col("bytes").image.decode(mode='RGB').image.resize(width=64, height=64).alias("thumb")]

After::

    Project [col("bytes").image.decode_resize(mode='RGB', width=64, height=64).alias("thumb")]

The fused kernel asks the JPEG decoder for a reduced DCT scale (draft mode: 1/2, 1/4 or 1/8 of the
pixels, never smaller than the target) and resizes from there, so a 4000×3000 photo resized to
224×224 decodes an eighth of its pixels. The output has the same type, size and mode; pixel values
may differ from a full decode-then-resize by resampling rounding (a few levels on average), which
is why the rule can be switched off (``th.set_optimizer(disabled=["fuse_decode_resize"])``) where
bit-exact pixels matter. Only a decode whose result feeds nothing but the resize is fused (after
``projection_merge`` has inlined a decode column used once).
"""

from __future__ import annotations

from thresher.expressions.expr import Call, Expr
from thresher.planner.logical import LogicalPlan
from thresher.planner.optimizer.rules._exprs import rewrite_exprs
from thresher.planner.optimizer.rules._util import plan_calls


def fuse(e: Expr) -> Expr | None:
    """The fused call for ``resize(decode(x))``, else None."""
    if not (isinstance(e, Call) and e.name == "image.resize"):
        return None
    inner = e.args[0]
    if not (isinstance(inner, Call) and inner.name == "image.decode"):
        return None
    opts = (
        ("mode", inner.option("mode")),
        ("width", e.option("width")),
        ("height", e.option("height")),
        ("keep_aspect", bool(e.option("keep_aspect", False))),
        ("filter", e.option("filter", "bilinear")),
        ("on_error", inner.option("on_error", "null")),
    )
    return Call("image.decode_resize", inner.args, opts)


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    if "image.resize" not in plan_calls(plan):
        return None
    return rewrite_exprs(plan, fuse)
