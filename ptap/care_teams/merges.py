"""Merging duplicate records, and undoing a merge within 30 days.

A merge re-points the duplicate's enrolments, contacts, consents, circle invitations and
emergency accesses to the survivor, ends the duplicate's follow-ups that would double the
survivor's, and moves the INS when only the duplicate had one. `PatientMerge.moved` records
the ids of exactly those rows, so an unmerge puts back what the merge moved and nothing else
(rows added to the survivor since stay with it). Care plans, messages and documents stay on
their record: a merge does not move them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams.circle import refresh_consent_state
from ptap.care_teams.models import (
    BreakGlassAccess,
    CircleInvitation,
    ConsentRecord,
    DuplicateFlag,
    DuplicateStatus,
    EndReason,
    Enrolment,
    Patient,
    PatientContact,
    PatientMerge,
)
from ptap.care_teams.qualification import refresh_identity_status
from ptap.core.errors import Conflict
from ptap.core.models import utcnow
from ptap.core.policy import require
from ptap.core.signals import circle_changed, send_after_commit
from ptap.extensions import db

#: How long a merge can be undone.
UNMERGE_DAYS = 30
MERGE_END_NOTE = "Fusion de fiches en doublon : le suivi continue sur la fiche conservée."
MOVED_MODELS: tuple[Any, ...] = (
    Enrolment,
    PatientContact,
    ConsentRecord,
    CircleInvitation,
    BreakGlassAccess,
)


def _ids(model: Any, *where: Any) -> list[int]:
    return list(db.session.scalars(sa.select(model.id).where(*where).order_by(model.id)))


def merge_records(
    user: User, flag: DuplicateFlag, duplicate: Patient, survivor: Patient
) -> PatientMerge:
    """Move the duplicate's links onto the survivor and record what moved (flushes)."""
    # One open enrolment per patient and team: where both records are followed by the same
    # team, the duplicate's follow-up ends (kept in the history) rather than doubling up.
    survivor_teams = sa.select(Enrolment.team_id).where(
        Enrolment.patient_id == survivor.id, Enrolment.ended_at.is_(None)
    )
    ended = _ids(
        Enrolment,
        Enrolment.patient_id == duplicate.id,
        Enrolment.ended_at.is_(None),
        Enrolment.team_id.in_(survivor_teams.scalar_subquery()),
    )
    if ended:
        db.session.execute(
            sa.update(Enrolment)
            .where(Enrolment.id.in_(ended))
            .values(ended_at=utcnow(), end_reason=EndReason.OTHER, end_note=MERGE_END_NOTE)
        )
    moved: dict[str, Any] = {"ended_enrolments": ended}
    for model in MOVED_MODELS:
        ids = _ids(model, model.patient_id == duplicate.id)
        moved[model.__tablename__] = ids
        if ids:
            db.session.execute(
                sa.update(model).where(model.id.in_(ids)).values(patient_id=survivor.id)
            )
    moved["ins_moved"] = bool(duplicate.ins_matricule and not survivor.ins_matricule)
    if moved["ins_moved"]:
        matricule, oid = duplicate.ins_matricule, duplicate.ins_oid
        moved["ins_matricule"] = matricule  # moved back at unmerge only if still the same
        duplicate.ins_matricule = duplicate.ins_oid = None
        db.session.flush()  # the matricule is unique: free it before moving it
        survivor.ins_matricule, survivor.ins_oid = matricule, oid
    duplicate.merged_into_id = survivor.id
    duplicate.sharing_consent = False
    merge = PatientMerge(
        flag_id=flag.id,
        duplicate_id=duplicate.id,
        survivor_id=survivor.id,
        moved=moved,
        merged_by_id=user.id,
    )
    db.session.add(merge)
    db.session.flush()
    # The bulk updates bypassed the ORM: reload both records' collections (contacts).
    db.session.expire(survivor)
    db.session.expire(duplicate, ["contacts"])
    refresh_consent_state(survivor)
    return merge


def unmerge_records(user: User, merge: PatientMerge, ctx: AuditContext) -> PatientMerge:
    """Undo a merge of less than 30 days: both records and their links come back.

    Only a coordinator who manages the surviving record may; the flag reopens, to be judged
    again.
    """
    require(user, "duplicates.review")
    survivor = db.session.get_one(Patient, merge.survivor_id)
    duplicate = db.session.get_one(Patient, merge.duplicate_id)
    require(user, "patient.manage", survivor)
    if merge.undone_at is not None:
        raise Conflict("Cette fusion a déjà été annulée.")
    if utcnow() - merge.merged_at > timedelta(days=UNMERGE_DAYS):
        raise Conflict(
            f"Cette fusion date de plus de {UNMERGE_DAYS} jours : elle ne peut plus être "
            "annulée dans PTAP. Créez de nouveau la fiche séparée et signalez le cas à la "
            "cellule d'identitovigilance."
        )
    moved = merge.moved
    for model in MOVED_MODELS:
        ids = [int(i) for i in moved.get(model.__tablename__, [])]
        if ids:
            db.session.execute(
                sa.update(model)
                .where(model.id.in_(ids), model.patient_id == survivor.id)
                .values(patient_id=duplicate.id)
            )
    ended = [int(i) for i in moved.get("ended_enrolments", [])]
    if ended:
        db.session.execute(
            sa.update(Enrolment)
            .where(Enrolment.id.in_(ended), Enrolment.end_note == MERGE_END_NOTE)
            .values(ended_at=None, end_reason="", end_note="")
        )
    # A merge recorded before the matricule was kept moves back whatever the survivor holds.
    moved_matricule = moved.get("ins_matricule", survivor.ins_matricule)
    if (
        moved.get("ins_moved")
        and survivor.ins_matricule
        and (survivor.ins_matricule == moved_matricule)
    ):
        matricule, oid = survivor.ins_matricule, survivor.ins_oid
        survivor.ins_matricule = survivor.ins_oid = None
        # The INSi answer was about the INS that leaves: the survivor is no longer qualified.
        survivor.insi_checked_at = survivor.insi_checked_by_id = None
        survivor.insi_operation = ""
        refresh_identity_status(survivor)
        db.session.flush()  # unique matricule: free it before moving it back
        duplicate.ins_matricule, duplicate.ins_oid = matricule, oid
    duplicate.merged_into_id = None
    merge.undone_at, merge.undone_by_id = utcnow(), user.id
    flag = db.session.get(DuplicateFlag, merge.flag_id)
    if flag is not None:
        flag.status, flag.resolved_at, flag.resolved_by_id = DuplicateStatus.OPEN, None, None
    db.session.flush()
    db.session.expire(survivor)
    db.session.expire(duplicate)
    refresh_consent_state(survivor)
    refresh_consent_state(duplicate)
    record_event(
        ctx,
        "patient.duplicate_unmerge",
        object_type="patient",
        object_id=survivor.id,
        patient_id=duplicate.id,
    )
    db.session.flush()
    for patient_id in (survivor.id, duplicate.id):
        send_after_commit(circle_changed, "care_teams", patient_id=patient_id)
    return merge
