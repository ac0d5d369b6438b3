"""Path safety for sinks: nothing a user's data holds can make a sink write outside its root.

Partition values come from the data (untrusted), job ids and partition ids from callers. Every
sink builds its paths through :func:`safe_join` (which refuses traversal) and encodes partition
values with :func:`hive_escape` (Hive's percent-encoding), so a value such as ``"../../etc"``
becomes one harmless directory name, ``year=..%2F..%2Fetc``.

Examples
--------
>>> hive_escape("../../etc")
'..%2F..%2Fetc'
>>> hive_partition_dir([("year", 1995), ("city", "a/b")])
'year=1995/city=a%2Fb'
>>> safe_join("/data/out", "year=1995", "part-0.parquet")
'/data/out/year=1995/part-0.parquet'
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from typing import Any

from thresher.errors import ThresherIOError

#: the directory name Hive and Spark use for a null partition value
HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"

# Hive's FileUtils.escapePathName character set, plus space-less control characters.
_HIVE_ESCAPED = frozenset("\"#%'*/:=?\\\x7f{[]^") | frozenset(chr(c) for c in range(0x20))


class UnsafePathError(ThresherIOError):
    """A path component would escape the sink's root (``..``, an absolute path, a NUL byte)."""


def hive_escape(value: str) -> str:
    """Percent-encode ``value`` the way Hive encodes partition directory names.

    Parameters
    ----------
    value : str
        A partition value rendered as text.

    Returns
    -------
    str
        ``value`` with ``/``, ``\\``, ``=``, ``%``, ``:`` and control characters (Hive's set)
        encoded as ``%XX``; a value of ``"."`` or ``".."`` has its dots encoded too, so the
        result is never a special directory name.
    """
    out = "".join(f"%{ord(ch):02X}" if ch in _HIVE_ESCAPED else ch for ch in value)
    if out in ("", ".", ".."):
        out = "".join(f"%{ord(ch):02X}" for ch in out) or "%00"  # never an empty or special name
    return out


def hive_unescape(name: str) -> str:
    """Invert :func:`hive_escape`."""
    out: list[str] = []
    i = 0
    while i < len(name):
        if name[i] == "%" and i + 3 <= len(name) and _is_hex(name[i + 1 : i + 3]):
            out.append(chr(int(name[i + 1 : i + 3], 16)))
            i += 3
        else:
            out.append(name[i])
            i += 1
    s = "".join(out)
    return "" if s == "\x00" else s


def _is_hex(s: str) -> bool:
    return len(s) == 2 and all(c in "0123456789abcdefABCDEF" for c in s)


def partition_value_str(value: Any) -> str:
    """Render a partition value as Hive does (``None`` → ``__HIVE_DEFAULT_PARTITION__``)."""
    if value is None:
        return HIVE_DEFAULT_PARTITION
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def hive_partition_dir(pairs: Iterable[tuple[str, Any]]) -> str:
    """``col=value/col2=value2`` with names and values escaped; always a relative, safe path."""
    parts = []
    for name, value in pairs:
        v = partition_value_str(value)
        parts.append(f"{hive_escape(str(name))}={v if v == HIVE_DEFAULT_PARTITION else hive_escape(v)}")
    return "/".join(parts)


def check_component(part: str) -> str:
    """Return ``part`` when it is a safe relative path (possibly with ``/``); raise otherwise."""
    if not isinstance(part, str):
        raise UnsafePathError(f"path component must be a string, got {type(part).__name__}: {part!r}")
    if "\x00" in part:
        raise UnsafePathError(f"path component {part!r} contains a NUL byte")
    if part == "" or os.path.isabs(part) or part.startswith(("/", "\\")) or (len(part) > 1 and part[1] == ":"):
        raise UnsafePathError(f"path component {part!r} is empty or absolute")
    for seg in part.replace("\\", "/").split("/"):
        if seg in ("..",):
            raise UnsafePathError(f"path component {part!r} contains '..'")
    return part


def safe_join(root: str | os.PathLike[str], *parts: str) -> str:
    """Join ``parts`` under ``root``, refusing anything that would land outside it.

    Parameters
    ----------
    root : str or PathLike
        The sink's root directory.
    *parts : str
        Relative components (they may contain ``/``). ``..``, absolute paths and NUL bytes are
        refused.

    Returns
    -------
    str
        The joined, normalized path, guaranteed to be inside ``root``.

    Raises
    ------
    UnsafePathError
        When a component is unsafe, or the result (after resolving symlinks that already exist)
        is not inside ``root``.
    """
    root_s = os.fspath(root)
    for p in parts:
        check_component(p)
    joined = os.path.normpath(os.path.join(root_s, *parts))
    if not is_within(root_s, joined):
        raise UnsafePathError(f"path {joined!r} escapes the sink root {root_s!r}")
    return joined


def is_within(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` lies inside ``root`` (symlinks that exist are resolved)."""
    r = os.path.realpath(os.fspath(root))
    p = os.path.realpath(os.fspath(path))
    return p == r or p.startswith(r.rstrip(os.sep) + os.sep)


def strip_file_scheme(uri: str) -> str:
    """``file:///x`` → ``/x``; other strings unchanged."""
    if uri.startswith("file://"):
        return uri[len("file://") :]
    if uri.startswith("file:"):
        return uri[len("file:") :]
    return uri


def stable_token(*parts: str, n: int = 16) -> str:
    """A short, filesystem-safe hash of ``parts`` (job id, partition id): deterministic names."""
    import hashlib  # here, not at the top: hashlib loads OpenSSL (~3.5 MiB RSS)

    h = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return h[:n]


def safe_name(text: str, limit: int = 80) -> str:
    """A single safe directory name for free text (a job id): escaped, bounded, collision-free."""
    esc = hive_escape(text).replace(" ", "%20")
    if len(esc) <= limit:
        return esc
    return esc[: limit - 17] + "-" + stable_token(text)
