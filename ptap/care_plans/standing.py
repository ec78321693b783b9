"""The true standing of a plan version: one computation for the page, the PDF and FHIR.

The plan's stored status says where its lifecycle is (a plan stays `draft` until the GP
validates its current version), not what a reader must be told: a published version awaiting
the GP's validation is not a draft. Every rendering asks `version_standing` instead of
translating the stored status on its own.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ptap.care_plans.models import ApprovalKind, PlanStatus
from ptap.care_teams.models import EndReason


@dataclass(frozen=True)
class Standing:
    """What to say about a version: a badge code, its French label and the FHIR codes."""

    #: Badge code (CSS class `plan-badge-<code>`).
    code: str
    label: str
    #: FHIR CarePlan.status and CarePlan.intent of the version.
    fhir_status: str
    fhir_intent: str


DRAFT = Standing("draft", "Brouillon : aucune version publiée", "draft", "plan")
SUPERSEDED = Standing("closed", "Version remplacée par une plus récente", "revoked", "plan")
AWAITING_GP = Standing(
    "awaiting", "Version publiée, en attente de validation du médecin", "active", "proposal"
)
AWAITING_AGREEMENT = Standing(
    "validated",
    "Validée par le médecin, en attente de l'accord de la personne",
    "active",
    "proposal",
)
READY = Standing("validated", "Validée et acceptée, à mettre en vigueur", "active", "proposal")
IN_FORCE = Standing("active", "En vigueur", "active", "plan")
IN_FORCE_REVISING = Standing("under_revision", "En vigueur, révision en cours", "active", "plan")
AWAITING_GP_REVISION = Standing(
    "under_revision",
    "En révision : nouvelle version en attente de validation du médecin",
    "active",
    "proposal",
)
AWAITING_AGREEMENT_REVISION = Standing(
    "under_revision",
    "En révision : validée par le médecin, en attente de l'accord de la personne",
    "active",
    "proposal",
)


def version_standing(
    plan_status: str,
    *,
    published: bool,
    current: bool = True,
    approvals: Collection[str] = (),
    end_reason: str = "",
) -> Standing:
    """Return the standing of a plan's version (its current one unless `current` is False).

    A published version awaiting approvals is a `proposal` that is `active` in FHIR terms (it
    is complete and waits for the GP and the person, it is not a draft); it becomes the `plan`
    once in force. A replaced version is `revoked`; a closed plan is `completed` when its goals
    were met (or no exit reason was given), `revoked` otherwise.

    :param published: whether the plan has a published version at all.
    :param approvals: the kinds of approval recorded for the version.
    :param end_reason: the enrolment's end reason, for a closed plan.
    """
    if not published:
        return DRAFT
    if not current:
        return SUPERSEDED
    if plan_status == PlanStatus.CLOSED:
        met = end_reason in ("", EndReason.GOALS_MET)
        return Standing("closed", "Clos", "completed" if met else "revoked", "plan")
    if plan_status == PlanStatus.ACTIVE:
        return IN_FORCE
    validated = ApprovalKind.GP_VALIDATION in approvals
    agreed = ApprovalKind.PATIENT_AGREEMENT in approvals
    if plan_status == PlanStatus.UNDER_REVISION:
        if validated and agreed:
            return IN_FORCE_REVISING
        return AWAITING_AGREEMENT_REVISION if validated else AWAITING_GP_REVISION
    if not validated:
        return AWAITING_GP
    return READY if agreed else AWAITING_AGREEMENT
