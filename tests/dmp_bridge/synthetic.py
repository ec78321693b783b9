"""Synthetic documents for outbox load and fault tests, and the benchmark (no PDF rendering).

``synthetic:<n>`` sources are registered with the bridge like the care-plan versions are; the
patient, author and structure come from the database through the care-teams providers, the PDF
is a fixed file. Workers started as separate processes register them too (see outbox_worker).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from ptap import dmp_bridge
from ptap.care_teams.dmp import dmp_patient, dmp_requester
from ptap.core.models import utcnow
from ptap.dmp_bridge.models import DmpSubmission
from ptap.extensions import db
from tests.dmp_bridge.dmp_samples import sample_pdf

SOURCE_TYPE = "synthetic"
_PDF: dict[int, bytes] = {}


def _pdf(size: int) -> bytes:
    if size not in _PDF:
        _PDF[size] = sample_pdf(size)
    return _PDF[size]


def synthetic_document(
    number: int, render: bool, pdf_size: int = 100_000
) -> dmp_bridge.DmpDocument:
    """Describe synthetic document ``number`` for the patient of its outbox row."""
    row = db.session.scalars(
        sa.select(DmpSubmission).where(DmpSubmission.source_ref == f"{SOURCE_TYPE}:{number}")
    ).first()
    if row is None:
        raise LookupError(f"no outbox row for synthetic document {number}")
    who = dmp_requester(row.requested_by_id, row.patient_id)
    now = utcnow()
    return dmp_bridge.DmpDocument(
        kind=dmp_bridge.DocumentKind.PPCS,
        patient=dmp_patient(row.patient_id),
        title=f"Plan personnalisé de coordination en santé (essai {number})",
        pdf=_pdf(pdf_size) if render else b"",
        author=who.subject,
        legal_authenticator=who.subject,
        organisation=who.organisation,
        created_at=now,
        authenticated_at=now,
        service_start=now.date(),
        service_stop=now.date(),
        local_patient_id=f"PTAP-{row.patient_id}",
        local_patient_oid=f"{current_app.config['DMP_OID_ROOT']}.9",
    )


def register() -> None:
    """Register the synthetic source with the bridge (in every process that sends)."""
    dmp_bridge.register_document_provider(SOURCE_TYPE, synthetic_document)


def queue(
    count: int, patient_ids: list[int], team_id: int, user_id: int, first: int = 1
) -> list[int]:
    """Queue ``count`` synthetic filings numbered from ``first``, spread over the patients."""
    ids = []
    for n in range(first, first + count):
        row = dmp_bridge.request_filing(
            kind=dmp_bridge.DocumentKind.PPCS,
            set_key=f"{SOURCE_TYPE}:{n}",
            source_ref=f"{SOURCE_TYPE}:{n}",
            patient_id=patient_ids[n % len(patient_ids)],
            team_id=team_id,
            title=f"Essai {n}",
            requested_by_id=user_id,
        )
        ids.append(row.id)
    return ids
