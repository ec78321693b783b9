"""FHIR R4 resources and datatypes of a care-plan export, one builder per resource kind.

Identifiers and codes: see the package docstring. Every builder returns plain JSON data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from ptap.accounts.models import User
from ptap.care_plans.content import (
    ACTION_TYPE_LABELS,
    DIMENSION_LABELS,
    OPEN_STATUSES,
    PRIORITY_LABELS,
    Action,
    ActionStatus,
    ActionType,
    Objective,
    Problem,
)
from ptap.care_plans.documents import VersionSources, sources_standing
from ptap.care_teams.models import Patient
from ptap.core.ins import InsOid

Resource = dict[str, Any]

PTAP_FHIR = "https://ptap.example/fhir"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, PTAP_FHIR)
RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
FINESS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
FR_IDENTIFIER_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
INSEE_CODE_EXTENSION = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
INSEE_COMMUNES = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
BIRTH_PLACE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
PROVENANCE_AGENT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
PRIORITY_EXTENSION = f"{PTAP_FHIR}/StructureDefinition/ppcs-priority"
IDNPS_DISPLAY = "Identifiant National de Professionnel de Santé"

INS_TYPES = {
    InsOid.NIR: ("INS-NIR", "NIR définitif"),
    InsOid.TEST_NIR: ("INS-NIR", "NIR définitif"),
    InsOid.NIA: ("INS-NIA", "NIR temporaire"),
    InsOid.TEST_NIA: ("INS-NIA", "NIR temporaire"),
}
#: FR Core's INS gender value set has no "other": an undetermined sex is "unknown".
GENDERS = {"F": "female", "M": "male", "I": "unknown"}
ACTIVITY_STATUSES = {
    ActionStatus.PLANNED: "not-started",
    ActionStatus.IN_PROGRESS: "in-progress",
    ActionStatus.DONE: "completed",
    ActionStatus.CANCELLED: "cancelled",
    ActionStatus.NOT_ACHIEVED: "stopped",
}
#: CarePlan.activity.detail.kind: the resource an action would become in a FHIR system.
ACTIVITY_KINDS = {
    ActionType.CARE: "ServiceRequest",
    ActionType.ASSESSMENT: "ServiceRequest",
    ActionType.SOCIAL_SUPPORT: "ServiceRequest",
    ActionType.EDUCATION: "ServiceRequest",
    ActionType.COORDINATION: "Task",
    ActionType.EQUIPMENT: "DeviceRequest",
}


def urn(*parts: object) -> str:
    """Return the stable `urn:uuid:` of a PTAP object (its kind and natural key)."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, '/'.join(str(p) for p in parts))}"


def ref(url: str, display: str = "") -> dict[str, str]:
    """Return a Reference to a bundle entry, with its display when given."""
    return {"reference": url, "display": display} if display else {"reference": url}


def coding(system: str, code: str, display: str = "") -> dict[str, str]:
    """Return a Coding (display only when given)."""
    value = {"system": system, "code": code}
    return value | {"display": display} if display else value


def ptap_concept(name: str, code: str, display: str) -> dict[str, Any]:
    """Return a CodeableConcept in one of PTAP's code systems, with the French label as text."""
    return {"coding": [coding(f"{PTAP_FHIR}/CodeSystem/{name}", code, display)], "text": display}


def fhir_datetime(value: datetime) -> str:
    """Format an aware datetime as a FHIR dateTime/instant (seconds, offset)."""
    return value.isoformat(timespec="seconds")


def birth_date(patient: Patient) -> str:
    """Return the FHIR birthDate, partial when the day or the month is unknown."""
    if patient.birth_month is None:
        return f"{patient.birth_year:04d}"
    if patient.birth_day is None:
        return f"{patient.birth_year:04d}-{patient.birth_month:02d}"
    return date(patient.birth_year, patient.birth_month, patient.birth_day).isoformat()


# --- people -----------------------------------------------------------------------------------


def patient_resource(patient: Patient) -> Resource:
    """Return the Patient: strict traits, birth and used names, INS when qualified."""
    names = [
        {"use": "official", "family": patient.birth_name, "given": patient.first_names.split()}
    ]
    if patient.used_name or patient.used_first_name:
        usual: dict[str, Any] = {"use": "usual", "family": patient.used_name or patient.birth_name}
        if patient.used_first_name:
            usual["given"] = [patient.used_first_name]
        names.append(usual)
    resource: Resource = {
        "resourceType": "Patient",
        "identifier": [
            {"use": "secondary", "system": f"{PTAP_FHIR}/patient", "value": str(patient.id)}
        ],
        "name": names,
        "gender": GENDERS.get(patient.sex, "unknown"),
        "birthDate": birth_date(patient),
    }
    # The référentiel INS: the matricule travels only with a qualified identity.
    if patient.is_qualified and patient.ins_matricule and patient.ins_oid:
        code, display = INS_TYPES.get(InsOid(patient.ins_oid), ("INS-NIR", "NIR définitif"))
        resource["identifier"].insert(
            0,
            {
                "use": "official",
                "type": {"coding": [coding(FR_IDENTIFIER_TYPE, code, display)]},
                "system": f"urn:oid:{patient.ins_oid}",
                "value": patient.ins_matricule,
            },
        )
    if patient.birthplace_code:
        resource["extension"] = [
            {"url": BIRTH_PLACE_EXTENSION, "valueAddress": birthplace(patient)}
        ]
    return resource


