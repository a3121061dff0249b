"""One writer at a time and one dataset per data root: what every run checks before it writes.

On a local disk the lock is an exclusive `flock` on `_catalog/writer.lock`, held by the process that writes (a
Dagster run with the in-process executor is one process; `lakehouse run` holds it for all its years). The
kernel drops it when the process ends, however it ends, so a killed run never leaves a stale lock.

An object store has no `flock`, so under an `s3://` root the lock is a lease: the record
`_catalog/writer.lease` (see `Lakehouse.commit_record`) names its holder and when it expires. The holder is a
writer, not a process: `lakehouse run` (all its years), or one Dagster run, whose steps may run in several
processes or machines (the Celery executor) and all write under the same lease. Every write first renews it
with a commit on top of the version read, which succeeds only if that version is free (released or
expired) or the same holder's: of two writers taking it at once exactly one commit succeeds. A long write,
and `lakehouse run` from start to end, keeps it renewed from a thread (`kept_renewed`). The writer releases
it at its end: `lakehouse run` when it returns, a Dagster run after its publish step. A writer killed while
holding it leaves a lease that expires `LEASE_SECONDS` after its last renewal; the next writer then takes it
over. A holder that could not renew in time (paused longer than the term, or cut off from the store) has
lost it: its next write or publish stops with one line, and a publish it still had under way cannot
overwrite a newer snapshot, because snapshots are created exclusively. Expiry compares wall clocks, so the
term must be much longer than the clock skew between machines (NTP keeps it to milliseconds).

Readers take no lock.

The dataset identity is the settings that shape the data, recorded in `_catalog/dataset.json` when the data
root is first written. A run whose settings differ stops before writing anything, naming the differences,
unless it rebuilds (`lakehouse run --rebuild`), which records the new identity.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from retail_lakehouse.errors import LakehouseError, StorageError
from retail_lakehouse.storage import Lakehouse, Location

LOCK_FILE = "writer.lock"
LEASE_FILE = "writer.lease"
LEASE_SECONDS = 60.0
WRITER_TAG = "lakehouse/writer"  # a run tag: the command whose writer lock the run writes under
IDENTITY_FILE = "dataset.json"


class WriterBusyError(LakehouseError):
    """Another process is writing to the same data root."""


class DatasetMismatchError(LakehouseError):
    """The settings of a run differ from those the data root was built with."""


@dataclass
class Lease:
    """The writer lease as this process last committed or read it."""

    lakehouse: Lakehouse
    location: Location
    holder: str
    seconds: float
    version: int
    expires_at: float
    lost: str | None = None
    guard: threading.Lock = field(default_factory=threading.Lock)
    renewers: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


_held: dict[str, TextIO | Lease] = {}
_guard = threading.Lock()


def _lock_key(lakehouse: Lakehouse) -> str:
    if lakehouse.remote:
        return str(lakehouse.internal(LEASE_FILE))
    return str(Path(lakehouse.internal(LOCK_FILE)).resolve())


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _busy(lakehouse: Lakehouse, who: str) -> WriterBusyError:
    return WriterBusyError(f"{lakehouse.location} is being written by {who}: wait until it finishes, then run again")


def acquire(lakehouse: Lakehouse, holder: str, lease_seconds: float = LEASE_SECONDS) -> None:
    """Take the data root's writer lock for `holder`, or stop; a no-op if this process already holds it.

    `holder` (a run id or command) is recorded with the lock, so the next one to try can say who has it. On
    an object store this renews the lease (or takes it, if free), and another process of the same `holder`
    shares it instead of being refused.
    """
    key = _lock_key(lakehouse)
    with _guard:
        held = _held.get(key)
        if held is not None and not isinstance(held, Lease):
            return
        if isinstance(held, Lease) and held.holder == holder:
            with held.guard:
                if held.lost or time.time() > held.expires_at - held.seconds * 2 / 3:
                    renew(held)  # not renewed for a third of its term: this write renews it
            return
        if lakehouse.remote:
            _held[key] = take_lease(lakehouse, holder, lease_seconds)
        else:
            _held[key] = _take_flock(lakehouse, holder)


def _take_flock(lakehouse: Lakehouse, holder: str) -> TextIO:
    path = Path(lakehouse.internal(LOCK_FILE)).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held open until release or process exit
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        who = handle.read().strip() or "another process"
        handle.close()
        raise _busy(lakehouse, who) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{holder} (pid {os.getpid()}, since {_iso(time.time())})")
    handle.flush()
    return handle


def _lease_text(holder: str | None, expires_at: float) -> str:
    process = f"pid {os.getpid()} on {socket.gethostname()}"
    return json.dumps({"holder": holder, "expires_at": expires_at, "renewed_by": process})


def _read_lease(lakehouse: Lakehouse, location: Location) -> tuple[int | None, dict[str, Any]]:
    record = lakehouse.read_record(location)
    return (None, {}) if record is None else (record[0], json.loads(record[1] or "{}"))


def take_lease(lakehouse: Lakehouse, holder: str, seconds: float) -> Lease:
    """One process's attempt to take the lease for `holder` (see `acquire`), or stop if another holds it."""
    location = lakehouse.internal(LEASE_FILE)
    for _ in range(5):  # a commit lost to a release, a renewal or a takeover is worth another look
        version, state = _read_lease(lakehouse, location)
        live = bool(state.get("holder")) and float(state.get("expires_at", 0)) > time.time()
        if live and state["holder"] != holder:
            until = _iso(float(state["expires_at"]))
            raise _busy(lakehouse, f"{state['holder']} ({state.get('renewed_by', '')}, lease until {until})")
        expires_at = time.time() + seconds
        committed = lakehouse.commit_record(location, version, _lease_text(holder, expires_at))
        if committed is not None:
            return Lease(lakehouse, location, holder, seconds, committed, expires_at)
    raise _busy(lakehouse, "another writer (it took the lease first)")


