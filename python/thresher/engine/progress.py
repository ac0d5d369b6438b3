"""Progress bars, in a terminal or a notebook (tqdm.auto widgets there).

One overall bar on top counts the rows the scans read, with a total and an ETA when the sources
know their row counts (Parquet metadata, file listings); one bar per stage below it counts the
stage's output rows (with rows/s) and shows its input rows beside them. When the run ends the
bars go and one summary line stays.
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
from thresher.planner.physical import PhysicalPlan, ScanSpec


def _default_enabled() -> bool:
    env = os.environ.get("THRESHER_PROGRESS")
    if env is not None:
        return env.lower() not in ("0", "false", "no", "off", "")
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def progress_enabled(flag: bool | None) -> bool:
    """Whether a run with ``progress=flag`` shows bars (None: the default, see the module)."""
    return _default_enabled() if flag is None else flag


class ProgressReporter:
    """One bar per stage; ``update(stage_id, rows)`` adds output rows (thread-safe)."""

    #: seconds between refreshes of the "in" counters (tqdm itself throttles the bars)
    refresh = 0.2

    def __init__(self, plan: PhysicalPlan, stats: RunStats, enabled: bool | None = None) -> None:
        self.enabled = progress_enabled(enabled)
        self._stats = stats
        self._bars: dict[int, Any] = {}
        self._rows: dict[int, int] = {}
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()
        self._scans = {s.id for s in plan.stages() if isinstance(s.spec, ScanSpec)}
        self._root = plan.root.id
        self._started = time.monotonic()
        self._overall: Any = None
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        self.total = _scan_total(plan)
        self._overall = tqdm(desc="thresher", unit=" rows", total=self.total, position=0, leave=False,
                             dynamic_ncols=True, mininterval=self.refresh)
        for i, s in enumerate(plan.stages()):
            label = cut_label(s.describe().split(": ", 1)[-1], 40)
            self._bars[s.id] = tqdm(desc=f"  [{s.id}] {s.kind} {label}", unit=" rows", position=i + 1, leave=False,
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
                if stage_id in self._scans and self._overall is not None:
                    self._overall.update(rows)
            now = time.monotonic()
            if now - self._last.get(stage_id, 0.0) >= self.refresh:
                self._last[stage_id] = now
                st = self._stats.stages.get(stage_id)
                if st is not None and st.rows_in:
                    bar.set_postfix_str(f"in={st.rows_in:,}", refresh=False)

    def rows(self, stage_id: int) -> int:
        """Output rows reported for a stage so far."""
        return self._rows.get(stage_id, 0)

    def summary(self) -> str:
        """The line that stays when the bars go: rows read, rows out, time, rate."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        read = sum(self._rows.get(i, 0) for i in self._scans)
        out = self._rows.get(self._root, 0)
        bad = sum(st.error_rows for st in self._stats.stages.values())
        return (f"thresher: {read:,} rows read -> {out:,} rows out in {elapsed:.1f} s ({read / elapsed:,.0f} rows/s)"
                + (f", {bad:,} bad rows (df.stats())" if bad else ""))

    def close(self) -> None:
        with self._lock:
            bars = list(self._bars.values()) + ([self._overall] if self._overall is not None else [])
            for bar in bars:
                bar.close()
            self._bars.clear()
            if self._overall is not None:
                self._overall = None
                print(self.summary(), file=sys.stderr, flush=True)


def cut_label(text: str, width: int) -> str:
    """``text`` cut at a token boundary (not mid-name) to at most ``width`` characters."""
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    for sep in (", ", " ", "(", "."):
        k = cut.rfind(sep)
        if k > width // 2:
            # after a whole argument, say so (", …"): "seed=1…" would read as a cut-off "seed=12"
            return cut[:k].rstrip(" ,(.") + (", …" if sep == ", " else "…")
    return cut + "…"


def _scan_total(plan: PhysicalPlan) -> int | None:
    """Rows the scans will read, from source metadata; None when any source does not know."""
    total = 0
    for s in plan.stages():
        if not isinstance(s.spec, ScanSpec):
            continue
        try:
            n = s.spec.source.statistics().num_rows
        except Exception:  # noqa: BLE001 - a source that cannot say: no total, the bar still counts
            return None
        if n is None or s.spec.predicate is not None:  # a pushed filter reads fewer rows than stored
            return None
        total += min(n, s.spec.limit) if s.spec.limit is not None else n
    return total or None
