"""The patient's circle and choices: consent ledger, invitations, break-the-glass."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ptap.accounts.models import User
from ptap.accounts.notifications import NotificationDraft, notify, notify_all
from ptap.audit.models import Outcome
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams import access, referents
from ptap.care_teams.identity import search_key
from ptap.care_teams.models import (
    BreakGlassAccess,
    CircleInvitation,
    ConsentKind,
    ConsentMethod,
    ConsentRecord,
    Enrolment,
    Patient,
    TeamRole,
)
from ptap.core import blobs, clock
from ptap.core.errors import Conflict, InvalidInput, NotFound
from ptap.core.ins import normalise_nir
from ptap.core.models import utcnow
from ptap.core.policy import CLINICAL_ROLES, PlatformRole, can, is_clinician, require
from ptap.core.signals import circle_changed, send_after_commit
from ptap.extensions import db

PDF_MAGIC = b"%PDF-"
MAX_FORM_BYTES = 10 * 1024 * 1024


def current_consent(patient_id: int, kind: str) -> ConsentRecord | None:
    """Return the latest ledger entry of this kind for the patient (the one in force)."""
    return db.session.scalar(
        sa.select(ConsentRecord)
        .where(ConsentRecord.patient_id == patient_id, ConsentRecord.kind == kind)
        .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
        .limit(1)
    )


def sharing_refused(patient_id: int) -> bool:
    """Tell whether the patient's latest sharing choice is a refusal or a withdrawal."""
    latest = current_consent(patient_id, ConsentKind.SHARING)
    return latest is not None and not latest.given


def refresh_consent_state(patient: Patient) -> None:
    """Copy the ledger's current state onto the patient's columns that access checks read."""
    sharing = current_consent(patient.id, ConsentKind.SHARING)
    opposition = current_consent(patient.id, ConsentKind.DMP_OPPOSITION)
    patient.sharing_consent = bool(sharing and sharing.given)
    patient.dmp_opposition = bool(opposition and opposition.given)


def _store_form(content: bytes) -> tuple[str, str]:
    """Store a signed consent form in the blob storage; returns (key, sha256)."""
    if len(content) > MAX_FORM_BYTES:
        raise InvalidInput("Le formulaire dépasse 10 Mo.", field="document")
    if not content.startswith(PDF_MAGIC):
        raise InvalidInput("Le formulaire signé doit être un PDF.", field="document")
    # Same transaction as the ledger entry (a rollback leaves no orphan behind).
    ref = blobs.store(
        blobs.new_key("consents", ".pdf"), content, "application/pdf", max_bytes=MAX_FORM_BYTES
    )
    return ref.key, ref.sha256


def record_consent(
    user: User,
    patient: Patient,
    kind: str,
    given: bool,
    method: str,
    note: str,
    ctx: AuditContext,
    document: bytes | None = None,
) -> ConsentRecord:
    """Append a choice to the ledger (given or withdrawn); it takes effect at once."""
    require(user, "patient.consents.record", patient)
    if kind not in ConsentKind.__members__.values():
        raise InvalidInput("Type de consentement inconnu.", field="kind")
    if method not in ConsentMethod.__members__.values() or method == ConsentMethod.PATIENT_SPACE:
        raise InvalidInput("Indiquez comment le choix a été recueilli.", field="method")
    if method == ConsentMethod.SIGNED_FORM and not document:
        raise InvalidInput("Joignez le formulaire signé (PDF).", field="document")
    path, digest = _store_form(document) if document else ("", "")
    entry = ConsentRecord(
        patient_id=patient.id,
        kind=kind,
        given=given,
        method=method,
        note=note.strip(),
        document_path=path,
        document_sha256=digest,
        recorded_by_id=user.id,
    )
    db.session.add(entry)
    db.session.flush()
    refresh_consent_state(patient)
    record_event(
        ctx,
        "consent.record",
        object_type="consent",
        object_id=entry.id,
        patient_id=patient.id,
        reason=f"{kind}: {'given' if given else 'withdrawn'}",
    )
    db.session.flush()
    if kind == ConsentKind.SHARING:
        send_after_commit(circle_changed, "care_teams", patient_id=patient.id)
    return entry


