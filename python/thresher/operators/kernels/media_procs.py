"""Worker processes for media kernels whose decode loop holds the GIL.

Image codecs decode a whole file in one GIL-free call, so the kernel thread pool spreads them over
the cores. PyAV's audio decode does not: every packet and frame passes through Python (a new
packet, a new frame, an array per frame), so two threads decoding two files mostly wait for each
other, and one process decodes no faster with two threads than with one. :func:`process_call`
runs such a per-file function in one of a few long-lived worker processes instead (one per kernel
thread), so the files of a batch spread over the cores one file at a time.

The workers are plain ``python -c`` subprocesses that import the function by name: no fork of a
process that runs threads (Arrow's, Polars', the engine's), and no re-import of the user's
``__main__`` as ``multiprocessing``'s spawn and forkserver do (a script without a
``__main__`` guard would run again in every worker). A worker reads length-prefixed pickles
on stdin and answers on stdout; it exits when its stdin closes, so it never outlives this process.
A worker that dies on a file (a crash in a native decoder) fails that one row and is replaced.

Examples
--------
>>> process_call("math", "sqrt", 16.0)
4.0
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from typing import Any

from thresher.errors import ThresherExecutionError

_HEADER = struct.Struct("<Q")
#: thresher/__init__.py of the package that imported this module (two levels up from here)
_THRESHER_INIT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                              "__init__.py")
_SERVE = "from thresher.operators.kernels.media_procs import _serve; _serve()"


class WorkerCrashed(ThresherExecutionError):
    """A media worker process exited while it worked on an item."""


def _read_exact(f: Any, n: int) -> bytes:
    data = f.read(n)
    if data is None or len(data) != n:
        raise EOFError("worker pipe closed")
    return bytes(data)


def _send(f: Any, obj: Any) -> None:
    payload = pickle.dumps(obj, protocol=5)
    f.write(_HEADER.pack(len(payload)))
    f.write(payload)
    f.flush()


def _recv(f: Any) -> Any:
    (n,) = _HEADER.unpack(_read_exact(f, _HEADER.size))
    return pickle.loads(_read_exact(f, n))


def _serve() -> None:
    """The worker's loop: ``(module, name, args)`` in, ``("ok", result)`` or ``("err", exc)`` out."""
    import importlib

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a library that prints must not corrupt the protocol
    while True:
        try:
            module, name, args = _recv(stdin)
        except EOFError:
            return
        try:
            result: tuple[str, Any] = ("ok", getattr(importlib.import_module(module), name)(*args))
        except Exception as exc:  # noqa: BLE001 - the caller decides what a failed row means
            result = ("err", exc)
        try:
            _send(stdout, result)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception
            _send(stdout, ("err", RuntimeError(f"{type(exc).__name__}: {exc}")))


class _Worker:
    def __init__(self) -> None:
        env = dict(os.environ)
        # the worker imports this very thresher, wherever it was imported from
        root = os.path.dirname(os.path.dirname(os.path.abspath(_THRESHER_INIT)))
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env)
        self.broken = False

    def call(self, module: str, name: str, args: tuple[Any, ...]) -> Any:
        try:
            _send(self.proc.stdin, (module, name, args))
            status, value = _recv(self.proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            self.broken = True
            self.proc.kill()  # half a message may be in the pipes: never reuse this worker
            code = self.proc.wait()
            raise WorkerCrashed(f"media worker process exited (code {code}) while running {name}") from exc
        if status == "err":
            raise value
        return value

    def alive(self) -> bool:
        return not self.broken and self.proc.poll() is None

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class _Pool:
    def __init__(self, size: int) -> None:
        self.size = size
        self.idle: queue.Queue[_Worker | None] = queue.Queue()
        for _ in range(size):
            self.idle.put(None)  # started on first use
        self.all: list[_Worker] = []
        self.lock = threading.Lock()

    def call(self, module: str, name: str, args: tuple[Any, ...]) -> Any:
        w = self.idle.get()
        try:
            if w is None or not w.alive():
                w = _Worker()
                with self.lock:
                    self.all.append(w)
            return w.call(module, name, args)
        finally:
            self.idle.put(w if w is not None and w.alive() else None)

    def close(self) -> None:
        with self.lock:
            workers, self.all = self.all, []
        for w in workers:
            w.close()


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def process_pool_size() -> int:
    """How many worker processes :func:`process_call` uses (0 while none were started)."""
    return _pool.size if _pool is not None else 0


def process_call(module: str, name: str, *args: Any, processes: int | None = None) -> Any:
    """Run ``module.name(*args)`` in a worker process and return its result (or raise its error).

    Arguments and results travel as pickles: pass ``bytes``, not a view of an Arrow buffer.
    ``processes`` sizes the pool when it is first made (default: the core count).
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _Pool(max(1, processes or os.cpu_count() or 1))
        pool = _pool
    return pool.call(module, name, args)


def shutdown() -> None:
    """Stop the worker processes (they also stop on their own when this process exits)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.close()


def in_ray_worker() -> bool:
    """True inside a Ray worker: Ray already runs one task per core, so no extra processes."""
    ray = sys.modules.get("ray")
    if ray is None:
        return False
    try:
        return bool(ray.is_initialized()) and ray.get_runtime_context().worker.mode == ray.WORKER_MODE
    except Exception:  # noqa: BLE001 - an older or partial Ray: behave as outside Ray
        return False


atexit.register(shutdown)
