"""Who may still receive: the filter of this process's Socket.IO deliveries, per socket.

Every broadcast reaches the sockets of a process through `Manager.emit` of that process:
called directly without a message queue, or by the queue listener (`PubSubManager._handle_emit`)
with one, for the emits of every process. `install_delivery_filter` slots `DeliveryFilter`
there, so each process filters its own sockets, with no query:

- **credential deadlines**: each socket carries the instant its credential ends (the API
  token's expiry; the login session's absolute end or idle end), set at connect and moved
  when the session is used again (`renew_room`). From that instant nothing reaches it, in any
  room or namespace; the one-minute job then closes it (`ptap.accounts.tasks`).
- **ended credentials**: revoking a token, ending a session (logout, timeout) or cutting an
  account off sends `end_room` to the credential's room (`token:{id}`, `session:{id}`,
  `user:{id}`): the process holding those sockets marks them ended and disconnects them.
- **room filters**: a domain adds the sockets to leave out of one of its rooms (messaging:
  access to a thread that ends by date, `register_room_filter`).

The two signals are emits of reserved event names to the credential's room, so they travel
through the message queue, in order with the broadcasts, to every process; the filter applies
them instead of delivering them. The common case costs two comparisons per emit: the deadlines
are rescanned only once the earliest of them has passed.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from socketio import Manager

from ptap.core import clock

#: Reserved event names of the control signals (never delivered to a client).
CREDENTIAL_ENDED = "ptap:credential_ended"
CREDENTIAL_RENEWED = "ptap:credential_renewed"

#: A room filter: (room or rooms of an emit, now) -> sids of this process to leave out.
RoomFilter = Callable[[Any, datetime], Iterable[str]]

#: Credential deadline of each socket of this process, by sid (every namespace).
_ends: dict[str, datetime] = {}
#: Sockets whose credential was revoked or ended, until their disconnect completes.
_ended: set[str] = set()
_room_filters: dict[str, RoomFilter] = {}


class _Watermark:
    """The sockets whose deadline had passed at the last scan, and when to scan again."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.expired: frozenset[str] = frozenset()
        self.next_end: datetime | None = None
        self.scanned_at: datetime | None = None

    def expired_at(self, now: datetime) -> frozenset[str]:
        """Return the sockets whose credential deadline is past at `now`."""
        stale = (self.next_end is not None and now >= self.next_end) or (
            self.scanned_at is not None and now < self.scanned_at  # a test moved the clock back
        )
        if stale:
            with self.lock:
                items = list(_ends.items())  # one step under the GIL while connects add to it
                self.expired = frozenset(sid for sid, end in items if end <= now)
                self.next_end = min((end for _, end in items if end > now), default=None)
                self.scanned_at = now
        return self.expired

    def lower(self, sid: str, deadline: datetime) -> None:
        """Take a new or moved deadline into account."""
        with self.lock:
            if self.next_end is None or deadline < self.next_end:
                self.next_end = deadline
            if sid in self.expired:
                self.expired = self.expired - {sid}


_watermark = _Watermark()


def watch(sid: str, deadline: datetime) -> None:
    """Stop deliveries to a socket of this process from `deadline` on (its credential's end)."""
    _ends[sid] = deadline
    _watermark.lower(sid, deadline)


def forget(sid: str) -> None:
    """Drop what this process knows of a socket (it disconnected)."""
    _ends.pop(sid, None)
    _ended.discard(sid)


def deadline_of(sid: str) -> datetime | None:
    """Return the credential deadline of a socket of this process, if it has one."""
    return _ends.get(sid)


def expired_in_rooms(
    room: Any,
    room_key: Callable[[str], int | None],
    deadlines: Mapping[int, Mapping[str, datetime]],
    now: datetime | None = None,
) -> list[str]:
    """Return the sockets of this process, in the room(s) an emit targets, whose access to that
    room ended: the room filter of domains that keep per-room socket deadlines (``room_key``
    turns a room name into the key of ``deadlines``: a thread, a meeting, a team)."""
    rooms = [room] if isinstance(room, str) else list(room or [])
    expired: list[str] = []
    for name in rooms:
        key = room_key(name)
        ends = deadlines.get(key) if key is not None else None
        if ends:
            now = now or clock.now()
            # list() copies in one step under the GIL while joins change the dict.
            expired += [sid for sid, deadline in list(ends.items()) if deadline <= now]
    return expired


def register_room_filter(namespace: str, room_filter: RoomFilter) -> None:
    """Let a domain leave sockets out of the emits of its namespace (called at import)."""
    _room_filters[namespace] = room_filter


def blocked_sids(namespace: str, room: Any, now: datetime | None = None) -> list[str]:
    """Return the sockets of this process an emit to `room` must not reach at `now`."""
    now = now or clock.now()
    blocked = [*_ended, *_watermark.expired_at(now)] if _ends or _ended else []
    room_filter = _room_filters.get(namespace)
    if room_filter is not None:
        blocked += room_filter(room, now)
    return blocked


def _app_namespaces(server: Any) -> list[str]:
    # Every namespace with handlers, known to every process alike (not only those with sockets
    # here: the process that revokes often holds none).
    return sorted({"/", *server.handlers, *server.namespace_handlers} - {"*"})


def end_room(server: Any, room: str) -> None:
    """Close the sockets in `room`, in every namespace and every process (after the commit):
    a revoked token, an ended session, an account cut off."""
    if server is None:
        return
    for namespace in _app_namespaces(server):
        server.emit(CREDENTIAL_ENDED, {}, to=room, namespace=namespace)


def renew_room(server: Any, room: str, deadline: datetime) -> None:
    """Move the credential deadline of the sockets in `room` (a session used again)."""
    if server is None:
        return
    for namespace in _app_namespaces(server):
        server.emit(
            CREDENTIAL_RENEWED, {"until": deadline.isoformat()}, to=room, namespace=namespace
        )


class DeliveryFilter(Manager):
    """Local delivery that leaves out the sockets that may no longer receive, and applies the
    control signals to this process's sockets."""

    def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> Any:
        room = to or room
        namespace = namespace or "/"
        if event == CREDENTIAL_ENDED:
            return self._end(namespace, room)
        if event == CREDENTIAL_RENEWED:
            return self._renew(namespace, room, data)
        blocked = blocked_sids(namespace, room)
        if blocked:
            skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
            skip_sid = [*skip, *blocked]
        return super().emit(
            event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
        )

    def _end(self, namespace: str, room: Any) -> None:
        sids = [sid for sid, _ in self.get_participants(namespace, room)]
        _ended.update(sids)  # refused by every delivery until the disconnect completes
        for sid in sids:
            self.server.disconnect(sid, namespace=namespace, ignore_queue=True)

    def _renew(self, namespace: str, room: Any, data: Any) -> None:
        payload = data[0] if isinstance(data, list | tuple) and data else data
        until = datetime.fromisoformat(payload["until"])
        for sid, _ in self.get_participants(namespace, room):
            if sid in _ends:
                watch(sid, until)

    def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> Any:
        forget(sid)
        return super().disconnect(sid, namespace, **kwargs)


@functools.cache
def _filtered_class(cls: Any) -> type:
    # After PubSubManager in the MRO (its listener calls super().emit), before Manager.
    return (
        DeliveryFilter
        if cls is Manager
        else type(f"Filtered{cls.__name__}", (cls, DeliveryFilter), {})
    )


def install_delivery_filter(server: Any) -> None:
    """Make this Socket.IO server filter its deliveries (at app creation, once per server)."""
    manager = server.manager
    if not isinstance(manager, DeliveryFilter):
        manager.__class__ = _filtered_class(manager.__class__)