def record_consent_from_patient_space(
    patient: Patient, kind: str, given: bool, note: str, filed_with_id: int, ctx: AuditContext
) -> ConsentRecord:
    """Append the person's own choice, made in their space, to the ledger; it takes effect at
    once, as a choice recorded by a professional does (state columns, circle_changed).

    The caller (ptap.patient_space) has authorised the patient-side account; `filed_with_id`
    is the coordinator the choice is filed with (the ledger names a professional), while the
    note and the audit event name who made it.
    """
    if kind not in ConsentKind.__members__.values():
        raise InvalidInput("Type de consentement inconnu.", field="kind")
    entry = ConsentRecord(
        patient_id=patient.id,
        kind=kind,
        given=given,
        method=ConsentMethod.PATIENT_SPACE,
        note=note.strip(),
        recorded_by_id=filed_with_id,
    )
    db.session.add(entry)
    db.session.flush()
    refresh_consent_state(patient)
    record_event(
        ctx,
        "consent.record",
        object_type="consent",
        object_id=entry.id,
        patient_id=patient.id,
        reason=f"{kind}: {'given' if given else 'withdrawn'} (patient space)",
    )
    db.session.flush()
    if kind == ConsentKind.SHARING:
        send_after_commit(circle_changed, "care_teams", patient_id=patient.id)
    return entry


def _invited_until(user_id: int, patient_id: int) -> datetime:
    """Return when the user's latest running invitation into this circle ends."""
    until = db.session.scalar(
        sa.select(sa.func.max(CircleInvitation.expires_at)).where(
            CircleInvitation.user_id == user_id,
            CircleInvitation.patient_id == patient_id,
            CircleInvitation.revoked_at.is_(None),
        )
    )
    return until if until is not None else utcnow()


def invite_to_circle(
    user: User,
    patient: Patient,
    invitee: User,
    expires_at: datetime,
    reason: str,
    ctx: AuditContext,
    *,
    extend: bool = False,
) -> CircleInvitation:
    """Invite a professional into this patient's circle only, until `expires_at`. With
    `extend`, someone invited until an earlier date gets this longer invitation too (a
    meeting's guest invited again for a later meeting); a team member never does."""
    require(user, "patient.manage", patient)
    if not is_clinician(invitee) or not invitee.active:
        raise InvalidInput("Seul un professionnel actif peut être invité.", field="user_id")
    now = utcnow()
    if expires_at <= now:
        raise InvalidInput("La date de fin doit être dans le futur.", field="expires_on")
    max_days = int(current_app.config["CIRCLE_INVITATION_MAX_DAYS"])
    if expires_at > now + timedelta(days=max_days):
        raise InvalidInput(f"Une invitation dure {max_days} jours au plus.", field="expires_on")
    basis = access.access_basis(invitee.id, patient)
    if basis == access.AccessBasis.MEMBER or (
        basis == access.AccessBasis.INVITED
        and not (extend and _invited_until(invitee.id, patient.id) < expires_at)
    ):
        raise Conflict("Ce professionnel fait déjà partie du cercle.", field="user_id")
    invitation = CircleInvitation(
        patient_id=patient.id,
        user_id=invitee.id,
        invited_by_id=user.id,
        reason=reason.strip(),
        expires_at=expires_at,
    )
    db.session.add(invitation)
    db.session.flush()
    record_event(
        ctx,
        "circle.invite",
        object_type="user",
        object_id=invitee.id,
        patient_id=patient.id,
        reason=f"until {expires_at.date().isoformat()}",
    )
    notify(
        invitee.id,
        "circle_invitation",
        "Vous avez été invité dans le cercle de soins d'une personne suivie.",
        f"/patients/{patient.id}",
    )
    return invitation


