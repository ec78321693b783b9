"""Forms of the patient space (both sides)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from ptap.patient_space.models import RELATIONSHIP_LABELS, RIGHT_LABELS, Relationship, Right


class EmailForm(FlaskForm):
    """Sign-in, step 1: the address the code goes to."""

    email = EmailField(
        "Votre adresse e-mail",
        validators=[DataRequired("Indiquez votre adresse e-mail."), Length(max=255)],
        render_kw={"autocomplete": "email", "inputmode": "email"},
    )


class CodeForm(FlaskForm):
    """Sign-in, step 2: the 6-digit code received by e-mail (or shown by the application)."""

    email = HiddenField()
    code = StringField(
        "Code reçu par e-mail (6 chiffres)",
        validators=[DataRequired("Recopiez le code à 6 chiffres reçu par e-mail."), Length(max=12)],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "pattern": "[0-9 ]*",
        },
    )


APP_CODE_LABEL = "Code affiché par l'application (6 chiffres)"


def app_code_form(**kwargs: object) -> CodeForm:
    """The code form, labelled for the application's code."""
    form = CodeForm(**kwargs)
    form.code.label.text = APP_CODE_LABEL
    return form


class AcceptForm(FlaskForm):
    """Opening the account from the invitation link (one click: the link proves the address)."""


class AnswerForm(FlaskForm):
    """Agree to the plan version, or ask for a change."""

    version_id = HiddenField()
    kind = RadioField(
        "Êtes-vous d'accord avec ce plan ?",
        choices=[
            SelectChoice("agree", "Je suis d'accord avec ce plan"),
            SelectChoice("change", "Je souhaite un changement"),
        ],
        validators=[InputRequired("Choisissez votre réponse.")],
    )
    comment = TextAreaField(
        "Votre commentaire (obligatoire si vous demandez un changement)",
        validators=[Optional(), Length(max=2000, message="2 000 caractères au plus.")],
        render_kw={"rows": 4},
    )


class SharingForm(FlaskForm):
    """Give or withdraw the agreement to sharing (the withdrawal is confirmed first)."""

    given = HiddenField(validators=[InputRequired()])
    confirmed = HiddenField()


class MultiCheckboxField(SelectMultipleField):
    """Checkboxes for several choices."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class InvitationForm(FlaskForm):
    """A coordinator invites the person, a caregiver or a legal representative."""

    display_name = StringField(
        "Nom et prénom de la personne invitée",
        validators=[DataRequired("Indiquez le nom de la personne invitée."), Length(max=200)],
    )
    email = EmailField(
        "Adresse e-mail",
        validators=[DataRequired("Indiquez l'adresse e-mail."), Length(max=255)],
    )
    relationship = RadioField(
        "Qui est-ce ?",
        choices=[SelectChoice(r.value, RELATIONSHIP_LABELS[r]) for r in Relationship],
        validators=[InputRequired("Indiquez qui est la personne invitée.")],
    )
    rights = MultiCheckboxField(
        "Droits donnés par la personne à son aidant·e",
        choices=[SelectChoice(r.value, RIGHT_LABELS[r]) for r in Right],
    )
    legal_basis = StringField(
        "Base légale (représentant d'un adulte : tutelle, habilitation familiale…)",
        validators=[Optional(), Length(max=300)],
    )
