"""Flask-WTF forms of the consent, circle, break-the-glass and duplicate pages (French)."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Optional

from ptap.care_teams.models import (
    CIRCLE_STRUCTURE_KIND_LABELS,
    CONSENT_METHOD_LABELS,
    CircleStructureKind,
    ConsentKind,
    ConsentMethod,
)

REQUIRED = "Ce champ est obligatoire."
TOO_LONG = "Texte trop long."

#: The four choices a person can make, as "<kind>:<1 given|0 withdrawn>".
CONSENT_CHOICES = [
    SelectChoice(
        f"{ConsentKind.SHARING}:1",
        "Accepte le partage de ses informations au sein du cercle de soins",
    ),
    SelectChoice(
        f"{ConsentKind.SHARING}:0",
        "Retire son accord au partage : l'équipe et les invités perdent l'accès au dossier "
        "dès l'enregistrement",
    ),
    SelectChoice(f"{ConsentKind.DMP_OPPOSITION}:1", "S'oppose à l'alimentation de son DMP"),
    SelectChoice(
        f"{ConsentKind.DMP_OPPOSITION}:0", "Lève son opposition à l'alimentation de son DMP"
    ),
]


class ConsentForm(FlaskForm):
    choice = RadioField(
        "Choix exprimé par la personne",
        choices=CONSENT_CHOICES,
        validators=[InputRequired("Indiquez le choix de la personne.")],
    )
    method = RadioField(
        "Comment ce choix a été recueilli",
        choices=[
            SelectChoice(m.value, CONSENT_METHOD_LABELS[m])
            for m in ConsentMethod
            if m != ConsentMethod.PATIENT_SPACE  # only the person, in their space
        ],
        validators=[InputRequired("Indiquez comment le choix a été recueilli.")],
    )
    note = TextAreaField(
        "Commentaire (facultatif)",
        validators=[Optional(), Length(max=2000, message=TOO_LONG)],
        render_kw={"rows": 3},
    )
    document = FileField(
        "Formulaire signé (PDF, 10 Mo au plus)", render_kw={"accept": "application/pdf,.pdf"}
    )

    def parsed_choice(self) -> tuple[str, bool]:
        """Return (consent kind, given) from the choice field."""
        kind, given = str(self.choice.data).split(":")
        return kind, given == "1"


class InvitationForm(FlaskForm):
    #: (id, label) of the people matching the typed name, when several do (no-JS fallback).
    person_choices: tuple[tuple[int, str], ...] = ()
    #: Typed name, completed as in MemberForm; the service checks the invitee.
    person = StringField(
        "Professionnel invité",
        validators=[Optional(), Length(max=100, message=TOO_LONG)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    user_id = HiddenField("Professionnel invité")
    expires_on = DateField(
        "Dernier jour de l'invitation",
        validators=[DataRequired("Indiquez une date au format jj/mm/aaaa.")],
    )
    reason = StringField(
        "Motif (facultatif)",
        validators=[Optional(), Length(max=300, message=TOO_LONG)],
    )


class BreakGlassSearchForm(FlaskForm):
    """Find the person first: by INS, or by name and birth date, exactly (never by id)."""

    ins_matricule = StringField(
        "Matricule INS",
        validators=[Optional(), Length(max=30, message=TOO_LONG)],
        render_kw={"autocomplete": "off", "inputmode": "numeric"},
    )
    birth_name = StringField(
        "Nom de naissance ou nom utilisé",
        validators=[Optional(), Length(max=100, message=TOO_LONG)],
        render_kw={"autocomplete": "off"},
    )
    birth_date = DateField(
        "Date de naissance",
        validators=[Optional()],
        invalid_value_message="Indiquez une date au format jj/mm/aaaa.",
    )


class BreakGlassForm(FlaskForm):
    #: Signed search result: which record, for whom, since when (never a bare id).
    ticket = HiddenField(validators=[DataRequired("Recommencez la recherche.")])
    reason = TextAreaField(
        "Motif de l'urgence",
        validators=[DataRequired("Décrivez l'urgence."), Length(max=2000, message=TOO_LONG)],
        render_kw={"rows": 4},
    )


class ReviewForm(FlaskForm):
    review_note = TextAreaField(
        "Conclusion de l'examen",
        validators=[
            DataRequired("Indiquez la conclusion de l'examen."),
            Length(max=2000, message=TOO_LONG),
        ],
        render_kw={"rows": 2},
    )


class DuplicateForm(FlaskForm):
    action = StringField(validators=[AnyOf(["merge", "dismiss"], message="Action inconnue.")])


class ButtonForm(FlaskForm):
    """Only the CSRF token, for buttons that post (revoke an invitation)."""


class CircleStructureForm(FlaskForm):
    """An outside service of the circle; the service checks the FINESS key and the name."""

    kind = SelectField(
        "Type de structure",
        choices=[
            SelectChoice(k.value, CIRCLE_STRUCTURE_KIND_LABELS[k]) for k in CircleStructureKind
        ],
        validators=[InputRequired("Choisissez le type de structure.")],
        invalid_choice_message="Choisissez le type de structure.",
    )
    finess = StringField(
        "Numéro FINESS",
        validators=[Optional(), Length(max=20, message=TOO_LONG)],
        render_kw={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"},
    )
    name = StringField("Nom", validators=[Optional(), Length(max=200, message=TOO_LONG)])
    contact_person = StringField(
        "Personne à contacter", validators=[Optional(), Length(max=200, message=TOO_LONG)]
    )
    phone = StringField(
        "Téléphone",
        validators=[Optional(), Length(max=30, message=TOO_LONG)],
        render_kw={"type": "tel", "autocomplete": "off"},
    )
    email = StringField(
        "E-mail",
        validators=[Optional(), Length(max=255, message=TOO_LONG)],
        render_kw={"type": "email", "autocomplete": "off"},
    )
    address = StringField("Adresse", validators=[Optional(), Length(max=300, message=TOO_LONG)])
    note = TextAreaField(
        "Ce que la structure fait pour la personne",
        validators=[Optional(), Length(max=2000, message=TOO_LONG)],
        render_kw={"rows": 2},
    )
    started_on = DateField(
        "Intervient depuis le",
        validators=[DataRequired("Indiquez une date au format jj/mm/aaaa.")],
    )


class EndCircleStructureForm(FlaskForm):
    ended_on = DateField(
        "Dernier jour d'intervention",
        validators=[DataRequired("Indiquez une date au format jj/mm/aaaa.")],
    )
