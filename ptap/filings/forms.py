"""Flask-WTF forms of the DMP filing buttons (French). Each row's forms carry its own prefix,
so several rows on one page keep distinct field ids."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length

from ptap.accounts.forms import MultiCheckboxField
from ptap.dmp_bridge import Confidentiality, Operation
from ptap.filings.labels import CONFIDENTIALITY_LABELS

#: Where a button sends the user back: the record page, the patient's filings, the team panel.
BACK_TARGETS = ("record", "filings", "team")


def row_prefix(submission_id: int) -> str:
    """Return the form prefix of a row (distinct ids for every row of a page)."""
    return f"s{submission_id}"


class FilingActionForm(FlaskForm):
    """A button acting on one row (retry, release): the CSRF token and where to go back."""

    back = HiddenField(default="filings")

    def back_target(self) -> str:
        """Return a known place to go back to (a tampered value goes to the patient's page)."""
        return self.back.data if self.back.data in BACK_TARGETS else "filings"


class CancelFilingForm(FilingActionForm):
    reason = TextAreaField(
        "Motif de l'annulation",
        validators=[
            DataRequired("Indiquez le motif de l'annulation."),
            Length(max=500, message="Motif trop long (500 caractères au plus)."),
        ],
    )


class DmpChangeForm(FilingActionForm):
    operation = RadioField(
        "Modification demandée",
        choices=[
            SelectChoice(Operation.UPDATE_VISIBILITY.value, "Changer la visibilité"),
            SelectChoice(Operation.ARCHIVE.value, "Archiver le document"),
            SelectChoice(Operation.DELETE.value, "Supprimer le document du DMP"),
        ],
        validators=[InputRequired("Choisissez la modification demandée.")],
    )
    confidentiality = MultiCheckboxField(
        "Visibilité voulue (pour un changement de visibilité)",
        choices=[
            SelectChoice(c.value, CONFIDENTIALITY_LABELS[c])
            for c in Confidentiality
            if c != Confidentiality.NORMAL
        ]
        + [
            SelectChoice(
                Confidentiality.NORMAL.value, CONFIDENTIALITY_LABELS[Confidentiality.NORMAL]
            )
        ],
    )


class FileDmpDocumentForm(FlaskForm):
    """File a retrieved DMP document into the coordination file (the CSRF token only)."""


class RemoveFiledForm(FlaskForm):
    reason = TextAreaField(
        "Motif du retrait",
        validators=[
            DataRequired("Indiquez le motif du retrait."),
            Length(max=500, message="Motif trop long (500 caractères au plus)."),
        ],
    )
