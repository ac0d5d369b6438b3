"""Progress bars per stage, in a terminal or a notebook (tqdm.auto).

Each bar counts the stage's output rows (with rows/s) and shows its input rows beside them.
Off when ``THRESHER_PROGRESS=0`` (the test suite sets that), on by default in a terminal or a
notebook; ``th.set_progress(True/False)`` or ``collect(progress=...)`` overrides.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from thresher.engine.stats import RunStats
from thresher.planner.physical import PhysicalPlan


def _default_enabled() -> bool:
    env = os.environ.get("THRESHER_PROGRESS")
    if env is not None:
        return env.lower() not in ("0", "false", "no", "off", "")
    return sys.stderr.isatty() or "ipykernel" in sys.modules


class ProgressReporter:
    """One bar per stage; ``update(stage_id, rows)`` adds output rows (thread-safe)."""

    #: seconds between refreshes of the "in" counters (tqdm itself throttles the bars)
    refresh = 0.2

    def __init__(self, plan: PhysicalPlan, stats: RunStats, enabled: bool | None = None) -> None:
        self.enabled = _default_enabled() if enabled is None else enabled
        self._stats = stats
        self._bars: dict[int, Any] = {}
        self._rows: dict[int, int] = {}
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        for i, s in enumerate(plan.stages()):
            label = s.describe().split(": ", 1)[-1][:40]
            self._bars[s.id] = tqdm(desc=f"[{s.id}] {s.kind} {label}", unit=" rows", position=i, leave=False,
                                    dynamic_ncols=True, mininterval=self.refresh)

    def update(self, stage_id: int, rows: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._rows[stage_id] = self._rows.get(stage_id, 0) + rows
            bar = self._bars.get(stage_id)
            if bar is None:
                return
            if rows:
                bar.update(rows)
            now = time.monotonic()
            if now - self._last.get(stage_id, 0.0) >= self.refresh:
                self._last[stage_id] = now
                st = self._stats.stages.get(stage_id)
                if st is not None and st.rows_in:
                    bar.set_postfix_str(f"in={st.rows_in:,}", refresh=False)

    def rows(self, stage_id: int) -> int:
        """Output rows reported for a stage so far."""
        return self._rows.get(stage_id, 0)

    def close(self) -> None:
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()
