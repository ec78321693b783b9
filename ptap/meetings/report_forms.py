"""Forms of the meeting report pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from ptap.meetings.reports import SUMMARY_MAX


class ReportSummaryForm(FlaskForm):
    """The summary of a draft report."""

    summary = TextAreaField(
        "Synthèse de la discussion",
        validators=[DataRequired("La synthèse est obligatoire."), Length(max=SUMMARY_MAX)],
    )


class ReportCorrectionForm(ReportSummaryForm):
    """A correction of an approved report: the corrected summary and why."""

    reason = TextAreaField(
        "Motif de la correction",
        validators=[DataRequired("Indiquez le motif de la correction."), Length(max=2000)],
    )
