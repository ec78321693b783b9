"""Writes of the patient space: invitations and access (professionals), and the person's own
acts (agreeing to a plan version, asking a change, changing consent choices)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.accounts.notifications import NotificationDraft, notify_all
from ptap.audit.models import Outcome
from ptap.audit.services import AuditContext, record_event
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import load_content
from ptap.care_plans.models import CarePlan, CarePlanVersion
from ptap.care_teams import circle
from ptap.care_teams.models import ConsentKind, Patient
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, NotFound, RuleDenied
from ptap.core.models import utcnow
from ptap.core.policy import require
from ptap.extensions import db
from ptap.patient_space import auth
from ptap.patient_space.models import (
    RELATIONSHIP_LABELS,
    PatientAccount,
    PatientInvitation,
    PlanResponse,
    Relationship,
    ResponseKind,
    Right,
)

MAJORITY_AGE = 18


@dataclass(frozen=True)
class InvitationIn:
    """What a coordinator fills in to invite someone."""

    email: str
    display_name: str
    relationship: str
    rights: frozenset[str]
    legal_basis: str = ""


def is_adult(patient: Patient) -> bool:
    """Tell whether the person is 18 or more today (Paris). An unknown month or day counts
    as already past: in doubt the person is an adult, and a representative then needs a
    recorded legal basis."""
    today = clock.paris_today()
    age = today.year - patient.birth_year
    month = patient.birth_month or 0
    day = patient.birth_day or 0
    if month and (today.month, today.day) < (month, day if day else 1):
        age -= 1
    return age >= MAJORITY_AGE


def _audit_refusal(ctx: AuditContext, action: str, patient_id: int, reason: str) -> None:
    record_event(ctx, action, outcome=Outcome.DENIED, patient_id=patient_id, reason=reason)


def invite(
    user: User, patient: Patient, data: InvitationIn, ctx: AuditContext
) -> tuple[PatientInvitation, str]:
    """Invite the person, a caregiver or a legal representative; return the link's secret once.

    :raises InvalidInput: bad address, unknown relationship, or a representative of an adult
        without a recorded legal basis (the refusal is audited).
    """
    require(user, "patient_space.manage", patient)
    email = data.email.strip().lower()
    if "@" not in email or len(email) > 255 or " " in email:
        raise InvalidInput(
            "Indiquez une adresse e-mail valide (exemple : nom@domaine.fr).", field="email"
        )
    name = data.display_name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("Indiquez le nom de la personne invitée.", field="display_name")
    if data.relationship not in Relationship.__members__.values():
        raise InvalidInput("Indiquez qui est la personne invitée.", field="relationship")
    basis = data.legal_basis.strip()
    if data.relationship == Relationship.LEGAL_REPRESENTATIVE and is_adult(patient) and not basis:
        _audit_refusal(ctx, "patient_space.invite", patient.id, "representative without basis")
        raise InvalidInput(
            "Pour un adulte, un représentant légal n'est invité que si la base légale est "
            "indiquée (tutelle, habilitation familiale, mandat de protection future…).",
            field="legal_basis",
        )
    if len(basis) > 300:
        raise InvalidInput("La base légale tient en 300 caractères au plus.", field="legal_basis")
    unknown = set(data.rights) - set(Right.__members__.values())
    if unknown:
        raise InvalidInput("Droit inconnu.", field="rights")
    rights = (
        sorted(data.rights)
        if data.relationship == Relationship.CAREGIVER
        else sorted(Right.__members__.values())
    )
    invitation = PatientInvitation(
        patient_id=patient.id,
        email=email,
        display_name=name,
        relationship=data.relationship,
        rights=" ".join(rights),
        legal_basis=basis,
        invited_by_id=user.id,
        token_hash="",
        expires_at=utcnow(),
    )
    token = auth.issue_invitation_token(invitation)
    db.session.add(invitation)
    db.session.flush()
    record_event(
        ctx,
        "patient_space.invite",
        object_type="patient_invitation",
        object_id=invitation.id,
        patient_id=patient.id,
        reason=f"{data.relationship}: {' '.join(rights)}",
    )
    auth.mail_invitation(invitation, token)
    return invitation, token


def revoke_invitation(
    user: User, patient: Patient, invitation: PatientInvitation, ctx: AuditContext
) -> None:
    """Cancel a pending invitation (its link stops working at once)."""
    require(user, "patient_space.manage", patient)
    if invitation.patient_id != patient.id:
        raise InvalidInput("Invitation introuvable pour cette personne.", field="invitation")
    # One conditional UPDATE: an invitation accepted (or revoked) meanwhile is not touched.
    revoked = db.session.execute(
        sa.update(PatientInvitation)
        .where(
            PatientInvitation.id == invitation.id,
            PatientInvitation.used_at.is_(None),
            PatientInvitation.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoked_by_id=user.id)
        .returning(PatientInvitation.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    db.session.refresh(invitation)
    if revoked is None:
        if invitation.used_at is not None:
            raise Conflict(
                "Cette invitation a déjà été acceptée : pour couper l'accès, terminez le compte "
                "ouvert avec elle.",
                field="invitation",
            )
        raise Conflict("Cette invitation a déjà été annulée.", field="invitation")
    record_event(
        ctx,
        "patient_space.revoke_invitation",
        object_type="patient_invitation",
        object_id=invitation.id,
        patient_id=patient.id,
    )
    db.session.flush()


def end_access(user: User, patient: Patient, account: PatientAccount, ctx: AuditContext) -> None:
    """End a patient-side account's access (its open sessions die at their next request)."""
    require(user, "patient_space.manage", patient)
    if account.patient_id != patient.id:
        raise InvalidInput("Compte introuvable pour cette personne.", field="account")
    if account.ended_at is not None:
        raise Conflict("Cet accès est déjà terminé.", field="account")
    account.ended_at = utcnow()
    account.ended_by_id = user.id
    account.session_version += 1
    record_event(
        ctx,
        "patient_space.end_access",
        object_type="patient_account",
        object_id=account.id,
        patient_id=patient.id,
        reason=account.relationship,
    )
    db.session.flush()


