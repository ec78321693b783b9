"""Attachments through the messaging API on both blob storage backends."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from ptap.core import blobs
from ptap.core.blobs import Blob, BlobChunk
from ptap.messaging.attachments import MAGIC
from ptap.messaging.models import Attachment
from tests.messaging.conftest import headers

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64


@pytest.fixture(params=["database", "filesystem"])
def backend(request, app):
    app.config["STORAGE_BACKEND"] = request.param
    return request.param


def _upload(client, conversation, user, name, content):
    return client.post(
        f"/api/v1/conversations/{conversation.id}/attachments",
        data={"file": (io.BytesIO(content), name), "client_id": "b1", "body": "CR"},
        headers=headers(user),
        content_type="multipart/form-data",
    )


def _stored(app, key: str) -> bytes:
    """The bytes at rest, read from the backend itself."""
    return b"".join(blobs.storage().open(key))


def test_attachment_uploaded_and_read_back(app, client, world, patient_conversation, db, backend):
    response = _upload(client, patient_conversation, world.coord, "bilan.pdf", PDF)
    assert response.status_code == 201, response.json
    stored = db.session.scalars(sa.select(Attachment)).one()
    at_rest = _stored(app, stored.storage_path)
    assert at_rest.startswith(MAGIC) and PDF not in at_rest  # encrypted above the storage
    in_database = db.session.get(Blob, stored.storage_path)
    assert (in_database is not None) == (backend == "database")
    download = client.get(response.json["attachments"][0]["url"], headers=headers(world.member))
    assert download.status_code == 200
    assert download.data == PDF
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in download.headers
    download.close()
    outsider = client.get(response.json["attachments"][0]["url"], headers=headers(world.outsider))
    assert outsider.status_code == 404


def test_attachment_over_the_limit_stores_nothing(
    app, client, world, patient_conversation, db, backend
):
    app.config["MESSAGING_ATTACHMENT_MAX_MB"] = 0.001
    response = _upload(client, patient_conversation, world.coord, "gros.pdf", PDF)
    assert response.status_code == 413
    assert "taille maximale" in response.json["detail"]
    assert db.session.scalars(sa.select(Attachment)).all() == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BlobChunk)) == 0
    assert list(blobs.storage().entries()) == []


def test_missing_blob_answers_404_not_500(app, client, world, patient_conversation, db, backend):
    response = _upload(client, patient_conversation, world.coord, "bilan.pdf", PDF)
    stored = db.session.scalars(sa.select(Attachment)).one()
    blobs.storage().delete(stored.storage_path)
    db.session.commit()
    download = client.get(response.json["attachments"][0]["url"], headers=headers(world.member))
    assert download.status_code == 404


def test_files_of_an_install_upgraded_to_database_are_served_before_migration(
    app, client, world, patient_conversation, db
):
    """An upgraded install switches to "database": its files stay readable until migrated,
    then the migrated copy is served; deleting the attachment removes both copies."""
    app.config["STORAGE_BACKEND"] = "filesystem"
    response = _upload(client, patient_conversation, world.coord, "bilan.pdf", PDF)
    assert response.status_code == 201, response.json
    key = db.session.scalars(sa.select(Attachment)).one().storage_path
    legacy_file = blobs.storage().path_for(key)  # type: ignore[union-attr]
    url = response.json["attachments"][0]["url"]

    app.config["STORAGE_BACKEND"] = "database"  # the upgrade, before `ptap storage migrate`
    assert db.session.get(Blob, key) is None
    download = client.get(url, headers=headers(world.member))
    assert download.status_code == 200
    assert download.data == PDF
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    download.close()
    assert client.get(url, headers=headers(world.outsider)).status_code == 404

    report = blobs.migrate_blobs(
        blobs.make_storage("filesystem", app.config),
        blobs.storage(),
        commit=db.session.commit,
        rollback=db.session.rollback,
    )
    assert (report.copied, report.skipped) == (1, 0)  # the fallback did not fool the migration
    legacy_file.write_bytes(b"stale")  # from now on the database copy is the one served
    download = client.get(url, headers=headers(world.member))
    assert download.data == PDF
    download.close()

    blobs.discard(key)
    assert legacy_file.exists()  # not before the commit
    db.session.commit()
    assert db.session.get(Blob, key) is None and not legacy_file.exists()
