"""Structured meeting decisions: their payloads, and how they change a plan's content.

Pure functions on ptap.care_plans.content (no database): the service checks the context
(quorum, agenda, plan, versions) and persists through the care-plans services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ptap.care_plans.content import (
    ACTION_STATUS_LABELS,
    Action,
    ActionStatus,
    ActionType,
    Objective,
    PlanContent,
    UnmetObjective,
    new_key,
)
from ptap.core.errors import InvalidInput
from ptap.meetings.models import DECISION_KIND_LABELS, DecisionKind

#: Why someone running the meeting may still not record a patient's decisions (care-plans rules).
DECISIONS_NOT_ALLOWED = (
    "Vous ne pouvez pas modifier le plan de cette personne : ses coordinateurs ou le "
    "responsable de son plan enregistrent ces décisions."
)


@dataclass(frozen=True)
class DecisionInput:
    """One decision as entered: its kind and its payload (fields depend on the kind)."""

    kind: str
    payload: dict[str, Any]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AddObjective(_Payload):
    #: Optional: lets an add_action of the same batch name this new objective.
    key: str = Field(default_factory=new_key, min_length=1, max_length=32)
    title: str = Field(min_length=1, max_length=500)
    problem_keys: list[str] = Field(default_factory=list)


class AddAction(_Payload):
    objective_key: str = Field(min_length=1, max_length=32)
    key: str = Field(default_factory=new_key, min_length=1, max_length=32)
    what: str = Field(min_length=1, max_length=500)
    action_type: ActionType = ActionType.CARE
    assignee_user_id: int | None = None
    assignee_label: str = Field(default="", max_length=200)
    due_on: date | None = None


class UpdateAction(_Payload):
    action_key: str = Field(min_length=1, max_length=32)
    status: ActionStatus | None = None
    due_on: date | None = None
    assignee_user_id: int | None = None
    assignee_label: str | None = Field(default=None, max_length=200)
    not_achieved_reason: str | None = Field(default=None, max_length=1000)


class ObjectiveUnmet(_Payload):
    objective_key: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=1000)


class SetReviewDate(_Payload):
    next_review_on: date


class RequestRevision(_Payload):
    reason: str = Field(default="", max_length=1000)


PAYLOADS: dict[str, type[_Payload]] = {
    DecisionKind.ADD_OBJECTIVE: AddObjective,
    DecisionKind.ADD_ACTION: AddAction,
    DecisionKind.UPDATE_ACTION: UpdateAction,
    DecisionKind.OBJECTIVE_UNMET: ObjectiveUnmet,
    DecisionKind.SET_REVIEW_DATE: SetReviewDate,
    DecisionKind.REQUEST_REVISION: RequestRevision,
}


def parse_decisions(decisions: list[DecisionInput], meeting_day: date) -> list[_Payload]:
    """Validate each decision's payload; a bad one is a 422 naming `decisions[i].<field>`."""
    parsed: list[_Payload] = []
    for i, decision in enumerate(decisions):
        model = PAYLOADS.get(decision.kind)
        if model is None:
            raise InvalidInput("Type de décision inconnu.", field=f"decisions[{i}].kind")
        try:
            payload = model.model_validate(decision.payload)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "payload"
            raise InvalidInput(
                f"Décision n° {i + 1} ({DECISION_KIND_LABELS[DecisionKind(decision.kind)]}) : "
                "valeur manquante ou invalide.",
                field=f"decisions[{i}].{where}",
            ) from exc
        _check_dates(payload, i, meeting_day)
        parsed.append(payload)
    return parsed


def _check_dates(payload: _Payload, i: int, meeting_day: date) -> None:
    due = getattr(payload, "due_on", None)
    if due is not None and due < meeting_day:
        raise InvalidInput(
            "L'échéance ne peut pas précéder la date de la concertation.",
            field=f"decisions[{i}].due_on",
        )
    if isinstance(payload, SetReviewDate) and payload.next_review_on <= meeting_day:
        raise InvalidInput(
            "La prochaine réévaluation doit suivre la date de la concertation.",
            field=f"decisions[{i}].next_review_on",
        )


def wants_revision(payloads: list[_Payload]) -> bool:
    """Tell whether the decisions ask for a revision of the plan."""
    return any(isinstance(p, RequestRevision) for p in payloads)


def apply_decisions(content: PlanContent, payloads: list[_Payload]) -> PlanContent:
    """Return the next content: `content` with the decisions applied in order."""
    new = content.model_copy(deep=True)
    for i, payload in enumerate(payloads):
        _apply(new, payload, i)
    try:
        return PlanContent.model_validate(new.model_dump(mode="json"))
    except ValidationError as exc:
        raise InvalidInput(
            "Ces décisions donnent un plan invalide (deux éléments portent la même clé ?).",
            field="decisions",
        ) from exc


