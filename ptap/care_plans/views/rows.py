"""The dataclasses the care-plan templates receive: rows of the four HAS parts, page forms.

Built by ptap.care_plans.views.present and .history; templates read them, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from ptap.care_plans.forms import (
    ActionForm,
    ActionStatusForm,
    ApprovalForm,
    CloseForm,
    ObjectiveForm,
    Person,
    PublishForm,
)
from ptap.care_teams import queries as team_queries

# --- rows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProblemRow:
    key: str
    description: str
    priority: str
    priority_label: str


@dataclass(frozen=True)
class ProblemGroup:
    """The problems of one HAS dimension."""

    dimension: str
    label: str
    problems: list[ProblemRow]


@dataclass(frozen=True)
class ActionRow:
    """One action of the action plan, with its follow-up form when the user may edit."""

    key: str
    what: str
    type_label: str
    who: str
    due_on: date | None
    status: str
    status_label: str
    overdue: bool
    not_achieved_reason: str
    form: ActionStatusForm | None = None
    #: A text marker on the row after an inline change ("Ajoutée", "Modifiée par …"), or "".
    mark: str = ""


@dataclass
class ObjectiveBlock:
    """A shared objective, the problems it answers and its actions (an htmx swap target)."""

    key: str
    title: str
    problems: list[str]
    actions: list[ActionRow]
    add_form: ActionForm | None = None
    #: Shown above the table after an inline change: (kind, text), kind success/error/conflict.
    message: tuple[str, str] | None = None
    #: The add-action form stays open (after an addition, to add another, or with errors).
    add_open: bool = False
    #: What gets the focus after an htmx swap (a CSS selector), "" for nothing.
    focus: str = ""


@dataclass(frozen=True)
class UnmetRow:
    objective: str
    reason: str


@dataclass(frozen=True)
class ApprovalRow:
    """The GP validation or the patient agreement of a version: done (who, when, how) or not."""

    kind: str
    label: str
    done: bool
    #: "recueillie" or "recueilli", agreed with the kind.
    done_word: str = ""
    by: str = ""
    at: datetime | None = None
    method: str = ""
    note: str = ""


@dataclass(frozen=True)
class ContactRow:
    name: str
    kind: str
    relationship: str
    phone: str


@dataclass(frozen=True)
class VersionInfo:
    number: int
    at: datetime
    author: str
    summary: str
    #: "Décidé en concertation du …" for a version a meeting produced, else "".
    provenance: str = ""


@dataclass(frozen=True)
class GeneralInfo:
    """Part 1: general information."""

    status: str
    status_label: str
    lead: str
    gp: str
    circle: list[team_queries.CircleMember]
    contacts: list[ContactRow]
    version: VersionInfo | None
    next_review_on: date | None
    review_overdue: bool
    approvals: list[ApprovalRow]


@dataclass(frozen=True)
class PlanParts:
    """Parts 2 to 4 of the PPCS, from one content (a draft or a version)."""

    problem_groups: list[ProblemGroup]
    expectations: str
    preferences: str
    objectives: list[ObjectiveBlock]
    unmet: list[UnmetRow]
    lead: str
    next_review_on: date | None


@dataclass(frozen=True)
class ProgressStep:
    label: str
    #: done, current or todo.
    state: str


@dataclass(frozen=True)
class Progress:
    """Where the plan stands in publish → GP validation → agreement → in force, and who acts."""

    steps: list[ProgressStep]
    #: "Révision en cours", "Plan clos" or "": shown above the steps.
    phase: str
    #: Who must act next, e.g. "Validation attendue du Dr Martin (médecin traitant)", or "".
    todo: str
    #: The version the steps are about (None before the first publication).
    version_number: int | None


# --- forms of the plan page -------------------------------------------------------------------


@dataclass
class PlanForms:
    """Forms of the plan page; a failed one is passed back with what was typed."""

    add_action: dict[str, ActionForm] = field(default_factory=dict)
    action_status: dict[str, ActionStatusForm] = field(default_factory=dict)
    messages: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Objectives whose add-action form stays open (an action was just added).
    opened: set[str] = field(default_factory=set)
    #: Actions to point out after an inline change: key → marker text.
    marks: dict[str, str] = field(default_factory=dict)
    objective: ObjectiveForm | None = None
    publish: PublishForm | None = None
    approvals: dict[str, ApprovalForm] = field(default_factory=dict)
    close: CloseForm | None = None
    #: A refused lifecycle step (activate, revise): shown in the lifecycle card.
    lifecycle_error: str = ""


@dataclass(frozen=True)
class Editing:
    """What the user may change inline, and the people who may be named."""

    people: list[Person]
    forms: PlanForms
