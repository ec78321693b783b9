"""Blob storage: files every process on every host reads (attachments, consent forms...).

One interface, two backends chosen by STORAGE_BACKEND (CTFd's uploads registry):

- "database": a `blobs` row per file and its content in `blob_chunks` rows of at most
  CHUNK_SIZE bytes. Writes join the caller's transaction, so a blob commits or rolls back with
  the row that references it; reads fetch one chunk at a time (a large file is never whole in
  memory). The default in production: nothing is bound to one host.
- "filesystem": files under STORAGE_PATH (default UPLOAD_FOLDER, the historical layout, so
  existing files are read as they are), which must be shared by every host in a multi-host
  setup. Written to a temporary file then renamed (atomic). Order: the file is written before
  the referencing row commits; `store` removes it if the transaction rolls back and `discard`
  removes a file only after the commit, so no committed row points to a missing file; what a
  crash leaves behind is an unreferenced file that `ptap storage sweep` deletes.

Keys are "<namespace>/<token>[.ext]", made by `new_key` from a random UUID, never from user
input; `check_key` refuses anything else (no "..", no separators), so a key cannot leave its
folder. Encryption, when wanted (message attachments), happens above this layer.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

import sqlalchemy as sa
from flask import Response, current_app
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core.aftercommit import on_commit, on_rollback
from ptap.core.errors import InvalidInput
from ptap.core.models import Base, utcnow
from ptap.extensions import db

#: Size of one `blob_chunks` row and of one read from a stream.
CHUNK_SIZE = 1024 * 1024
BACKENDS = ("database", "filesystem")
_KEY = re.compile(r"[a-z][a-z0-9_-]{0,31}/[A-Za-z0-9][A-Za-z0-9_-]{0,63}(?:\.[a-z0-9]{1,8})?")

Data = bytes | IO[bytes] | Iterable[bytes]


class Blob(Base):
    """One stored file of the database backend (its content is in `blob_chunks`)."""

    __tablename__ = "blobs"

    #: "<namespace>/<token>[.ext]" (see check_key); the referencing row keeps this key.
    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    content_type: Mapped[str] = mapped_column(sa.String(100), default="application/octet-stream")
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: SHA-256 of the stored bytes (as given to put: ciphertext for encrypted attachments).
    sha256: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BlobChunk(Base):
    """One piece (at most CHUNK_SIZE bytes) of a blob's content, in order of `seq`."""

    __tablename__ = "blob_chunks"

    blob_key: Mapped[str] = mapped_column(
        sa.ForeignKey("blobs.key", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


class InvalidBlobKey(ValueError):
    """A key that new_key could not have made (possibly a path traversal attempt)."""


class BlobNotFound(LookupError):
    """No blob under this key in the configured backend."""


class BlobTooLarge(InvalidInput):
    """The content is over the size limit of its use (answered 413); nothing was stored."""

    status = 413
    title = "Fichier trop volumineux"


@dataclass(frozen=True)
class BlobRef:
    """What put returns and entries lists: a key and what was stored under it."""

    key: str
    size: int
    sha256: str
    content_type: str = "application/octet-stream"
    created_at: datetime | None = None


def check_key(key: str) -> str:
    """Return `key` if it is a well-formed blob key, else raise InvalidBlobKey."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidBlobKey(f"invalid blob key {key!r}")
    return key


def new_key(namespace: str, suffix: str = "") -> str:
    """Return a fresh random key in `namespace` (suffix: an extension such as ".pdf")."""
    return check_key(f"{namespace}/{uuid.uuid4().hex}{suffix}")


def _chunks(data: Data, size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield `data` (bytes, a binary file or an iterable of bytes) in pieces of at most `size`."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = bytes(data)
        for start in range(0, len(view), size):
            yield view[start : start + size]
        return
    read = getattr(data, "read", None)
    if read is not None:
        while piece := read(size):
            yield piece
        return
    pending = b""
    for piece in data:
        pending += piece
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending


def _too_large(limit: int) -> BlobTooLarge:
    mb = limit / (1024 * 1024)
    shown = f"{mb:.0f}" if mb >= 1 else f"{mb:.2f}"
    return BlobTooLarge(f"Le fichier dépasse la taille maximale autorisée ({shown} Mo).")


class BlobStorage(Protocol):
    """The storage interface both backends implement (the caller owns the transaction)."""

    name: str

    def put(
        self, key: str, data: Data, content_type: str = ..., max_bytes: int | None = ...
    ) -> BlobRef:
        """Store `data` under `key` (replacing it); refuse over `max_bytes`, storing nothing."""
        ...

    def open(self, key: str) -> Iterator[bytes]:
        """Return the content as chunks; raise BlobNotFound at once when absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob if present."""
        ...

    def exists(self, key: str) -> bool:
        """Tell whether a blob is stored under `key`."""
        ...

    def entries(self) -> Iterator[BlobRef]:
        """List every stored blob (sha256 left empty where it would cost a read)."""
        ...


class DatabaseStorage:
    """Blobs in the `blobs` / `blob_chunks` tables, inside the session's transaction."""

    name = "database"

    def __init__(self, limit: int, legacy: FilesystemStorage | None = None) -> None:
        self.limit = limit
        #: Where files were written before this backend (read-only fallback): a key not yet
        #: copied by `ptap storage migrate --to database` is read from there, so an upgraded
        #: install keeps serving its old attachments. Only `open` reads it; `exists`,
        #: `entries` and the migration see the database alone.
        self.legacy = legacy

    def put(
        self,
        key: str,
        data: Data,
        content_type: str = "application/octet-stream",
        max_bytes: int | None = None,
    ) -> BlobRef:
        """Insert the blob chunk by chunk (Core inserts: no chunk stays in the session)."""
        check_key(key)
        limit = min(max_bytes or self.limit, self.limit)
        if isinstance(data, bytes) and len(data) > limit:
            raise _too_large(limit)
        self.delete(key)
        db.session.execute(sa.insert(Blob).values(key=key, content_type=content_type, size=0))
        digest, size = hashlib.sha256(), 0
        try:
            for seq, piece in enumerate(_chunks(data)):
                size += len(piece)
                if size > limit:
                    raise _too_large(limit)
                digest.update(piece)
                db.session.execute(sa.insert(BlobChunk).values(blob_key=key, seq=seq, data=piece))
        except BlobTooLarge:
            self.delete(key)  # nothing half-stored stays in the transaction
            raise
        sha = digest.hexdigest()
        db.session.execute(sa.update(Blob).where(Blob.key == key).values(size=size, sha256=sha))
        return BlobRef(key, size, sha, content_type)

    def open(self, key: str) -> Iterator[bytes]:
        """Check the blob exists, then return a generator fetching one chunk per query (a
        key only in the legacy folder is read from its file)."""
        if not self.exists(key):
            if self.legacy is not None:
                return self.legacy.open(key)
            raise BlobNotFound(key)
        return self._read(key)

    @staticmethod
    def chunk(key: str, seq: int) -> bytes | None:
        """Return the blob's chunk number `seq`, or None past the last one."""
        piece = db.session.scalar(
            sa.select(BlobChunk.data).where(BlobChunk.blob_key == key, BlobChunk.seq == seq)
        )
        return None if piece is None else bytes(piece)

    @classmethod
    def _read(cls, key: str) -> Iterator[bytes]:
        seq = 0
        while (piece := cls.chunk(key, seq)) is not None:
            yield piece
            seq += 1

    def delete(self, key: str) -> None:
        """Delete the blob's rows in the current transaction."""
        check_key(key)
        db.session.execute(sa.delete(BlobChunk).where(BlobChunk.blob_key == key))
        db.session.execute(sa.delete(Blob).where(Blob.key == key))

    def exists(self, key: str) -> bool:
        """Tell whether a `blobs` row holds this key."""
        check_key(key)
        return db.session.scalar(sa.select(sa.literal(1)).where(Blob.key == key)) is not None

    def entries(self) -> Iterator[BlobRef]:
        """List the `blobs` rows (metadata only)."""
        rows = db.session.execute(
            sa.select(Blob.key, Blob.size, Blob.sha256, Blob.content_type, Blob.created_at)
        ).all()
        for row in rows:
            yield BlobRef(row.key, row.size, row.sha256, row.content_type, row.created_at)


class FilesystemStorage:
    """Blobs as files under a (shared) folder: 0600 files in 0700 folders, atomic writes."""

    name = "filesystem"

    def __init__(self, root: str | Path, limit: int) -> None:
        self.root = Path(root)
        self.limit = limit

    def path_for(self, key: str) -> Path:
        """Return the file of `key`, which is always inside the root."""
        check_key(key)
        root = self.root.resolve()
        path = (root / key).resolve()
        if root not in path.parents:  # cannot happen with a checked key; kept as a second lock
            raise InvalidBlobKey(f"invalid blob key {key!r}")
        return path

    def put(
        self,
        key: str,
        data: Data,
        content_type: str = "application/octet-stream",
        max_bytes: int | None = None,
    ) -> BlobRef:
        """Write to a temporary file in the same folder, fsync, then rename over the key."""
        path = self.path_for(key)
        limit = min(max_bytes or self.limit, self.limit)
        if isinstance(data, bytes) and len(data) > limit:
            raise _too_large(limit)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        digest, size = hashlib.sha256(), 0
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                for piece in _chunks(data):
                    size += len(piece)
                    if size > limit:
                        raise _too_large(limit)
                    digest.update(piece)
                    handle.write(piece)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.chmod(0o600)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return BlobRef(key, size, digest.hexdigest(), content_type)

    def open(self, key: str) -> Iterator[bytes]:
        """Open the file at once (BlobNotFound when absent) and return a chunk generator."""
        try:
            handle = self.path_for(key).open("rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        return self._read(handle)

    @staticmethod
    def _read(handle: IO[bytes]) -> Iterator[bytes]:
        with handle:
            while piece := handle.read(CHUNK_SIZE):
                yield piece

    def delete(self, key: str) -> None:
        """Remove the file if present."""
        self.path_for(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        """Tell whether the key's file exists."""
        return self.path_for(key).is_file()

    def entries(self) -> Iterator[BlobRef]:
        """List the files whose relative path is a valid key (temporary files are skipped)."""
        if not self.root.is_dir():
            return
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for path in sorted(folder.iterdir()):
                key = f"{folder.name}/{path.name}"
                if path.is_file() and _KEY.fullmatch(key):
                    stat = path.stat()
                    modified = datetime.fromtimestamp(stat.st_mtime, UTC)
                    yield BlobRef(key, stat.st_size, "", created_at=modified)

    def stale_temporaries(self, older_than: datetime) -> Iterator[Path]:
        """Yield the temporary files an interrupted write left behind."""
        if not self.root.is_dir():
            return
        for path in self.root.glob("*/.*.tmp"):
            if datetime.fromtimestamp(path.stat().st_mtime, UTC) < older_than:
                yield path


def make_storage(backend: str, cfg: Any) -> DatabaseStorage | FilesystemStorage:
    """Build a backend by name from the configuration (STORAGE_PATH, STORAGE_MAX_MB)."""
    limit = int(float(cfg["STORAGE_MAX_MB"]) * 1024 * 1024)
    # Empty: UPLOAD_FOLDER, where files were written before blob storage existed.
    folder = FilesystemStorage(cfg.get("STORAGE_PATH") or cfg["UPLOAD_FOLDER"], limit)
    if backend == "database":
        return DatabaseStorage(limit, legacy=folder)
    if backend == "filesystem":
        return folder
    raise ValueError(f"unknown storage backend {backend!r}")


def storage() -> DatabaseStorage | FilesystemStorage:
    """Return the configured backend (STORAGE_BACKEND)."""
    return make_storage(current_app.config["STORAGE_BACKEND"], current_app.config)


# --- The calls domains make: transactional semantics on top of either backend --------------


def store(
    key: str,
    data: Data,
    content_type: str = "application/octet-stream",
    max_bytes: int | None = None,
) -> BlobRef:
    """Store a new blob for a row the caller is about to flush; it goes if the transaction
    rolls back (the database backend by itself; the filesystem one by an undo hook)."""
    backend = storage()
    if isinstance(backend, FilesystemStorage):
        db.session.connection()  # begin the transaction whose rollback undoes the file
    ref = backend.put(key, data, content_type, max_bytes)
    if isinstance(backend, FilesystemStorage):
        on_rollback(lambda: backend.delete(key))
    return ref


def discard(key: str) -> None:
    """Delete a blob whose referencing row the caller deletes: in the transaction (database)
    or once it has committed (filesystem), so no committed row points to a missing file."""
    backend = storage()
    if isinstance(backend, FilesystemStorage):
        on_commit(lambda: backend.delete(key))
    else:
        backend.delete(key)
        legacy = backend.legacy
        if legacy is not None:  # a copy left in the legacy folder goes too, once committed
            on_commit(lambda: legacy.delete(key))


def open_blob(key: str) -> Iterator[bytes]:
    """Return the blob's content as chunks (BlobNotFound when absent)."""
    return storage().open(key)


def read_blob(key: str) -> bytes:
    """Return the whole content (only for small blobs: prefer open_blob)."""
    return b"".join(open_blob(key))


def _chunks_in_own_contexts(app: Any, key: str) -> Iterator[bytes]:
    """Yield a database blob's chunks, each fetched in a short app context of its own.

    The body is sent after the view returned (and committed); no context is held between two
    chunks, so whoever iterates (the WSGI server, a test client) needs none.
    """
    seq = 0
    while True:
        with app.app_context():
            piece = DatabaseStorage.chunk(key, seq)
        if piece is None:
            return
        yield piece
        seq += 1


def blob_response(
    key: str, mimetype: str, download_name: str | None = None, *, size: int | None = None
) -> Response:
    """Stream a blob to the client (a generator: one chunk in memory at a time).

    With `download_name` the file is offered as a download (Content-Disposition attachment);
    the security headers (nosniff, CSP) are added to every response by ptap.core.web.
    """
    backend = storage()
    if isinstance(backend, DatabaseStorage) and backend.exists(key):
        body = _chunks_in_own_contexts(current_app._get_current_object(), key)  # type: ignore[attr-defined]
    else:  # a file (also a database key not migrated yet); BlobNotFound before any header
        body = backend.open(key)
    response = Response(body, mimetype=mimetype, direct_passthrough=True)
    if size is not None:
        response.content_length = size
    if download_name is not None:
        response.headers.set("Content-Disposition", "attachment", filename=download_name)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- Orphans: what a crash between a file write and its row's commit leaves ----------------

#: namespace -> a callable returning the SELECT of the keys that rows reference.
_REFERENCES: dict[str, Callable[[], sa.Select[Any]]] = {}


def register_blob_references(namespace: str, select: Callable[[], sa.Select[Any]]) -> None:
    """Declare which column references the blobs of `namespace` (for the orphan sweep)."""
    _REFERENCES[namespace] = select


def sweep_orphans(grace: timedelta, *, dry_run: bool = False) -> list[str]:
    """Delete the blobs of registered namespaces no row references, older than `grace`.

    Unregistered namespaces are never touched. Returns the swept keys.
    """
    backend = storage()
    cutoff = utcnow() - grace
    referenced: dict[str, set[str]] = {
        ns: set(db.session.scalars(select())) for ns, select in _REFERENCES.items()
    }
    swept = []
    for entry in list(backend.entries()):
        namespace = entry.key.split("/", 1)[0]
        if namespace not in referenced or entry.key in referenced[namespace]:
            continue
        if entry.created_at is not None and entry.created_at >= cutoff:
            continue  # maybe a transaction still in flight
        swept.append(entry.key)
        if not dry_run:
            backend.delete(entry.key)
    if isinstance(backend, FilesystemStorage) and not dry_run:
        for temporary in backend.stale_temporaries(cutoff):
            temporary.unlink(missing_ok=True)
    return swept


# --- Moving blobs between backends (`ptap storage migrate`) -------------------------------


@dataclass
class MigrationReport:
    """What one `ptap storage migrate` run did."""

    copied: int = 0
    skipped: int = 0


def _digest(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for piece in chunks:
        digest.update(piece)
    return digest.hexdigest()


def migrate_blobs(
    source: DatabaseStorage | FilesystemStorage,
    target: DatabaseStorage | FilesystemStorage,
    commit: Callable[[], None],
    rollback: Callable[[], None],
) -> MigrationReport:
    """Copy every blob of `source` into `target`, one committed blob at a time.

    Idempotent: a blob already in the target with the same SHA-256 is skipped, so a run
    interrupted anywhere (a crash loses at most the blob being copied, never half of one:
    the database copy is one transaction, the file copy a rename) is simply run again. Each
    copy is read back from the target and compared by checksum before it is committed.
    The source is left untouched.
    """
    report = MigrationReport()
    for entry in list(source.entries()):
        key = entry.key
        source_sha = entry.sha256 or _digest(source.open(key))
        if target.exists(key) and _digest(target.open(key)) == source_sha:
            report.skipped += 1
            continue
        try:
            ref = target.put(key, source.open(key), entry.content_type, max_bytes=None)
            copied_sha = _digest(target.open(key))
            if not (ref.sha256 == copied_sha == source_sha):
                raise RuntimeError(f"checksum mismatch copying {key}")
            commit()
        except BaseException:
            rollback()
            if isinstance(target, FilesystemStorage):
                target.delete(key)  # the database target's copy went with the rollback
            raise
        report.copied += 1
    return report
