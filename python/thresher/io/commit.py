"""The commit protocol every sink plugs into: locks, atomic records, job records, commit retries.

Exactly-once per ``(job id, source partition)`` rests on three pieces, each written once here:

- **Atomic records**: :func:`atomic_write_json` (local: temp file, fsync, ``os.replace``, fsync
  of the folder; object stores: one PUT) and :func:`create_json` (create-if-absent: a hard link
  locally, a conditional put ``If-None-Match: *`` on S3 / ``ifGenerationMatch=0`` on GCS).
- **Mutual exclusion**: :func:`commit_lock` serializes check-then-commit of a local root with a file
  lock. Object stores have no locks: there the claim of a partition is the conditional put of its
  marker (file sinks), or the table format's own atomic commit (Lance manifests, Iceberg catalog
  swaps) with the already-committed check run again inside every retry (:func:`retry_commit`).
- **Job records** (:class:`JobStore`): one JSON object per job id next to the data holding the plan
  fingerprint. A re-run with the same job id and a different plan is refused
  (:class:`JobPlanMismatchError`) unless the sink overwrites, which starts a new generation of the
  job; a finished job is recorded so re-running it does nothing.

Table formats record ``(job id, partition ids)`` inside their own commit (snapshot summary, Lance
transaction properties) with :func:`encode_partition_ids` / :func:`decode_partition_ids`.

Examples
--------
>>> import tempfile
>>> store = JobStore(tempfile.mkdtemp())
>>> store.begin("job-1", "fp-a").sink_job_id
'job-1'
>>> store.begin("job-1", "fp-b")
Traceback (most recent call last):
...
thresher.io.commit.JobPlanMismatchError: job 'job-1' was started with a different plan (fingerprint fp-a, this plan fp-b): use a new job_id, or mode="overwrite" to replace what it wrote
>>> store.begin("job-1", "fp-b", overwrite=True).sink_job_id
'job-1#fp-b'
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from thresher.errors import ThresherIOError
from thresher.io import fs
from thresher.io.config import IOConfig

logger = logging.getLogger(__name__)

#: the folder (under a sink root or table location) holding Thresher's own records
META_DIR = "_thresher"
#: snapshot summary / transaction property naming the job that committed
JOB_ID_KEY = "thresher.job-id"
#: JSON list of the partition ids committed by that snapshot (chunked: ``.0``, ``.1``, ...)
PARTITIONS_KEY = "thresher.partitions"
_CHUNK = 8000
_T = TypeVar("_T")


class JobPlanMismatchError(ThresherIOError):
    """A job id is reused for a different plan (the job record holds another plan fingerprint)."""


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


def atomic_write_json(uri: str, data: Any, io_config: IOConfig | None = None) -> None:
    """Replace the JSON record at ``uri`` atomically (and durably: the folder is fsynced locally)."""
    fs.write_bytes(uri, json.dumps(data, sort_keys=True, default=str).encode(), io_config)


def create_json(uri: str, data: Any, io_config: IOConfig | None = None) -> bool:
    """Create the JSON record at ``uri`` unless one exists; True when this call created it."""
    return fs.put_if_absent(uri, json.dumps(data, sort_keys=True, default=str).encode(), io_config)


def read_json(uri: str, io_config: IOConfig | None = None) -> Any | None:
    """The JSON record at ``uri`` (None when missing or unreadable, e.g. a torn foreign file)."""
    try:
        return json.loads(fs.read_bytes(uri, io_config))
    except (fs.StorageError, ValueError):
        return None


@contextlib.contextmanager
def file_lock(path: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing) for the duration of the block."""
    import fcntl

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def commit_lock(root: str) -> Iterator[None]:
    """Serialize check-then-commit under a local ``root``; on object stores a no-op (see module doc)."""
    if not fs.is_local(root):
        yield
        return
    with file_lock(os.path.join(fs.local_path(root), META_DIR, "commit.lock")):
        yield


#: how long a job lease lasts without renewal: its holder renews it every third of that while
#: held (a holder that stops, e.g. killed, blocks the job's other committers for at most this long)
LEASE_S = 30.0


class LeaseLostError(ThresherIOError):
    """The job lease lapsed while held (its renewals stalled): the commit is not made, and
    :func:`retry_commit` retries it under a fresh lease."""


