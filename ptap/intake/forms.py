"""Flask-WTF forms of the request pages (labels and messages in French).

Forms only parse; the rules live in the services, whose InvalidInput errors name the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, time
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ptap.accounts.forms import MultiCheckboxField
from ptap.accounts.models import User
from ptap.care_teams.models import PROBLEM_CATEGORY_LABELS, REQUESTER_KIND_LABELS, CareTeam
from ptap.core import clock
from ptap.core.clock import PARIS
from ptap.core.errors import InvalidInput
from ptap.intake.clocks import IntakeTargets
from ptap.intake.models import (
    CLOSING_OUTCOMES,
    MISSION_TYPE_LABELS,
    REQUEST_CHANNEL_LABELS,
    REQUEST_OUTCOME_LABELS,
    SupportRequest,
)
from ptap.intake.services import RequestData

TOO_LONG = "Texte trop long."
BAD_CHOICE = "Choix invalide."
CHOOSE = SelectChoice("", "— Choisir —")


def _choices(labels: dict[Any, str], blank: SelectChoice | None = CHOOSE) -> list[SelectChoice]:
    items = [SelectChoice(str(key), label) for key, label in labels.items()]
    return [blank, *items] if blank else items


def _select(label: str, choices: list[SelectChoice], **kwargs: Any) -> SelectField:
    return SelectField(label, choices=choices, invalid_choice_message=BAD_CHOICE, **kwargs)


def _text(label: str, max_length: int, **kwargs: Any) -> StringField:
    return StringField(label, validators=[Length(max=max_length, message=TOO_LONG)], **kwargs)


class DaysField(IntegerField):
    """A number of days, with a French message when it is not a whole number."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError("Indiquez un nombre entier de jours.") from exc


def _paris_date() -> Any:
    return clock.paris_today()


def _paris_time() -> time:
    return clock.now().astimezone(PARIS).time().replace(second=0, microsecond=0)


def paris_instant(day: Any, at: time | None, field: str) -> datetime:
    """Combine a Paris day and time into an aware UTC instant; InvalidInput if the day lacks."""
    if day is None:
        raise InvalidInput("Indiquez la date (jj/mm/aaaa).", field=field)
    return datetime.combine(day, at or time(0), tzinfo=PARIS).astimezone(UTC)


def _textarea(label: str, max_length: int, rows: int = 3) -> TextAreaField:
    return TextAreaField(
        label, validators=[Length(max=max_length, message=TOO_LONG)], render_kw={"rows": rows}
    )