def revoke_invitation(
    user: User, patient: Patient, invitation_id: int, ctx: AuditContext
) -> CircleInvitation:
    """End an invitation now."""
    require(user, "patient.manage", patient)
    invitation = db.session.get(CircleInvitation, invitation_id)
    if invitation is None or invitation.patient_id != patient.id:
        raise NotFound("Invitation introuvable.")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        record_event(
            ctx,
            "circle.revoke",
            object_type="user",
            object_id=invitation.user_id,
            patient_id=patient.id,
        )
    db.session.flush()
    send_after_commit(circle_changed, "care_teams", patient_id=patient.id)
    return invitation


class BreakGlassLimitReached(InvalidInput):
    """The user has used break-the-glass as often as allowed over the last 24 hours."""

    status = 429
    title = "Trop d'accès en urgence"


def find_for_break_glass(
    user: User,
    ins_matricule: str,
    birth_name: str,
    birth_date: date | None,
    ctx: AuditContext,
) -> Patient:
    """Find the one record matching an INS, or a name (birth or used) and a birth date exactly.

    Break-the-glass starts here rather than from a record id, which anyone could enumerate.
    A miss, a refused sharing or several matches say nothing about who exists. Audited.
    """
    require(user, "break_glass.open")
    nir = normalise_nir(ins_matricule)
    stmt = sa.select(Patient).where(Patient.merged_into_id.is_(None))
    if nir:
        stmt = stmt.where(Patient.ins_matricule == nir)
        criteria = "ins"
    elif search_key(birth_name) and birth_date is not None:
        # The name may come with first names ("croquetin odette", from the patient search):
        # some run of its words must be the whole birth or used name, and every word a whole
        # word of the names; a name alone, or a part of one, never matches.
        words = search_key(birth_name).split()
        runs = {
            " ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)
        }
        whole_words = (
            [Patient.search_names.like(f"% {w} %") for w in words] if len(words) > 1 else []
        )
        stmt = stmt.where(
            sa.or_(Patient.search_birth_name.in_(runs), Patient.search_used_name.in_(runs)),
            *whole_words,
            Patient.birth_year == birth_date.year,
            Patient.birth_month == birth_date.month,
            Patient.birth_day == birth_date.day,
        )
        criteria = "name+birth_date"
    else:
        raise InvalidInput(
            "Indiquez le matricule INS, ou le nom et la date de naissance.", field="ins_matricule"
        )
    matches = list(db.session.scalars(stmt.limit(2)))
    if len(matches) > 1:
        record_event(ctx, "patient.break_glass_search", outcome=Outcome.DENIED, reason=criteria)
        raise InvalidInput(
            "Plusieurs personnes correspondent à ce nom et cette date de naissance : "
            "indiquez le matricule INS.",
            field="ins_matricule",
        )
    found = matches[0] if matches else None
    visible = found is not None and access.access_basis(user.id, found) is not None
    if found is None or not (visible or can(user, "break_glass.open", found)):
        record_event(ctx, "patient.break_glass_search", outcome=Outcome.DENIED, reason=criteria)
        raise NotFound(
            "Aucun dossier accessible en urgence ne correspond à cette recherche. Vérifiez "
            "l'orthographe du nom de naissance, la date de naissance ou le matricule INS."
        )
    record_event(
        ctx,
        "patient.break_glass_search",
        object_type="patient",
        object_id=found.id,
        patient_id=found.id,
        reason=criteria,
    )
    return found


def _refuse_beyond_daily_limit(user: User) -> None:
    """Refuse a break-the-glass beyond the per-user limit over the last 24 hours."""
    # Serialise this user's emergency accesses (PostgreSQL row lock; SQLite has one writer).
    db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())
    limit = int(current_app.config["BREAK_GLASS_MAX_PER_DAY"])
    since = clock.now() - timedelta(hours=24)
    used = db.session.scalar(
        sa.select(sa.func.count(BreakGlassAccess.id)).where(
            BreakGlassAccess.user_id == user.id, BreakGlassAccess.created_at > since
        )
    )
    if (used or 0) >= limit:
        raise BreakGlassLimitReached(
            f"Vous avez déjà ouvert {used} accès en urgence ces dernières 24 heures : c'est "
            f"la limite ({limit}). L'accès en urgence est exceptionnel ; pour un nouveau "
            "besoin, contactez l'équipe qui suit la personne ou la cellule sécurité de la "
            "plateforme.",
            field="reason",
        )