class JobLease:
    """A held job lease (see :func:`job_lease`): renewed by a background thread while held.

    Its holder calls :meth:`check` right before the commit it guards: the lease has been held
    without a gap since it was taken and lasts at least another third of ``lease_s``, or
    :class:`LeaseLostError` is raised. A renewal is valid only when it lands before the expiry
    it extends (a waiter that read that expiry could not have found the lease expired); one that
    lands later marks the lease lost for good, since a waiter may have taken the next generation.
    """

    def __init__(self, uri: str | None, token: str, expires: float, lease_s: float,
                 io_config: IOConfig | None) -> None:
        self.uri = uri
        self.token = token
        self.expires = expires
        self.lease_s = lease_s
        self.io_config = io_config
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.uri is None:
            return
        self._thread = threading.Thread(target=self._heartbeat, name="thresher-job-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lease_s)

    def _heartbeat(self) -> None:
        # renewed once a third of the lease has passed since the last renewal that landed
        while not self._stop.wait(max(self.lease_s / 20, self.expires - 2 * self.lease_s / 3 - time.time())) and self.lost is None:
            try:
                self.renew()
            except Exception as e:  # a failed renewal: the next one may land in time
                logger.warning("job lease %s: renewal failed: %s", self.uri, e)

    def renew(self) -> None:
        """Extend the lease by ``lease_s`` from now (lost when the old expiry passed first)."""
        if self.uri is None or self.lost is not None:
            return
        old = self.expires
        new = time.time() + self.lease_s
        atomic_write_json(self.uri, {"owner": self.token, "expires": new}, self.io_config)
        if time.time() >= old:
            self.lost = f"its renewal landed {time.time() - old:.1f} s after it expired"
        else:
            self.expires = new

    def check(self) -> None:
        """Raise :class:`LeaseLostError` unless the lease is held for at least ``lease_s / 3`` more."""
        if self.uri is None:
            return
        if self.lost is not None:
            raise LeaseLostError(f"job lease {self.uri} lapsed before the commit: {self.lost}")
        left = self.expires - time.time()
        if left < self.lease_s / 3:
            raise LeaseLostError(f"job lease {self.uri}: {left:.1f} s left of it before the commit "
                                 "(its renewals stalled)")


@contextlib.contextmanager
def job_lease(root: str, job_id: str, io_config: IOConfig | None = None, lease_s: float | None = None,
              wait_s: float = 300.0) -> Iterator[JobLease]:
    """Mutual exclusion of one job's committers on an object store (a no-op locally: use :func:`commit_lock`).

    Leases are numbered objects ``_thresher/leases/<job>/lease-<n>.json`` created with a
    conditional put, so exactly one process takes generation ``n + 1`` after ``n`` is released
    (``lease-<n>.released.json``) or has expired (``lease_s``, default :data:`LEASE_S`, after
    its last renewal: the holder renews it every ``lease_s / 3`` while the block runs, so a
    slow commit keeps it, and a committer killed while holding it blocks the job for at most
    ``lease_s``). Needed where a table format merges concurrent commits by itself (Lance
    rebases appends), so the job's already-committed check and its commit must not interleave
    with another committer's. The block gets the :class:`JobLease`: call its ``check()``
    right before committing (fencing: a holder whose renewals stalled past the expiry, e.g. a
    paused process, raises :class:`LeaseLostError` instead of committing after a new holder).
    What is left is a holder paused for over ``lease_s / 3`` between ``check()`` and the
    store accepting its commit, which no lease on an object store without locks can rule out.
    """
    if fs.is_local(root):
        yield JobLease(None, "", float("inf"), 0.0, io_config)
        return
    from thresher.io.safety import safe_name

    lease_s = LEASE_S if lease_s is None else lease_s
    prefix = fs.join(root, META_DIR, "leases", safe_name(job_id))
    deadline = time.monotonic() + wait_s
    token = os.urandom(8).hex()
    torn_since: dict[int, float] = {}
    while True:
        names = {fs.basename(e.uri) for e in fs.glob(fs.join(prefix, "lease-*.json"), io_config)}
        gens = sorted(int(n[6:18]) for n in names if len(n) >= 18 and n[6:18].isdigit())
        n = gens[-1] if gens else 0
        free = n == 0 or f"lease-{n:012d}.released.json" in names
        if not free:
            try:
                rec = json.loads(fs.read_bytes(fs.join(prefix, f"lease-{n:012d}.json"), io_config))
                free = not isinstance(rec, dict) or float(rec.get("expires", 0)) < time.time()
            except ValueError:
                # torn: read while its holder rewrote it (a renewal, on a store whose PUT is not
                # atomic to readers); held for lease_s after this waiter first saw it so
                torn = torn_since.setdefault(n, time.monotonic())
                free = time.monotonic() - torn > lease_s
            except fs.StorageError as e:
                # gone (deleted as history: _newer_lease sorts that out) or unread: a failed read
                # (a reset connection, a timeout on a loaded store) says nothing about the holder
                free = "no such file" in str(e)
        if free:
            mine = fs.join(prefix, f"lease-{n + 1:012d}.json")
            expires = time.time() + lease_s
            if create_json(mine, {"owner": token, "expires": expires}, io_config) and not _newer_lease(
                    prefix, n + 1, io_config):
                for g in gens[:-1]:  # older generations are history
                    fs.delete(fs.join(prefix, f"lease-{g:012d}.json"), io_config)
                    fs.delete(fs.join(prefix, f"lease-{g:012d}.released.json"), io_config)
                lease = JobLease(mine, token, expires, lease_s, io_config)
                lease.start()
                try:
                    yield lease
                finally:
                    lease.stop()
                    create_json(fs.join(prefix, f"lease-{n + 1:012d}.released.json"), {"owner": token}, io_config)
                return
        if time.monotonic() > deadline:
            raise ThresherIOError(f"job {job_id!r}: another committer holds its lease under {prefix} "
                                  f"for more than {wait_s:.0f} s")
        time.sleep(0.05 + 0.15 * random.random())


def _newer_lease(prefix: str, gen: int, io_config: IOConfig | None) -> bool:
    """Whether a generation after ``gen`` exists (then ``gen`` was created from a stale listing,
    after its name had been deleted as history: it is deleted again and the lease not taken)."""
    names = {fs.basename(e.uri) for e in fs.glob(fs.join(prefix, "lease-*.json"), io_config)}
    if any(n[6:18].isdigit() and int(n[6:18]) > gen for n in names):
        fs.delete(fs.join(prefix, f"lease-{gen:012d}.json"), io_config)
        return True
    return False


# --------------------------------------------------------------------------------------------
# Partition ids inside a table format's commit
# --------------------------------------------------------------------------------------------


def encode_partition_ids(job_id: str, partition_ids: Sequence[str]) -> dict[str, str]:
    """Properties recording ``(job_id, partition ids)``; the JSON list is chunked when long."""
    text = json.dumps(list(partition_ids))
    props = {JOB_ID_KEY: job_id}
    if len(text) <= _CHUNK:
        props[PARTITIONS_KEY] = text
    else:
        chunks = [text[i: i + _CHUNK] for i in range(0, len(text), _CHUNK)]
        props[PARTITIONS_KEY + ".chunks"] = str(len(chunks))
        for i, c in enumerate(chunks):
            props[f"{PARTITIONS_KEY}.{i}"] = c
    return props


def decode_partition_ids(props: Mapping[str, Any], job_id: str | None = None) -> list[str] | None:
    """The partition ids recorded in ``props`` (None when not a Thresher commit, or another job's)."""
    if props.get(JOB_ID_KEY) is None or (job_id is not None and props.get(JOB_ID_KEY) != job_id):
        return None
    if PARTITIONS_KEY in props:
        text = props[PARTITIONS_KEY]
    elif PARTITIONS_KEY + ".chunks" in props:
        n = int(props[PARTITIONS_KEY + ".chunks"])
        text = "".join(props[f"{PARTITIONS_KEY}.{i}"] for i in range(n))
    else:
        return []
    return [str(x) for x in json.loads(text)]


# --------------------------------------------------------------------------------------------
# Retries of a table format's optimistic commit
# --------------------------------------------------------------------------------------------


def retry_commit(attempt: Callable[[], _T], is_conflict: Callable[[BaseException], bool], what: str,
                 max_attempts: int = 30) -> _T:
    """Run ``attempt`` until it does not raise a conflict, with jittered exponential backoff.

    ``attempt`` must re-read the committed state and re-check which partitions are already in
    before committing: that is what keeps a retry from committing a partition twice.
    """
    last: BaseException | None = None
    for i in range(max_attempts):
        try:
            return attempt()
        except Exception as e:
            if not isinstance(e, LeaseLostError) and (isinstance(e, ThresherIOError) or not is_conflict(e)):
                raise
            last = e
            wait = min(0.05 * (2 ** i), 2.0) * (0.5 + random.random())
            logger.info("%s: commit conflict (attempt %d), retrying in %.2fs: %s", what, i + 1, wait, e)
            time.sleep(wait)
    raise ThresherIOError(f"{what}: commit failed after {max_attempts} attempts on concurrent updates: {last}")


# --------------------------------------------------------------------------------------------
# Job records
# --------------------------------------------------------------------------------------------


@dataclass
class JobRecord:
    """What a job id stands for: the plan it runs and, once finished, what it committed."""

    job_id: str
    plan_fingerprint: str | None = None
    #: the id the sink records partitions under (differs from job_id after an overwrite re-plan)
    sink_job_id: str = ""
    complete: bool = False
    partitions: list[str] = field(default_factory=list)
    rows: int = 0
    started_at: float = 0.0
    finished_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "plan_fingerprint": self.plan_fingerprint, "sink_job_id": self.sink_job_id,
                "complete": self.complete, "partitions": sorted(self.partitions), "rows": self.rows,
                "started_at": self.started_at, "finished_at": self.finished_at}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> JobRecord:
        return cls(job_id=str(d["job_id"]), plan_fingerprint=d.get("plan_fingerprint"),
                   sink_job_id=str(d.get("sink_job_id") or d["job_id"]), complete=bool(d.get("complete")),
                   partitions=list(d.get("partitions", [])), rows=int(d.get("rows", 0)),
                   started_at=float(d.get("started_at") or 0.0), finished_at=d.get("finished_at"))


