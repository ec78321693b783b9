"""The PPCS content (HAS, 2019), as validated JSON: what a draft and a version hold.

Four parts: general information (lead, GP, circle and caregivers come from the care-teams
domain and are rendered, not stored here, except the lead), the synthesis (problems by
dimension with a priority, and the person's expectations in their own words), the action plan
(objectives with actions: what, type, who, when, status), and shared objectives not achieved
with why. A next re-evaluation date is mandatory. Every problem, objective and action has a
stable `key` so versions can be compared item by item.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError


class Dimension(StrEnum):
    """HAS dimensions of a problem or need."""

    MEDICAL = "medical"
    PSYCHOLOGICAL = "psychological"
    SOCIAL = "social"
    ENVIRONMENTAL = "environmental"


DIMENSION_LABELS = {
    Dimension.MEDICAL: "Médical",
    Dimension.PSYCHOLOGICAL: "Psychologique",
    Dimension.SOCIAL: "Social",
    Dimension.ENVIRONMENTAL: "Environnemental",
}


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


PRIORITY_LABELS = {Priority.HIGH: "Haute", Priority.MEDIUM: "Moyenne", Priority.LOW: "Basse"}


class ActionType(StrEnum):
    """Kind of action, after the PPCS action plan."""

    CARE = "care"
    ASSESSMENT = "assessment"
    SOCIAL_SUPPORT = "social_support"
    EDUCATION = "education"
    COORDINATION = "coordination"
    EQUIPMENT = "equipment"
    OTHER = "other"


ACTION_TYPE_LABELS = {
    ActionType.CARE: "Soin",
    ActionType.ASSESSMENT: "Évaluation",
    ActionType.SOCIAL_SUPPORT: "Aide sociale ou médico-sociale",
    ActionType.EDUCATION: "Éducation thérapeutique",
    ActionType.COORDINATION: "Coordination",
    ActionType.EQUIPMENT: "Aide technique, aménagement",
    ActionType.OTHER: "Autre",
}


class ActionStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"
    NOT_ACHIEVED = "not_achieved"


ACTION_STATUS_LABELS = {
    ActionStatus.PLANNED: "Prévue",
    ActionStatus.IN_PROGRESS: "En cours",
    ActionStatus.DONE: "Réalisée",
    ActionStatus.CANCELLED: "Annulée",
    ActionStatus.NOT_ACHIEVED: "Non réalisée",
}
OPEN_STATUSES = frozenset({ActionStatus.PLANNED, ActionStatus.IN_PROGRESS})


def new_key() -> str:
    """Return a fresh stable key for a problem, objective or action."""
    return uuid.uuid4().hex[:12]


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    key: str = Field(default_factory=new_key, min_length=1, max_length=32)


class Problem(_Item):
    """A problem or need of the synthesis."""

    dimension: Dimension
    description: str = Field(min_length=1, max_length=2000)
    priority: Priority = Priority.MEDIUM


class Action(_Item):
    """An action of the plan: what, type, who (a professional or a structure), when, status."""

    what: str = Field(min_length=1, max_length=500)
    action_type: ActionType = ActionType.CARE
    #: A professional of the circle (user id) or, for a structure or person outside PTAP, a label.
    assignee_user_id: int | None = None
    assignee_label: str = Field(default="", max_length=200)
    due_on: date | None = None
    status: ActionStatus = ActionStatus.PLANNED
    not_achieved_reason: str = Field(default="", max_length=1000)
    #: Explicitly "à définir": who or when is not known yet; listed for the coordinators.
    to_define: bool = False

    @property
    def has_who_and_when(self) -> bool:
        """Whether someone (a professional or a structure) and a due date are set."""
        return bool(self.assignee_user_id or self.assignee_label) and self.due_on is not None

    @model_validator(mode="after")
    def _reason_when_not_achieved(self) -> Action:
        if self.status == ActionStatus.NOT_ACHIEVED and not self.not_achieved_reason:
            raise PydanticCustomError(
                "reason_required", "Indiquez pourquoi l'action n'a pas été réalisée."
            )
        return self


class Objective(_Item):
    """A shared objective, the problems it answers, and its actions."""

    title: str = Field(min_length=1, max_length=500)
    problem_keys: list[str] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)


class UnmetObjective(_Item):
    """A shared objective not achieved, and why."""

    objective: str = Field(min_length=1, max_length=500)
    reason: str = Field(min_length=1, max_length=1000)


class PlanContent(BaseModel):
    """The whole PPCS content of a draft or a version."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lead_user_id: int | None = None
    problems: list[Problem] = Field(default_factory=list)
    expectations: str = Field(default="", max_length=4000)
    preferences: str = Field(default="", max_length=4000)
    objectives: list[Objective] = Field(default_factory=list)
    unmet_objectives: list[UnmetObjective] = Field(default_factory=list)
    next_review_on: date | None = None

    @model_validator(mode="after")
    def _unique_keys(self) -> PlanContent:
        # Keys identify items across versions and mirror actions into tasks (unique per plan).
        for items in (
            self.problems,
            self.objectives,
            [a for o in self.objectives for a in o.actions],
            self.unmet_objectives,
        ):
            keys = [item.key for item in items]
            if len(keys) != len(set(keys)):
                raise PydanticCustomError(
                    "duplicate_key", "Deux éléments du plan portent la même clé (key)."
                )
        return self

    def actions(self) -> list[tuple[Objective, Action]]:
        """Return every action with its objective."""
        return [(o, a) for o in self.objectives for a in o.actions]

    def find_action(self, key: str) -> tuple[Objective, Action] | None:
        """Return the action with this key and its objective, or None."""
        return next(((o, a) for o, a in self.actions() if a.key == key), None)

    def canonical(self) -> str:
        """Return the canonical JSON text (sorted keys): equal contents, equal text.

        `to_define` is left out when false, so contents stored before it existed keep their
        digest (publishing them unchanged still creates nothing).
        """
        data = self.model_dump(mode="json")
        for objective in data["objectives"]:
            for action in objective["actions"]:
                if not action.get("to_define"):
                    action.pop("to_define", None)
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def incomplete_actions(self) -> list[tuple[Objective, Action]]:
        """Return the open actions that lack who (a professional or a structure) or when,
        and are not marked "à définir": publishing is refused while there are any."""
        return [
            (o, a)
            for o, a in self.actions()
            if a.status in OPEN_STATUSES and not a.to_define and not a.has_who_and_when
        ]

    def digest(self) -> str:
        """Return the SHA-256 of the canonical JSON: publishing an unchanged draft is a no-op."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()


def incomplete_message(objective: Objective, action: Action) -> str:
    """Say, in French, what one incomplete action lacks."""
    nobody = not (action.assignee_user_id or action.assignee_label)
    if nobody and action.due_on is None:
        missing = "n'a ni intervenant (professionnel ou structure) ni échéance"
    elif nobody:
        missing = "n'a pas d'intervenant (professionnel ou structure)"
    else:
        missing = "n'a pas d'échéance"
    return (
        f"L'action « {action.what} » (objectif « {objective.title} ») {missing} : "
        "complétez-la ou cochez « À définir »."
    )


def load_content(data: dict[str, Any] | None) -> PlanContent:
    """Parse stored JSON into a PlanContent (an empty plan for None)."""
    return PlanContent.model_validate(data or {})
