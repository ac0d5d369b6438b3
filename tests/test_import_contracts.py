"""The import-linter layers contract names every module of the package (DESIGN.md: "contracts in
pyproject.toml cover every module"): a new top-level module must be placed in a layer."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

import thresher

_ROOT = Path(__file__).resolve().parents[1]


def test_every_top_level_module_is_in_a_layer() -> None:
    config = tomllib.loads((_ROOT / "pyproject.toml").read_text())
    layers = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")["layers"]
    named = {m.strip() for layer in layers for m in re.split(r"[|:]", layer)}
    package = Path(thresher.__file__).parent
    modules = {f"thresher.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {f"thresher.{p.parent.name}" for p in package.glob("*/__init__.py")}
    missing = sorted(modules - named)
    assert not missing, f"put these modules in a layer of the import-linter contract in pyproject.toml: {missing}"
    assert not named - modules, f"the layers name modules that do not exist: {sorted(named - modules)}"