class JobStore:
    """Job records in a folder next to the sink (local or object store): one JSON object per job.

    Parameters
    ----------
    location : str
        A folder or object prefix, e.g. ``s3://bucket/out/_thresher/checkpoints``.
    io_config : IOConfig, optional
        Credentials for an object-store location.
    """

    def __init__(self, location: str, io_config: IOConfig | None = None) -> None:
        self.location = location
        self.io_config = io_config

    def _uri(self, job_id: str) -> str:
        import hashlib  # here, not at the top: hashlib loads OpenSSL (~3.5 MiB RSS)

        safe = hashlib.sha1(job_id.encode()).hexdigest()[:16]
        return fs.join(self.location, f"job-{safe}.json")

    def load(self, job_id: str) -> dict[str, Any] | None:
        """The record of ``job_id`` as a dict (None when the job never started here)."""
        rec = read_json(self._uri(job_id), self.io_config)
        return rec if isinstance(rec, dict) and rec.get("job_id") == job_id else None

    def record(self, job_id: str) -> JobRecord | None:
        d = self.load(job_id)
        return JobRecord.from_json(d) if d is not None else None

    def begin(self, job_id: str, plan_fingerprint: str, overwrite: bool = False) -> JobRecord:
        """Record that ``job_id`` runs the plan ``plan_fingerprint``, or check that it already does.

        Raises :class:`JobPlanMismatchError` when the job was started with another plan, unless
        ``overwrite``: then the job starts a new generation whose partitions are recorded under
        a new sink job id (nothing of the old plan counts as committed).
        """
        uri = self._uri(job_id)
        rec = JobRecord(job_id, plan_fingerprint, job_id, started_at=time.time())
        if create_json(uri, rec.to_json(), self.io_config):
            return rec
        # the record exists: a failed read (StorageError) propagates; replacing the record then
        # would drop its plan fingerprint (another plan could run under the job id) or its
        # completion
        try:
            d = json.loads(fs.read_bytes(uri, self.io_config))
        except ValueError:
            d = None
        old = JobRecord.from_json(d) if isinstance(d, dict) and d.get("job_id") == job_id else None
        if old is None:  # unreadable: a torn record from a foreign writer; replace it
            atomic_write_json(uri, rec.to_json(), self.io_config)
            return rec
        if old.plan_fingerprint in (None, plan_fingerprint):
            return old
        if not overwrite:
            raise JobPlanMismatchError(
                f"job {job_id!r} was started with a different plan (fingerprint {old.plan_fingerprint}, this plan "
                f"{plan_fingerprint}): use a new job_id, or mode=\"overwrite\" to replace what it wrote")
        new = JobRecord(job_id, plan_fingerprint, f"{job_id}#{plan_fingerprint[:12]}", started_at=time.time())
        atomic_write_json(uri, new.to_json(), self.io_config)
        return new

    def is_complete(self, job_id: str) -> bool:
        rec = self.load(job_id)
        return bool(rec and rec.get("complete"))

    def mark_complete(self, job_id: str, partitions: list[str], rows: int,
                      plan_fingerprint: str | None = None) -> None:
        """Record that ``job_id`` finished, with the partitions it covered."""
        old = self.record(job_id)
        rec = old or JobRecord(job_id, plan_fingerprint, job_id, started_at=time.time())
        rec.plan_fingerprint = plan_fingerprint or rec.plan_fingerprint
        rec.complete = True
        rec.partitions = sorted(partitions)
        rec.rows = rows
        rec.finished_at = time.time()
        atomic_write_json(self._uri(job_id), rec.to_json(), self.io_config)


__all__ = [
    "JOB_ID_KEY",
    "LEASE_S",
    "META_DIR",
    "PARTITIONS_KEY",
    "JobLease",
    "JobPlanMismatchError",
    "LeaseLostError",
    "JobRecord",
    "JobStore",
    "atomic_write_json",
    "commit_lock",
    "create_json",
    "decode_partition_ids",
    "encode_partition_ids",
    "file_lock",
    "job_lease",
    "read_json",
    "retry_commit",
]
