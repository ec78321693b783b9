"""Demo of the patient space: a person and her daughter (caregiver) with accounts, a plan
version awaiting the person's agreement, and a history of accesses to her record."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.care_plans.models import ApprovalKind, CarePlan, PlanApproval, PlanStatus
from ptap.care_teams import access
from ptap.care_teams.models import Patient
from ptap.extensions import db
from ptap.patient_space import auth, services
from ptap.patient_space.models import PatientAccount

PATIENT_LOCAL = "patiente"
CAREGIVER_LOCAL = "aidante"


@dataclass(frozen=True)
class DemoPatientAccount:
    """A demo patient-side account, printed by `ptap demo`."""

    email: str
    role: str


def _plan_awaiting_agreement(coordinator: User) -> CarePlan | None:
    """A validated plan, coordinated by the demo coordinator, with no agreement yet."""
    agreed = sa.select(PlanApproval.version_id).where(
        PlanApproval.kind == ApprovalKind.PATIENT_AGREEMENT
    )
    plans = db.session.scalars(
        sa.select(CarePlan)
        .where(
            CarePlan.status == PlanStatus.VALIDATED,
            CarePlan.current_version_id.is_not(None),
            CarePlan.current_version_id.not_in(agreed),
        )
        .order_by(CarePlan.id)
    )
    for plan in plans:
        patient = db.session.get(Patient, plan.patient_id)
        if patient is not None and access.coordinates_patient(coordinator.id, patient):
            return plan
    return None


def load_patient_space_demo(users: dict[str, User], domain: str) -> list[DemoPatientAccount]:
    """Create the demo patient and caregiver accounts (idempotent); return the new ones."""
    patient_email = f"{PATIENT_LOCAL}@{domain}"
    if db.session.scalar(sa.select(PatientAccount.id).where(PatientAccount.email == patient_email)):
        return []
    coordinator = users.get("coordination")
    plan = _plan_awaiting_agreement(coordinator) if coordinator is not None else None
    if coordinator is None or plan is None:
        return []
    patient = db.session.get(Patient, plan.patient_id)
    if patient is None:
        return []
    ctx = AuditContext(actor_id=coordinator.id, actor_label=coordinator.email)
    first = (patient.used_first_name or patient.first_names.split(" ")[0]).title()
    surname = (patient.used_name or patient.birth_name).title()
    created = []
    for email, name, relationship, rights, role in (
        (patient_email, f"{first} {surname}", "self", frozenset(), "patiente"),
        (
            f"{CAREGIVER_LOCAL}@{domain}",
            f"Hélène {surname}",
            "caregiver",
            frozenset({"see_plan", "message"}),
            "aidante",
        ),
    ):
        data = services.InvitationIn(email, name, relationship, rights)
        _, token = services.invite(coordinator, patient, data, ctx)
        account = auth.accept_invitation(token, AuditContext(actor_label="ptap demo"))
        created.append(DemoPatientAccount(account.email, role))
    # A few reads by the circle, for the "who accessed my file" page.
    for local in ("medecin", "infirmiere", "coordination"):
        user = users.get(local)
        if user is not None:
            record_event(
                AuditContext(actor_id=user.id, actor_label=user.email),
                "patient.read",
                object_type="patient",
                object_id=patient.id,
                patient_id=patient.id,
                reason="circle member",
            )
    db.session.commit()
    return created
