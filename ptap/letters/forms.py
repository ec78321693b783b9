"""Forms of the letters pages (labels and messages in French)."""

from __future__ import annotations

from collections.abc import Sequence

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from ptap.core.formatting import label
from ptap.letters.models import LETTER_KIND_LABELS, LetterTemplate
from ptap.letters.services import TemplateData


class NewLetterForm(FlaskForm):
    """Which template, and to whom."""

    template_id = SelectField("Modèle", choices=[], validate_choice=False)
    addressee = StringField(
        "Destinataire (facultatif)",
        validators=[Length(max=300, message="300 caractères au maximum.")],
    )

    def __init__(
        self, *args: object, templates: Sequence[LetterTemplate] = (), **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)
        self.template_id.choices = [
            SelectChoice(str(t.id), f"{t.name} ({label(LETTER_KIND_LABELS, t.kind)})")
            for t in templates
        ]

    def chosen_template_id(self) -> int | None:
        """Return the chosen template id (checked by the view and the service)."""
        raw = self.template_id.data or ""
        return int(raw) if raw.isdecimal() and len(raw) < 10 else None


class LetterEditForm(FlaskForm):
    """The text of the letter."""

    addressee = StringField(
        "Destinataire",
        validators=[Length(max=300, message="300 caractères au maximum.")],
    )
    subject = StringField(
        "Objet",
        validators=[
            InputRequired(message="Indiquez l'objet de la lettre."),
            Length(max=300, message="300 caractères au maximum."),
        ],
    )
    body = TextAreaField(
        "Texte de la lettre",
        validators=[InputRequired(message="Le texte de la lettre est vide.")],
        render_kw={"rows": 18},
    )


class SendForm(FlaskForm):
    """The MSSanté address to send to."""

    to = StringField(
        "Adresse MSSanté du destinataire",
        validators=[InputRequired(message="Indiquez l'adresse MSSanté du destinataire.")],
        render_kw={"autocomplete": "off", "placeholder": "prenom.nom@medecin.mssante.fr"},
    )


class TemplateForm(FlaskForm):
    """A letter template: kind (at creation), name, subject, text."""

    kind = SelectField(
        "Type de lettre",
        choices=[SelectChoice(str(k), v) for k, v in LETTER_KIND_LABELS.items()],
        invalid_choice_message="Choix invalide.",
    )
    name = StringField(
        "Nom du modèle",
        validators=[
            InputRequired(message="Donnez un nom au modèle."),
            Length(max=200, message="200 caractères au maximum."),
        ],
    )
    subject = StringField(
        "Objet des lettres",
        validators=[Length(max=300, message="300 caractères au maximum.")],
    )
    body = TextAreaField(
        "Texte du modèle",
        validators=[InputRequired(message="Le texte du modèle est vide.")],
        render_kw={"rows": 20, "spellcheck": "true"},
    )

    def data_value(self, kind: str | None = None) -> TemplateData:
        """Return the service's template value."""
        return TemplateData(
            name=self.name.data or "",
            subject=self.subject.data or "",
            body=self.body.data or "",
            kind=kind or self.kind.data or "",
        )
