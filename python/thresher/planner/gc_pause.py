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

import gc
import threading

_LOCK = threading.Lock()
_depth = 0
_reenable = False


class _Paused:
    """The context manager :func:`gc_paused` gives (no state of its own: the depth is global).

    A class, not a ``contextlib.contextmanager`` generator: every compile() enters it, and the
    generator's wrapper object and its four calls were a measurable part of a small query's
    planning."""

    __slots__ = ()

    def __enter__(self) -> None:
        global _depth, _reenable
        with _LOCK:
            if _depth == 0:
                _reenable = gc.isenabled()
                gc.disable()
            _depth += 1

    def __exit__(self, *exc: object) -> None:
        global _depth
        with _LOCK:
            _depth -= 1
            if _depth == 0 and _reenable:
                gc.enable()


_PAUSED = _Paused()


def gc_paused() -> _Paused:
    """Disable the cyclic collector for the block (nested and concurrent blocks included: it is
    enabled again when the last one ends, and only if it was enabled when the first began)."""
    return _PAUSED


#: begin / end a paused block without a ``with`` block (a caller that may end it early:
#: ``DataFrame._collect_batches``, which used an ``ExitStack`` for that, six more calls a query)
pause = _PAUSED.__enter__
resume = _PAUSED.__exit__
