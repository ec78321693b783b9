"""FHIR R4 export of one care-plan version: a `collection` Bundle, self-contained.

The Bundle holds the CarePlan (first entry), the Patient, the CareTeam with its managing
Organization, a Practitioner for every professional named, a Condition per problem, a Goal per
objective (shared objectives not achieved included) and a Provenance per approval. Every
reference is a `urn:uuid:` that resolves to an entry's fullUrl; the uuids are derived from
PTAP's ids and the plan's stable item keys, so two exports of a version are the same data.

French identifiers follow FR Core: the INS under `urn:oid:<INS OID>` (only for a qualified
identity, as the référentiel INS requires), professionals' IDNPS "8" + RPPS under
`urn:oid:1.2.250.1.71.4.2.1`, structures' "1" + FINESS under `urn:oid:1.2.250.1.71.4.2.2`.
PTAP's own codes (dimension, priority, action type) use code systems under `PTAP_FHIR`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ptap.care_plans.documents import TITLE, VersionSources, load_sources, sources_standing
from ptap.care_plans.fhir.resources import (
    FINESS_SYSTEM,
    PROVENANCE_AGENT,
    PTAP_FHIR,
    RPPS_SYSTEM,
    Resource,
    activity,
    care_plan_status,
    coding,
    condition_resource,
    fhir_datetime,
    goal_resource,
    goal_status,
    patient_resource,
    practitioner_resource,
    ptap_concept,
    ref,
    urn,
)
from ptap.care_plans.models import (
    APPROVAL_KIND_LABELS,
    APPROVAL_METHOD_LABELS,
    ApprovalKind,
    CarePlanVersion,
)
from ptap.core.formatting import label
from ptap.core.models import utcnow

__all__ = ["RPPS_SYSTEM", "build_bundle", "care_plan_status", "goal_status", "version_bundle"]


def version_bundle(version: CarePlanVersion, now: datetime | None = None) -> dict[str, Any]:
    """Return the FHIR R4 collection Bundle of one care-plan version (JSON-ready dict)."""
    return build_bundle(load_sources(version), now)


def build_bundle(sources: VersionSources, now: datetime | None = None) -> dict[str, Any]:
    """Build the Bundle from loaded sources (see the module docstring for the mapping)."""
    builder = _BundleBuilder(sources)
    entries = [
        *builder.people(),
        *builder.conditions(),
        *builder.goals(),
        *builder.provenances(),
    ]
    entries.insert(0, (builder.plan_url, builder.care_plan()))
    plan, version = sources.plan, sources.version
    return {
        "resourceType": "Bundle",
        "identifier": {
            "system": f"{PTAP_FHIR}/care-plan-version",
            "value": f"{plan.id}-{version.number}",
        },
        "type": "collection",
        "timestamp": fhir_datetime(now or utcnow()),
        "entry": [{"fullUrl": url, "resource": resource} for url, resource in entries],
    }


class _BundleBuilder:
    """The entries of one version's Bundle, and the urls that tie them together."""

    def __init__(self, sources: VersionSources) -> None:
        self.sources = sources
        plan, team = sources.plan, sources.enrolment.team
        self.patient_url = urn("Patient", sources.patient.id)
        self.plan_url = urn("CarePlan", plan.id, sources.version.number)
        self.team_url = urn("CareTeam", team.id)
        self.org_url = urn("Organization", team.structure_id)
        self.standing = sources_standing(sources)
        self.status = self.standing.fhir_status
        #: Only a version in force (not a proposal awaiting approvals) has active goals.
        self.in_force = self.status == "active" and self.standing.fhir_intent == "plan"
        self.condition_urls = {
            p.key: urn("Condition", plan.id, p.key) for p in sources.content.problems
        }
        self.goal_urls: list[str] = []
        self.activities: list[dict[str, Any]] = []

    def person(self, user_id: int | None) -> dict[str, str] | None:
        """Return the Reference to a professional's Practitioner entry, None for nobody."""
        user = self.sources.users.get(user_id) if user_id is not None else None
        return ref(urn("Practitioner", user.id), user.full_name) if user else None

    def people(self) -> list[tuple[str, Resource]]:
        """The patient, every professional named, the care team and its structure."""
        sources, patient = self.sources, self.sources.patient
        record = patient_resource(patient)
        gp = self.person(patient.gp_user_id)
        if gp or patient.gp_name:
            record["generalPractitioner"] = [gp or {"display": patient.gp_name}]
        entries = [(self.patient_url, record)]
        for user in sorted(sources.users.values(), key=lambda u: u.id):
            entries.append((urn("Practitioner", user.id), practitioner_resource(user)))
        team = sources.enrolment.team
        organization: Resource = {"resourceType": "Organization", "name": team.structure.name}
        if team.structure.finess:
            organization["identifier"] = [
                {"system": FINESS_SYSTEM, "value": "1" + team.structure.finess}
            ]
        care_team: Resource = {
            "resourceType": "CareTeam",
            "status": "active",
            "name": team.name,
            "subject": ref(self.patient_url),
            "managingOrganization": [ref(self.org_url, team.structure.name)],
            "participant": [
                {
                    "role": [{"text": m.profession}],
                    "member": ref(urn("Practitioner", m.user_id), m.name),
                }
                for m in sources.circle
            ],
        }
        return [*entries, (self.org_url, organization), (self.team_url, care_team)]

    def conditions(self) -> list[tuple[str, Resource]]:
        """A Condition per problem or need of the synthesis."""
        return [
            (self.condition_urls[p.key], condition_resource(p, self.patient_url))
            for p in self.sources.content.problems
        ]

    def goals(self) -> list[tuple[str, Resource]]:
        """A Goal per objective (collecting its actions as activities), then the unmet ones."""
        content, plan_id = self.sources.content, self.sources.plan.id
        entries = []
        for objective in content.objectives:
            url = urn("Goal", plan_id, objective.key)
            lifecycle, achievement = goal_status(objective, self.in_force)
            addresses = [
                self.condition_urls[k] for k in objective.problem_keys if k in self.condition_urls
            ]
            goal = goal_resource(
                objective.key, objective.title, self.patient_url, lifecycle, achievement, addresses
            )
            entries.append((url, goal))
            for action in objective.actions:
                performer = self.person(action.assignee_user_id) or (
                    {"display": action.assignee_label} if action.assignee_label else None
                )
                self.activities.append(activity(action, url, performer))
        for unmet in content.unmet_objectives:
            url = urn("Goal", plan_id, unmet.key)
            goal = goal_resource(
                unmet.key,
                unmet.objective,
                self.patient_url,
                "completed",
                "not-achieved",
                note=unmet.reason,
            )
            entries.append((url, goal))
        self.goal_urls = [url for url, _ in entries]
        return entries

    def care_plan(self) -> Resource:
        """The CarePlan itself; call after goals(), which collects the activities."""
        version, plan = self.sources.version, self.sources.plan
        care_plan: Resource = {
            "resourceType": "CarePlan",
            "meta": {
                "versionId": str(version.number),
                "lastUpdated": fhir_datetime(version.created_at),
            },
            "identifier": [
                {"system": f"{PTAP_FHIR}/care-plan", "value": str(plan.id)},
                {
                    "system": f"{PTAP_FHIR}/care-plan-version",
                    "value": f"{plan.id}-{version.number}",
                },
            ],
            "status": self.status,
            "intent": self.standing.fhir_intent,
            "category": [ptap_concept("care-plan-kind", "ppcs", TITLE)],
            "title": f"{TITLE}, version {version.number}",
            "subject": ref(self.patient_url),
            "period": _period(version),
            "created": fhir_datetime(version.created_at),
            "careTeam": [ref(self.team_url)],
            "addresses": [ref(url) for url in self.condition_urls.values()],
            "goal": [ref(url) for url in self.goal_urls],
            "activity": self.activities,
            "note": _plan_notes(self.sources, self.standing.label),
        }
        if version.change_summary:
            care_plan["description"] = version.change_summary
        lead = self.person(self.sources.content.lead_user_id)
        if lead:
            care_plan["author"] = lead
        author = self.person(version.created_by_id)
        if author:
            care_plan["contributor"] = [author]
        return care_plan

    def provenances(self) -> list[tuple[str, Resource]]:
        """A Provenance per approval of the version: the GP's validation, the patient's accord."""
        result = []
        for approval, name in self.sources.approvals:
            recorder = self.person(approval.recorded_by_id) or {"display": name}
            if approval.kind == ApprovalKind.GP_VALIDATION:
                attester = {"coding": [coding(PROVENANCE_AGENT, "attester", "Attester")]}
                agents = [{"type": attester, "who": recorder}]
            else:
                enterer = {"coding": [coding(PROVENANCE_AGENT, "enterer", "Enterer")]}
                agents = [
                    {"type": {"text": "Accord de la personne"}, "who": ref(self.patient_url)},
                    {"type": enterer, "who": recorder},
                ]
            kind = label(APPROVAL_KIND_LABELS, approval.kind)
            method = label(APPROVAL_METHOD_LABELS, approval.method)
            provenance: Resource = {
                "resourceType": "Provenance",
                "target": [ref(self.plan_url)],
                "recorded": fhir_datetime(approval.recorded_at),
                "activity": {"text": f"{kind} ({method})"},
                "agent": agents,
            }
            result.append((urn("Provenance", approval.id), provenance))
        return result


def _period(version: CarePlanVersion) -> dict[str, str]:
    """From publication to the planned re-evaluation (left open if that date already passed)."""
    period = {"start": fhir_datetime(version.created_at)}
    if version.next_review_on >= version.created_at.date():
        period["end"] = version.next_review_on.isoformat()
    return period


def _plan_notes(sources: VersionSources, status: str) -> list[dict[str, str]]:
    content = sources.content
    notes = [{"text": f"Statut du plan dans PTAP : {status}."}]
    if content.expectations:
        notes.append({"text": f"Attentes de la personne : {content.expectations}"})
    if content.preferences:
        notes.append({"text": f"Préférences de la personne : {content.preferences}"})
    return notes
