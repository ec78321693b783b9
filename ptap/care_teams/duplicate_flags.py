"""Possible duplicates: flag other records with the same birth name, birth date and sex."""

from __future__ import annotations

import sqlalchemy as sa

from ptap.audit.services import AuditContext, record_event
from ptap.care_teams.models import DuplicateFlag, Patient
from ptap.core.sql import insert_if_absent
from ptap.extensions import db


def flag_possible_duplicates(patient: Patient, ctx: AuditContext) -> int:
    """Flag other records with the same birth name, birth date and sex; return how many.

    The insert tolerates a concurrent one of the same pair (unique key): a race between two
    identity updates flags the pair once instead of failing the second request.
    """
    matches = db.session.scalars(
        sa.select(Patient.id).where(
            Patient.id != patient.id,
            Patient.merged_into_id.is_(None),
            Patient.search_birth_name == patient.search_birth_name,
            Patient.birth_year == patient.birth_year,
            Patient.birth_month.is_not_distinct_from(patient.birth_month),
            Patient.birth_day.is_not_distinct_from(patient.birth_day),
            Patient.sex == patient.sex,
        )
    ).all()
    flagged = 0
    for other_id in matches:
        exists = db.session.scalar(
            sa.select(DuplicateFlag.id).where(
                sa.or_(
                    sa.and_(
                        DuplicateFlag.patient_id == patient.id,
                        DuplicateFlag.other_patient_id == other_id,
                    ),
                    sa.and_(
                        DuplicateFlag.patient_id == other_id,
                        DuplicateFlag.other_patient_id == patient.id,
                    ),
                )
            )
        )
        if exists is None and insert_if_absent(
            DuplicateFlag, patient_id=patient.id, other_patient_id=other_id
        ):
            flagged += 1
            record_event(
                ctx,
                "patient.duplicate_flag",
                object_type="patient",
                object_id=other_id,
                patient_id=patient.id,
            )
    db.session.flush()
    return flagged
