"""DMP documents a professional filed into the coordination file, with their provenance.

Consulting the DMP stores nothing; filing a retrieved document keeps a copy in PTAP (the
content encrypted at rest in the blob storage, namespace dmp-documents, as attachments are) with
where it came from: the DMP's identifiers, type, creation date and author as the DMP gave
them, who filed it, when, and in which access mode.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core.blobs import register_blob_references
from ptap.core.models import Base, utcnow


class FiledDmpDocument(Base):
    """A copy of a patient's DMP document filed into their coordination file."""

    __tablename__ = "filed_dmp_documents"
    __table_args__ = (
        # One live copy of a DMP document per patient, even when two professionals file it
        # at the same moment (a removed copy may be filed again).
        sa.Index(
            "uq_filed_dmp_documents_patient_document",
            "patient_id",
            "dmp_unique_id",
            unique=True,
            sqlite_where=sa.text("removed_at IS NULL"),
            postgresql_where=sa.text("removed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    #: The document's uniqueId in the DMP (XDS DocumentEntry.uniqueId).
    dmp_unique_id: Mapped[str] = mapped_column(sa.String(128))
    #: The repository that served it (XDS repositoryUniqueId).
    repository_unique_id: Mapped[str] = mapped_column(sa.String(128), default="")
    title: Mapped[str] = mapped_column(sa.String(300))
    #: The DMP's typeCode (LOINC) and its label.
    type_code: Mapped[str] = mapped_column(sa.String(40), default="")
    type_label: Mapped[str] = mapped_column(sa.String(200), default="")
    #: The creation date the DMP gives (creationTime), None if it gave none.
    document_created_at: Mapped[datetime | None]
    #: The author as the DMP gives it (free text, never matched to a PTAP account).
    author: Mapped[str] = mapped_column(sa.String(300), default="")
    #: The MIME type the DMP gave; `view_kind` says how PTAP shows it (pdf, cda, download).
    mime_type: Mapped[str] = mapped_column(sa.String(100))
    view_kind: Mapped[str] = mapped_column(sa.String(20))
    #: The DMP did not show it to the patient yet (INVISIBLE_PATIENT) when it was filed.
    hidden_from_patient: Mapped[bool] = mapped_column(default=False)
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    #: Blob key (dmp-documents/<uuid>, ptap.core.blobs), encrypted at rest.
    storage_path: Mapped[str] = mapped_column(sa.String(200))
    #: normal or bris_de_glace: how the professional consulted the DMP when filing.
    access_mode: Mapped[str] = mapped_column(sa.String(20))
    filed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: A coordinator removed the copy (its file is deleted; the row keeps the provenance).
    removed_at: Mapped[datetime | None]
    removed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    removal_reason: Mapped[str] = mapped_column(sa.Text, default="")


# The orphan sweep keeps the blobs of live copies (a removed copy's blob is deleted with it).
register_blob_references(
    "dmp-documents",
    lambda: sa.select(FiledDmpDocument.storage_path).where(FiledDmpDocument.removed_at.is_(None)),
)
