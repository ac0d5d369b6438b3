"""Planning with the cyclic garbage collector paused.

Planning allocates many small, short-lived objects (plan nodes, expression tuples, memo
entries); reference counting frees them, but every allocation still counts towards CPython's
collection thresholds, so a planning triggers dozens of collections and, now and then, a full
one that traverses every tracked object of the process (in a process that has planned the 99
TPC-DS queries: ~600,000 objects, ~0.45 s each). Planning creates no garbage cycles worth
collecting early, so the collector waits until planning ends (the counts it missed make it run
once, at the next allocation after).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_LOCK = threading.Lock()
_depth = 0
_reenable = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block (nested and concurrent blocks included: it is
    enabled again when the last one ends, and only if it was enabled when the first began)."""
    global _depth, _reenable
    with _LOCK:
        if _depth == 0:
            _reenable = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _LOCK:
            _depth -= 1
            if _depth == 0 and _reenable:
                gc.enable()
