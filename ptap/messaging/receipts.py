"""Read receipts coalesced per conversation: one `read_receipts` frame for many readers.

Every open thread marks each new message read, so a message in a thread followed by N
sockets brings N receipts, each sent to the N sockets: N² frames (40,000 at 200). Instead the
receipts of a conversation committed within MESSAGING_RECEIPT_WINDOW_SECONDS (0.5 s) are
gathered in this process and sent as ONE frame to the thread, naming every reader and the
seq each has read up to: N frames per message, whatever the number of readers. With several
processes each gathers its own readers (one frame per process and window, through the queue).

The "Lu par …" markers are shown to every member of the thread, so the frame goes to the
thread room (not only to the message's author). A receipt is informative: if the process
stops within the window the frame is lost, and the next join's `readers` restores the markers
from the stored read positions.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import current_app

from ptap.extensions import socketio

#: conversation id -> (room, namespace, {reader user id -> reader dict}), waiting for its frame.
_pending: dict[int, tuple[str, str, dict[int, dict[str, Any]]]] = {}
_lock = threading.Lock()


def queue_receipt(conversation_id: int, reader: dict[str, Any], room: str, namespace: str) -> None:
    """Send `reader` ({user_id, name, seq}) to the thread with the other receipts of the window
    (call after the commit). The first receipt of a window starts its timer."""
    window = float(current_app.config.get("MESSAGING_RECEIPT_WINDOW_SECONDS", 0.5))
    if window <= 0:
        _emit(conversation_id, room, namespace, [reader])
        return
    with _lock:
        first = conversation_id not in _pending
        _, _, readers = _pending.setdefault(conversation_id, (room, namespace, {}))
        known = readers.get(reader["user_id"])
        if known is None or known["seq"] < reader["seq"]:
            readers[reader["user_id"]] = reader
    if first:
        timer = threading.Timer(window, send_pending, args=(conversation_id,))
        timer.daemon = True
        timer.start()


def send_pending(conversation_id: int | None = None) -> int:
    """Send the gathered receipts of one conversation (or of all, with None) now; return the
    number of frames emitted (to rooms, not sockets)."""
    with _lock:
        ids = list(_pending) if conversation_id is None else [conversation_id]
        batches = [(cid, _pending.pop(cid)) for cid in ids if cid in _pending]
    for cid, (room, namespace, readers) in batches:
        _emit(cid, room, namespace, sorted(readers.values(), key=lambda r: r["user_id"]))
    return len(batches)


def _emit(conversation_id: int, room: str, namespace: str, readers: list[dict[str, Any]]) -> None:
    socketio.emit(
        "read_receipts",
        {"conversation_id": conversation_id, "readers": readers},
        to=room,
        namespace=namespace,
    )