def renew(lease: Lease) -> None:
    """Commit a later expiry (call with `lease.guard` held), or stop if another writer holds the lease now.

    Another process of the same holder may have renewed it since this one last did: its version is taken
    over. A lease that had expired is taken back if nobody else took it in the meantime.
    """
    if lease.lost is None:
        for _ in range(5):
            expires_at = time.time() + lease.seconds
            committed = lease.lakehouse.commit_record(
                lease.location, lease.version, _lease_text(lease.holder, expires_at)
            )
            if committed is not None:
                lease.version, lease.expires_at = committed, expires_at
                return
            version, state = _read_lease(lease.lakehouse, lease.location)
            if version is None or state.get("holder") != lease.holder:
                lease.lost = f"{state.get('holder') or 'nobody'} holds it now"
                break
            lease.version = version
        else:
            lease.lost = "it could not be renewed for contention"
    raise WriterBusyError(f"{lease.lakehouse.location}: {lease.holder} lost the writer lease ({lease.lost}); run again")


@contextlib.contextmanager
def kept_renewed(lakehouse: Lakehouse) -> Iterator[None]:
    """Renew this process's lease (if it holds one) every third of its term while the block runs."""
    with _guard:
        lease = _held.get(_lock_key(lakehouse))
    if not isinstance(lease, Lease):
        yield
        return
    with lease.guard:
        lease.renewers += 1
        if lease.renewers == 1:
            lease.stop = threading.Event()
            threading.Thread(target=_keep_renewing, args=(lease, lease.stop), name="writer-lease", daemon=True).start()
    try:
        yield
    finally:
        with lease.guard:
            lease.renewers -= 1
            if lease.renewers == 0:
                lease.stop.set()


def _keep_renewing(lease: Lease, stop: threading.Event) -> None:
    while not stop.wait(lease.seconds / 3):
        with lease.guard:
            try:
                renew(lease)
            except WriterBusyError:
                return  # noted in `lease.lost`: the next write stops
            except StorageError:  # the store is unreachable: try again while the lease lasts
                if time.time() > lease.expires_at:
                    lease.lost = "it expired while the store could not be reached"
                    return


def release(lakehouse: Lakehouse) -> None:
    """Give the writer lock back (if this process holds it)."""
    with _guard:
        held = _held.pop(_lock_key(lakehouse), None)
    if held is not None:
        _close(held)


def release_lease_of(lakehouse: Lakehouse, holder: str) -> None:
    """Release this process's lease if `holder` holds it (a local lock is left to the process's end)."""
    key = _lock_key(lakehouse)
    with _guard:
        held = _held.get(key)
        if not (isinstance(held, Lease) and held.holder == holder):
            return
        del _held[key]
    _close(held)


def holds(lakehouse: Lakehouse) -> bool:
    return _lock_key(lakehouse) in _held


def held() -> frozenset[str]:
    """The locks this process holds."""
    with _guard:
        return frozenset(_held)


def release_all_but(keep: frozenset[str]) -> None:
    """Release every lock this process took since `keep = held()` was read (the end of one run)."""
    with _guard:
        handles = [_held.pop(key) for key in list(_held) if key not in keep]
    for handle in handles:
        _close(handle)


def _close(held: TextIO | Lease) -> None:
    """Let go of a lock: a lease is committed as free, a lock file's holder note is emptied before closing."""
    if not isinstance(held, Lease):
        held.seek(0)
        held.truncate()
        held.close()
        return
    with held.guard:
        held.stop.set()
        if held.lost is not None:
            return
        with contextlib.suppress(StorageError):  # the store is unreachable: the lease runs out by itself
            for _ in range(5):
                if held.lakehouse.commit_record(held.location, held.version, _lease_text(None, 0.0)) is not None:
                    return
                version, state = _read_lease(held.lakehouse, held.location)
                if version is None or state.get("holder") != held.holder:
                    return
                held.version = version


def recorded_identity(lakehouse: Lakehouse) -> dict[str, Any] | None:
    path = lakehouse.internal(IDENTITY_FILE)
    if not lakehouse.is_file(path):
        return None
    return json.loads(lakehouse.read_text(path))["settings"]


def record_identity(lakehouse: Lakehouse, identity: dict[str, Any]) -> None:
    recorded_at = datetime.now(UTC).isoformat(timespec="seconds")
    text = json.dumps({"recorded_at": recorded_at, "settings": identity}, indent=1)
    lakehouse.write_text(lakehouse.internal(IDENTITY_FILE), text, atomic=True)


def ensure_identity(lakehouse: Lakehouse, identity: dict[str, Any], rebuild: bool = False) -> None:
    """Record the identity on first use (or on a rebuild); otherwise stop if the settings differ."""
    recorded = recorded_identity(lakehouse)
    if recorded is None or rebuild:
        if recorded != identity:
            record_identity(lakehouse, identity)
        return
    differences = [
        f"{name} {identity.get(name)!r} (recorded {recorded.get(name)!r})"
        for name in sorted(identity.keys() | recorded.keys())
        if identity.get(name) != recorded.get(name)
    ]
    if differences:
        raise DatasetMismatchError(
            f"{lakehouse.location} was built with other settings: {'; '.join(differences)}. "
            "Use the recorded settings, another LAKEHOUSE_DATA_DIR, or `lakehouse run --rebuild`"
        )