def sign_out(account: PatientAccount, ctx: AuditContext) -> None:
    """End every session of the account (the version in the cookies no longer matches)."""
    account.session_version += 1
    record_event(
        ctx,
        "patient_space.sign_out",
        object_type="patient_account",
        object_id=account.id,
        patient_id=account.patient_id,
    )
    db.session.flush()


# --- the person's own acts -----------------------------------------------------------------


def _who(account: PatientAccount) -> str:
    relation = RELATIONSHIP_LABELS[Relationship(account.relationship)].lower()
    return f"{account.display_name} ({relation})"


def _refuse(account: PatientAccount, ctx: AuditContext, action: str, message: str) -> None:
    _audit_refusal(ctx, action, account.patient_id, "right not granted")
    raise RuleDenied(message)


def _plan_people(plan: CarePlan, patient: Patient) -> list[User]:
    """The plan's lead, then the patient's current coordinators: active users only, once."""
    lead_id = load_content(plan.draft).lead_user_id
    ids = ([lead_id] if lead_id else []) + circle.list_coordinator_ids(patient)
    people: list[User] = []
    for user_id in dict.fromkeys(ids):
        user = db.session.get(User, user_id)
        if user is not None and user.is_active:
            people.append(user)
    return people


def _plan_lead(plan: CarePlan, patient: Patient) -> User:
    """The plan's lead, else the patient's first coordinator (active users only): who the
    answer is filed with."""
    for user in _plan_people(plan, patient):
        return user
    raise Conflict(
        "Aucun professionnel ne suit ce plan pour le moment : appelez l'équipe.", field="plan"
    )


def plan_refusal(account: PatientAccount, plan: CarePlan, ctx: AuditContext) -> str | None:
    """Return why the account may not read the plan (the refusal audited), or None."""
    if _can(account, "patient_space.read_plan", plan):
        return None
    _audit_refusal(ctx, "patient_space.read_plan", account.patient_id, "right not granted")
    return (
        "La personne ne vous a pas donné le droit de voir son plan de coordination. Elle peut "
        "le demander à son coordinateur ou à sa coordinatrice de parcours."
    )


def answer_refusal(account: PatientAccount, plan: CarePlan, ctx: AuditContext) -> str | None:
    """Return why the account may not answer the plan (the refusal audited), or None."""
    if _can(account, "patient_space.answer_plan", plan):
        return None
    _audit_refusal(ctx, "patient_space.answer_plan", account.patient_id, "right not granted")
    return "Seule la personne, ou son représentant légal, peut donner son accord au plan."


