"""Flask-WTF forms of the accounts pages (labels and messages in French)."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from ptap.accounts.models import PROFESSION_LABELS, TOKEN_SCOPE_LABELS, TokenScope
from ptap.core.policy import ROLE_LABELS

REQUIRED = "Ce champ est obligatoire."
TOO_LONG = "Texte trop long."
EMAIL = Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Adresse e-mail invalide.")


class LoginForm(FlaskForm):
    email = EmailField(
        "Adresse e-mail",
        validators=[DataRequired(REQUIRED), EMAIL],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        "Mot de passe",
        validators=[DataRequired(REQUIRED)],
        render_kw={"autocomplete": "current-password"},
    )


class SecondFactorForm(FlaskForm):
    code = StringField(
        "Code à 6 chiffres ou code de secours",
        validators=[DataRequired(REQUIRED), Length(max=20, message="Code trop long.")],
        render_kw={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True},
    )


class EnrolForm(FlaskForm):
    code = StringField(
        "Code affiché par l'application",
        validators=[
            DataRequired(REQUIRED),
            Length(min=6, max=8, message="Le code compte 6 chiffres."),
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Mot de passe actuel", validators=[DataRequired(REQUIRED)])
    new_password = PasswordField(
        "Nouveau mot de passe (12 caractères au moins)", validators=[DataRequired(REQUIRED)]
    )


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for buttons that post."""


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TokenForm(FlaskForm):
    name = StringField(
        "Nom du jeton", validators=[DataRequired(REQUIRED), Length(max=80, message=TOO_LONG)]
    )
    scopes = MultiCheckboxField(
        "Portées",
        choices=[SelectChoice(s.value, TOKEN_SCOPE_LABELS[s]) for s in TokenScope],
        default=[TokenScope.READ.value],
    )
    days = IntegerField(
        "Validité (jours)",
        default=90,
        validators=[DataRequired(REQUIRED), NumberRange(1, 365, "Entre 1 et 365 jours.")],
    )
    # Minting a token asks for the password and a fresh TOTP code again (re-authentication).
    password = PasswordField(
        "Votre mot de passe",
        validators=[DataRequired(REQUIRED)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        "Code à 6 chiffres de votre application",
        validators=[DataRequired(REQUIRED), Length(max=8, message="Le code compte 6 chiffres.")],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class UserForm(FlaskForm):
    first_name = StringField(
        "Prénom", validators=[DataRequired(REQUIRED), Length(max=120, message=TOO_LONG)]
    )
    last_name = StringField(
        "Nom", validators=[DataRequired(REQUIRED), Length(max=120, message=TOO_LONG)]
    )
    email = EmailField("Adresse e-mail", validators=[DataRequired(REQUIRED), EMAIL])
    profession = SelectField(
        "Profession",
        choices=[SelectChoice(p.value, label) for p, label in PROFESSION_LABELS.items()],
    )
    role = SelectField(
        "Rôle", choices=[SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()]
    )
    rpps = StringField(
        "N° RPPS (facultatif)",
        validators=[Optional(), Length(min=11, max=11, message="Le RPPS compte 11 chiffres.")],
    )


class ActivationForm(FlaskForm):
    password = PasswordField(
        "Mot de passe (12 caractères au moins)",
        validators=[DataRequired(REQUIRED)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Confirmez le mot de passe",
        validators=[DataRequired(REQUIRED)],
        render_kw={"autocomplete": "new-password"},
    )


class ResetPasswordForm(FlaskForm):
    reset_second_factor = BooleanField("Réinitialiser aussi le second facteur (téléphone perdu)")
