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
# Every test process starts a Ray of its own where a test does not name a cluster. Without an
# address ``ray.init()`` joins the cluster named in /tmp/ray/ray_current_cluster (written by
# ``ray start`` and by ``ray.cluster_utils.Cluster``, the multi-node tests' cluster, and left
# behind): a pytest-xdist worker that joined another worker's cluster is killed by Ray's core
# worker ("Exiting because the Raylet IPC connection failed and the local Raylet is dead",
# written only to Ray's driver log) when that worker shuts it down, and pytest-xdist reports
# "node down: Not properly terminated" in whatever test it was running.
os.environ.setdefault("RAY_ADDRESS", "local")

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


@pytest.fixture(scope="session")
def ray_started() -> None:
    """Ray started in this test process (once), as the executor starts it.

    A fixture, so that tests with a hang limit of their own can leave Ray's start out of it
    (``@pytest.mark.timeout(..., func_only=True)``): on this 2-core box at load 45-60 the start
    takes 20-25 s, and up to ~100 s when the raylet misses Ray's 30 s registration window and
    ``ensure_ray`` starts it again; the first Ray test of a pytest-xdist worker paid that
    inside its limit (test_tiny_budget_completes[ray-1600], 120 s, runs in 1-7 s once Ray is up).
    """
    from thresher.engine.ray_runtime import ensure_ray

    ensure_ray()


@pytest.fixture(params=executor_names())
def runner(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once per executor ("local", and "ray" when available; Ray is
    started in the fixture's setup, see ``ray_started``)."""
    if request.param == "ray":
        request.getfixturevalue("ray_started")
    return str(request.param)


# -- a pytest-xdist worker that dies ---------------------------------------------------------------
# pytest-xdist says only "node down: Not properly terminated" for a worker that died without a
# Python traceback (faulthandler prints one for a segfault): killed by a signal, an os._exit, or
# Ray's core worker, which ends its driver process when the driver's raylet dies and says why only
# in Ray's driver log. Each worker records its pid; the controller prints what Ray's driver log
# of a worker that went down says (its warnings and errors), where there is one.

def _worker_pids(controller_pid: int) -> Path:
    import tempfile

    return Path(tempfile.gettempdir()) / f"thresher-xdist-{controller_pid}"


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        folder = _worker_pids(os.getppid())
        folder.mkdir(exist_ok=True)
        (folder / worker).write_text(str(os.getpid()))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    if not error:
        return
    import glob
    import tempfile

    try:
        pid = (_worker_pids(os.getpid()) / node.gateway.id).read_text().strip()  # type: ignore[attr-defined]
    except (OSError, AttributeError):
        return
    logs = sorted(glob.glob(os.path.join(tempfile.gettempdir(), "ray", "session_*", "logs",
                                         f"python-core-driver-*_{pid}.log")))
    lines = [f"{path}: {line.rstrip()}" for path in logs[-2:]
             for line in Path(path).read_text(errors="replace").splitlines() if " E " in line or " F " in line
             or " W " in line or "Exiting" in line]
    said = "\n".join(lines[-30:]) or (f"(no warning or error in {', '.join(logs[-2:])})" if logs else
                                       "(the process has no Ray driver log)")
    sys.stderr.write(f"\nworker pid {pid} went down ({error}); Ray's driver log says:\n{said}\n")
