"""Answers to the page's callback shared by every worker process of one server, and the request that asks for one.

gunicorn's workers are separate processes, so a view one of them drew would otherwise be drawn again by each
of the others, and every answer from a worker's own cache of rendered views is still serialised to JSON anew
(100-300 kB a view, a few milliseconds each). Here the finished answer (the bytes Dash sent) is kept in a
folder that all workers of the server read and write: any worker answers a view any of them has drawn with a
file read. Entries live under a subfolder per gold generation (`data.gold_generation`), so a republished gold
is never answered from here; a worker that meets a new generation removes the others' folders, and the oldest
answers go when the folder outgrows its bound.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from plotly.io.json import to_json_plotly

# The start-up's answers (about 4,300 views of 100-300 kB for six years, by address and by click) with room
# for the views drawn under load.
MAX_BYTES = 2 * 2**30
# How much one process writes between two checks of the folder's size (a check lists the folder).
PRUNE_EVERY_BYTES = 16 * 2**20


class SharedResponses:
    """A folder of callback answers, one file per key and gold generation, safe for many processes and threads.

    Files are written whole under a temporary name and renamed into place, so a reader sees an answer complete
    or not at all. Nothing is locked: two workers drawing the same view at once both write it, the same bytes.
    """

    def __init__(self, folder: Path | str, max_bytes: int = MAX_BYTES) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._written = 0

    def _path(self, generation: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:40]
        return self.folder / generation / f"{digest}.json"

    def get(self, generation: str, key: str) -> bytes | None:
        """The answer kept for `key` on this generation of gold, or None."""
        try:
            return self._path(generation, key).read_bytes()
        except OSError:  # not there (yet), or removed by a newer generation or the pruning meanwhile
            return None

    def put(self, generation: str, key: str, body: bytes) -> None:
        """Keep the answer for `key` on this generation; the first of a new generation removes older folders."""
        path = self._path(generation, key)
        self._forget_other_generations(generation)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        temporary.write_bytes(body)
        os.replace(temporary, path)
        with self._lock:
            self._written += len(body)
            due = self._written >= PRUNE_EVERY_BYTES
            if due:
                self._written = 0
        if due:
            self.prune(generation)

    def claim(self, generation: str, key: str) -> bool:
        """Whether this caller is the first to ask for `key` (so the warm-up of several workers splits the work).

        A claim is a marker file created exclusively; an answer already there counts as claimed.
        """
        path = self._path(generation, key)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.with_suffix(".claim").touch(exist_ok=False)
        except FileExistsError:
            return False
        return True

    def prune(self, generation: str) -> None:
        """Remove the oldest answers of `generation` until the folder holds at most three quarters of its bound."""
        entries = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self.folder / generation) as found:
            for entry in found:
                with contextlib.suppress(FileNotFoundError):
                    stat = entry.stat()
                    entries.append((stat.st_mtime, stat.st_size, entry.path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes * 3 // 4:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            total -= size

    def _forget_other_generations(self, generation: str) -> None:
        """Answers for other generations are never asked for again once gold moved on: remove their folders.

        (A worker still finishing a view of the generation before may write one more answer there during a
        publish; the next new generation removes it.)
        """
        with self._lock:
            if self._generation == generation:
                return
            self._generation = generation
        with contextlib.suppress(FileNotFoundError), os.scandir(self.folder) as found:
            for entry in found:
                if entry.name != generation and entry.is_dir():
                    shutil.rmtree(entry.path, ignore_errors=True)


# How Dash begins the answer of a callback with several outputs; the page's callback writes the address first.
ANSWER_START = b'{"multi":true,"response":{'


def _address_output(search: str) -> bytes:
    """The address output as Dash writes it into an answer (Dash serialises with plotly's `to_json_plotly`)."""
    return b'"url":' + to_json_plotly({"search": search}).encode() + b","


def with_address(answer: bytes, written: str | None, wanted: str | None) -> bytes | None:
    """The same answer, writing the address `wanted` instead of `written` (None: leaving the address as it is).

    A view opened by a link and the same view opened by a click differ only in this one output, so each drawn
    answer gives the other for free. None when the answer does not begin as expected (then nothing is derived).
    """
    if not answer.startswith(ANSWER_START):
        return None
    rest = answer[len(ANSWER_START) :]
    if written is not None:
        if not rest.startswith(_address_output(written)):
            return None
        rest = rest[len(_address_output(written)) :]
    elif rest.startswith(b'"url":'):
        return None
    return ANSWER_START + (b"" if wanted is None else _address_output(wanted)) + rest


def callback_body(dependencies: list[dict[str, Any]], values: dict[str, Any], changed: str | None) -> dict[str, Any]:
    """The JSON the Dash renderer posts for the callback that has input `changed` (the page's main one if None).

    `dependencies` is the app's callback graph (`/_dash-dependencies`) and `values` the inputs' current values
    by `id.property`, as the page holds them. The start-up warm-up, the load benchmark and the tests post it.
    """
    wanted = changed or "url.search"
    spec = next(d for d in dependencies if any(f"{i['id']}.{i['property']}" == wanted for i in d["inputs"]))
    output = spec["output"]
    names = output.strip(".").split("...") if output.startswith("..") else [output]
    return {
        "output": output,
        "outputs": [dict(zip(("id", "property"), name.rsplit(".", 1), strict=True)) for name in names],
        "inputs": [dict(i, value=values.get(f"{i['id']}.{i['property']}")) for i in spec["inputs"]],
        "changedPropIds": [changed] if changed else [],
        "state": [dict(i, value=values.get(f"{i['id']}.{i['property']}")) for i in spec["state"]],
    }