class RequestForm(FlaskForm):
    """A request as it arrives: who asks, how, about whom and why."""

    team_id = _select("Équipe qui reçoit la demande", [])
    received_on = DateField(
        "Reçue le",
        default=_paris_date,
        invalid_value_message="Indiquez la date de réception (jj/mm/aaaa).",
    )
    received_time = TimeField(
        "à (heure)",
        default=_paris_time,
        validators=[Optional()],
        invalid_value_message="Indiquez l'heure (hh:mm).",
    )
    # Required here too, so that every missing answer is shown at once (the service, which
    # stops at the first, stays the rule that counts).
    channel = _select(
        "Canal",
        _choices(REQUEST_CHANNEL_LABELS),
        validators=[DataRequired("Indiquez par quel canal la demande est arrivée.")],
    )
    requester_kind = _select(
        "Demandeur",
        _choices(REQUESTER_KIND_LABELS),
        validators=[DataRequired("Indiquez qui fait la demande.")],
    )
    requester_name = _text("Nom du demandeur", 200, render_kw={"autocomplete": "off"})
    requester_contact = _text(
        "Pour le rappeler (téléphone, courriel)", 200, render_kw={"autocomplete": "off"}
    )
    person_summary = _textarea("Personne concernée et demande", 10_000, rows=5)
    problem_categories = MultiCheckboxField(
        "Motifs de la demande",
        choices=_choices(PROBLEM_CATEGORY_LABELS, blank=None),
        invalid_choice_message=BAD_CHOICE,
        validators=[DataRequired("Indiquez au moins un motif de la demande.")],
    )
    urgent = BooleanField("Situation urgente (à traiter en priorité)")

    def __init__(self, *args: Any, teams: Sequence[CareTeam] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._teams = {team.id: team for team in teams}
        blank = [CHOOSE] if len(teams) > 1 else []
        self.team_id.choices = [*blank, *(SelectChoice(str(t.id), t.name) for t in teams)]

    def team(self) -> CareTeam:
        """Return the chosen team, one of the user's."""
        data = self.team_id.data or ""
        team = self._teams.get(int(data)) if data.isdecimal() else None
        if team is None:
            raise InvalidInput("Choisissez l'équipe qui reçoit la demande.", field="team_id")
        return team

    def data_value(self) -> RequestData:
        """Return the request as typed (the reception in Paris time)."""
        return RequestData(
            received_at=paris_instant(
                self.received_on.data, self.received_time.data, "received_on"
            ),
            requester_kind=self.requester_kind.data or "",
            channel=self.channel.data or "",
            requester_name=self.requester_name.data or "",
            requester_contact=self.requester_contact.data or "",
            person_summary=self.person_summary.data or "",
            problem_categories=tuple(self.problem_categories.data or ()),
            urgent=bool(self.urgent.data),
        )


class RequestEditForm(RequestForm):
    """The correction of an open request: the same fields, its team fixed."""

    team_id = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        FlaskForm.__init__(self, *args, **kwargs)

    @classmethod
    def of(cls, req: SupportRequest) -> RequestEditForm:
        """Return the form filled with the request as recorded (reception in Paris time)."""
        received = req.received_at.astimezone(PARIS)
        return cls(
            data={
                "received_on": received.date(),
                "received_time": received.time().replace(second=0, microsecond=0),
                "channel": req.channel,
                "requester_kind": req.requester_kind,
                "requester_name": req.requester_name,
                "requester_contact": req.requester_contact,
                "person_summary": req.person_summary,
                "problem_categories": req.problem_categories.split(),
                "urgent": req.urgent,
            }
        )

    def corrected(self, locked: SupportRequest) -> RequestData:
        """Return the corrected request; the linked person and who follows it are kept as
        they are when the request is locked (this form changes neither)."""
        return replace(
            self.data_value(), patient_id=locked.patient_id, assigned_to_id=locked.assigned_to_id
        )


#: Service field names that the form shows under another name.
REQUEST_FIELD_ALIASES = {"received_at": "received_on"}


def member_choices(members: Sequence[User]) -> list[SelectChoice]:
    """Return the choices of the "followed by" select: nobody, or one of the team."""
    return [
        SelectChoice("", "— Personne en particulier —"),
        *(SelectChoice(str(u.id), f"{u.last_name} {u.first_name}") for u in members),
    ]


class TriageForm(FlaskForm):
    """Qualify a request: the DAC mission type, urgency and who follows it."""

    mission_type = RadioField(
        "Type de mission",
        choices=[SelectChoice(str(k), v) for k, v in MISSION_TYPE_LABELS.items()],
        validate_choice=False,
    )
    urgent = BooleanField("Situation urgente")
    #: Checked by the service (a member of the team), so a stale choice gets a clear message.
    assigned_to_id = SelectField("Suivie par", choices=[], validate_choice=False)

    def assigned(self) -> int | None:
        """Return the chosen member's id, or None."""
        data = self.assigned_to_id.data or ""
        return int(data) if data.isdecimal() and len(data) < 10 else None


class AnswerForm(FlaskForm):
    """The answer given to the requester, and when (now by default)."""

    answer_note = _textarea("Réponse apportée", 10_000)
    answered_on = DateField(
        "Répondu le",
        default=_paris_date,
        invalid_value_message="Indiquez la date de la réponse (jj/mm/aaaa).",
    )
    answered_time = TimeField(
        "à (heure)",
        default=_paris_time,
        validators=[Optional()],
        invalid_value_message="Indiquez l'heure (hh:mm).",
    )

    def answered_at(self) -> datetime:
        """Return the instant of the answer."""
        return paris_instant(self.answered_on.data, self.answered_time.data, "answered_on")


class CloseForm(FlaskForm):
    """Close a request with its outcome."""

    outcome = _select(
        "Issue de la demande",
        [CHOOSE, *(SelectChoice(str(o), REQUEST_OUTCOME_LABELS[o]) for o in CLOSING_OUTCOMES)],
    )
    outcome_note = _textarea("Précisions (obligatoires pour « Autre issue »)", 2000, rows=2)


class TargetsForm(FlaskForm):
    """A team's intake targets."""

    first_answer_working_days = DaysField(
        "Première réponse (jours ouvrés)",
        validators=[NumberRange(1, 365, "Entre 1 et 365 jours.")],
    )
    evaluation_working_days = DaysField(
        "Évaluation de la situation (jours ouvrés)",
        validators=[NumberRange(1, 365, "Entre 1 et 365 jours.")],
    )
    ppcs_days = DaysField(
        "Premier PPCS validé (jours calendaires)",
        validators=[NumberRange(1, 365, "Entre 1 et 365 jours.")],
    )

    def targets(self) -> IntakeTargets:
        """Return the targets as typed."""
        return IntakeTargets(
            int(self.first_answer_working_days.data or 0),
            int(self.evaluation_working_days.data or 0),
            int(self.ppcs_days.data or 0),
        )
