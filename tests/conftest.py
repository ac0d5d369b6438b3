"""Shared fixtures: generated TPC-H and TPC-DS data, the executor parametrization, quiet defaults."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("THRESHER_PROGRESS", "0")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"

TPCH_TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")


def _tpchgen() -> str:
    exe = Path(sys.executable).parent / "tpchgen-cli"
    if exe.exists():
        return str(exe)
    found = shutil.which("tpchgen-cli")
    if found is None:
        pytest.skip("tpchgen-cli is not installed")
    return found


def generate_tpch(scale: float) -> Path:
    """TPC-H at ``scale`` as one folder per table (generated once, cached under .data/)."""
    out = DATA / f"tpch-sf{scale:g}"
    marker = out / ".complete"
    if marker.exists():
        return out
    DATA.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers each run this session fixture: one generates, the others wait for it
    with open(DATA / f".tpch-sf{scale:g}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return out
        tmp = DATA / f"tpch-sf{scale:g}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        subprocess.run([_tpchgen(), "parquet", "-s", str(scale), f"--output-dir={tmp}"], check=True,
                       stdout=subprocess.DEVNULL)
        for t in TPCH_TABLES:
            # tpchgen writes <table>.parquet; keep one folder per table so globs are uniform
            src = tmp / f"{t}.parquet"
            (tmp / t).mkdir(exist_ok=True)
            if src.exists():
                src.rename(tmp / t / "part-0.parquet")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        marker.touch()
    return out


def _tpcgen() -> str:
    exe = Path(sys.executable).parent / "tpcgen-cli"
    if exe.exists():
        return str(exe)
    found = shutil.which("tpcgen-cli")
    if found is None:
        pytest.skip("tpcgen-cli is not installed (the dev extra)")
    return found


def generate_tpcds(scale: float) -> Path:
    """TPC-DS at ``scale`` as ``<table>.parquet`` files (generated once, cached under .data/)."""
    out = DATA / f"tpcds-sf{scale:g}"
    marker = out / ".complete"
    if marker.exists():
        return out
    DATA.mkdir(parents=True, exist_ok=True)
    with open(DATA / f".tpcds-sf{scale:g}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers: one generates, the others wait
        if marker.exists():
            return out
        tmp = DATA / f"tpcds-sf{scale:g}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        subprocess.run([_tpcgen(), "tpcds", "parquet", "-s", str(scale), f"--output-dir={tmp}"], check=True,
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        marker.touch()
    return out


@pytest.fixture(scope="session")
def tpcds_generate() -> Callable[[float], Path]:
    """``generate_tpcds`` (TPC-DS Parquet at a scale, generated once under a file lock)."""
    return generate_tpcds


@pytest.fixture(scope="session")
def tpch_dir() -> Path:
    """TPC-H SF 0.1 generated with tpchgen-cli (decimal128 and string_view columns)."""
    return generate_tpch(0.1)


def executor_names() -> list[str]:
    names = ["local"]
    if os.environ.get("THRESHER_TEST_RAY", "1") != "0":
        try:
            import importlib.util

            if importlib.util.find_spec("ray") is not None and importlib.util.find_spec("thresher.engine.ray") is not None:
                names.append("ray")
        except ImportError:
            pass
    return names


@pytest.fixture(params=executor_names())
def runner(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once per executor ("local", and "ray" when available)."""
    return str(request.param)
