"""stream_video_frames: ``explode`` of a ``video.frames`` column becomes a streaming fan-out.

Before::

    Explode [f]
      Project [col("id"), col("v").video.frames(every_seconds=1.0, ...).alias("f")]

After::

    FlatMap outer video.frames[every_seconds=1.0](col("v")) -> [f]
      Project [col("id"), col("v")]

``video.frames`` builds the list of every sampled frame of a video before ``explode`` cuts it
into rows, so a long video sits in memory whole (an hour at 1 frame/s, 224×224: 540 MB). The
FlatMap runs the same sampler (:class:`~thresher.operators.kernels.video.VideoFramesGenerator`)
as a generator, emitting frames in batches as they are decoded, several videos at once in input
order. The result is the same table: the column keeps its name, position and type
(``struct<timestamp, image>``), the other columns repeat per frame, and ``outer`` gives explode's
rule for a null or empty list: a null video, one that yields no frame, or one that fails to
decode under ``on_error="null"`` keeps one row with a null frame. (One difference remains: a
video that fails *after* more than a batch of its frames were emitted keeps those frames, where
the list form would give one null row; PyAV reports broken containers before the first frame, so
this needs a stream that breaks midway.)

When the video comes from ``url.download(path)`` (``on_error="null"``), the fan-out takes the
download over: a local file is decoded straight from disk by FFmpeg, so the encoded bytes of a
long video are never held whole either; other urls are downloaded per row as they are reached.
A url that cannot be fetched gives the null row ``url.download`` would have.

The rule fires only for an ``explode`` of that one column, right above the projection that
computes it, with ``on_error`` "null" or "raise" (``"column"`` adds an error column the fan-out
does not produce), and when no other expression of that projection decodes the same frames.
"""

from __future__ import annotations

from typing import Any

from thresher.datatypes import Field, Schema
from thresher.expressions.expr import Alias, Call, Column, Expr
from thresher.planner.logical import Explode, FlatMap, LogicalPlan, Project
from thresher.planner.optimizer.rules._util import rewrite_bottom_up


def _frames_call(e: Expr) -> Call | None:
    while isinstance(e, Alias):
        e = e.child
    if isinstance(e, Call) and e.name == "video.frames" and e.option("on_error", "null") in ("null", "raise"):
        return e
    return None


def _download(e: Expr) -> Call | None:
    """A ``url.download`` with ``on_error="null"`` (a failure is a null, nothing else to report)."""
    if isinstance(e, Call) and e.name == "url.download" and e.option("on_error", "null") == "null":
        return e
    return None


def _generator(column: str, call: Call, download: Call | None) -> Any:
    # the kernel layer holds the generator; imported here so planning without video never loads it
    from thresher.operators.kernels.video import video_frames_generator

    return video_frames_generator(column, every_seconds=call.option("every_seconds"),
                                  num_frames=call.option("num_frames"),
                                  keyframes_only=bool(call.option("keyframes_only", False)),
                                  width=call.option("width"), height=call.option("height"),
                                  on_error=call.option("on_error", "null"), as_struct=True,
                                  download=None if download is None else dict(download.options))


def rewrite(node: LogicalPlan) -> LogicalPlan | None:
    if not (isinstance(node, Explode) and len(node.columns) == 1 and isinstance(node.input, Project)):
        return None
    (name,) = node.columns
    proj = node.input
    target = next((e for e in proj.exprs if e.output_name() == name), None)
    call = None if target is None else _frames_call(target)
    if call is None:
        return None
    others = tuple(e for e in proj.exprs if e is not target)
    key = call.key()
    if any(isinstance(n, Call) and n.key() == key for e in others for n in e.walk()):
        return None  # the same frames are decoded for another column too: keep the one list
    kept = tuple(e.output_name() for e in others)
    (src,) = call.args
    download = _download(src)
    if download is not None:
        (src,) = download.args  # the fan-out opens the path itself: the file is never read whole
    if isinstance(src, Column) and any(isinstance(e, Column) and e.name == src.name for e in others):
        arg: Expr = src  # the video column is kept anyway: read it from there
        lower = others
    else:
        hidden = f"__{name}_video_src"
        while hidden in proj.schema.names or hidden in proj.input.schema.names:
            hidden = "_" + hidden
        arg = Column(hidden)
        lower = (*others, src.alias(hidden))
    element = node.schema.field(name)
    flat = FlatMap(Project(proj.input, lower), _generator(name, call, download), (arg,),
                   Schema([Field(name, element.dtype)]), kept, outer=True)
    if flat.schema.names == node.schema.names:
        return flat
    return Project(flat, tuple(Column(n) for n in node.schema.names))


def apply(plan: LogicalPlan) -> LogicalPlan | None:
    return rewrite_bottom_up(plan, rewrite, only=(Explode,))