def answer_plan(
    account: PatientAccount,
    plan: CarePlan,
    version: CarePlanVersion,
    kind: str,
    comment: str,
    ctx: AuditContext,
) -> PlanResponse:
    """Agree to the version awaiting agreement, or ask for a change with a comment.

    An agreement records the patient_agreement approval (method "patient_space", never one a
    professional records) and tells the plan's lead and coordinators; a change request tells
    them too and records nothing else.
    """
    if not _can(account, "patient_space.answer_plan", plan):
        _refuse(
            account,
            ctx,
            "patient_space.answer_plan",
            "Seule la personne, ou son représentant légal, peut donner son accord au plan.",
        )
    comment = comment.strip()
    if kind not in ResponseKind.__members__.values():
        raise InvalidInput(
            "Choisissez : je donne mon accord, ou je demande un changement.", field="kind"
        )
    if len(comment) > 2000:
        raise InvalidInput("Votre commentaire tient en 2 000 caractères au plus.", field="comment")
    if kind == ResponseKind.CHANGE and not comment:
        raise InvalidInput("Dites en quelques mots ce que vous souhaitez changer.", field="comment")
    patient = db.session.get(Patient, plan.patient_id)
    if patient is None:
        raise NotFound("Dossier introuvable.")
    lead = _plan_lead(plan, patient)
    if kind == ResponseKind.AGREE:
        note = f"Accord donné en ligne par {_who(account)}."
        if comment:
            note += f" Commentaire : {comment}"
        plan_services.record_electronic_agreement(plan, version, lead, note, ctx)
    else:
        if plan.current_version_id != version.id:
            raise Conflict("Une version plus récente a été publiée : relisez-la.", field="version")
        title = (
            "Plan de coordination d'une personne suivie : une demande de changement sur la "
            f"version {version.number} attend votre lecture."
        )
        notify_all(
            [
                NotificationDraft(user.id, "care_plan_change_request", title, _plan_link(plan))
                for user in _plan_people(plan, patient)
            ]
        )
    response = PlanResponse(
        account_id=account.id,
        patient_id=plan.patient_id,
        version_id=version.id,
        kind=kind,
        comment=comment,
    )
    db.session.add(response)
    db.session.flush()
    record_event(
        ctx,
        f"patient_space.plan_{kind}",
        object_type="care_plan_version",
        object_id=version.id,
        patient_id=plan.patient_id,
        reason=f"version {version.number}",
    )
    return response


def _plan_link(plan: CarePlan) -> str:
    return f"/patients/{plan.patient_id}/care-plan"


def _can(account: PatientAccount, action: str, obj: object) -> bool:
    from ptap.core.policy import Actor, can

    return can(cast(Actor, account), action, obj)


def change_sharing(
    account: PatientAccount, patient: Patient, given: bool, ctx: AuditContext
) -> None:
    """Give or withdraw the agreement to sharing within the circle; it takes effect at once
    (professionals outside the enrolling team lose their live access, as today)."""
    if not _can(account, "patient_space.change_consent", patient):
        _refuse(
            account,
            ctx,
            "patient_space.change_consent",
            "Seule la personne, ou son représentant légal, peut changer ses choix de partage.",
        )
    if given == patient.sharing_consent:
        raise Conflict("Ce choix est déjà celui en vigueur.", field="given")
    coordinators = circle.list_coordinator_ids(patient)
    filed_with = coordinators[0] if coordinators else None
    if filed_with is None:
        raise Conflict("Aucun coordinateur ne suit ce dossier : appelez l'équipe.", field="given")
    what = "donné" if given else "retiré"
    circle.record_consent_from_patient_space(
        patient,
        ConsentKind.SHARING,
        given,
        f"Accord au partage {what} en ligne par {_who(account)}.",
        filed_with,
        ctx,
    )
    notify_all(
        [
            NotificationDraft(
                uid,
                "consent_changed_by_patient",
                f"Une personne suivie a {what} son accord au partage, depuis son espace.",
                f"/patients/{patient.id}/consents",
            )
            for uid in coordinators
        ]
    )
    record_event(
        ctx,
        "patient_space.consent_change",
        object_type="patient",
        object_id=patient.id,
        patient_id=patient.id,
        reason=f"sharing {'given' if given else 'withdrawn'}",
    )
