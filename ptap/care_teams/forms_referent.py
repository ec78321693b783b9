"""Forms of the referent coordinator and of the "Absence et remplacement" page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from ptap.accounts.models import User
from ptap.care_teams.models import CareTeam

BAD_CHOICE = "Choisissez dans la liste."


class ReferentForm(FlaskForm):
    """Name the referent coordinator of one enrolment (prefix ref<id>-)."""

    referent_id = SelectField("Coordinateur référent", invalid_choice_message=BAD_CHOICE)

    @classmethod
    def for_enrolment(
        cls, enrolment_id: int, current: int | None, coordinators: Sequence[User], **kw: Any
    ) -> ReferentForm:
        """Return the form of one enrolment, offering the team's coordinators."""
        form = cls(prefix=f"ref{enrolment_id}", referent_id=str(current or ""), **kw)
        form.referent_id.choices = [SelectChoice("", "Aucun référent")] + [
            SelectChoice(str(u.id), u.full_name) for u in coordinators
        ]
        return form

    def referent(self) -> int | None:
        """Return the chosen coordinator's id, or None for nobody."""
        return int(self.referent_id.data) if self.referent_id.data else None


class CoverForm(FlaskForm):
    """Declare an absence: first and last day, team (or all), and the stand-in."""

    starts_on = DateField(
        "Premier jour d'absence",
        validators=[InputRequired("Indiquez le premier jour.")],
        invalid_value_message="Indiquez le premier jour (jj/mm/aaaa).",
    )
    ends_on = DateField(
        "Dernier jour d'absence",
        validators=[InputRequired("Indiquez le dernier jour.")],
        invalid_value_message="Indiquez le dernier jour (jj/mm/aaaa).",
    )
    team_id = SelectField("Équipe", invalid_choice_message=BAD_CHOICE)
    stand_in_id = SelectField(
        "Remplacé·e par", invalid_choice_message=BAD_CHOICE, validators=[InputRequired()]
    )

    def offer(self, teams: Sequence[CareTeam], colleagues: Sequence[User]) -> None:
        """Fill the choices: the user's coordinated teams, their fellow coordinators."""
        self.team_id.choices = [SelectChoice("", "Toutes mes équipes")] + [
            SelectChoice(str(t.id), t.name) for t in teams
        ]
        self.stand_in_id.choices = [SelectChoice("", "Choisir…")] + [
            SelectChoice(str(u.id), u.full_name) for u in colleagues
        ]
