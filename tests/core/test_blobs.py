"""Blob storage on both backends (database and filesystem), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import os
import secrets
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask.cli import ScriptInfo

from ptap.cli import main
from ptap.core import blobs
from ptap.core.blobs import CHUNK_SIZE, Blob, BlobChunk
from ptap.core.models import utcnow

MIB = 1024 * 1024
TRAVERSALS = [
    "../secret",
    "messages/../../etc/passwd",
    "/etc/passwd",
    "messages/a/b",
    "messages/..",
    "messages/.hidden",
    "messages/",
    "messages\\..\\x",
    "Messages/abc",
    "",
]


@pytest.fixture(params=["database", "filesystem"])
def backend(request, app, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    app.config["STORAGE_BACKEND"] = request.param
    return blobs.storage()


def _chunk_rows(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(BlobChunk))


def _files(tmp_path: Path) -> list[Path]:
    root = tmp_path / "uploads"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_five_mib_round_trip_is_streamed_in_chunks(backend, db, tmp_path):
    content = secrets.token_bytes(5 * MIB + 123)
    key = blobs.new_key("tests", ".bin")
    ref = blobs.store(key, io.BytesIO(content), "application/octet-stream")
    db.session.commit()
    assert (ref.key, ref.size) == (key, len(content))
    stream = blobs.open_blob(key)
    first = next(stream)
    assert len(first) == CHUNK_SIZE  # one chunk at a time, never the whole file
    rest = list(stream)
    assert all(len(piece) <= CHUNK_SIZE for piece in rest)
    assert first + b"".join(rest) == content
    assert backend.exists(key)
    if backend.name == "database":
        assert _chunk_rows(db) == 6
        assert db.session.get(Blob, key).sha256 == ref.sha256
    else:
        assert backend.path_for(key).stat().st_mode & 0o777 == 0o600
        assert backend.path_for(key).parent.stat().st_mode & 0o777 == 0o700
    backend.delete(key)
    db.session.commit()
    assert not backend.exists(key)
    with pytest.raises(blobs.BlobNotFound):
        blobs.open_blob(key)
    assert _chunk_rows(db) == 0 and _files(tmp_path) == []


def test_over_the_limit_is_refused_and_nothing_is_stored(backend, db, tmp_path):
    key = blobs.new_key("tests")
    for data in (io.BytesIO(b"x" * (2 * MIB + 1)), b"x" * (2 * MIB + 1)):
        with pytest.raises(blobs.BlobTooLarge, match=r"taille maximale autorisée \(2 Mo\)"):
            blobs.store(key, data, max_bytes=2 * MIB)
        assert not backend.exists(key)
        assert _chunk_rows(db) == 0
        assert _files(tmp_path) == []  # no temporary file either
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Blob)) == 0


def test_the_global_limit_caps_every_use(app, backend, db):
    app.config["STORAGE_MAX_MB"] = 1
    with pytest.raises(blobs.BlobTooLarge):
        blobs.make_storage(backend.name, app.config).put(
            blobs.new_key("tests"), b"x" * (MIB + 1), max_bytes=10 * MIB
        )


@pytest.mark.parametrize("key", TRAVERSALS)
def test_keys_that_could_leave_their_folder_are_refused(backend, key, tmp_path):
    with pytest.raises(blobs.InvalidBlobKey):
        backend.put(key, b"x")
    for call in (backend.open, backend.exists, backend.delete):
        with pytest.raises(blobs.InvalidBlobKey):
            call(key)
    assert not (tmp_path / "secret").exists()


def test_new_keys_are_random_and_valid():
    first, second = blobs.new_key("messages"), blobs.new_key("messages")
    assert first != second
    assert blobs.check_key(first) == first
    with pytest.raises(blobs.InvalidBlobKey):
        blobs.new_key("../x")


def test_a_blob_stored_for_a_rolled_back_row_is_gone(backend, db):
    key = blobs.new_key("tests")
    blobs.store(key, b"brouillon")
    db.session.rollback()
    assert not backend.exists(key)


def test_discard_takes_effect_only_with_the_commit(backend, db):
    key = blobs.new_key("tests")
    blobs.store(key, b"compte rendu")
    db.session.commit()
    blobs.discard(key)
    db.session.rollback()  # the row's deletion failed: the file must still be there
    assert blobs.read_blob(key) == b"compte rendu"
    blobs.discard(key)
    db.session.commit()
    assert not backend.exists(key)


def test_sweep_deletes_old_unreferenced_blobs_only(backend, db, app):
    from ptap.messaging.models import Attachment  # noqa: F401 - registers "messages"

    old_orphan, recent_orphan = blobs.new_key("messages"), blobs.new_key("messages")
    unknown = blobs.new_key("elsewhere")
    for key in (old_orphan, recent_orphan, unknown):
        blobs.store(key, b"data")
    db.session.commit()
    long_ago = utcnow() - timedelta(days=3)
    if backend.name == "database":
        db.session.execute(
            sa.update(Blob).where(Blob.key.in_([old_orphan, unknown])).values(created_at=long_ago)
        )
        db.session.commit()
    else:
        for key in (old_orphan, unknown):
            stamp = time.time() - 3 * 86400
            os.utime(backend.path_for(key), (stamp, stamp))
    assert blobs.sweep_orphans(timedelta(hours=24), dry_run=True) == [old_orphan]
    assert backend.exists(old_orphan)
    assert blobs.sweep_orphans(timedelta(hours=24)) == [old_orphan]
    db.session.commit()
    assert not backend.exists(old_orphan)
    assert backend.exists(recent_orphan)  # its transaction may still be committing
    assert backend.exists(unknown)  # no registered owner: never touched


# --- migration between backends ------------------------------------------------------------


def _crashing(source, key_to_crash):
    """A source whose read of one blob dies after its first chunk (a crash mid-copy)."""
    real_open = source.open

    def open_(key):
        chunks = real_open(key)
        if key != key_to_crash:
            return chunks

        def dying():
            yield next(chunks)
            raise KeyboardInterrupt("crash")

        return dying()

    source.open = open_
    return source


@pytest.mark.parametrize("target_name", ["database", "filesystem"])
def test_migration_after_a_crash_gives_every_blob_exactly_once(app, db, tmp_path, target_name):
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    source_name = "filesystem" if target_name == "database" else "database"
    source = blobs.make_storage(source_name, app.config)
    target = blobs.make_storage(target_name, app.config)
    contents = {
        blobs.new_key("messages"): secrets.token_bytes(2 * MIB + 7),
        blobs.new_key("consents", ".pdf"): b"%PDF-1.4 formulaire",
        blobs.new_key("messages"): secrets.token_bytes(3 * MIB),
    }
    for key, data in contents.items():
        source.put(key, data)
    db.session.commit()
    keys = [entry.key for entry in source.entries()]
    crash_on = keys[1]
    args = {"commit": db.session.commit, "rollback": db.session.rollback}

    with pytest.raises(KeyboardInterrupt):
        blobs.migrate_blobs(_crashing(source, crash_on), target, **args)
    source = blobs.make_storage(source_name, app.config)
    assert {e.key for e in target.entries()} == {keys[0]}  # nothing of the half-copied blob
    if target_name == "filesystem":
        assert not list(Path(tmp_path / "uploads").rglob("*.tmp"))

    report = blobs.migrate_blobs(source, target, **args)
    assert (report.copied, report.skipped) == (2, 1)
    assert sorted(e.key for e in target.entries()) == sorted(contents)
    for key, data in contents.items():
        assert b"".join(target.open(key)) == data
        assert b"".join(source.open(key)) == data  # the source is left untouched
    if target_name == "database":
        assert _chunk_rows(db) == 3 + 1 + 3  # each chunk once
    again = blobs.migrate_blobs(source, target, **args)
    assert (again.copied, again.skipped) == (0, 3)


def test_migration_replaces_a_target_copy_whose_checksum_differs(app, db, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    source = blobs.make_storage("filesystem", app.config)
    target = blobs.make_storage("database", app.config)
    key = blobs.new_key("messages")
    source.put(key, b"le vrai contenu")
    target.put(key, b"une copie abimee")
    db.session.commit()
    report = blobs.migrate_blobs(source, target, db.session.commit, db.session.rollback)
    assert report.copied == 1
    assert b"".join(target.open(key)) == b"le vrai contenu"


def test_storage_migrate_command_copies_existing_upload_files(app, db, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    folder = tmp_path / "uploads" / "consents"
    folder.mkdir(parents=True)
    (folder / "0123abcd.pdf").write_bytes(b"%PDF-1.4 ancien formulaire")
    (folder / ".half-written.tmp").write_bytes(b"ignored")

    def run(*args):
        return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))

    result = run("storage", "migrate", "--to", "database")
    assert result.exit_code == 0, result.output
    assert "1 blobs copied from filesystem to database, 0 already there" in result.output
    assert "PTAP_STORAGE_BACKEND=database" in result.output
    assert "0 blobs copied" in run("storage", "migrate", "--to", "database").output
    db.session.expire_all()
    app.config["STORAGE_BACKEND"] = "database"
    assert blobs.read_blob("consents/0123abcd.pdf") == b"%PDF-1.4 ancien formulaire"
    assert run("storage", "migrate", "--to", "elsewhere").exit_code == 2


def test_storage_sweep_command_lists_then_deletes_orphans(app, db, tmp_path):
    from ptap.messaging.models import Attachment  # noqa: F401 - registers "messages"

    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    app.config["STORAGE_SWEEP_GRACE_HOURS"] = 0.5
    key = blobs.new_key("messages")
    blobs.make_storage("filesystem", app.config).put(key, b"orphelin")
    stamp = time.time() - 3600
    os.utime(tmp_path / "uploads" / key, (stamp, stamp))

    def run(*args):
        return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))

    listed = run("storage", "sweep", "--dry-run")
    assert listed.exit_code == 0, listed.output
    assert key in listed.output and "1 orphan blobs found" in listed.output
    assert (tmp_path / "uploads" / key).exists()
    assert "1 orphan blobs deleted" in run("storage", "sweep").output
    assert not (tmp_path / "uploads" / key).exists()


def test_database_backend_streams_a_file_not_migrated_yet_from_the_legacy_folder(app, db, tmp_path):
    """After the upgrade to "database", an old consent form still downloads (read-through);
    a traversal key or a key in neither place still answers BlobNotFound / InvalidBlobKey."""
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    app.config["STORAGE_BACKEND"] = "database"
    folder = tmp_path / "uploads" / "consents"
    folder.mkdir(parents=True)
    (folder / "0123abcd.pdf").write_bytes(b"%PDF-1.4 ancien formulaire")
    (tmp_path / "secret").write_bytes(b"not a blob")
    with app.test_request_context():
        response = blobs.blob_response("consents/0123abcd.pdf", "application/pdf", "f.pdf")
        assert b"".join(response.response) == b"%PDF-1.4 ancien formulaire"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert not blobs.storage().exists("consents/0123abcd.pdf")  # the migration's view
        with pytest.raises(blobs.BlobNotFound):
            blobs.blob_response("consents/ffff.pdf", "application/pdf")
        with pytest.raises(blobs.InvalidBlobKey):
            blobs.blob_response("../secret", "application/pdf")
