"""The simulator's registry and repository: thread-safe, in memory, optionally in SQLite.

Every DocumentEntry version is kept; queries show the latest version of each logical entry
(``superseded`` marks the older metadata versions of ITI-57 updates) and never show
Deleted entries, whose uniqueId stays taken. With a ``path``, every change is written
through to a SQLite file and read back at start-up, so the simulator survives restarts.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ptap.dmp_bridge.xdsquery import STATUS_DELETED


@dataclass
class StoredEntry:
    """One DocumentEntry version with its document."""

    entry_uuid: str
    lid: str
    unique_id: str
    patient_id: str
    status: str  # full URN
    version: int
    #: The ExtrinsicObject as submitted (serialised); ids are fixed when it is served.
    metadata: bytes
    content: bytes
    mime_type: str
    submission_set_uid: str
    stored_at: str
    confidentiality: list[str] = field(default_factory=list)
    superseded: bool = False

    @property
    def visible(self) -> bool:
        """Shown by queries: the latest version, not Deleted."""
        return not self.superseded and self.status != STATUS_DELETED


_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (entry_uuid TEXT PRIMARY KEY, data TEXT NOT NULL,
                                    metadata BLOB NOT NULL, content BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, data TEXT NOT NULL);
"""


class DocumentStore:
    """All entries, indexed by entryUUID; ``lock`` guards check-then-write sequences."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.lock = threading.RLock()
        self.entries: dict[str, StoredEntry] = {}
        #: Submissions reaching the registry per uniqueId, duplicates included.
        self.submissions: Counter[str] = Counter()
        #: Refused duplicate submissions per uniqueId (XDSDuplicateUniqueIdInRegistry).
        self.duplicates: Counter[str] = Counter()
        #: ITI-41 requests refused as duplicates (one per request, whatever its entries).
        self.duplicate_requests: Counter[str] = Counter()
        self._unique: dict[str, set[str]] = {}
        self._lids: dict[str, set[str]] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.executescript(_SCHEMA)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._load(self._db)

    def close(self) -> None:
        """Close the SQLite file, if any."""
        with self.lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _load(self, db: sqlite3.Connection) -> None:
        for data, metadata, content in db.execute("SELECT data, metadata, content FROM entries"):
            fields = json.loads(data)
            self._index(StoredEntry(metadata=bytes(metadata), content=bytes(content), **fields))
        for name, data in db.execute("SELECT name, data FROM counters"):
            counter = self._counters().get(name)
            if counter is not None:
                counter.update(json.loads(data))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock; commit the SQLite writes made inside at the end."""
        with self.lock:
            try:
                yield
            except BaseException:
                if self._db is not None:
                    self._db.rollback()
                raise
            if self._db is not None:
                self._db.commit()

    def save(self, entry: StoredEntry) -> None:
        """Insert or replace an entry (call inside ``transaction``)."""
        self._index(entry)
        if self._db is not None:
            fields = asdict(entry)
            del fields["metadata"], fields["content"]
            self._db.execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?)",
                (entry.entry_uuid, json.dumps(fields), entry.metadata, entry.content),
            )

    def _index(self, entry: StoredEntry) -> None:
        self.entries[entry.entry_uuid] = entry
        self._unique.setdefault(entry.unique_id, set()).add(entry.entry_uuid)
        self._lids.setdefault(entry.lid, set()).add(entry.entry_uuid)

    def count(self, unique_ids: list[str], duplicates: set[str]) -> None:
        """Count one ITI-41 request of these entries, refused if some are ``duplicates``.

        Call inside ``transaction``.
        """
        self.submissions.update(unique_ids)
        self.duplicates.update(u for u in unique_ids if u in duplicates)
        if duplicates:
            self.duplicate_requests["total"] += 1
        if self._db is not None:
            for name, counter in self._counters().items():
                self._db.execute(
                    "INSERT OR REPLACE INTO counters VALUES (?, ?)", (name, json.dumps(counter))
                )

    def _counters(self) -> dict[str, Counter[str]]:
        return {
            "submissions": self.submissions,
            "duplicates": self.duplicates,
            "duplicate_requests": self.duplicate_requests,
        }

    def clear(self) -> None:
        """Forget every entry and counter."""
        with self.transaction():
            self.entries.clear()
            self._unique.clear()
            self._lids.clear()
            for counter in self._counters().values():
                counter.clear()
            if self._db is not None:
                self._db.execute("DELETE FROM entries")
                self._db.execute("DELETE FROM counters")

    # -- reads (callers hold the lock when they need a consistent view) -------------------

    def by_unique_id(self, unique_id: str) -> list[StoredEntry]:
        """Every entry ever stored with this uniqueId (all versions, all statuses)."""
        return [self.entries[u] for u in self._unique.get(unique_id, ())]

    def latest(self, lid: str) -> StoredEntry | None:
        """The latest version of a logical entry."""
        versions = [self.entries[u] for u in self._lids.get(lid, ())]
        return max(versions, key=lambda e: e.version) if versions else None

    def visible(self) -> list[StoredEntry]:
        """Every entry queries may show."""
        return [e for e in self.entries.values() if e.visible]
