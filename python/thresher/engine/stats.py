"""Per-stage run statistics: rows and bytes in/out, wall and busy time, bad rows."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageStats:
    stage_id: int
    name: str
    rows_in: int = 0
    rows_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    batches_out: int = 0
    busy_seconds: float = 0.0
    started: float | None = None
    finished: float | None = None
    error_rows: int = 0
    error_samples: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    #: times the stage's output was produced: a stage read again by a later one (a dedup's
    #: second pass over its input) runs twice, but its rows are counted once
    passes: int = 0
    #: rows and bytes produced again by passes after the first (not in rows_out/bytes_out)
    reread_rows: int = 0
    reread_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin_pass(self) -> bool:
        """Start producing the stage's output; True for the first pass (whose rows count)."""
        with self._lock:
            self.passes += 1
            return self.passes == 1

    def add_reread(self, rows: int, nbytes: int) -> None:
        """Output rows of a later pass: the same rows again, kept apart from ``rows_out``."""
        with self._lock:
            self.reread_rows += rows
            self.reread_bytes += nbytes

    def add_out(self, rows: int, nbytes: int) -> None:
        with self._lock:
            if self.started is None:
                self.started = time.perf_counter()
            self.rows_out += rows
            self.bytes_out += nbytes
            self.batches_out += 1

    def add_in(self, rows: int, nbytes: int = 0) -> None:
        with self._lock:
            if self.started is None:
                self.started = time.perf_counter()
            self.rows_in += rows
            self.bytes_in += nbytes

    def add_busy(self, seconds: float) -> None:
        with self._lock:
            self.busy_seconds += seconds

    def add_metrics(self, metrics: dict[str, Any]) -> None:
        """Merge a worker's UDF counters (model tokens, routing) into ``extra``: numbers add up."""
        if not metrics:
            return
        from thresher.operators.base import merge_metrics

        with self._lock:
            merge_metrics(self.extra, metrics)

    def _rates(self) -> dict[str, float]:
        """Token throughput over the stage's wall time, when its UDFs reported model tokens."""
        tokens = int(self.extra.get("prompt_tokens", 0)) + int(self.extra.get("completion_tokens", 0))
        wall = self.wall_seconds
        if not tokens or wall <= 0:
            return {}
        return {
            "tokens_per_s": round(tokens / wall, 1),
            "completion_tokens_per_s": round(int(self.extra.get("completion_tokens", 0)) / wall, 1),
        }

    @property
    def wall_seconds(self) -> float:
        if self.started is None:
            return 0.0
        end = self.finished if self.finished is not None else time.perf_counter()
        return end - self.started

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage_id,
            "name": self.name,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "batches_out": self.batches_out,
            "wall_s": round(self.wall_seconds, 4),
            "busy_s": round(self.busy_seconds, 4),
            "error_rows": self.error_rows,
            **({"errors": self.error_samples[:5]} if self.error_samples else {}),
            **({"passes": self.passes, "reread_rows": self.reread_rows} if self.passes > 1 else {}),
            **self.extra,
            **self._rates(),
        }


@dataclass
class RunStats:
    stages: dict[int, StageStats] = field(default_factory=dict)
    wall_seconds: float = 0.0
    peak_buffered_bytes: int = 0
    executor: str = "local"
    #: bytes of the objects ``ray.get`` returned to the driver in a Ray run (0 locally): metadata
    #: only, unless a stage had to hold data there (a collect's result, a gathered barrier)
    driver_bytes_received: int = 0

    def stage(self, stage_id: int, name: str) -> StageStats:
        s = self.stages.get(stage_id)
        if s is None:
            s = self.stages[stage_id] = StageStats(stage_id, name)
        return s

    def to_dicts(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in sorted(self.stages.values(), key=lambda s: s.stage_id)]

    def __repr__(self) -> str:
        lines = [f"RunStats({self.executor}, wall={self.wall_seconds:.3f}s, peak_buffered={_size(self.peak_buffered_bytes)})"]
        for d in self.to_dicts():
            lines.append(
                f"  stage {d['stage']:>2} {d['name']:<40} rows {d['rows_in']:>10} -> {d['rows_out']:>10}"
                f"  bytes {_size(d['bytes_in']):>9} -> {_size(d['bytes_out']):>9}"
                f"  wall {d['wall_s']:8.3f}s busy {d['busy_s']:8.3f}s"
                + (f"  bad rows {d['error_rows']}" if d["error_rows"] else "")
                + (f"  (read {d['passes']} times: {d['reread_rows']} rows again)" if "passes" in d else "")
                + (
                    f"  tokens {d.get('prompt_tokens', 0)}+{d.get('completion_tokens', 0)}"
                    f" (cached {d.get('cached_prompt_tokens', 0)}) {d['tokens_per_s']:.0f} tok/s"
                    if "tokens_per_s" in d
                    else ""
                )
            )
        return "\n".join(lines)


def _size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f}{unit}"
    return f"{n}B"
