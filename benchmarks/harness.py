"""One harness for every benchmark: the rules a skeptical reader can check.

Rules (enforced here, not left to each script):

1. **One process per engine.** Each engine runs in its own worker process (``python -m
   benchmarks.harness worker BENCH ENGINE``), started fresh for every benchmark. No engine
   shares caches, thread pools, imported modules or a Ray cluster with another.
   With ``--processes K`` every engine's worker is restarted so its rounds are spread over K
   processes: the rounds are split into K consecutive blocks of (nearly) equal size, and
   before each block every worker is closed and started again, at the same points for every
   engine, each doing the same warm-up again. One process can be unlucky for its whole life
   (its heap, thread and memory layout); a median over rounds of one process cannot show that,
   a median over rounds of several can. The rounds' median is over all processes; each row's
   per-process medians (wall and CPU) are in the JSON (``process_medians_s``,
   ``process_cpu_medians_s``). The default is one process (``Bench.processes`` or a
   ``worker_processes`` setting changes it; ``tpch_df --full``: 3 processes of 4 rounds).
2. **Start-up is reported, never timed into a round.** Imports, ``ray.init``, model loads and
   opening inputs happen in the engine's ``start`` hook; the harness reports the wall time from
   spawning the process until it is ready, for every engine alike.
3. **Same warm-up, same rounds, interleaved.** Every engine gets the same number of untimed
   warm-up runs and the same number of timed rounds; rounds are interleaved (round r runs every
   engine once, the order rotated each round and reversed every other round) so a change in machine
   load hits all engines alike and no engine always runs right after the same other engine (its
   predecessor's memory and cache traffic would tilt one ratio).
   The table reports the median round (min and all rounds are in the JSON), the ratio of the
   medians, and the *paired* ratio: the median over rounds of the ratio within each round
   (baseline's round r over the engine's round r, run next to each other), which a load that
   drifts across rounds cannot tilt; its min-max range over the rounds is in the table too.
4. **Caches reset between rounds.** An engine's ``reset`` hook runs before every round, outside
   the timer (e.g. a provider's prefix KV cache is emptied). A benchmark that wants a warm cache
   reports it as a separate engine or case, never as the only number.
5. **Same work on every side.** Inputs are prepared once by the driver (files under a work
   folder) and every engine reads the same ones; converting them to an engine's own in-memory
   form is part of the round for everybody. Each script states what "the same work" means for
   it (hash function and shingles, encode quality, decode size...) in its docstring; where two
   modes are defensible, both are reported as separate engines.
6. **Outputs are compared before a time counts.** After every run the worker reduces the output
   to a canonical value outside the timer (row count plus a checksum, sorted ids, a signature
   digest...). Every round of every engine is compared with the reference engine's first
   output; a mismatch marks the row ``MISMATCH`` and its time is excluded from ratios and means.
7. **Peers that pin other versions run in their own interpreter.** ``--python ENGINE=PATH`` (or
   ``THRESHER_BENCH_PYTHON_<GROUP>=PATH``, e.g. ``..._DAFT``) runs that engine's worker with
   another Python (a venv with daft and the pyarrow it wants). An engine whose modules cannot be
   imported gets a ``not installed`` row, not an error.
8. **Everything is written down.** Per benchmark: ``benchmarks/results/NAME.json`` (every
   round, start-up, peak RSS, the machine, its load average before and after), ``NAME.md`` (the
   table) and ``NAME.png`` (a bar chart); ``docs/benchmarks.md`` is generated from the JSON files.
   With ``THRESHER_BENCH_COUNTERS=1`` every round of every engine also records its worker's
   page faults, context switches, RSS and Python allocator counts (``counters`` in the JSON; a
   load-independent view next to the times, read outside the timer).

A benchmark module (``benchmarks/NAME_bench.py``) defines ``BENCH = Bench(...)`` with module-level
hooks (workers import the module by name, so hooks must be importable functions). Modules import
only the standard library, NumPy and PyArrow at top level, so a peer's interpreter can load them.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import platform
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DOCS_PAGE = ROOT / "docs" / "benchmarks.md"

Hook = Callable[..., Any]


@dataclass(frozen=True)
class Engine:
    """One side of a benchmark.

    ``start(params) -> state`` (start-up, reported separately), ``run(state, case) -> output``
    (the timed round), ``check(state, case, output) -> canonical`` (outside the timer; a JSON
    value compared across engines), ``reset(state)`` (before every round, outside the timer),
    ``metrics(state, case, output) -> dict`` (extra numbers per round, e.g. a hit rate).
    ``requires`` lists modules that must import; ``group`` names the interpreter setting
    (``THRESHER_BENCH_PYTHON_<GROUP>``) for peers that live in their own venv.
    """

    name: str
    start: Hook
    run: Hook
    check: Hook
    reset: Hook | None = None
    metrics: Hook | None = None
    requires: tuple[str, ...] = ()
    group: str = ""
    note: str = ""
    supports: Hook | None = None  # supports(case) -> bool; other cases get an "n/a" row


@dataclass(frozen=True)
class Bench:
    """A benchmark: prepared inputs, engines, what counts as the same output, and settings."""

    name: str
    title: str
    engines: tuple[Engine, ...]
    reference: str  # whose output every other output is compared with
    baseline: str  # ratios are baseline_time / engine_time (> 1: faster than the baseline)
    units: str  # what one round processes, e.g. "images"
    quick: dict[str, Any]  # parameters for `all` (a few minutes on 2 cores)
    full: dict[str, Any]  # parameters of the published numbers
    prepare: Hook | None = None  # prepare(params, workdir) -> dict merged into params (driver, once)
    cases: Hook | None = None  # cases(params) -> list[str]; default one case ""
    count: Hook | None = None  # count(params) -> units per round
    compare: Hook | None = None  # compare(reference_canonical, canonical) -> bool (default ==)
    primary: str = "seconds"  # or a metric name (simulators report counts, not time)
    higher_is_better: bool = False
    rounds: int = 5
    warmup: int = 1
    timeout_s: float = 600.0
    processes: int = 1  # worker processes per engine over the rounds (rule 1; a "worker_processes" setting wins)
    notes: str = ""
    summary: Hook | None = None  # summary(result) -> Markdown shown under the table (e.g. a sweep's worst/median)


# --------------------------------------------------------------------------- worker side


def _rss_tree() -> int | None:
    """This process's RSS plus each descendant's USS (the pages only it holds).

    A forked worker shares its parent's imported libraries; summing RSS would count them twice.
    """
    try:
        import psutil
    except ImportError:
        return None
    try:
        p = psutil.Process()
        total = p.memory_info().rss
        for pid in _descendants():
            try:
                total += psutil.Process(pid).memory_full_info().uss
            except psutil.Error:
                pass
        return int(total)
    except Exception:  # noqa: BLE001 - a failed sample must not fail a round
        return None


def _descendants() -> list[int]:
    """Pids of this process's descendants.

    Read from Linux's per-thread ``children`` files: psutil's ``children(recursive=True)`` reads
    every process on the machine (~1 ms CPU per sample, inside the timed round, next to the
    engine's threads). Other systems fall back to psutil.
    """
    if not os.path.exists(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/children"):
        import psutil

        return [c.pid for c in psutil.Process().children(recursive=True)]
    found: list[int] = []
    todo = [os.getpid()]
    while todo:
        pid = todo.pop()
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


class _PeakRSS:
    """Peak memory of this worker (RSS) and its children (USS) while a round runs (20 ms samples)."""

    def __enter__(self) -> _PeakRSS:
        self.before = _rss_tree()
        self.peak = self.before or 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            v = _rss_tree()
            if v:
                self.peak = max(self.peak, v)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        v = _rss_tree()
        if v:
            self.peak = max(self.peak, v)


def load_bench(name: str) -> Bench:
    # "_name" is a module of benchmarks/ that `all` does not list (the harness's own self-test)
    mod = importlib.import_module(f"benchmarks.{name}" if name.startswith("_") else f"benchmarks.{name}_bench")
    bench = mod.BENCH
    assert isinstance(bench, Bench), f"benchmarks.{name}_bench.BENCH is not a Bench"
    return bench


def _worker(bench_name: str, engine_name: str) -> int:
    """Serve ``start`` once, then ``run`` / ``quit`` commands as JSON lines on stdin/stdout."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # an engine that prints must not corrupt the protocol
    sys.stdout = sys.stderr

    def send(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj, default=str) + "\n")
        out.flush()

    params = json.loads(sys.stdin.readline())
    counters = os.environ.get("THRESHER_BENCH_COUNTERS") == "1"
    bench = load_bench(bench_name)
    engine = next(e for e in bench.engines if e.name == engine_name)
    missing = [m for m in engine.requires if importlib.util.find_spec(m) is None]
    if missing:
        send({"status": "not installed", "missing": missing})
        return 0
    t0 = time.perf_counter()
    try:
        state = engine.start(params)
    except Exception as exc:  # noqa: BLE001
        send({"status": "error", "error": _short_error(exc)})
        return 0
    send({"status": "ready", "start_s": time.perf_counter() - t0, "rss": _rss_tree()})
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "quit":
            break
        case = cmd["case"]
        try:
            if engine.reset is not None:
                engine.reset(state)
            c0 = _counters() if counters else None
            with _PeakRSS() as rss:
                t, c = time.perf_counter(), time.process_time()
                output = engine.run(state, case)
                seconds, cpu_s = time.perf_counter() - t, time.process_time() - c
            counts = _counter_delta(c0, _counters()) if c0 is not None else None
            canonical = engine.check(state, case, output)
            metrics = engine.metrics(state, case, output) if engine.metrics is not None else {}
            # process CPU seconds of the round (every engine runs its threads in its own worker
            # process): on a machine shared with other jobs this moves much less than wall time
            metrics = {"cpu_s": cpu_s, **metrics}
            del output
            send({"status": "ok", "seconds": seconds, "canonical": canonical, "metrics": metrics,
                  "rss_peak": rss.peak or None, "rss_before": rss.before,
                  **({"counters": counts} if counts is not None else {})})
        except Exception as exc:  # noqa: BLE001 - a failing engine is a row, not a crash
            send({"status": "error", "error": _short_error(exc)})
    return 0


