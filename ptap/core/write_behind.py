"""Write-behind buffers: small writes noted in memory by requests and socket handlers, written
in batches off the request (one statement per batch and one commit, in a fresh app context).

Used where a per-connection write would cost more than the row is worth at that moment: the
last-use time of an API token (`ptap.accounts.token_usage`) and the audit event of a socket
joining a thread (`ptap.audit.services.record_event_batched`). A batch is written when it
holds `max_rows` items or `WRITE_BEHIND_SECONDS` after its first item, by a daemon thread of
this process, and at interpreter exit (a graceful stop). Guarantee: a crash of the process
loses at most what it noted in the last `WRITE_BEHIND_SECONDS` (1 s by default), never a
committed row. A write that fails for a passing reason (database unreachable or locked) is
logged and retried with the next batch; an item the database refuses for its content (a
constraint, a value it cannot store) is logged at error level with its content and dropped,
after the batch's other items were written one by one, so it never holds them back.

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
from sqlalchemy import exc as sa_exc

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
        #: Held while a batch is written: a flush at exit waits for the writer thread's batch
        #: (otherwise it finds nothing pending and the process ends in the middle of it).
        self._flushing = threading.Lock()
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
        """Write every pending item now (one batch per app); return how many were written.
        Flushes run one at a time: one that starts while another writes waits for it."""
        with self._flushing:
            return self._flush()

    def _flush(self) -> int:
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
            except Exception as exc:
                if not _is_poison(exc) or len(batch) == 1:
                    written += self._handle_failure(app, batch, exc)
                    continue
                # One bad item must not hold back the others for ever: write them one by one.
                for item in batch:
                    try:
                        self._write(app, [item])
                        written += 1
                    except Exception as item_exc:
                        self._handle_failure(app, [item], item_exc)
        return written

    def _handle_failure(self, app: Flask, batch: list[Any], exc: Exception) -> int:
        """Keep a batch that failed for a passing reason (database away, locked) for the next
        flush; drop, with an error log naming the item, one the database refuses for itself
        (a constraint or a value it cannot store), which every retry would refuse again."""
        if _is_poison(exc):
            for item in batch:
                log.error(
                    "write-behind %s: item refused, dropped: %r", self.name, item, exc_info=exc
                )
            return 0
        log.error("write-behind %s: %d not written, retried", self.name, len(batch), exc_info=exc)
        with self._lock:
            self._items[:0] = [(app, item) for item in batch]
        return 0


def _is_poison(exc: Exception) -> bool:
    """Tell whether the database refused the statement for its content (retrying is useless),
    not because it was unreachable or busy."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return False
    return isinstance(exc, sa_exc.StatementError) and not isinstance(
        exc, sa_exc.OperationalError | sa_exc.InterfaceError
    )


def flush_all() -> int:
    """Write every buffer's pending items now; return how many."""
    return sum(buffer.flush() for buffer in _BUFFERS)


atexit.register(flush_all)
