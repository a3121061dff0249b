"""One writer at a time and one dataset per data root: what every run checks before it writes.

The lock is an exclusive `flock` on `_catalog/writer.lock`, held by the process that writes (a Dagster run
with the in-process executor is one process; `lakehouse run` holds it for all its years). The kernel drops it
when the process ends, however it ends, so a killed run never leaves a stale lock. Readers take no lock.

The dataset identity is the settings that shape the data, recorded in `_catalog/dataset.json` when the data
root is first written. A run whose settings differ stops before writing anything, naming the differences,
unless it rebuilds (`lakehouse run --rebuild`), which records the new identity.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from retail_lakehouse.errors import LakehouseError
from retail_lakehouse.storage import Lakehouse, atomic_path

LOCK_FILE = "writer.lock"
IDENTITY_FILE = "dataset.json"


class WriterBusyError(LakehouseError):
    """Another process is writing to the same data root."""


class DatasetMismatchError(LakehouseError):
    """The settings of a run differ from those the data root was built with."""


_held: dict[Path, TextIO] = {}
_guard = threading.Lock()


def acquire(lakehouse: Lakehouse, holder: str) -> None:
    """Take the data root's writer lock for this process (a no-op if it already holds it), or stop.

    `holder` (a run id or command) is written into the lock file, so the next one to try can say who has it.
    """
    path = lakehouse.internal(LOCK_FILE).resolve()
    with _guard:
        if path in _held:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 - held open until release or process exit
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            who = handle.read().strip() or "another process"
            handle.close()
            raise WriterBusyError(
                f"{lakehouse.root.resolve()} is being written by {who}: wait until it finishes, then run again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{holder} (pid {os.getpid()}, since {datetime.now(UTC).isoformat(timespec='seconds')})")
        handle.flush()
        _held[path] = handle


def release(lakehouse: Lakehouse) -> None:
    """Give the writer lock back (if this process holds it)."""
    path = lakehouse.internal(LOCK_FILE).resolve()
    with _guard:
        handle = _held.pop(path, None)
    if handle is not None:
        _close(handle)


def holds(lakehouse: Lakehouse) -> bool:
    return lakehouse.internal(LOCK_FILE).resolve() in _held


def held() -> frozenset[Path]:
    """The lock files this process holds."""
    with _guard:
        return frozenset(_held)


def release_all_but(keep: frozenset[Path]) -> None:
    """Release every lock this process took since `keep = held()` was read (the end of one run)."""
    with _guard:
        handles = [_held.pop(path) for path in list(_held) if path not in keep]
    for handle in handles:
        _close(handle)


def _close(handle: TextIO) -> None:
    """Empty the holder's note while still holding the lock, then let go (closing releases the flock)."""
    handle.seek(0)
    handle.truncate()
    handle.close()


def recorded_identity(lakehouse: Lakehouse) -> dict[str, Any] | None:
    path = lakehouse.internal(IDENTITY_FILE)
    if not path.is_file():
        return None
    return json.loads(path.read_text())["settings"]


def record_identity(lakehouse: Lakehouse, identity: dict[str, Any]) -> None:
    with atomic_path(lakehouse.internal(IDENTITY_FILE)) as temporary:
        recorded_at = datetime.now(UTC).isoformat(timespec="seconds")
        temporary.write_text(json.dumps({"recorded_at": recorded_at, "settings": identity}, indent=1))


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
            f"{lakehouse.root.resolve()} was built with other settings: {'; '.join(differences)}. "
            "Use the recorded settings, another LAKEHOUSE_DATA_DIR, or `lakehouse run --rebuild`"
        )
