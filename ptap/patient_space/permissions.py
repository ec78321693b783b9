"""Who may do what around the patient space. Patient-side accounts reach only their own
person's record, and a caregiver only what the person granted.

Every patient-side read also needs the person to be still followed (an open enrolment): when
the last enrolment ends, the accounts keep signing in but see nothing of the record.
"""

from __future__ import annotations

from typing import Any

from ptap.care_plans.models import CarePlan
from ptap.care_teams.access import active_enrolment_team_ids
from ptap.care_teams.models import Patient
from ptap.core.errors import RuleDenied
from ptap.core.policy import Actor, can, is_patient_side_actor, rule
from ptap.patient_space.models import PatientAccount, Relationship, Right


def _own(user: Actor, patient_id: int | None) -> bool:
    return (
        is_patient_side_actor(user)
        and isinstance(user, PatientAccount)
        and user.is_active
        and patient_id is not None
        and user.patient_id == patient_id
        and bool(active_enrolment_team_ids(patient_id))
    )


def has_right(account: PatientAccount, right: str) -> bool:
    """Tell whether the account holds `right` (the person and a representative hold them all)."""
    if account.relationship in (Relationship.SELF, Relationship.LEGAL_REPRESENTATIVE):
        return True
    return right in account.right_set


@rule("patient_space.use")
def _use(user: Actor, _obj: Any) -> bool:
    """Any live patient-side account may open its own space (pages then scope to its person)."""
    return is_patient_side_actor(user)


@rule("patient_space.read")
def _read(user: Actor, patient: Patient | None) -> bool:
    """Circle, consents, access log, documents: the account of this person."""
    return _own(user, patient.id if patient else None)


@rule("patient_space.read_plan")
def _read_plan(user: Actor, plan: CarePlan | None) -> bool:
    """The plan: the person, a representative, a caregiver granted "see the plan"."""
    return (
        plan is not None
        and _own(user, plan.patient_id)
        and isinstance(user, PatientAccount)
        and has_right(user, Right.SEE_PLAN)
    )


@rule("patient_space.answer_plan")
def _answer_plan(user: Actor, plan: CarePlan | None) -> bool:
    """Agree to a version or ask for a change: the person or their legal representative."""
    return (
        plan is not None
        and _own(user, plan.patient_id)
        and isinstance(user, PatientAccount)
        and user.relationship in (Relationship.SELF, Relationship.LEGAL_REPRESENTATIVE)
    )


@rule("patient_space.change_consent")
def _change_consent(user: Actor, patient: Patient | None) -> bool:
    """Change the consent choices: the person or their legal representative."""
    return (
        patient is not None
        and _own(user, patient.id)
        and isinstance(user, PatientAccount)
        and user.relationship in (Relationship.SELF, Relationship.LEGAL_REPRESENTATIVE)
    )


@rule("patient_space.manage")
def _manage(user: Actor, patient: Patient | None) -> bool:
    """Invite, revoke, end access: the patient's coordinators (as for the circle)."""
    return not is_patient_side_actor(user) and can(user, "patient.manage", patient)


def require_right(account: PatientAccount, right: str, what: str) -> None:
    """Raise a French refusal naming what the person did not grant."""
    if not has_right(account, right):
        raise RuleDenied(
            f"La personne ne vous a pas donné le droit de {what}. Elle peut le demander à "
            "son coordinateur ou sa coordinatrice de parcours."
        )
