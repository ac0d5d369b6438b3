"""Progress bars per stage (rows out, rows/s), in a terminal or a notebook (tqdm.auto)."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from thresher.engine.stats import RunStats
from thresher.planner.physical import PhysicalPlan


def _default_enabled() -> bool:
    env = os.environ.get("THRESHER_PROGRESS")
    if env is not None:
        return env not in ("0", "false", "no", "")
    return sys.stderr.isatty() or "ipykernel" in sys.modules


class ProgressReporter:
    def __init__(self, plan: PhysicalPlan, stats: RunStats, enabled: bool | None = None) -> None:
        self.enabled = _default_enabled() if enabled is None else enabled
        self._bars: dict[int, Any] = {}
        self._lock = threading.Lock()
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        for i, s in enumerate(plan.stages()):
            desc = f"stage {s.id} {s.kind}"
            self._bars[s.id] = tqdm(desc=desc, unit=" rows", position=i, leave=False, dynamic_ncols=True)

    def update(self, stage_id: int, rows: int) -> None:
        if not self.enabled:
            return
        bar = self._bars.get(stage_id)
        if bar is not None:
            with self._lock:
                bar.update(rows)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
