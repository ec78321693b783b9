"""The decisions form of the live meeting screen (labels and messages in French).

One form per patient discussed: the discussion summary, then what the team decides, each part
optional: a new objective, a new action (for an existing objective or the new one) with its
assignee and due date, the follow-up of each open action (status, due date, assignee, shown
filled in: only what changes becomes a decision), an objective not achieved with its reason,
the next re-evaluation date and a request for revision. The form only parses; the meetings
service checks the quorum and applies the decisions through the care-plans services.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    Form,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from ptap.care_plans.content import ACTION_STATUS_LABELS, ActionStatus, PlanContent, new_key
from ptap.core.errors import DomainError, PermissionDenied
from ptap.meetings.decisions import DECISIONS_NOT_ALLOWED
from ptap.meetings.models import DecisionKind

TOO_LONG = "Texte trop long."
BAD_CHOICE = "Choix invalide."
BAD_DATE = "Date invalide : utilisez le calendrier ou le format jj/mm/aaaa."
NOT_ALLOWED = DECISIONS_NOT_ALLOWED
#: The value of "the new objective typed above" in the action's objective list.
NEW_OBJECTIVE = "new"

Person = tuple[int, str]
#: `decisions[2].due_on` -> ("2", "due_on"); `decisions[2]` -> ("2", None).
_DECISION_FIELD = re.compile(r"^decisions\[(\d+)\](?:\.(\w+))?")


def _people(people: Sequence[Person], blank: str) -> list[SelectChoice]:
    return [SelectChoice("", blank), *(SelectChoice(str(uid), name) for uid, name in people)]


def _user_id(value: str | None) -> int | None:
    return int(value) if value and value.isdecimal() else None


@dataclass(frozen=True)
class Decision:
    """A decision as typed: its kind, its payload (JSON-ready), and the inputs it came from
    (payload key -> form field; `main` for errors about the whole decision)."""

    kind: str
    payload: dict[str, Any]
    main: Any = None
    fields: dict[str, Any] = field(default_factory=dict)


class ActionFollowUp(Form):
    """The follow-up of one open action (prefix u-<action key>), shown filled in."""

    status = SelectField(
        "Statut",
        choices=[SelectChoice(s.value, label) for s, label in ACTION_STATUS_LABELS.items()],
        invalid_choice_message=BAD_CHOICE,
    )
    due_on = DateField("Échéance", validators=[Optional()], invalid_value_message=BAD_DATE)
    assignee_user_id = SelectField("Qui", default="", invalid_choice_message=BAD_CHOICE)
    reason = StringField("Motif si non réalisée", validators=[Length(max=1000, message=TOO_LONG)])


class DecisionsForm(FlaskForm):
    """The summary and the structured decisions about the patient discussed."""

    #: The plan version the decisions were taken on: a newer one is a conflict.
    base_version_id = HiddenField()
    summary = TextAreaField(
        "Synthèse de la discussion",
        validators=[Length(max=10000, message=TOO_LONG)],
        render_kw={"rows": 4},
    )
    objective_title = StringField(
        "Nouvel objectif partagé", validators=[Length(max=500, message=TOO_LONG)]
    )
    action_what = StringField("Nouvelle action", validators=[Length(max=500, message=TOO_LONG)])
    action_objective = SelectField("Pour l'objectif", default="", invalid_choice_message=BAD_CHOICE)
    action_assignee = SelectField("Confiée à", default="", invalid_choice_message=BAD_CHOICE)
    action_due_on = DateField("Échéance", validators=[Optional()], invalid_value_message=BAD_DATE)
    unmet_objective = SelectField(
        "Objectif non atteint", default="", invalid_choice_message=BAD_CHOICE
    )
    unmet_reason = StringField(
        "Pourquoi n'est-il pas atteint ?", validators=[Length(max=1000, message=TOO_LONG)]
    )
    next_review_on = DateField(
        "Prochaine réévaluation", validators=[Optional()], invalid_value_message=BAD_DATE
    )
    request_revision = BooleanField(
        "Demander une révision du plan (le médecin et la personne l'approuveront à nouveau)"
    )

    def __init__(
        self,
        *args: Any,
        content: PlanContent | None = None,
        people: Sequence[Person] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.content = content or PlanContent()
        objectives = [SelectChoice(o.key, o.title) for o in self.content.objectives]
        self.action_objective.choices = [
            SelectChoice("", "— Choisir —"),
            SelectChoice(NEW_OBJECTIVE, "Le nouvel objectif saisi ci-dessus"),
            *objectives,
        ]
        self.unmet_objective.choices = [SelectChoice("", "— Aucun —"), *objectives]
        self.action_assignee.choices = _people(people, "— Personne du cercle —")
        self.follow_ups: list[tuple[str, ActionFollowUp]] = []
        # The follow-ups are plain forms: they read the posted form only when this one is.
        formdata = request.form if self.is_submitted() else None
        for _, action in self.content.actions():
            if action.status not in (ActionStatus.PLANNED, ActionStatus.IN_PROGRESS):
                continue
            sub = ActionFollowUp(
                formdata=formdata,
                prefix=f"u-{action.key}",
                data={
                    "status": action.status.value,
                    "due_on": action.due_on,
                    "assignee_user_id": str(action.assignee_user_id or ""),
                },
            )
            sub.assignee_user_id.choices = _people(people, "— Non attribuée —")
            self.follow_ups.append((action.key, sub))

    def validate(self, extra_validators: Any = None) -> bool:
        """Check each part, then what only makes sense together (an action needs its objective,
        an unmet objective its reason, and something must be recorded)."""
        ok = super().validate(extra_validators)
        ok = all([sub.validate() for _, sub in self.follow_ups]) and ok
        if self.action_what.data and not self.action_objective.data:
            self.action_objective.errors = ["Choisissez l'objectif de la nouvelle action."]
            ok = False
        if self.action_objective.data == NEW_OBJECTIVE and not self.objective_title.data:
            self.objective_title.errors = ["Saisissez le nouvel objectif choisi pour l'action."]
            ok = False
        if self.action_objective.data and not self.action_what.data:
            self.action_what.errors = ["Décrivez la nouvelle action."]
            ok = False
        if self.unmet_objective.data and not (self.unmet_reason.data or "").strip():
            self.unmet_reason.errors = ["Indiquez pourquoi l'objectif n'est pas atteint."]
            ok = False
        for _, sub in self.follow_ups:
            reason = (sub.reason.data or "").strip()
            if sub.status.data == ActionStatus.NOT_ACHIEVED and not reason:
                sub.reason.errors = ["Indiquez pourquoi l'action n'a pas été réalisée."]
                ok = False
        if ok and not (self.summary.data or "").strip() and not self.decisions():
            self.summary.errors = ["Saisissez la synthèse de la discussion ou une décision."]
            ok = False
        return ok

    def base_version(self) -> int | None:
        """Return the plan version id the decisions were taken on (None: no version yet)."""
        value = self.base_version_id.data or ""
        return int(value) if value.isdecimal() else None

    def decisions(self) -> list[Decision]:
        """Return the decisions as typed, in the order they apply."""
        found: list[Decision] = []
        title = (self.objective_title.data or "").strip()
        new_key = self._new_objective_key()
        if title:
            found.append(
                Decision(
                    DecisionKind.ADD_OBJECTIVE,
                    {"key": new_key, "title": title},
                    self.objective_title,
                    {"title": self.objective_title},
                )
            )
        what = (self.action_what.data or "").strip()
        if what and self.action_objective.data:
            target = self.action_objective.data
            found.append(
                Decision(
                    DecisionKind.ADD_ACTION,
                    {
                        "objective_key": new_key if target == NEW_OBJECTIVE else target,
                        "what": what,
                        "assignee_user_id": _user_id(self.action_assignee.data),
                        "due_on": _iso(self.action_due_on.data),
                    },
                    self.action_what,
                    {
                        "objective_key": self.action_objective,
                        "what": self.action_what,
                        "assignee_user_id": self.action_assignee,
                        "due_on": self.action_due_on,
                    },
                )
            )
        found += self._follow_up_decisions()
        if self.unmet_objective.data:
            found.append(
                Decision(
                    DecisionKind.OBJECTIVE_UNMET,
                    {
                        "objective_key": self.unmet_objective.data,
                        "reason": (self.unmet_reason.data or "").strip(),
                    },
                    self.unmet_objective,
                    {"objective_key": self.unmet_objective, "reason": self.unmet_reason},
                )
            )
        if self.next_review_on.data:
            found.append(
                Decision(
                    DecisionKind.SET_REVIEW_DATE,
                    {"next_review_on": _iso(self.next_review_on.data)},
                    self.next_review_on,
                )
            )
        if self.request_revision.data:
            found.append(Decision(DecisionKind.REQUEST_REVISION, {}, self.request_revision))
        return found

    def _follow_up_decisions(self) -> list[Decision]:
        found = []
        for key, sub in self.follow_ups:
            found_action = self.content.find_action(key)
            if found_action is None:
                continue
            _, action = found_action
            changes: dict[str, Any] = {}
            if sub.status.data and sub.status.data != action.status.value:
                changes["status"] = sub.status.data
            if sub.due_on.data != action.due_on:
                changes["due_on"] = _iso(sub.due_on.data)
            assignee = _user_id(sub.assignee_user_id.data)
            if assignee != action.assignee_user_id:
                changes["assignee_user_id"] = assignee
            reason = (sub.reason.data or "").strip()
            if reason:
                changes["not_achieved_reason"] = reason
            if changes:
                found.append(
                    Decision(
                        DecisionKind.UPDATE_ACTION,
                        {"action_key": key, **changes},
                        sub.status,
                        {
                            "status": sub.status,
                            "due_on": sub.due_on,
                            "assignee_user_id": sub.assignee_user_id,
                            "not_achieved_reason": sub.reason,
                        },
                    )
                )
        return found

    def _new_objective_key(self) -> str:
        """Return the key of the new objective, stable across the form's decisions."""
        if not hasattr(self, "_new_key"):
            self._new_key = new_key()
        return self._new_key

    def attach(self, error: DomainError, typed: list[Decision]) -> None:
        """Show a service error next to the input it is about (`decisions[i].<key>` names
        the i-th decision sent), else above the form."""
        if isinstance(error, PermissionDenied):
            self.form_errors.append(NOT_ALLOWED)
            return
        target = None
        match = _DECISION_FIELD.match(error.field or "")
        if match and int(match[1]) < len(typed):
            decision = typed[int(match[1])]
            target = decision.fields.get(match[2] or "", decision.main)
        elif error.field in ("summary", "next_review_on"):
            target = self[error.field]
        if target is not None:
            target.errors = [*target.errors, error.message]
        else:
            self.form_errors.append(error.message)

    def error_items(self) -> list[tuple[str, str, str]]:
        """Return (field id, label, message) of every error, in the page's order."""
        items = []
        for name in (
            "summary",
            "objective_title",
            "action_what",
            "action_objective",
            "action_assignee",
            "action_due_on",
        ):
            items += _errors_of(self[name])
        for key, sub in self.follow_ups:
            found = self.content.find_action(key)
            what = found[1].what if found else "Action"
            for name in ("status", "due_on", "assignee_user_id", "reason"):
                items += _errors_of(sub[name], f"{what} ({sub[name].label.text.lower()})")
        for name in ("unmet_objective", "unmet_reason", "next_review_on", "request_revision"):
            items += _errors_of(self[name])
        items += [("decisions-form", "Formulaire", e) for e in self.form_errors]
        if "csrf_token" in self.errors:
            items.append(("decisions-form", "Formulaire", "Session expirée : validez à nouveau."))
        return items


def _errors_of(field: Any, label: str = "") -> list[tuple[str, str, str]]:
    return [(field.id, label or field.label.text, message) for message in field.errors]


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None
