"""Redis and Dagster's Celery workers on loopback, for the distributed end-to-end test.

Redis is Debian's `redis-server` (installed by `scripts/test.sh`), started on a free port without
persistence. Each worker is `dagster-celery worker start` with the solo pool (one process runs its tasks),
in its own working folder and session, so that stopping it ends the Celery process it spawns as well.
The workers share the broker, the object store and Dagster's instance folder (`DAGSTER_HOME`), which
Dagster needs to record the steps' events; they share no data folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from retail_lakehouse_tests.seaweedfs import free_ports

STARTUP_SECONDS = 90.0
STOP_GRACE_SECONDS = 10.0


@dataclass
class Service:
    """A process this test session started (in its own session), and where its output goes."""

    name: str
    process: subprocess.Popen
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after a grace period; returns once every member is gone."""
        stop_all([self])

    @property
    def stopped(self) -> bool:
        return self.process.poll() is not None and not _group_alive(self.process.pid)


def stop_all(services: list[Service]) -> None:
    """SIGTERM every service's process group at once, then SIGKILL what is left after the grace period."""
    for service in services:
        with contextlib.suppress(ProcessLookupError):  # it has exited already
            os.killpg(service.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while any(_group_alive(s.process.pid) for s in services) and time.monotonic() < deadline:
        for service in services:
            service.process.poll()  # reap the group leader, so that an exited group reads as gone
        time.sleep(0.1)
    for service in services:
        if _group_alive(service.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start(name: str, command: list[str], folder: Path, env: dict[str, str]) -> Service:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    return Service(name, process, log)


def start_redis(folder: Path) -> Service:
    """`redis-server` on a free loopback port, without persistence; waits until it answers PING."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).is_file():
        raise RuntimeError("redis-server is missing: scripts/test.sh installs Debian's redis-server (as root)")
    (port,) = free_ports(1)
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(folder)]  # fmt: skip
    service = _start("redis", command, folder, dict(os.environ))
    url = f"redis://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            if redis.Redis.from_url(url).ping():
                service.extra = {"broker": f"{url}/0", "backend": f"{url}/1"}
                return service
        except redis.ConnectionError:
            time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"redis-server did not answer on {url}: {service.log.read_text(errors='replace')[-500:]}")


def start_worker(name: str, folder: Path, env: dict[str, str], config_yaml: Path) -> Service:
    """One Dagster Celery worker named `name`, running one task at a time in one process."""
    command = [str(Path(sys.executable).with_name("dagster-celery")), "worker", "start", "-A", "dagster_celery.app",
               "-y", str(config_yaml), "-n", name, "--", "--pool=solo"]  # fmt: skip
    return _start(name, command, folder, env)


def wait_until_ready(workers: list[Service]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if all(" ready." in w.log.read_text(errors="replace") for w in workers):
            return
        if any(w.process.poll() is not None for w in workers):
            break
        time.sleep(0.2)
    tails = "\n".join(f"{w.name}: {w.log.read_text(errors='replace')[-800:]}" for w in workers)
    raise RuntimeError(f"the Celery workers did not get ready:\n{tails}")
