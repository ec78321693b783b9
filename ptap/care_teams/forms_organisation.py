"""Flask-WTF forms of the organisation page and of team memberships (French).

Forms only parse; the rules (INSEE codes, FINESS key, who may join a team) live in
ptap.care_teams.organisation, whose errors name the form field they belong to.
"""

from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from ptap.care_teams.models import STRUCTURE_KIND_LABELS, TeamRole

REQUIRED = "Ce champ est obligatoire."
TOO_LONG = "Texte trop long."
BAD_CHOICE = "Choix invalide."
DATE_FORMAT = "Indiquez une date au format jj/mm/aaaa."


class TerritoryForm(FlaskForm):
    name = StringField(
        "Nom du territoire", validators=[DataRequired(REQUIRED), Length(max=120, message=TOO_LONG)]
    )
    region_code = StringField(
        "Code région INSEE",
        validators=[DataRequired(REQUIRED), Length(max=2, message="Deux chiffres.")],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "size": 3},
    )
    department_code = StringField(
        "Code département INSEE",
        validators=[DataRequired(REQUIRED), Length(max=3, message="Trois caractères au plus.")],
        render_kw={"autocomplete": "off", "size": 4},
    )


class StructureForm(FlaskForm):
    name = StringField(
        "Nom de la structure",
        validators=[DataRequired(REQUIRED), Length(max=200, message=TOO_LONG)],
    )
    kind = SelectField(
        "Type de structure",
        choices=[SelectChoice("", "— Choisir —")]
        + [SelectChoice(str(k), v) for k, v in STRUCTURE_KIND_LABELS.items()],
        validators=[DataRequired("Choisissez le type de structure.")],
        invalid_choice_message=BAD_CHOICE,
    )
    finess = StringField(
        "Numéro FINESS (facultatif)",
        validators=[Optional(), Length(max=20, message="Neuf chiffres.")],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "size": 12},
    )
    territory_id = SelectField(
        "Territoire",
        coerce=int,
        validate_choice=False,  # the view resolves the id; an unknown one is named in the error
        validators=[DataRequired("Choisissez le territoire.")],
    )


class TeamForm(FlaskForm):
    name = StringField(
        "Nom de l'équipe", validators=[DataRequired(REQUIRED), Length(max=200, message=TOO_LONG)]
    )
    structure_id = SelectField(
        "Structure",
        coerce=int,
        validate_choice=False,
        validators=[DataRequired("Choisissez la structure.")],
    )


class MemberForm(FlaskForm):
    #: (id, label) of the people matching the typed name, when several do (no-JS fallback).
    person_choices: tuple[tuple[int, str], ...] = ()
    #: Typed name; the autocompletion fills `user_id`, and without JavaScript the server
    #: resolves the name (one match) or offers the few matches to choose from.
    person = StringField(
        "Professionnel",
        validators=[Optional(), Length(max=100, message=TOO_LONG)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    #: The service checks the account (active clinician, not a member).
    user_id = HiddenField("Professionnel")
    role = SelectField(
        "Rôle dans l'équipe",
        choices=[
            SelectChoice(TeamRole.MEMBER.value, "Membre"),
            SelectChoice(TeamRole.COORDINATOR.value, "Coordination"),
        ],
        default=TeamRole.MEMBER.value,
        invalid_choice_message=BAD_CHOICE,
    )
    starts_on = DateField(
        "Premier jour", validators=[DataRequired(DATE_FORMAT)], invalid_value_message=DATE_FORMAT
    )
    ends_on = DateField(
        "Dernier jour (facultatif)", validators=[Optional()], invalid_value_message=DATE_FORMAT
    )
