"""Docs that run: every ```python block of README.md and docs/**/*.md executes offline.

The blocks of one page share a namespace and run in order, inside a fresh folder that holds
small fixture data under the paths the docs use (``photos/**/*.jpg``, ``images/*.jpg``,
``tpch/<table>/*.parquet``). A block that truly cannot run offline is marked ```python no-run;
one marked ```python ray starts a local Ray (skipped with THRESHER_TEST_RAY=0, like the Ray tests).
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

import thresher.sql_frontend as sql_frontend
from thresher.testing.media import make_jpeg

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)


def python_blocks(text: str, ray: bool = True) -> list[tuple[int, str]]:
    """(line number, code) of each runnable python block (not ``no-run``; ``ray`` ones if ``ray``)."""
    out = []
    for m in FENCE.finditer(text):
        tags = m.group(1).split()
        if "no-run" in tags or ("ray" in tags and not ray):
            continue
        out.append((text.count("\n", 0, m.start()) + 2, m.group(2)))
    return out


def test_fence_parser_sees_blocks_and_no_run() -> None:
    text = "a\n```python\nx = 1\n```\n```python no-run\nboom()\n```\n```text\nno\n```\n```python ray\ny\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n"), (12, "y\n")]
    assert python_blocks(text, ray=False) == [(3, "x = 1\n")]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory, tpch_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("docs-fixtures")
    sizes = [(320, 240), (400, 300), (300, 300), (120, 90), (640, 480), (256, 256)]
    for i, (w, h) in enumerate(sizes):
        d = root / "photos" / ("trips" if i % 2 else "home")
        d.mkdir(parents=True, exist_ok=True)
        (d / f"p{i}.jpg").write_bytes(make_jpeg(w, h, seed=i))
    (root / "photos" / "home" / "dup.jpg").write_bytes(make_jpeg(320, 240, seed=0))
    (root / "images").mkdir()
    for i, (w, h) in enumerate(sizes):
        (root / "images" / f"i{i}.jpg").write_bytes(make_jpeg(w, h, seed=10 + i))
    (root / "tpch").symlink_to(tpch_dir, target_is_directory=True)
    return root


def _ray_enabled() -> bool:
    return os.environ.get("THRESHER_TEST_RAY", "1") != "0" and importlib.util.find_spec("ray") is not None


def _page_id(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p.read_text())], ids=_page_id)
def test_page_runs(page: Path, fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for entry in fixtures.iterdir():
        (tmp_path / entry.name).symlink_to(entry, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("THRESHER_TINY_MODELS_DIR", str(fixtures / ".models"))
    # a page's th.register(...) stays on its page (the SQL guide registers 'files': other tests
    # in the same worker listed it among the known tables)
    monkeypatch.setattr(sql_frontend, "_CATALOG", dict(sql_frontend._CATALOG))
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for line, code in python_blocks(page.read_text(), ray=_ray_enabled()):
        try:
            exec(compile(code, f"{_page_id(page)}:{line}", "exec"), namespace)  # noqa: S102 - the docs are ours
        except Exception as exc:
            if "timed out during startup" in str(exc):  # Ray's own node start on an overloaded machine
                pytest.skip(f"{_page_id(page)}:{line}: Ray could not start here: {exc}")
            raise AssertionError(f"{_page_id(page)}: the python block at line {line} failed: {exc!r}") from exc


REFERENCE = re.compile(r"^:::\s+([\w.]+)\s*$", re.M)


def _reference_targets() -> list[str]:
    """The objects the reference pages render (``::: thresher.x.y``): their docstrings are docs too."""
    return sorted({m.group(1) for p in PAGES for m in REFERENCE.finditer(p.read_text())})


def _resolve(dotted: str) -> object:
    import importlib

    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for attr in parts[k:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_reference_pages_name_objects_that_exist() -> None:
    targets = _reference_targets()
    assert len(targets) > 10  # the parser sees the reference pages
    for t in targets:
        _resolve(t)


@pytest.mark.parametrize("target", _reference_targets())
def test_reference_docstring_examples_run(target: str, fixtures: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Every example in a docstring a reference page shows runs and prints what it shows."""
    import doctest

    for entry in fixtures.iterdir():
        (tmp_path / entry.name).symlink_to(entry, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(sql_frontend, "_CATALOG", dict(sql_frontend._CATALOG))
    obj = _resolve(target)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    module = importlib.import_module(getattr(obj, "__module__", None) or target)
    for test in finder.find(obj, target, module=module, globs=dict(vars(module))):
        runner.run(test, out=lambda s: None)
    assert runner.failures == 0, f"{target}: {runner.failures} docstring example(s) fail (run doctest on it)"


def test_no_python_block_escapes_the_runner() -> None:
    """A page added later (docs/guide/scale.md, ...) is found by the glob; a block fenced as
    ```py, ```python3 or ```pycon would be skipped silently, so those fences are refused."""
    assert {p.name for p in PAGES} >= {"README.md", "dataframe.md", "media.md"}
    bad = []
    for p in PAGES:
        for m in re.finditer(r"^```(\S*)", p.read_text(), re.M):
            lang = m.group(1).lower()
            if lang.startswith("py") and lang != "python" or lang in ("ipython", "jupyter"):
                bad.append(f"{_page_id(p)}: ```{m.group(1)}")
    assert not bad, f"use ```python (or ```python no-run): {bad}"
