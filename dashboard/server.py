"""Serving the dashboard: gunicorn in production, Dash's development server with `--debug`.

Dash's own server is Flask's development server: one process, not meant for many users. gunicorn runs the
same Flask app in several worker processes, each with a few threads (Polars releases the GIL while it reads
and aggregates, so threads help; processes help where Python holds it, building figures and JSON). Each
worker builds its own app after the fork (gunicorn's default, no `preload_app`), so each starts its own gold
preload thread and keeps its own caches; a thread started in the master would not survive the fork.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from dashboard.app import create_app
from dashboard.responses import SharedResponses
from retail_lakehouse.errors import LakehouseError

THREADS = 2
# Each worker keeps its own copy of gold in memory (about 1.3 GB at 100M lines), which caps how many fit.
MAX_WORKERS = 4
TIMEOUT_SECONDS = 60
LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"


def default_workers() -> int:
    """Two worker processes per core, at most MAX_WORKERS.

    A view drawn for the first time holds its worker's GIL for 30-70 ms; with more processes than cores, a view
    that is already drawn (a file read) finds a free worker instead of queueing behind it. Measured at 100M
    lines on 2 cores, 200 analysts: 2 workers x 4 threads p95 281 ms, 4 x 2 p95 196 ms.
    """
    return min(2 * (os.cpu_count() or 1), MAX_WORKERS)


class DashboardServer(BaseApplication):
    """gunicorn's arbiter and workers serving `create_app(data_dir)`, configured from a dict of its settings.

    The workers share their answers through a fresh folder (`dashboard.responses`), which the arbiter removes
    when it exits.
    """

    def __init__(self, data_dir: Path | str, options: dict[str, Any]) -> None:
        self.data_dir = data_dir  # a folder or an `s3://` root: `Path` would fold the `//`
        self.shared = tempfile.mkdtemp(prefix="lakehouse-dashboard-answers-")
        self.options = options | {"on_exit": lambda _arbiter: shutil.rmtree(self.shared, ignore_errors=True)}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """Runs in each worker after the fork: the app, its preload thread and its caches belong to the worker."""
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
        return create_app(self.data_dir, SharedResponses(self.shared), warm_further=True).server


def gunicorn_options(host: str, port: int, workers: int, threads: int = THREADS) -> dict[str, Any]:
    """The gunicorn settings the dashboard runs with."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": TIMEOUT_SECONDS,
        "graceful_timeout": 10,
        "keepalive": 5,
        "proc_name": "lakehouse-dashboard",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        # gunicorn 25's runtime control socket sits at one fixed path per user: two dashboards would clash.
        "control_socket_disable": True,
    }


def check_address(host: str, port: int) -> None:
    """Fail with one line if nothing can listen on host:port (gunicorn would retry, then log a traceback)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as error:
        raise LakehouseError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def serve(
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8050,
    debug: bool = False,
    workers: int | None = None,
    threads: int = THREADS,
) -> None:
    """Serve the dashboard until interrupted (localhost only unless `host` says otherwise)."""
    check_address(host, port)
    if debug:
        create_app(data_dir).run(host=host, port=port, debug=True)
        return
    workers = workers or default_workers()
    print(f"Dashboard on http://{host}:{port}  ({workers} worker(s) x {threads} threads, gold under {data_dir})")
    DashboardServer(data_dir, gunicorn_options(host, port, workers, threads)).run()
