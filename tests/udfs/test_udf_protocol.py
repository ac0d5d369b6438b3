"""The declared UDF protocols (``expressions/udf_protocol.py``): every implementation has every
member, and the layers read them as plain attributes (no ``getattr`` with a default)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import thresher as th
from thresher.expressions.udf_protocol import ExprUDFProtocol, GeneratorUDFProtocol, UDFProtocol
from thresher.operators.kernels.video import video_frames_generator
from thresher.udfs.ai.model_functions import ModelFunction

_PACKAGE = Path(th.__file__).parent


def _members(proto: type) -> set[str]:
    return {n for n, _ in inspect.getmembers(proto) if not n.startswith("_")} - {"register"}


@th.udf(return_dtype="int64", num_gpus=0.5, concurrency=(1, 2), cost="io")
def _plus_one(x: int) -> int:
    return x + 1


@th.udf(return_dtype={"i": "int64"})
def _count_to(n: int):  # type: ignore[no-untyped-def]
    yield from ({"i": i} for i in range(n))


def test_every_implementation_has_every_member() -> None:
    model = ModelFunction(name="embed_text", task="embed_text", provider="sentence_transformers", model="m")
    frames = video_frames_generator("frame", every_seconds=1.0)
    for u in (_plus_one, model):
        assert isinstance(u, ExprUDFProtocol), u
        assert all(hasattr(u, m) for m in _members(ExprUDFProtocol))
    for u in (_count_to, frames):
        assert isinstance(u, GeneratorUDFProtocol), u
        assert all(hasattr(u, m) for m in _members(GeneratorUDFProtocol))
    assert not isinstance(object(), UDFProtocol)
    assert (_plus_one.num_gpus, _plus_one.concurrency, _plus_one.cost, _plus_one.is_generator) == (0.5, (1, 2), "io", False)
    assert (_count_to.is_generator, frames.is_generator, frames.thread_safe, model.is_class) == (True, True, True, True)


def test_flat_map_rejects_what_is_not_a_generator_udf() -> None:
    df = th.from_pydict({"n": [2]})
    with pytest.raises(th.errors.ThresherTypeError, match="generator udf"):
        df.flat_map(_plus_one, th.col("n"))
    with pytest.raises(th.errors.ThresherTypeError, match="generator udf"):
        df.flat_map(lambda n: n, th.col("n"))
    assert df.flat_map(_count_to, th.col("n")).to_pydict() == {"n": [2, 2], "i": [0, 1]}


def test_no_layer_reads_a_udf_attribute_with_a_default() -> None:
    # (not "name" and "fn": every other kind of object has those too)
    members = "|".join(sorted((_members(ExprUDFProtocol) | _members(GeneratorUDFProtocol)) - {"name", "fn"}))
    read = re.compile(rf"getattr\((?P<obj>[\w.]+), \"(?:{members})\"")
    offenders = []
    for path in _PACKAGE.rglob("*.py"):
        rel = path.relative_to(_PACKAGE).as_posix()
        for i, line in enumerate(path.read_text().splitlines(), 1):
            m = read.search(line)
            if m and m.group("obj") != "provider":  # a model provider is no UDF
                offenders.append(f"{rel}:{i}: {line.strip()}")
    assert offenders == []
