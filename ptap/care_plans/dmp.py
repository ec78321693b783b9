"""Care-plan versions as DMP documents: which versions are filed, and how they are rendered.

A version is filed when the GP validates it, and every version published while the plan is
in force (follow-up) is filed too; drafts nobody validated never reach the DMP. Versions of
one plan form one document set: each replaces the previous one in the patient's DMP.
"""

from __future__ import annotations

from flask import current_app

from ptap import dmp_bridge
from ptap.accounts.models import User
from ptap.care_plans.documents import load_sources, render_pdf_from_sources
from ptap.care_plans.models import ApprovalKind, CarePlan, CarePlanVersion
from ptap.care_teams.dmp import dmp_author, dmp_organisation, dmp_patient, structure_of_patient
from ptap.care_teams.models import Enrolment
from ptap.extensions import db

SOURCE_TYPE = "care_plan_version"


def request_version_filing(plan: CarePlan, version: CarePlanVersion, user: User) -> None:
    """Queue the filing of a version, in the caller's transaction (outbox row)."""
    if not dmp_bridge_enabled():
        return
    dmp_bridge.request_filing(
        kind=dmp_bridge.DocumentKind.PPCS,
        set_key=f"care_plan:{plan.id}",
        source_ref=f"{SOURCE_TYPE}:{version.id}",
        patient_id=plan.patient_id,
        team_id=_team_id(plan),
        title=f"Plan personnalisé de coordination en santé — version {version.number}",
        requested_by_id=user.id,
        confidentiality=_confidentiality(version),
    )


def dmp_bridge_enabled() -> bool:
    """Tell whether this platform files documents into the DMP."""
    return bool(current_app.config["DMP_ENABLED"])


def _team_id(plan: CarePlan) -> int | None:
    enrolment = db.session.get(Enrolment, plan.enrolment_id)
    return enrolment.team_id if enrolment is not None else None


def _confidentiality(version: CarePlanVersion) -> tuple[dmp_bridge.Confidentiality, ...]:
    try:
        return (dmp_bridge.Confidentiality(version.confidentiality),)
    except ValueError:
        return (dmp_bridge.Confidentiality.NORMAL,)


def version_document(version_id: int, render: bool) -> dmp_bridge.DmpDocument:
    """Describe (and render, when asked) one care-plan version as a DMP document."""
    version = db.session.get_one(CarePlanVersion, version_id)
    sources = load_sources(version)
    organisation = dmp_organisation(structure_of_patient(sources.patient.id))
    author_user = sources.users.get(version.created_by_id)
    validation = next(
        (a for a, _ in sources.approvals if a.kind == ApprovalKind.GP_VALIDATION), None
    )
    validator = sources.users.get(validation.recorded_by_id) if validation else None
    if author_user is None:
        raise LookupError(f"author of care-plan version {version_id} not found")
    author = dmp_author(author_user, organisation)
    authenticator = dmp_author(validator, organisation) if validator else author
    return dmp_bridge.DmpDocument(
        kind=dmp_bridge.DocumentKind.PPCS,
        patient=dmp_patient(sources.patient.id),
        title="Plan personnalisé de coordination en santé (PPCS)",
        pdf=render_pdf_from_sources(sources) if render else b"",
        author=author,
        legal_authenticator=authenticator,
        organisation=organisation,
        created_at=version.created_at,
        authenticated_at=validation.recorded_at if validation else version.created_at,
        service_start=sources.plan.created_at.date(),
        service_stop=version.created_at.date(),
        confidentiality=_confidentiality(version),
        local_patient_id=f"PTAP-{sources.patient.id}",
        # Local patient ids (IPP) live under this installation's OID branch.
        local_patient_oid=f"{current_app.config['DMP_OID_ROOT']}.9",
    )


def register() -> None:
    """Register the care-plan document provider with the bridge."""
    dmp_bridge.register_document_provider(SOURCE_TYPE, version_document)