def _objective(content: PlanContent, key: str, i: int) -> Objective:
    found = next((o for o in content.objectives if o.key == key), None)
    if found is None:
        raise InvalidInput(
            "Cet objectif n'existe pas dans le plan.", field=f"decisions[{i}].objective_key"
        )
    return found


def _apply(content: PlanContent, payload: _Payload, i: int) -> None:
    if isinstance(payload, AddObjective):
        content.objectives.append(
            Objective(key=payload.key, title=payload.title, problem_keys=payload.problem_keys)
        )
    elif isinstance(payload, AddAction):
        action = Action(
            key=payload.key,
            what=payload.what,
            action_type=payload.action_type,
            assignee_user_id=payload.assignee_user_id,
            assignee_label=payload.assignee_label,
            due_on=payload.due_on,
        )
        # Decided without who or when: said "à définir", for the coordinators to complete.
        action.to_define = not action.has_who_and_when
        _objective(content, payload.objective_key, i).actions.append(action)
    elif isinstance(payload, UpdateAction):
        _update_action(content, payload, i)
    elif isinstance(payload, ObjectiveUnmet):
        objective = _objective(content, payload.objective_key, i)
        content.unmet_objectives.append(
            UnmetObjective(objective=objective.title, reason=payload.reason)
        )
    elif isinstance(payload, SetReviewDate):
        content.next_review_on = payload.next_review_on


def _update_action(content: PlanContent, payload: UpdateAction, i: int) -> None:
    found = content.find_action(payload.action_key)
    if found is None:
        raise InvalidInput(
            "Cette action n'existe pas dans le plan.", field=f"decisions[{i}].action_key"
        )
    objective, action = found
    changes = {
        name: getattr(payload, name)
        for name in payload.model_fields_set - {"action_key"}
        if not (
            name in ("assignee_label", "not_achieved_reason") and getattr(payload, name) is None
        )
    }
    if not changes:
        raise InvalidInput("Indiquez ce qui change dans l'action.", field=f"decisions[{i}]")
    try:
        updated = Action.model_validate({**action.model_dump(), **changes})
    except ValidationError as exc:
        raise InvalidInput(
            "Indiquez pourquoi l'action n'a pas été réalisée.",
            field=f"decisions[{i}].not_achieved_reason",
        ) from exc
    if updated.to_define and updated.has_who_and_when:
        updated.to_define = False  # completed in the meeting: no longer "à définir"
    objective.actions[objective.actions.index(action)] = updated


def stored_payload(content: PlanContent, payload: _Payload) -> dict[str, Any]:
    """Return the payload as stored with the decision, plus the texts it refers to in the plan
    it was applied to (the action's or objective's wording), so history reads without the plan."""
    data = payload.model_dump(mode="json")
    if isinstance(payload, UpdateAction):
        found = content.find_action(payload.action_key)
        data["action_what"] = found[1].what if found else ""
    elif isinstance(payload, AddAction | ObjectiveUnmet):
        objective = next((o for o in content.objectives if o.key == payload.objective_key), None)
        data["objective_title"] = objective.title if objective else ""
    return data


def _day(value: Any) -> str:
    return f"{date.fromisoformat(str(value)):%d/%m/%Y}"


def describe(kind: str, payload: dict[str, Any]) -> str:
    """Return a short French line describing a recorded decision (history, summaries)."""
    label = DECISION_KIND_LABELS.get(DecisionKind(kind), kind)
    if kind == DecisionKind.ADD_OBJECTIVE:
        text = str(payload.get("title", ""))
    elif kind == DecisionKind.ADD_ACTION:
        text = str(payload.get("what", ""))
        if payload.get("due_on"):
            text += f" (échéance le {_day(payload['due_on'])})"
    elif kind == DecisionKind.UPDATE_ACTION:
        changes = []
        if payload.get("status"):
            status = ACTION_STATUS_LABELS.get(ActionStatus(payload["status"]), payload["status"])
            changes.append(f"statut « {status} »")
        if payload.get("due_on"):
            changes.append(f"échéance le {_day(payload['due_on'])}")
        if payload.get("assignee_user_id") or payload.get("assignee_label"):
            changes.append("nouvel intervenant")
        what = payload.get("action_what") or payload.get("action_key", "")
        text = f"{what} : {', '.join(changes)}" if changes else str(what)
    elif kind == DecisionKind.OBJECTIVE_UNMET:
        title = payload.get("objective_title") or payload.get("objective_key", "")
        text = f"{title} ({payload.get('reason', '')})"
    elif kind == DecisionKind.SET_REVIEW_DATE:
        review = payload.get("next_review_on")
        text = f"le {_day(review)}" if review else ""
    else:
        text = str(payload.get("reason", ""))
    return f"{label} : {text}" if text else label