def _security_admin_ids() -> list[int]:
    """Return the active accounts that read the security log (the security admins)."""
    admins = db.session.scalars(
        sa.select(User).where(User.role == PlatformRole.ADMIN, User.active.is_(True))
    )
    return [admin.id for admin in admins if can(admin, "audit.view_security")]


def open_break_glass(
    user: User, patient: Patient, reason: str, ctx: AuditContext
) -> BreakGlassAccess:
    """Grant an outsider time-limited emergency access, within a per-user limit over 24
    hours; the team's coordinators and the security admins are alerted at once."""
    require(user, "break_glass.open", patient)
    if len(reason.strip()) < int(current_app.config["BREAK_GLASS_MIN_REASON"]):
        raise InvalidInput(
            "Décrivez l'urgence (au moins "
            f"{current_app.config['BREAK_GLASS_MIN_REASON']} caractères).",
            field="reason",
        )
    _refuse_beyond_daily_limit(user)
    hours = float(current_app.config["BREAK_GLASS_HOURS"])
    grant = BreakGlassAccess(
        patient_id=patient.id,
        user_id=user.id,
        reason=reason.strip(),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    db.session.add(grant)
    db.session.flush()
    record_event(
        ctx,
        "patient.break_glass",
        object_type="break_glass",
        object_id=grant.id,
        patient_id=patient.id,
        reason=reason.strip(),
    )
    # The coordinators' stand-ins (cover during an absence) are told too.
    title = f"Accès en urgence (bris de glace) par {user.full_name} : à examiner."
    notify_all(
        referents.with_cover(
            [
                NotificationDraft(cid, "break_glass", title, "/break-glass/reviews")
                for cid in _coordinators_of(patient)
            ],
            team_ids=access.active_enrolment_team_ids(patient.id),
        )
    )
    for admin_id in _security_admin_ids():
        notify(
            admin_id,
            "break_glass_alert",
            f"Alerte sécurité : accès en urgence (bris de glace) par {user.full_name}.",
            "/admin/security-log",
        )
    return grant


def list_coordinator_ids(patient: Patient) -> list[int]:
    """Return the ids of the current coordinators of the teams following the patient."""
    return _coordinators_of(patient)


def _coordinators_of(patient: Patient) -> list[int]:
    """Return the ids of the current coordinators of the teams where the patient is enrolled
    (the enrolling coordinator is one of them while they still coordinate the team)."""
    from ptap.care_teams.models import TeamMembership

    teams = sa.select(Enrolment.team_id).where(
        Enrolment.patient_id == patient.id, Enrolment.ended_at.is_(None)
    )
    today = clock.paris_today()
    coordinators = sa.select(TeamMembership.user_id).where(
        TeamMembership.user_id.in_(
            sa.select(User.id).where(User.role.in_(CLINICAL_ROLES), User.active.is_(True))
        ),
        TeamMembership.team_id.in_(teams),
        TeamMembership.role == TeamRole.COORDINATOR,
        TeamMembership.starts_on <= today,
        sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
    )
    return sorted(set(db.session.scalars(coordinators)))


def review_break_glass(
    user: User, grant: BreakGlassAccess, note: str, ctx: AuditContext
) -> BreakGlassAccess:
    """Record a coordinator's review of an emergency access."""
    require(user, "break_glass.review", grant)
    if grant.reviewed_at is not None:
        raise Conflict("Cet accès a déjà été examiné.")
    if not note.strip():
        raise InvalidInput("Indiquez la conclusion de l'examen.", field="review_note")
    grant.reviewed_at, grant.reviewed_by_id, grant.review_note = utcnow(), user.id, note.strip()
    record_event(
        ctx,
        "break_glass.review",
        object_type="break_glass",
        object_id=grant.id,
        patient_id=grant.patient_id,
        reason=note.strip(),
    )
    db.session.flush()
    return grant
