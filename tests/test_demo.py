"""``make demo`` (examples/curate.py) on a small corpus: it says plainly that offline it uses tiny
stand-in models and how to run real ones (issue 17, "What to build"), its stage tables count each
row once, and a second run with the same job id is a no-op."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(out: Path) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "THRESHER_PROGRESS": "0",
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "curate.py"), "--out", str(out), "--images", "40"],
                          capture_output=True, text=True, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_demo_states_its_stand_in_models_and_counts_rows_once(tmp_path: Path) -> None:
    text = _run(tmp_path)
    assert "RANDOM-WEIGHT stand-ins that run offline" in text
    assert "--image-model clip --llm " in text  # how to run it with real models
    planted = dict(kv.split("=") for kv in re.search(r"planted: (.*)", text).group(1).split(", "))  # type: ignore[union-attr]
    # was: "Scan json[1 file]  0 -> 1,600 rows" for the 800 paragraphs (the dedup reads its input twice)
    scan = re.search(r"Scan json\[1 file\]\s+\d+ ->\s+(\d+) rows", text)
    assert scan is not None and int(scan.group(1)) == int(planted["paragraphs"]), text
    # was: "bad rows=13" for 7 corrupt files (width() and height() each counted them)
    bad = re.search(r"bad rows=(\d+)", text)
    shown = re.search(r"bad files \(null \+ error, job kept going\)\s+(\d+)", text)
    assert bad is not None and shown is not None and int(bad.group(1)) == int(shown.group(1)) == int(planted["corrupt"])
    again = _run(tmp_path)
    assert "will be a no-op" in again or "no-op" in again