def _counters() -> dict[str, int]:
    """Load-independent counts of this worker (all its threads), read around a round when
    ``THRESHER_BENCH_COUNTERS=1`` (every engine alike; outside the timer): page faults (minor:
    fresh or reclaimed memory touched; major: read from disk), context switches, the process's
    RSS, and the Python allocator's live blocks and gc collections.
    """
    import gc
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        rss = 0
    return {"minflt": ru.ru_minflt, "majflt": ru.ru_majflt, "nvcsw": ru.ru_nvcsw, "nivcsw": ru.ru_nivcsw,
            "rss": rss, "py_blocks": sys.getallocatedblocks(),
            "gc": sum(g["collections"] for g in gc.get_stats())}


def _counter_delta(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """Per-round counts: the difference, except ``rss`` (after the round) and ``rss_before``."""
    out = {k: b[k] - a[k] for k in a if k != "rss"}
    out["rss"], out["rss_before"] = b["rss"], a["rss"]
    return out


def _short_error(exc: BaseException) -> str:
    line = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return line.replace(str(ROOT), ".")[:300]  # no machine paths in results


# --------------------------------------------------------------------------- driver side


class _Proc:
    """The driver's handle on one engine's worker process."""

    def __init__(self, bench: Bench, engine: Engine, params: dict[str, Any], python: str) -> None:
        self.engine = engine
        env = dict(os.environ)
        paths = [str(ROOT)]
        if python == sys.executable:
            paths.append(str(ROOT / "python"))  # this checkout's thresher, whatever is installed
        env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        self.t_spawn = time.perf_counter()
        self.p = subprocess.Popen(
            [python, "-m", "benchmarks.harness", "worker", bench.name, engine.name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, text=True, cwd=ROOT, env=env,
            start_new_session=True,
        )
        self.q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        assert self.p.stdin is not None
        self.p.stdin.write(json.dumps(params) + "\n")
        self.p.stdin.flush()

    def _pump(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.q.put(line)
        self.q.put(None)

    def recv(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            return {"status": "timeout", "error": f"no answer within {timeout:g}s"}
        if line is None:
            return {"status": "error", "error": f"worker exited (code {self.p.wait()})"}
        return json.loads(line)  # type: ignore[no-any-return]

    def send(self, obj: dict[str, Any]) -> None:
        assert self.p.stdin is not None
        try:
            self.p.stdin.write(json.dumps(obj) + "\n")
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def kill(self) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)  # the worker's own session: its pools too
            except ProcessLookupError:
                pass
        self.p.wait()

    def close(self) -> None:
        self.send({"op": "quit"})
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
        else:
            self.kill()  # reaps whatever the engine left in its session (pool processes, raylets)


def interpreter_for(engine: Engine, overrides: dict[str, str]) -> str:
    for key in (engine.name, engine.group):
        if key and key in overrides:
            return overrides[key]
    for key in (engine.name, engine.group):
        env = os.environ.get(f"THRESHER_BENCH_PYTHON_{_env_key(key)}") if key else None
        if env:
            return env
    return sys.executable


def _env_key(s: str) -> str:
    return "".join(c.upper() if c.isalnum() else "_" for c in s)


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(terse=True),
                            "cpus": os.cpu_count()}
    try:
        info["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def run_bench(
    name: str,
    *,
    full: bool = False,
    rounds: int | None = None,
    warmup: int | None = None,
    overrides: dict[str, Any] | None = None,
    pythons: dict[str, str] | None = None,
    only: list[str] | None = None,
    out_dir: Path = RESULTS,
    command: str | None = None,
    processes: int | None = None,
) -> dict[str, Any]:
    """Run one benchmark under the rules above; write its JSON, Markdown and PNG; return the result.

    ``command`` is the one command that reproduces this result (recorded in the JSON and shown
    under the table); by default ``$THRESHER_BENCH_COMMAND`` (set by ``make bench``) or a
    ``python -m benchmarks NAME`` line with these settings. ``processes``: worker processes per
    engine the rounds are spread over (rule 1; default: the settings' ``worker_processes``, else
    ``bench.processes``).
    """
    bench = load_bench(name)
    params = dict(bench.full if full else bench.quick)
    params.update(overrides or {})
    n_rounds = rounds if rounds is not None else params.pop("rounds", bench.rounds)
    n_warm = warmup if warmup is not None else params.pop("warmup", bench.warmup)
    n_procs = processes if processes is not None else params.pop("worker_processes", bench.processes)
    params.pop("rounds", None)
    params.pop("warmup", None)
    params.pop("worker_processes", None)
    prerun = bool(params.pop("prerun", False))
    blocks = process_blocks(n_rounds, n_procs)
    engines = [e for e in bench.engines if not only or e.name in only or e.name == bench.reference]
    work = Path(tempfile.mkdtemp(prefix=f"thresher-bench-{name}-"))
    machine_before = _machine()
    t_prep = time.perf_counter()
    try:
        if bench.prepare is not None:
            params.update(bench.prepare(params, work) or {})
        params["workdir"] = str(work)
        prep_s = time.perf_counter() - t_prep
        cases = list(bench.cases(params)) if bench.cases is not None else [""]
        units = bench.count(params) if bench.count is not None else None
        rows = _measure(bench, engines, params, cases, blocks, n_warm, pythons or {}, prerun)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "bench": name, "title": bench.title, "units": bench.units, "units_per_round": units,
        "params": {k: v for k, v in params.items() if k != "workdir" and not k.startswith("_")},
        "mode": "full" if full else "quick", "rounds": n_rounds, "warmup": n_warm,
        "processes": len(set(blocks)), "round_process": blocks, "prerun": prerun,
        "reference": bench.reference, "baseline": bench.baseline, "primary": bench.primary,
        "higher_is_better": bench.higher_is_better, "prepare_s": prep_s, "notes": bench.notes,
        "engines": {e.name: e.note for e in engines},
        "machine": machine_before | {"load_avg_after": _machine().get("load_avg")},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cases": cases, "rows": rows,
        "command": scrub_command(command or os.environ.get("THRESHER_BENCH_COMMAND")
                                 or _command_line(name, full, rounds, warmup, overrides or {}, only, processes)),
    }
    _summarize(result)
    if bench.summary is not None:
        result["summary_md"] = bench.summary(result)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    md = markdown_table(result)
    (out_dir / f"{name}.md").write_text(md)
    try:
        plot_png(result, out_dir / f"{name}.png")
    except ImportError:
        pass  # Pillow missing: the table and the JSON still stand
    print(md, flush=True)
    return result


def scrub_command(cmd: str) -> str:
    """A command fit for a results file and the docs: no machine paths (the checkout is ``.``)."""
    cmd = cmd.replace(str(ROOT), ".")
    return re.sub(r"(?<![\w.])/(?:[\w.+-]+/)*[\w.+-]+", "PATH", cmd)


def _command_line(name: str, full: bool, rounds: int | None, warmup: int | None, overrides: dict[str, Any],
                  only: list[str] | None, processes: int | None = None) -> str:
    """The ``python -m benchmarks`` line that runs this benchmark with these settings."""
    parts = ["python -m benchmarks", name] + (["--full"] if full else [])
    parts += [f"--rounds {rounds}"] if rounds is not None else []
    parts += [f"--warmup {warmup}"] if warmup is not None else []
    parts += [f"--processes {processes}"] if processes is not None else []
    parts += [f'--set "{k}={v!r}"' if isinstance(v, str) else f"--set {k}={v}" for k, v in overrides.items()]
    parts += [f"--engines {','.join(only)}"] if only else []
    return " ".join(parts)


def round_order(engines: list[Any], r: int) -> list[Any]:
    """The order the engines run in, in round ``r``: a rotation, reversed on odd rounds.

    A plain rotation keeps the cyclic order, so each engine would always run right after the same
    other one (and pay for its cache and memory traffic); reversing every other round makes each
    engine follow each other engine, and over ``2 * len(engines)`` rounds each runs first twice.

    >>> [round_order(["a", "b", "c"], r) for r in range(4)]
    [['a', 'b', 'c'], ['c', 'b', 'a'], ['b', 'c', 'a'], ['a', 'c', 'b']]
    """
    k = (r // 2) % len(engines)
    rot = engines[k:] + engines[:k]
    return rot if r % 2 == 0 else rot[::-1]


def process_blocks(n_rounds: int, n_procs: int) -> list[int]:
    """Which worker process (0, 1, ...) runs each timed round: ``n_procs`` consecutive blocks of
    rounds, their sizes differing by at most one (the longer ones first); never more processes
    than rounds, at least one.

    The same list serves every engine: all workers are restarted before the same rounds.

    >>> process_blocks(7, 3)
    [0, 0, 0, 1, 1, 2, 2]
    >>> process_blocks(2, 5)
    [0, 1]
    """
    if n_procs < 1:
        raise ValueError(f"worker processes must be at least 1, got {n_procs}")
    k = max(1, min(n_procs, n_rounds))
    size, extra = divmod(n_rounds, k)
    return [b for b in range(k) for _ in range(size + (b < extra))]


def _measure(bench: Bench, engines: list[Engine], params: dict[str, Any], cases: list[str], blocks: list[int],
             n_warm: int, pythons: dict[str, str], prerun: bool = False) -> list[dict[str, Any]]:
    """Every engine's rows: its timed rounds (``blocks[r]`` is the worker process of round ``r``,
    the same for every engine), each after the same warm-up in each new process.

    ``prerun`` (the ``prerun`` setting): each timed run comes right after an untimed run of the
    same case by the same worker. Otherwise a worker's timed run of case c follows its own run
    of case c-1 after every other engine ran once in between (its c-1 or its c): the idle time
    before it is the others' speed on those cases, and idle memory is given back to the system
    meanwhile (Polars' jemalloc purges with a background thread, by time), to be faulted in again
    by the run. An engine three times faster than a peer on c-1 hands that peer a longer idle
    time before c and so more page faults (TPC-H q21 -> q22: Polars' q21 is 2.4x Thresher's).
    With ``prerun`` every timed run starts from the same point: its own run just before."""
    rows: dict[tuple[str, str], dict[str, Any]] = {
        (e.name, c): {"engine": e.name, "case": c, "status": "ok", "times": [], "metrics": [], "process": [],
                      "rss_peak": None, "rss_extra": None, "start_s": None, "starts_s": [], "error": None,
                      "canonical": None, "mismatch": None}
        for e in engines for c in cases}
    for e in engines:
        for c in cases:
            if e.supports is not None and not e.supports(c):
                rows[(e.name, c)]["status"] = "n/a"
    procs: dict[str, _Proc | None] = {}
    dead: dict[str, str] = {}  # engine -> status (not installed / error) for every case

    def proc(e: Engine) -> _Proc | None:
        if e.name in dead:
            return None
        p = procs.get(e.name)
        if p is not None:
            return p
        python = interpreter_for(e, pythons)
        if python != sys.executable and not Path(python).exists():
            dead[e.name] = "not installed"
            for c in cases:
                if rows[(e.name, c)]["status"] == "n/a":
                    continue
                rows[(e.name, c)].update(status="not installed", error=f"interpreter for {e.name} not found")
            return None
        p = _Proc(bench, e, params, python)
        ans = p.recv(bench.timeout_s)
        if ans["status"] != "ready":
            p.kill()
            dead[e.name] = ans["status"]
            msg = ans.get("error") or "missing: " + ", ".join(ans.get("missing", []))
            for c in cases:
                if rows[(e.name, c)]["status"] == "n/a":
                    continue
                rows[(e.name, c)].update(status=ans["status"], error=msg)
            return None
        start_s = time.perf_counter() - p.t_spawn
        for c in cases:
            rows[(e.name, c)]["starts_s"].append(start_s)
            if rows[(e.name, c)]["start_s"] is None:
                rows[(e.name, c)]["start_s"] = start_s
                rows[(e.name, c)]["start_hook_s"] = ans["start_s"]
        procs[e.name] = p
        return p

    def one(e: Engine, case: str, timed: bool, block: int = 0) -> None:
        row = rows[(e.name, case)]
        if row["status"] not in ("ok", "MISMATCH"):
            return
        p = proc(e)
        if p is None:
            return
        p.send({"op": "run", "case": case})
        ans = p.recv(bench.timeout_s)
        if ans["status"] != "ok":
            row.update(status=ans["status"], error=ans.get("error"))
            if ans["status"] in ("timeout", "error") and p.p.poll() is not None:
                procs[e.name] = None  # restarted (with its start-up) for the next case
            return
        canon = ans["canonical"]
        if row["canonical"] is None:
            row["canonical"] = canon
        elif not (bench.compare or (lambda a, b: a == b))(row["canonical"], canon):
            row["status"] = "MISMATCH"
            row["mismatch"] = f"output changed between rounds: {_brief(canon)} vs {_brief(row['canonical'])}"
        if timed:
            row["times"].append(ans["seconds"])
            row["metrics"].append(ans.get("metrics") or {})
            row["process"].append(block)
            if "counters" in ans:
                row.setdefault("counters", []).append(ans["counters"])
            if ans.get("rss_peak"):
                row["rss_peak"] = max(row["rss_peak"] or 0, ans["rss_peak"])
                extra = ans["rss_peak"] - (ans.get("rss_before") or ans["rss_peak"])
                row["rss_extra"] = max(row["rss_extra"] or 0, extra)

    ordered = sorted(engines, key=lambda e: e.name != bench.reference)  # the reference answers first

    def close_all() -> None:
        for p in procs.values():
            if p is not None:
                p.close()
        procs.clear()

    try:
        for r, block in enumerate(blocks):
            if r == 0 or block != blocks[r - 1]:
                close_all()  # every engine's worker at once: none runs next to another's leftovers
                for case in cases:  # warm-up: the reference first so its output is the yardstick
                    for e in ordered:
                        for _ in range(n_warm):
                            one(e, case, timed=False)
            for case in cases:
                for e in round_order(ordered, r):
                    if prerun:
                        one(e, case, timed=False)
                    one(e, case, timed=True, block=block)
    finally:
        close_all()
    same = bench.compare or (lambda a, b: a == b)
    for (name, case), row in rows.items():  # every round equals the row's first output (checked above)
        ref = rows[(bench.reference, case)]["canonical"]
        if name == bench.reference or row["status"] != "ok" or row["canonical"] is None:
            continue
        if ref is None:
            row.update(status="MISMATCH", mismatch=f"no output from {bench.reference} to compare with")
        elif not same(ref, row["canonical"]):
            row.update(status="MISMATCH",
                       mismatch=f"output differs from {bench.reference}'s: {_brief(row['canonical'])} vs {_brief(ref)}")
    out = []
    for row in rows.values():
        if len(json.dumps(row["canonical"], default=str)) > 400:
            row["canonical"] = _brief(row["canonical"])
        out.append(row)
    return out


def _brief(v: Any) -> str:
    s = json.dumps(v, default=str)
    return s if len(s) <= 120 else s[:117] + "..."


def _value(row: dict[str, Any], primary: str) -> float | None:
    if not row["times"]:
        return None
    if primary == "seconds":
        return statistics.median(row["times"])
    vals = [m.get(primary) for m in row["metrics"] if m.get(primary) is not None]
    return statistics.median(vals) if vals else None


def _summarize(result: dict[str, Any]) -> None:
    """Median, min, ratio vs the baseline (median over median) and a geomean over cases."""
    primary, hib = result["primary"], result["higher_is_better"]
    by = {(r["engine"], r["case"]): r for r in result["rows"]}
    units = result["units_per_round"]
    for r in result["rows"]:
        v = _value(r, primary)
        r["value"] = v
        if r["times"]:
            r["median_s"] = statistics.median(r["times"])
            r["min_s"] = min(r["times"])
            if units and primary == "seconds":
                r["units_per_s"] = units / r["median_s"]
        for m in (r["metrics"][0] if r["metrics"] else {}):
            vals = [x[m] for x in r["metrics"] if isinstance(x.get(m), int | float)]
            if vals:
                r.setdefault("metric_medians", {})[m] = statistics.median(vals)
        if r.get("process") and len(r["process"]) == len(r["times"]):
            r["process_medians_s"] = _per_process(r["process"], r["times"])
            cpu = [m.get("cpu_s") for m in r["metrics"]]
            if all(isinstance(x, int | float) for x in cpu):
                r["process_cpu_medians_s"] = _per_process(r["process"], cpu)
        base = by.get((result["baseline"], r["case"]))
        bv = _value(base, primary) if base and base["status"] == "ok" else None
        r["ratio"] = None
        if r["status"] == "ok" and v and bv:
            r["ratio"] = (v / bv) if hib else (bv / v)
        r["paired_ratios"] = _paired(base, r, primary, hib) if base and base["status"] == "ok" and r["status"] == "ok" \
            else []
        r["paired_ratio"] = statistics.median(r["paired_ratios"]) if r["paired_ratios"] else None
    geo: dict[str, float] = {}
    if len(result["cases"]) > 1:
        for e in result["engines"]:
            rs = [r["ratio"] for r in result["rows"] if r["engine"] == e and r["ratio"]]
            if rs:
                geo[e] = math.exp(sum(math.log(x) for x in rs) / len(rs))
    result["geomean_ratio"] = geo


def _per_process(process: list[int], values: list[float]) -> list[float]:
    """The median of ``values`` per worker process, in process order (rule 1's ``--processes``).

    >>> _per_process([0, 0, 0, 1, 1], [3.0, 1.0, 2.0, 5.0, 4.0])
    [2.0, 4.5]
    """
    by: dict[int, list[float]] = {}
    for k, v in zip(process, values):
        by.setdefault(k, []).append(v)
    return [statistics.median(by[k]) for k in sorted(by)]


def _paired(base: dict[str, Any], row: dict[str, Any], primary: str, hib: bool) -> list[float]:
    """Per-round ratios of ``row`` against ``base`` (round r with round r: the rounds interleave)."""
    if primary == "seconds":
        b, e = base["times"], row["times"]
    else:
        b = [m.get(primary) for m in base["metrics"]]
        e = [m.get(primary) for m in row["metrics"]]
    out = []
    for x, y in zip(b, e):
        if x and y:
            out.append((y / x) if hib else (x / y))
    return out


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:
            return "-"
        return f"{v:,.{nd}f}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def markdown_table(result: dict[str, Any]) -> str:
    """The benchmark's table as Markdown: one row per engine and case."""
    primary = result["primary"]
    load = result["machine"].get("load_avg")
    procs = result.get("processes", 1)
    lines = [f"### {result['title']}", ""]
    lines.append(
        (f"{result['rounds']} interleaved rounds over {procs} worker processes per engine (every engine's "
         f"worker restarted before the same rounds, {result['warmup']} warm-up in each process), median over all "
         "rounds shown, per-process medians' range in brackets; " if procs > 1 else
         f"{result['rounds']} interleaved rounds after {result['warmup']} warm-up, median shown; ")
        + ("each timed run right after an untimed run of the same case by the same worker (prerun); "
           if result.get("prerun") else "")
        + f"ratio = {'engine / ' if result['higher_is_better'] else ''}{result['baseline']}"
        f"{'' if result['higher_is_better'] else ' / engine'} ({primary}, > 1 is better than {result['baseline']}), "
        "of the medians and paired (the median of the per-round ratios, range in brackets); "
        f"outputs compared with {result['reference']}'s. {result['mode']} settings: "
        + ", ".join(f"{k}={v}" for k, v in result["params"].items())
        + f". Machine: {result['machine'].get('cpus')} CPUs, load average {load} at start, "
        f"{result['machine'].get('load_avg_after')} at end; {result['date']}."
    )
    if result.get("command"):
        lines += ["", f"Reproduce: `{result['command']}`."]
    if result.get("notes"):
        lines += ["", result["notes"]]
    lines.append("")
    multi = len(result["cases"]) > 1
    metric_names = sorted({m for r in result["rows"] for m in (r.get("metric_medians") or {})})
    head = (["case"] if multi else []) + ["engine", "status", "start-up s", "median s", "min s"]
    if result["units_per_round"] and primary == "seconds":
        head.append(f"{result['units']}/s")
    head += metric_names + ["ratio", "paired ratio (range)", "peak RSS MiB", "RSS growth MiB"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["rows"]:
        status = r["status"] if r["status"] != "ok" else "ok"
        pm = r.get("process_medians_s") or []
        median = _fmt(r.get("median_s")) + (f" ({min(pm):.3f}-{max(pm):.3f})" if procs > 1 and pm else "")
        cells = ([r["case"]] if multi else []) + [r["engine"], status, _fmt(r.get("start_s"), 2),
                                                  median, _fmt(r.get("min_s"))]
        if result["units_per_round"] and primary == "seconds":
            cells.append(_fmt(r.get("units_per_s"), 1))
        cells += [_fmt((r.get("metric_medians") or {}).get(m)) for m in metric_names]
        pr = r.get("paired_ratios") or []
        cells += [_fmt(r.get("ratio"), 2) + ("x" if r.get("ratio") else ""),
                  (f"{r['paired_ratio']:.2f}x ({min(pr):.2f}-{max(pr):.2f})" if pr else "-"),
                  _fmt(r["rss_peak"] / 2**20 if r.get("rss_peak") else None, 0),
                  _fmt(r["rss_extra"] / 2**20 if r.get("rss_extra") is not None else None, 0)]
        lines.append("| " + " | ".join(cells) + " |")
    if result.get("summary_md"):
        lines += ["", result["summary_md"]]
    if result.get("geomean_ratio"):
        lines += ["", "Geometric mean of the ratio over the cases each engine matched: "
                  + ", ".join(f"{e} {g:.2f}x" for e, g in result["geomean_ratio"].items())]
    problems = [r for r in result["rows"] if r["status"] not in ("ok", "n/a")]
    if problems:
        lines += [""] + [f"- {r['engine']}{' ' + r['case'] if r['case'] else ''}: {r['status']}"
                         f" ({r.get('mismatch') or r.get('error') or ''})" for r in problems]
    return "\n".join(lines) + "\n"


def plot_png(result: dict[str, Any], path: Path) -> None:
    """A horizontal bar chart of the primary value per engine (and case), drawn with Pillow."""
    from PIL import Image, ImageDraw

    bars = [(f"{r['case'] + ' ' if r['case'] else ''}{r['engine']}", r.get("value"), r["status"])
            for r in result["rows"]]
    vals = [v for _, v, _ in bars if v]
    top = max(vals) if vals else 1.0
    w, lh, left = 900, 22, 300
    img = Image.new("RGB", (w, 40 + lh * len(bars) + 20), "white")
    d = ImageDraw.Draw(img)
    unit = "seconds (median)" if result["primary"] == "seconds" else f"{result['primary']} (median)"
    d.text((10, 10), f"{result['title'][:90]} - {unit}", fill="black")
    for i, (label, v, status) in enumerate(bars):
        y = 40 + i * lh
        d.text((10, y + 4), label[:45], fill="black")
        if v:
            color = (70, 130, 180) if status == "ok" else (200, 80, 80)
            d.rectangle([left, y + 3, left + int((w - left - 110) * v / top), y + lh - 3], fill=color)
            d.text((left + int((w - left - 110) * v / top) + 5, y + 4), f"{v:.3g}" + ("" if status == "ok" else f" {status}"),
                   fill="black")
        else:
            d.text((left, y + 4), status, fill=(200, 80, 80))
    img.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(path, optimize=True)  # a few KB in git


def _load_note(results: list[dict[str, Any]], kept_loads: list[tuple[str, float]] | None = None) -> list[str]:
    """An explicit warning naming the tables measured while other jobs loaded the machine.

    Only the 1-minute load average taken *before* a benchmark started counts: the one taken at its
    end includes the benchmark's own processes (Ray's workers, each engine's threads)."""
    loads = [(r.get("title", r.get("bench", "?")), float((r["machine"].get("load_avg") or [0.0])[0])) for r in results]
    loads += kept_loads or []
    cpus = max((r["machine"].get("cpus") or 0 for r in results), default=0) or (2 if kept_loads else 0)
    busy = [(title, load) for title, load in loads if cpus and load > cpus]
    if not busy:
        return []
    named = "; ".join(f"{title} (load {load:.1f})" for title, load in busy)
    return [f"**Measured on a loaded machine** ({cpus} CPUs; 1-minute load average above the CPU count when the "
            f"benchmark started, other jobs competing): {named}. Their wall times are inflated; rerun them on a "
            "quiet machine before quoting a ratio.", ""]


def _sections(text: str) -> list[tuple[str, str]]:
    """``(title, text)`` of each ``### title`` section of a generated page, in page order."""
    out: list[tuple[str, str]] = []
    for chunk in text.split("\n### ")[1:]:
        title = chunk.split("\n", 1)[0].strip()
        out.append((title, "### " + chunk.rstrip() + "\n"))
    return out


def write_docs_page(results_dir: Path = RESULTS, page: Path = DOCS_PAGE, keep_others: bool = False,
                    failed: list[str] | None = None) -> Path:
    """Generate ``docs/benchmarks.md`` from every ``results/*.json`` the harness wrote.

    ``keep_others``: a benchmark whose JSON is not in ``results_dir`` keeps its table from the
    current page (``python -m benchmarks docs`` after re-running a few benchmarks); its own load
    average, date and command stay in it, so every table still says when and where it was
    measured. ``failed``: benchmarks of this run that wrote no result (named on the page).
    """
    results = [json.loads(p.read_text()) for p in sorted(results_dir.glob("*.json"))]
    results = [r for r in results if "rows" in r and "bench" in r]
    img_dir = page.parent / "img" / "benchmarks"
    fresh: dict[str, str] = {}
    for r in results:
        _summarize(r)  # JSON written before a summary column existed gets it too
        table = markdown_table(r)
        png = results_dir / f"{r['bench']}.png"
        if png.exists():  # the plot next to its table (the page may only link inside docs/)
            img_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(png, img_dir / png.name)
            table += f"\n![{r['title']}](img/benchmarks/{png.name})\n"
        fresh[r["title"]] = table
    commands = [r.get("command") or "(not recorded)" for r in results]
    kept_loads: list[tuple[str, float]] = []
    if keep_others and page.exists():
        tables = []
        for title, text in _sections(page.read_text()):
            if title in fresh:
                tables.append(fresh.pop(title))
            else:
                tables.append(text)
                kept_loads += [(title, float(x)) for x in re.findall(r"load average \[([0-9.]+)", text)[:1]]
                commands += re.findall(r"^Reproduce: `([^`]+)`", text, flags=re.M) or ["(not recorded)"]
        tables += list(fresh.values())
    else:
        tables = list(fresh.values())
    distinct = list(dict.fromkeys(commands))
    if len(distinct) == 1 and distinct != ["(not recorded)"]:
        origin = (f"Every number on this page comes from one command, `{distinct[0]}`, which wrote "
                  "`benchmarks/results/*.json` (with a Markdown table and a PNG plot per benchmark) and then this "
                  "page from them; rerun it to reproduce the page.")
    else:
        origin = ("The tables on this page come from these commands (each table names its own under "
                  "\"Reproduce\"): " + "; ".join(f"`{c}`" for c in distinct) + ". `make bench` reruns them all.")
    doc = __doc__ or ""
    rules = doc[doc.index("Rules"): doc.index("A benchmark module")].strip()
    out = ["# Benchmarks", "",
           "This page is generated by the benchmark harness (`benchmarks/harness.py`) from "
           "`benchmarks/results/*.json`; do not edit it by hand. " + origin, "",
           "`make bench` runs every benchmark at its published sizes (`--full`; hours on 2 cores); "
           "`make bench BENCH_SCALE=quick` runs the quick sizes (the settings are printed in each table).", "",
           "Read the load average in each table before the ratios: a loaded or small machine distorts wall "
           "times (ratios measured in one interleaved run are the more trustworthy part).", "",
           *_load_note(results, kept_loads),
           *([f"**Benchmarks that did not complete in this run** (no table below): {'; '.join(failed)}.", ""]
             if failed else []),
           "## " + rules.replace("Rules (enforced here, not left to each script):", "The rules").strip(), ""]
    for t in tables:
        out += [t, ""]
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("\n".join(out).rstrip() + "\n")
    return page


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "worker":
        # run the imported module's worker, so BENCH objects and this module share one Bench class
        from benchmarks import harness

        raise SystemExit(harness._worker(sys.argv[2], sys.argv[3]))
    print("usage: python -m benchmarks.harness worker BENCH ENGINE (started by python -m benchmarks)", file=sys.stderr)
    raise SystemExit(2)
