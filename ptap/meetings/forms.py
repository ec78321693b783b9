"""Flask-WTF forms of the meeting pages (labels and messages in French).

Forms only parse; the rules live in the services, whose InvalidInput errors name the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange

from ptap.accounts.models import User
from ptap.core.clock import PARIS
from ptap.core.errors import InvalidInput
from ptap.meetings.models import ATTENDANCE_LABELS, Meeting
from ptap.meetings.services import MeetingData

REQUIRED = "Ce champ est obligatoire."
TOO_LONG = "Texte trop long."
BAD_CHOICE = "Choix invalide."

#: Service field names → form field names (errors are shown next to the right field).
MEETING_FIELD_ALIASES = {"starts_at": "day", "chair_id": "chair_id", "secretary_id": "secretary_id"}


def _people(people: Sequence[User]) -> list[SelectChoice]:
    return [SelectChoice(p.id, f"{p.full_name} ({p.profession_label})") for p in people]


class MeetingForm(FlaskForm):
    """Plan or edit a meeting: date and time are in Paris time."""

    title = StringField(
        "Titre",
        validators=[DataRequired(REQUIRED), Length(max=200, message=TOO_LONG)],
        default="Concertation pluriprofessionnelle",
    )
    day = DateField("Date", validators=[DataRequired("Indiquez une date valide.")])
    at = TimeField("Heure (heure de Paris)", validators=[DataRequired("Indiquez une heure.")])
    duration_minutes = IntegerField(
        "Durée (minutes)",
        default=60,
        validators=[
            DataRequired("Indiquez une durée en minutes."),
            NumberRange(15, 480, "De 15 minutes à 8 heures."),
        ],
    )
    place = StringField("Lieu", validators=[Length(max=200, message=TOO_LONG)])
    video_url = StringField(
        "Lien de visioconférence", validators=[Length(max=500, message=TOO_LONG)]
    )
    chair_id = SelectField("Président·e de séance", coerce=int, validate_choice=True)
    secretary_id = SelectField("Secrétaire de séance", coerce=int, validate_choice=True)

    def __init__(self, members: Sequence[User], *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.chair_id.choices = _people(members)
        self.secretary_id.choices = _people(members)

    def fill(self, meeting: Meeting) -> None:
        """Show the meeting's current values."""
        local = meeting.starts_at.astimezone(PARIS)
        self.title.data = meeting.title
        self.day.data = local.date()
        self.at.data = local.time().replace(tzinfo=None)
        self.duration_minutes.data = meeting.duration_minutes
        self.place.data = meeting.place
        self.video_url.data = meeting.video_url
        self.chair_id.data = meeting.chair_id
        self.secretary_id.data = meeting.secretary_id

    def data_value(self) -> MeetingData:
        """Return the service's value (the Paris date and time as an aware instant)."""
        if self.day.data is None or self.at.data is None:
            raise InvalidInput("Indiquez la date et l'heure de la concertation.", field="starts_at")
        starts = datetime.combine(self.day.data, self.at.data, tzinfo=PARIS)
        return MeetingData(
            title=self.title.data or "",
            starts_at=starts,
            duration_minutes=self.duration_minutes.data or 0,
            place=self.place.data or "",
            video_url=self.video_url.data or "",
            chair_id=self.chair_id.data,
            secretary_id=self.secretary_id.data,
        )


class AttendanceForm(FlaskForm):
    """One participant's attendance."""

    attendance = SelectField(
        "Présence",
        choices=[SelectChoice(str(k), v) for k, v in ATTENDANCE_LABELS.items()],
        invalid_choice_message=BAD_CHOICE,
    )


class MembersForm(FlaskForm):
    """Invite members of the team."""

    user_ids = SelectMultipleField("Membres à inviter", coerce=int)

    def __init__(self, members: Sequence[User], *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.user_ids.choices = _people(members)


class GuestForm(FlaskForm):
    """Invite an outside professional for some agenda patients."""

    email = StringField(
        "Adresse électronique de son compte PTAP",
        validators=[DataRequired(REQUIRED), Length(max=200, message=TOO_LONG)],
    )
    patient_ids = SelectMultipleField("Pour les personnes", coerce=int)

    def __init__(
        self, patients: Sequence[tuple[int, str]], *args: object, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)
        self.patient_ids.choices = [SelectChoice(pid, name) for pid, name in patients]


class QuorumForm(FlaskForm):
    """The team's quorum."""

    min_present = IntegerField(
        "Professionnels présents, au moins",
        validators=[DataRequired(REQUIRED), NumberRange(1, 50, "De 1 à 50.")],
    )
    min_professions = IntegerField(
        "Professions différentes, au moins",
        validators=[DataRequired(REQUIRED), NumberRange(1, 50, "De 1 à 50.")],
    )
