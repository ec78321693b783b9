"""Flask-WTF forms of the care-plan pages (labels and messages in French).

Forms only parse: they turn what was typed into PlanContent items (pydantic checks them
again) and the services apply the rules. Forms repeated on a page (one per objective, one
per action) take a prefix so that every input keeps its own id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from pydantic import ValidationError
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from ptap.accounts.forms import MultiCheckboxField
from ptap.care_plans.content import (
    ACTION_STATUS_LABELS,
    ACTION_TYPE_LABELS,
    DIMENSION_LABELS,
    PRIORITY_LABELS,
    Action,
    ActionStatus,
    ActionType,
    Objective,
    PlanContent,
    Priority,
    Problem,
    UnmetObjective,
    new_key,
)
from ptap.care_plans.models import APPROVAL_METHOD_LABELS
from ptap.core.errors import InvalidInput

TOO_LONG = "Texte trop long."
BAD_CHOICE = "Choix invalide."
BAD_DATE = "Date invalide : utilisez le calendrier ou le format jj/mm/aaaa."
CHOOSE = SelectChoice("", "— Choisir —")

#: A person who may be named in the plan: (user id, label shown).
Person = tuple[int, str]


def _choices(labels: dict[Any, str], blank: SelectChoice | None = None) -> list[SelectChoice]:
    items = [SelectChoice(str(key), label) for key, label in labels.items()]
    return [blank, *items] if blank else items


def _people(people: Sequence[Person], blank: str) -> list[SelectChoice]:
    return [SelectChoice("", blank), *(SelectChoice(str(uid), name) for uid, name in people)]


def _user_id(value: str | None) -> int | None:
    return int(value) if value and value.isdecimal() else None


def pydantic_message(error: ValidationError) -> str:
    """Return the first French message of a pydantic error (our validators speak French)."""
    first = error.errors()[0]
    message = str(first.get("msg", ""))
    return message.removeprefix("Value error, ") or "Une donnée du plan est invalide."


# --- action plan: one action ------------------------------------------------------------------


class ActionForm(FlaskForm):
    """A new action of one objective (prefix a-<objective key>)."""

    what = StringField(
        "Action",
        validators=[
            InputRequired(message="Décrivez l'action."),
            Length(max=500, message=TOO_LONG),
        ],
        render_kw={"autocomplete": "off"},
    )
    action_type = SelectField(
        "Type", choices=_choices(ACTION_TYPE_LABELS), invalid_choice_message=BAD_CHOICE
    )
    assignee_user_id = SelectField(
        "Qui (professionnel du cercle)", invalid_choice_message=BAD_CHOICE
    )
    assignee_label = StringField(
        "ou structure, aidant (hors PTAP)",
        validators=[Length(max=200, message=TOO_LONG)],
        # Suggests the circle's outside services (care_teams/_structure_datalist.html).
        render_kw={"list": "circle-structures"},
    )
    due_on = DateField("Échéance", validators=[Optional()], invalid_value_message=BAD_DATE)

    def __init__(self, *args: Any, people: Sequence[Person] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.assignee_user_id.choices = _people(people, "— Personne du cercle —")

    @classmethod
    def for_objective(cls, key: str, people: Sequence[Person], **kwargs: Any) -> ActionForm:
        """Return the add-action form of one objective (its own field ids)."""
        return cls(prefix=f"a-{key}", people=people, **kwargs)

    def action(self) -> Action:
        """Return the action as typed (a fresh key)."""
        try:
            return Action(
                what=self.what.data or "",
                action_type=ActionType(self.action_type.data or "care"),
                assignee_user_id=_user_id(self.assignee_user_id.data),
                assignee_label=self.assignee_label.data or "",
                due_on=self.due_on.data,
            )
        except ValidationError as exc:
            raise InvalidInput(pydantic_message(exc), field="what") from exc


class ActionStatusForm(FlaskForm):
    """The follow-up of one action: its status, with the action as the user saw it."""

    #: The action as displayed (JSON): the service refuses the change if it changed since.
    expected = HiddenField()
    status = SelectField(
        "Statut", choices=_choices(ACTION_STATUS_LABELS), invalid_choice_message=BAD_CHOICE
    )
    not_achieved_reason = StringField(
        "Motif si non réalisée", validators=[Length(max=1000, message=TOO_LONG)]
    )

    @classmethod
    def for_action(cls, action: Action | None, key: str, **kwargs: Any) -> ActionStatusForm:
        """Return the follow-up form of one action (prefix s-<action key>)."""
        if action is not None:
            kwargs["data"] = {
                "expected": action.model_dump_json(),
                "status": action.status.value,
                "not_achieved_reason": action.not_achieved_reason,
            }
        return cls(prefix=f"s-{key}", **kwargs)

    def expected_action(self, key: str) -> Action:
        """Return the action as the user saw it; refused if it is not the one in the URL."""
        try:
            action = Action.model_validate_json(self.expected.data or "")
        except ValidationError as exc:
            raise InvalidInput("Rechargez la page : l'action affichée est illisible.") from exc
        if action.key != key:
            raise InvalidInput("Rechargez la page : l'action affichée ne correspond pas.")
        return action

    def changed_action(self, expected: Action) -> Action:
        """Return `expected` with the new status and reason (validated again)."""
        data = expected.model_dump()
        data["status"] = self.status.data or expected.status
        data["not_achieved_reason"] = self.not_achieved_reason.data or ""
        try:
            return Action.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(pydantic_message(exc), field="not_achieved_reason") from exc


class ObjectiveForm(FlaskForm):
    """A new shared objective, from the plan page."""

    title = StringField(
        "Nouvel objectif partagé",
        validators=[
            InputRequired(message="Indiquez l'objectif."),
            Length(max=500, message=TOO_LONG),
        ],
        render_kw={"autocomplete": "off"},
    )

    def objective(self) -> Objective:
        """Return the objective as typed (no action yet)."""
        return Objective(title=self.title.data or "")


# --- publication and lifecycle ----------------------------------------------------------------


class PublishForm(FlaskForm):
    """Publish the draft as a new version."""

    summary = TextAreaField(
        "Résumé des changements",
        validators=[Length(max=2000, message=TOO_LONG)],
        render_kw={"rows": 2},
    )


class ApprovalForm(FlaskForm):
    """Record the GP's validation or the patient's agreement (prefix = the kind)."""

    method = SelectField(
        "Recueilli",
        choices=_choices(APPROVAL_METHOD_LABELS, CHOOSE),
        invalid_choice_message=BAD_CHOICE,
    )
    note = StringField("Précision (facultative)", validators=[Length(max=1000, message=TOO_LONG)])


class CloseForm(FlaskForm):
    """Close the plan, with a reason."""

    close_reason = TextAreaField(
        "Motif de clôture",
        validators=[Length(max=2000, message=TOO_LONG)],
        render_kw={"rows": 2},
    )


# --- the whole draft --------------------------------------------------------------------------


class ProblemEntry(Form):
    """A problem or need of the synthesis (a blank row adds one)."""

    key = HiddenField()
    dimension = SelectField(
        "Dimension", choices=_choices(DIMENSION_LABELS, CHOOSE), invalid_choice_message=BAD_CHOICE
    )
    description = TextAreaField(
        "Problème ou besoin",
        validators=[Length(max=2000, message=TOO_LONG)],
        render_kw={"rows": 2},
    )
    priority = SelectField(
        "Priorité",
        choices=_choices(PRIORITY_LABELS),
        default="medium",
        invalid_choice_message=BAD_CHOICE,
    )
    remove = BooleanField("Retirer ce problème")

    def blank(self) -> bool:
        return not (self.key.data or self.description.data or self.dimension.data)


class ActionEntry(Form):
    """An action of an objective: what, who (a professional or a structure), when; or
    explicitly "à définir". Its follow-up status is kept from the draft (plan page)."""

    key = HiddenField()
    what = StringField(
        "Action",
        validators=[Length(max=500, message=TOO_LONG)],
        render_kw={"autocomplete": "off"},
    )
    action_type = SelectField(
        "Type", choices=_choices(ACTION_TYPE_LABELS), invalid_choice_message=BAD_CHOICE
    )
    assignee_user_id = SelectField(
        "Qui (professionnel du cercle)", choices=[], invalid_choice_message=BAD_CHOICE
    )
    assignee_label = StringField(
        "ou structure, aidant (hors PTAP)",
        validators=[Length(max=200, message=TOO_LONG)],
        # Suggests the circle's outside services (care_teams/_structure_datalist.html).
        render_kw={"list": "circle-structures"},
    )
    due_on = DateField("Échéance", validators=[Optional()], invalid_value_message=BAD_DATE)
    to_define = BooleanField("À définir (intervenant ou échéance pas encore connus)")
    remove = BooleanField("Retirer cette action")

    def blank(self) -> bool:
        return not (self.key.data or self.what.data)


class ObjectiveEntry(Form):
    """A shared objective and its actions."""

    key = HiddenField()
    title = StringField("Objectif partagé", validators=[Length(max=500, message=TOO_LONG)])
    problem_keys = MultiCheckboxField(
        "Problèmes auxquels il répond", choices=[], invalid_choice_message=BAD_CHOICE
    )
    actions = FieldList(FormField(ActionEntry))
    remove = BooleanField("Retirer cet objectif et ses actions")

    def blank(self) -> bool:
        return not (self.key.data or self.title.data)


class UnmetEntry(Form):
    """A shared objective not achieved, and why."""

    key = HiddenField()
    objective = StringField("Objectif non atteint", validators=[Length(max=500, message=TOO_LONG)])
    reason = TextAreaField(
        "Pourquoi", validators=[Length(max=1000, message=TOO_LONG)], render_kw={"rows": 2}
    )
    remove = BooleanField("Retirer")

    def blank(self) -> bool:
        return not (self.key.data or self.objective.data or self.reason.data)


class DraftForm(FlaskForm):
    """The whole draft, posted with the revision it was loaded at (conflict detection)."""

    base_revision = HiddenField()
    lead_user_id = SelectField("Responsable du plan", invalid_choice_message=BAD_CHOICE)
    next_review_on = DateField(
        "Prochaine réévaluation", validators=[Optional()], invalid_value_message=BAD_DATE
    )
    expectations = TextAreaField(
        "Attentes de la personne, dans ses mots",
        validators=[Length(max=4000, message=TOO_LONG)],
        render_kw={"rows": 3},
    )
    preferences = TextAreaField(
        "Préférences de la personne, dans ses mots",
        validators=[Length(max=4000, message=TOO_LONG)],
        render_kw={"rows": 3},
    )
    problems = FieldList(FormField(ProblemEntry))
    objectives = FieldList(FormField(ObjectiveEntry))
    unmet = FieldList(FormField(UnmetEntry))
    summary = TextAreaField(
        "Résumé des changements (pour publier)",
        validators=[Length(max=2000, message=TOO_LONG)],
        render_kw={"rows": 2},
    )

    def __init__(self, *args: Any, people: Sequence[Person] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.people = list(people)
        self.lead_user_id.choices = _people(people, "— Aucun —")
        self.link_problems()

    @classmethod
    def for_content(
        cls, content: PlanContent, revision: int, people: Sequence[Person]
    ) -> DraftForm:
        """Return the form filled with the draft (an empty problem or objective list gets a
        blank row); "Ajouter …" buttons add more rows."""
        data = {
            "base_revision": str(revision),
            "lead_user_id": str(content.lead_user_id or ""),
            "next_review_on": content.next_review_on,
            "expectations": content.expectations,
            "preferences": content.preferences,
            "problems": [p.model_dump(mode="json") for p in content.problems],
            "objectives": [
                {
                    "key": o.key,
                    "title": o.title,
                    "problem_keys": o.problem_keys,
                    "actions": [
                        {
                            "key": a.key,
                            "what": a.what,
                            "action_type": a.action_type.value,
                            "assignee_user_id": str(a.assignee_user_id or ""),
                            "assignee_label": a.assignee_label,
                            "due_on": a.due_on,
                            "to_define": a.to_define,
                        }
                        for a in o.actions
                    ],
                }
                for o in content.objectives
            ],
            "unmet": [u.model_dump(mode="json") for u in content.unmet_objectives],
        }
        form = cls(formdata=None, data=data, people=people)
        for rows in (form.problems, form.objectives):
            if not rows.entries:  # an empty list starts with a row to fill in
                rows.append_entry()
        form.link_problems()
        return form

    def link_problems(self) -> None:
        """Offer the problems of the draft (those with a key) to every objective, and the
        circle to every action."""
        choices = [
            SelectChoice(row.form.key.data, (row.form.description.data or "")[:120])
            for row in self.problems
            if row.form.key.data
        ]
        people = _people(getattr(self, "people", ()), "— Personne du cercle —")
        for row in self.objectives:
            row.form.problem_keys.choices = choices
            for action in row.form.actions:
                action.form.assignee_user_id.choices = people

    def row_list(self, name: str) -> FieldList | None:
        """Return the list of rows called `name` ("problems", "objectives", "unmet" or
        "objectives-<n>-actions"), or None."""
        if name in ("problems", "objectives", "unmet"):
            rows: FieldList = self[name]
            return rows
        for row in self.objectives:
            if row.form.actions.name == name:
                actions: FieldList = row.form.actions
                return actions
        return None

    def add_row(self, name: str) -> Any | None:
        """Append a blank row to the list `name`; return its entry (None: unknown list)."""
        rows = self.row_list(name)
        if rows is None:
            return None
        entry = rows.append_entry()
        self.link_problems()
        return entry

    def remove_row(self, name: str) -> bool:
        """Drop the row called `name` (e.g. "problems-2") from the form, not yet saved."""
        list_name = name.rsplit("-", 1)[0]
        rows = self.row_list(list_name)
        if rows is None:
            return False
        kept = [e for e in rows.entries if e.name != name]
        found = len(kept) != len(rows.entries)
        rows.entries = kept
        return found

    def revision(self) -> int:
        """Return the revision the draft was loaded at."""
        value = self.base_revision.data or ""
        if not value.isdecimal():
            raise InvalidInput("Rechargez la page : la version du brouillon est inconnue.")
        return int(value)

    def validate(self, extra_validators: Any = None) -> bool:
        """Check the lists too: a filled row needs its mandatory fields."""
        ok = super().validate(extra_validators)
        required = (
            (self.problems, ("dimension", "Choisissez la dimension."), "description"),
            (self.objectives, None, "title"),
            (
                [a for o in self.objectives if not o.form.remove.data for a in o.form.actions],
                None,
                "what",
            ),
            (
                self.unmet,
                ("reason", "Indiquez pourquoi l'objectif n'est pas atteint."),
                "objective",
            ),
        )
        for rows, other, main in required:
            for row in rows:
                entry = row.form
                if entry.blank() or entry.remove.data:
                    continue
                if not (entry[main].data or "").strip():
                    entry[main].errors = [*entry[main].errors, "Ce champ est obligatoire."]
                    ok = False
                if other and not (entry[other[0]].data or "").strip():
                    entry[other[0]].errors = [*entry[other[0]].errors, other[1]]
                    ok = False
        return ok

    def error_items(self) -> list[tuple[str, str]]:
        """Return every error as (input id, message), lists included, for the summary."""
        items: list[tuple[str, str]] = []
        for name in ("lead_user_id", "next_review_on", "expectations", "preferences"):
            items += [(self[name].id, f"{self[name].label.text} : {e}") for e in self[name].errors]
        for rows in (self.problems, self.objectives, self.unmet):
            for n, row in enumerate(rows, start=1):
                for sub in row.form:
                    if sub.name.endswith("-actions"):
                        for m, action in enumerate(sub, start=1):
                            items += [
                                (f.id, f"{f.label.text} (objectif {n}, action {m}) : {e}")
                                for f in action.form
                                for e in f.errors
                            ]
                        continue
                    items += [(sub.id, f"{sub.label.text} (ligne {n}) : {e}") for e in sub.errors]
        items += [
            (self.summary.id, f"{self.summary.label.text} : {e}") for e in self.summary.errors
        ]
        items += [("", e) for e in self.form_errors]
        return items

    def content(self, base: PlanContent) -> PlanContent:
        """Return the draft as typed; an action keeps its follow-up (status, reason) from
        `base`."""
        try:
            problems = [
                Problem(
                    key=e.key.data or new_key(),
                    dimension=e.dimension.data,
                    description=e.description.data or "",
                    priority=Priority(e.priority.data or "medium"),
                )
                for e in self._kept(self.problems)
            ]
            known = {p.key for p in problems}
            objectives = [
                Objective(
                    key=e.key.data or new_key(),
                    title=e.title.data or "",
                    problem_keys=[k for k in (e.problem_keys.data or []) if k in known],
                    actions=self._actions(e, base),
                )
                for e in self._kept(self.objectives)
            ]
            unmet = [
                UnmetObjective(
                    key=e.key.data or new_key(),
                    objective=e.objective.data or "",
                    reason=e.reason.data or "",
                )
                for e in self._kept(self.unmet)
            ]
            return PlanContent(
                lead_user_id=_user_id(self.lead_user_id.data),
                problems=problems,
                expectations=self.expectations.data or "",
                preferences=self.preferences.data or "",
                objectives=objectives,
                unmet_objectives=unmet,
                next_review_on=self.next_review_on.data,
            )
        except ValidationError as exc:
            raise InvalidInput(pydantic_message(exc)) from exc

    def _actions(self, objective: ObjectiveEntry, base: PlanContent) -> list[Action]:
        actions = []
        for e in self._kept(objective.actions):
            found = base.find_action(e.key.data) if e.key.data else None
            before = found[1] if found else None
            actions.append(
                Action(
                    key=e.key.data or new_key(),
                    what=e.what.data or "",
                    action_type=ActionType(e.action_type.data or "care"),
                    assignee_user_id=_user_id(e.assignee_user_id.data),
                    assignee_label=e.assignee_label.data or "",
                    due_on=e.due_on.data,
                    to_define=bool(e.to_define.data),
                    status=before.status if before else ActionStatus.PLANNED,
                    not_achieved_reason=before.not_achieved_reason if before else "",
                )
            )
        return actions

    @staticmethod
    def _kept(rows: FieldList) -> list[Any]:
        return [r.form for r in rows if not r.form.blank() and not r.form.remove.data]
