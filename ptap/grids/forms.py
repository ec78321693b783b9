"""Forms of the grid and assessment pages (labels and messages in French)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from ptap.core.errors import DomainError, InvalidInput
from ptap.grids.definition import GridDefinition, ItemType
from ptap.grids.models import AssessmentGrid

DEFINITION_HINT = (
    "Définition en JSON : title, description, sections (title, items : key, label, type "
    "yesno | choice | number | date | text, required, options [code, label, points], "
    "points_yes, points_no), score_items (clés des éléments additionnés) et thresholds "
    "(label, min, max, alert, actions)."
)


class GridForm(FlaskForm):
    """A grid's key (at creation) and its definition."""

    key = StringField(
        "Clé stable",
        validators=[Length(max=60, message="60 caractères au maximum.")],
    )
    definition = TextAreaField(
        "Définition de la grille",
        validators=[InputRequired(message="La définition est obligatoire.")],
        render_kw={"rows": 24, "spellcheck": "false", "class": "code"},
    )

    def parsed(self) -> Any:
        """Return the definition as JSON, or raise InvalidInput (French, with the line)."""
        try:
            return json.loads(self.definition.data or "")
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"La définition n'est pas du JSON valide (ligne {exc.lineno}, colonne "
                f"{exc.colno}).",
                field="definition",
            ) from None

    def attach(self, error: DomainError) -> None:
        """Show a service error on the key, or on the definition with the path it names."""
        if error.field == "key":
            self.key.errors = [*self.key.errors, error.message]
        elif error.field and error.field != "definition":
            self.definition.errors = [*self.definition.errors, f"{error.message} ({error.field})"]
        else:
            self.definition.errors = [*self.definition.errors, error.message]


class ImportForm(FlaskForm):
    """A FHIR Questionnaire to import."""

    key = StringField(
        "Clé (si le questionnaire n'en porte pas)",
        validators=[Length(max=60, message="60 caractères au maximum.")],
    )
    resource = TextAreaField(
        "Questionnaire FHIR R4 (JSON)",
        validators=[InputRequired(message="Collez la ressource Questionnaire.")],
        render_kw={"rows": 16, "spellcheck": "false", "class": "code"},
    )

    def parsed(self) -> Any:
        """Return the resource as JSON, or raise InvalidInput."""
        try:
            return json.loads(self.resource.data or "")
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"La ressource n'est pas du JSON valide (ligne {exc.lineno}).", field="resource"
            ) from None

    def attach(self, error: DomainError) -> None:
        """Show a service error on its field (the key, or the resource with its path)."""
        if error.field == "key":
            self.key.errors = [*self.key.errors, error.message]
        else:
            self.resource.errors = [*self.resource.errors, error.message]


class StartForm(FlaskForm):
    """Which published grid to fill."""

    grid_id = SelectField("Grille", choices=[], validate_choice=False)

    def __init__(self, *args: object, grids: Sequence[AssessmentGrid] = (), **kwargs: object):
        super().__init__(*args, **kwargs)
        self.grid_id.choices = [(str(g.id), g.title) for g in grids]

    def chosen(self) -> int | None:
        """Return the chosen grid id."""
        raw = self.grid_id.data or ""
        return int(raw) if raw.isdecimal() and len(raw) < 10 else None


def answers_from_form(definition: GridDefinition, form: Any) -> dict[str, Any]:
    """Read the answers of the filling form (field `a-<key>`); the service checks them."""
    answers: dict[str, Any] = {}
    for item in definition.items():
        value = (form.get(f"a-{item.key}") or "").strip()
        if not value:
            continue
        answers[item.key] = value if item.type != ItemType.YESNO else value == "oui"
    return answers


def revision_from_form(form: Any) -> int:
    """Return the revision the form was based on (-1 if missing: a conflict)."""
    raw = form.get("revision", "")
    return int(raw) if raw.isdecimal() and len(raw) < 10 else -1
