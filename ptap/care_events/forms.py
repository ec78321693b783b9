"""Form of the pathway-events page (labels and messages in French)."""

from __future__ import annotations

from collections.abc import Sequence

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from ptap.care_events.models import BREAK_KINDS, CARE_EVENT_KIND_LABELS
from ptap.care_events.services import CareEventData
from ptap.care_teams.models import CareTeam
from ptap.core import clock


def _kind_label(kind: str, text: str) -> str:
    return f"{text} — rupture de parcours" if kind in BREAK_KINDS else text


class CareEventForm(FlaskForm):
    """What happened, on which day, and the circumstances."""

    kind = SelectField(
        "Événement",
        choices=[
            SelectChoice("", "— Choisir —"),
            *(SelectChoice(str(k), _kind_label(k, v)) for k, v in CARE_EVENT_KIND_LABELS.items()),
        ],
        invalid_choice_message="Choix invalide.",
    )
    occurred_on = DateField(
        "Date de l'événement",
        default=clock.paris_today,
        invalid_value_message="Indiquez la date de l'événement (jj/mm/aaaa).",
    )
    note = TextAreaField(
        "Circonstances (facultatif)",
        validators=[Length(max=10_000, message="Texte trop long.")],
        render_kw={"rows": 3},
    )
    #: Shown when the user belongs to several teams following the patient; the service
    #: checks the choice (and takes the user's first such team when none is sent).
    team_id = SelectField("Pour l'équipe", choices=[], validate_choice=False)

    def __init__(self, *args: object, teams: Sequence[CareTeam] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.team_id.choices = [SelectChoice(str(t.id), t.name) for t in teams]

    def event(self) -> CareEventData:
        """Return the event as typed (the date is checked by the service)."""
        from ptap.core.errors import InvalidInput

        if self.occurred_on.data is None:
            raise InvalidInput("Indiquez la date de l'événement.", field="occurred_on")
        raw = self.team_id.data or ""
        return CareEventData(
            kind=self.kind.data or "",
            occurred_on=self.occurred_on.data,
            note=self.note.data or "",
            team_id=int(raw) if raw.isdecimal() and len(raw) < 10 else None,
        )
