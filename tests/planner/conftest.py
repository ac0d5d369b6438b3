"""Fixtures for the planner tests: small images on disk, the optimizer switches reset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import thresher as th
from thresher.testing.media import make_jpeg


@pytest.fixture(autouse=True)
def _reset_optimizer() -> Iterator[None]:
    yield
    th.set_optimizer(disabled=[])


@pytest.fixture(scope="session")
def image_paths(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """12 small JPEGs: widths alternate 64 / 32 so a width predicate keeps half."""
    d = tmp_path_factory.mktemp("imgs")
    out = []
    for i in range(12):
        w = 64 if i % 2 == 0 else 32
        p = Path(d) / f"im{i:02d}.jpg"
        p.write_bytes(make_jpeg(w, 24, seed=i))
        out.append(str(p))
    return out


@pytest.fixture
def images_df(image_paths: list[str]) -> th.DataFrame:
    labels = ["cat" if i % 3 == 0 else "dog" for i in range(len(image_paths))]
    return th.from_pydict({"id": list(range(len(image_paths))), "path": image_paths, "label": labels})
