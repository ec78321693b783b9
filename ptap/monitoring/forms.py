"""Flask-WTF form of the quarterly report order (French)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange


class ReportForm(FlaskForm):
    year = IntegerField(
        "Année",
        validators=[
            InputRequired("Indiquez l'année."),
            NumberRange(2000, 2100, "Année invalide."),
        ],
    )
    quarter = SelectField(
        "Trimestre",
        choices=[
            SelectChoice("1", "1er trimestre"),
            SelectChoice("2", "2e trimestre"),
            SelectChoice("3", "3e trimestre"),
            SelectChoice("4", "4e trimestre"),
        ],
        validators=[InputRequired("Choisissez le trimestre.")],
    )
    territory = SelectField("Territoire", choices=[SelectChoice("", "Tous les territoires")])
