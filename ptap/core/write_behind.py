"""Write-behind buffers: small writes noted in memory by requests and socket handlers, written
in batches off the request (one statement per batch and one commit, in a fresh app context).

Used where a per-connection write would cost more than the row is worth at that moment: the
last-use time of an API token (`ptap.accounts.token_usage`) and the audit event of a socket
joining a thread (`ptap.audit.services.record_event_batched`). A batch is written when it
holds `max_rows` items or `WRITE_BEHIND_SECONDS` after its first item, by a daemon thread of
this process, and at interpreter exit (a graceful stop). Guarantee: a crash of the process
loses at most what it noted in the last `WRITE_BEHIND_SECONDS` (1 s by default), never a
committed row; a failed write is logged and retried with the next batch.

`WRITE_BEHIND_SECONDS = 0` (the testing configuration) turns buffering off: the callers then
write in their own transaction, as before.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

log = logging.getLogger(__name__)

#: Every buffer of the process, flushed at exit and by `flush_all` (tests, shutdown hooks).
_BUFFERS: list[WriteBehind] = []


def window_seconds(app: Flask | None = None) -> float:
    """Return how long a noted write may wait (0: buffering off, write in the transaction)."""
    cfg = (app or current_app).config
    return float(cfg.get("WRITE_BEHIND_SECONDS", 1.0))


class WriteBehind:
    """A process-wide buffer of items written by `write(app, items)` in batches."""

    def __init__(
        self, name: str, write: Callable[[Flask, list[Any]], None], *, max_rows: int = 500
    ) -> None:
        self.name = name
        self._write = write
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._items: list[tuple[Flask, Any]] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        _BUFFERS.append(self)

    def add(self, item: Any) -> None:
        """Note one item of the current app; it is written within the window."""
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        with self._lock:
            self._items.append((app, item))
            full = len(self._items) >= self.max_rows
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, args=(app,), name=f"write-behind:{self.name}", daemon=True
                )
                self._thread.start()
        if full:
            self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._items)

    def _run(self, app: Flask) -> None:
        while True:
            self._wake.wait(window_seconds(app))
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write every pending item now (one batch per app); return how many were written."""
        with self._lock:
            items, self._items = self._items, []
        by_app: dict[int, tuple[Flask, list[Any]]] = {}
        for app, item in items:
            by_app.setdefault(id(app), (app, []))[1].append(item)
        written = 0
        for app, batch in by_app.values():
            try:
                self._write(app, batch)
                written += len(batch)
            except Exception:  # keep them for the next batch: nothing noted is dropped
                log.exception("write-behind %s: %d not written, retried", self.name, len(batch))
                with self._lock:
                    self._items[:0] = [(app, item) for item in batch]
        return written


def flush_all() -> int:
    """Write every buffer's pending items now; return how many."""
    return sum(buffer.flush() for buffer in _BUFFERS)


atexit.register(flush_all)