def birthplace(patient: Patient) -> dict[str, Any]:
    """Return the birthplace Address: the INSEE commune code (FR Core extension)."""
    code = patient.birthplace_code
    if code.startswith("99"):  # born abroad: an INSEE country code, not a commune
        return {"text": f"Naissance à l'étranger (code INSEE {code})"}
    insee = {"url": INSEE_CODE_EXTENSION, "valueCoding": coding(INSEE_COMMUNES, code)}
    return {"extension": [insee], "country": "FR"}


def practitioner_resource(user: User) -> Resource:
    """Return the Practitioner of a PTAP professional, with their IDNPS when known."""
    identifiers = []
    if user.rpps:
        identifiers.append(
            {
                "use": "official",
                "type": {"coding": [coding(FR_IDENTIFIER_TYPE, "IDNPS", IDNPS_DISPLAY)]},
                "system": RPPS_SYSTEM,
                "value": "8" + user.rpps,
            }
        )
    identifiers.append({"use": "secondary", "system": f"{PTAP_FHIR}/user", "value": str(user.id)})
    return {
        "resourceType": "Practitioner",
        "identifier": identifiers,
        "active": user.active,
        "name": [{"family": user.last_name, "given": [user.first_name], "text": user.full_name}],
        "qualification": [{"code": {"text": user.profession_label}}],
    }


# --- the plan ---------------------------------------------------------------------------------


def care_plan_status(sources: VersionSources) -> str:
    """Map the version's standing (ptap.care_plans.standing) to CarePlan.status."""
    return sources_standing(sources).fhir_status


def goal_status(objective: Objective, in_force: bool) -> tuple[str, str | None]:
    """Return (lifecycleStatus, achievementStatus code or None) from the objective's actions."""
    statuses = {a.status for a in objective.actions}
    if statuses and statuses <= {ActionStatus.CANCELLED}:
        return "cancelled", None
    if statuses and not statuses & OPEN_STATUSES:
        achieved = statuses - {ActionStatus.CANCELLED} == {ActionStatus.DONE}
        return "completed", "achieved" if achieved else "not-achieved"
    started = statuses & {ActionStatus.IN_PROGRESS, ActionStatus.DONE}
    return ("active" if in_force else "proposed"), "in-progress" if started else None


def condition_resource(problem: Problem, patient_url: str) -> Resource:
    """Return the Condition of a problem: dimension as category, priority as extension."""
    return {
        "resourceType": "Condition",
        "identifier": [{"system": f"{PTAP_FHIR}/ppcs-item", "value": problem.key}],
        "extension": [
            {
                "url": PRIORITY_EXTENSION,
                "valueCodeableConcept": ptap_concept(
                    "ppcs-priority", problem.priority.value, PRIORITY_LABELS[problem.priority]
                ),
            }
        ],
        "clinicalStatus": {"coding": [coding(CONDITION_CLINICAL, "active", "Active")]},
        "category": [
            {"coding": [coding(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")]},
            ptap_concept(
                "ppcs-dimension", problem.dimension.value, DIMENSION_LABELS[problem.dimension]
            ),
        ],
        "code": {"text": problem.description},
        "subject": ref(patient_url),
    }


def goal_resource(
    key: str,
    text: str,
    patient_url: str,
    lifecycle: str,
    achievement: str | None,
    addresses: Iterable[str] = (),
    note: str = "",
) -> Resource:
    """Return a Goal: an objective of the plan, or a shared objective not achieved."""
    goal: Resource = {
        "resourceType": "Goal",
        "identifier": [{"system": f"{PTAP_FHIR}/ppcs-item", "value": key}],
        "lifecycleStatus": lifecycle,
        "description": {"text": text},
        "subject": ref(patient_url),
    }
    if achievement:
        goal["achievementStatus"] = {"coding": [coding(GOAL_ACHIEVEMENT, achievement)]}
    if addresses:
        goal["addresses"] = [ref(url) for url in addresses]
    if note:
        goal["note"] = [{"text": note}]
    return goal


def activity(action: Action, goal_url: str, performer: dict[str, str] | None) -> dict[str, Any]:
    """Return the CarePlan.activity of an action: what, type, status, who, due date."""
    detail: dict[str, Any] = {
        "code": ptap_concept(
            "ppcs-action-type", action.action_type.value, ACTION_TYPE_LABELS[action.action_type]
        ),
        "status": ACTIVITY_STATUSES[action.status],
        "description": action.what,
        "goal": [ref(goal_url)],
    }
    kind = ACTIVITY_KINDS.get(action.action_type)
    if kind:
        detail = {"kind": kind, **detail}
    if action.not_achieved_reason:
        detail["statusReason"] = {"text": action.not_achieved_reason}
    if performer:
        detail["performer"] = [performer]
    if action.due_on:
        detail["scheduledPeriod"] = {"end": action.due_on.isoformat()}
    return {
        "extension": [
            {"url": f"{PTAP_FHIR}/StructureDefinition/ppcs-item-key", "valueString": action.key}
        ],
        "detail": detail,
    }
