"""What a pathway template holds, as validated JSON, and its French error messages.

A template has a title, a theme, who it is for, its sources, and ordered steps. A step brings
problems, objectives and actions into a PPCS (ptap.care_plans.content); each action names the
profession that carries it (ptap.accounts.models.Profession), resolved against the patient's
circle when the pathway starts. A step is due `offset_days` after the pathway's start or after
the previous step's due date. `grid_key` names an assessment grid to fill at that step
(ptap.grids, by its stable key; the services refuse a key no grid has).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from ptap.accounts.models import PROFESSION_LABELS, Profession
from ptap.care_plans.content import ActionType, Dimension, Priority, new_key
from ptap.core.errors import InvalidInput


class OffsetFrom(StrEnum):
    """What a step's offset counts from."""

    START = "start"
    PREVIOUS = "previous"


OFFSET_FROM_LABELS = {
    OffsetFrom.START: "après le début du parcours",
    OffsetFrom.PREVIOUS: "après l'étape précédente",
}


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    key: str = Field(default_factory=new_key, min_length=1, max_length=32)


class StepProblem(_Item):
    """A problem or need the step brings into the synthesis."""

    dimension: Dimension
    description: str = Field(min_length=1, max_length=2000)
    priority: Priority = Priority.MEDIUM


class StepAction(_Item):
    """An action of the step and the profession that carries it."""

    what: str = Field(min_length=1, max_length=500)
    action_type: ActionType = ActionType.CARE
    profession: str

    @field_validator("profession")
    @classmethod
    def _known_profession(cls, value: str) -> str:
        if value not in {p.value for p in Profession}:
            raise PydanticCustomError(
                "unknown_profession", "profession inconnue « {value} »", {"value": value}
            )
        return value

    @property
    def profession_label(self) -> str:
        """The profession in French."""
        return PROFESSION_LABELS[Profession(self.profession)]


class StepObjective(_Item):
    """An objective the step brings, with its actions."""

    title: str = Field(min_length=1, max_length=500)
    actions: list[StepAction] = Field(default_factory=list)


class Step(_Item):
    """One structured step of the pathway."""

    title: str = Field(min_length=1, max_length=300)
    offset_days: int = Field(ge=0, le=3650)
    offset_from: OffsetFrom = OffsetFrom.START
    #: Key of an assessment grid to fill at this step (checked by services.check_grids).
    grid_key: str | None = Field(default=None, max_length=64)
    problems: list[StepProblem] = Field(default_factory=list)
    objectives: list[StepObjective] = Field(default_factory=list)

    def actions(self) -> list[StepAction]:
        """Return the step's actions, objective by objective."""
        return [a for o in self.objectives for a in o.actions]


class TemplateContent(BaseModel):
    """The whole content of a template draft or version."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=300)
    theme: str = Field(default="", max_length=200)
    audience: str = Field(default="", max_length=2000)
    sources: str = Field(default="", max_length=4000)
    steps: list[Step] = Field(default_factory=list)

    def canonical(self) -> str:
        """Return the canonical JSON text (sorted keys): equal contents, equal text."""
        data = self.model_dump(mode="json")
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def digest(self) -> str:
        """Return the SHA-256 of the canonical JSON."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()

    def due_dates(self, start: date) -> list[date]:
        """Return each step's due date for a pathway started on `start`."""
        dates: list[date] = []
        for step in self.steps:
            base = dates[-1] if step.offset_from == OffsetFrom.PREVIOUS and dates else start
            dates.append(base + timedelta(days=step.offset_days))
        return dates


_FIELD_LABELS = {
    "title": "titre",
    "theme": "thème",
    "audience": "public concerné",
    "sources": "sources",
    "steps": "étapes",
    "offset_days": "délai en jours (offset_days)",
    "offset_from": "point de départ du délai (offset_from)",
    "grid_key": "grille d'évaluation (grid_key)",
    "problems": "problèmes",
    "objectives": "objectifs",
    "actions": "actions",
    "what": "libellé de l'action (what)",
    "action_type": "type d'action (action_type)",
    "profession": "profession (profession)",
    "dimension": "dimension (dimension)",
    "description": "description",
    "priority": "priorité (priority)",
    "key": "clé (key)",
}
_CONTAINERS = {
    "steps": "étape",
    "problems": "problème",
    "objectives": "objectif",
    "actions": "action",
}


def _where(loc: tuple[int | str, ...]) -> str:
    """Say in French where an error is: « étape 2, objectif 1, action 3 : profession »."""
    parts: list[str] = []
    i = 0
    while i < len(loc):
        name = loc[i]
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        if isinstance(name, str) and name in _CONTAINERS and isinstance(nxt, int):
            parts.append(f"{_CONTAINERS[name]} {nxt + 1}")
            i += 2
            continue
        parts.append(_FIELD_LABELS.get(str(name), str(name)))
        i += 1
    return ", ".join(parts)


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "greater_than_equal":
        return "ne peut pas être négatif"
    if kind == "less_than_equal":
        return f"ne peut pas dépasser {error['ctx']['le']}"
    if kind == "missing":
        return "est obligatoire"
    if kind == "string_too_short":
        return "ne peut pas être vide"
    if kind == "string_too_long":
        return f"est trop long ({error['ctx']['max_length']} caractères au plus)"
    if kind == "extra_forbidden":
        return "n'est pas un champ connu"
    if kind == "enum":
        return f"doit valoir l'une de ces valeurs : {error['ctx']['expected']}"
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return "doit être un nombre entier de jours"
    if kind == "unknown_profession":
        return str(error["msg"])
    return "n'est pas valide"


def parse_content(data: Any) -> TemplateContent:
    """Validate a template's content; raise InvalidInput naming the first bad field in French.

    `field` is the dotted path (e.g. `steps.1.offset_days`) for forms and API error paths.
    """
    try:
        content = TemplateContent.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        raise InvalidInput(
            f"{_where(loc).capitalize()} : {_message(error)}.",
            field=".".join(str(p) for p in loc) or "content",
        ) from None
    keys = [s.key for s in content.steps]
    if len(keys) != len(set(keys)):
        raise InvalidInput("Deux étapes portent la même clé (key).", field="steps")
    return content


def load_content(data: dict[str, Any]) -> TemplateContent:
    """Parse stored JSON (already validated when stored)."""
    return TemplateContent.model_validate(data)
