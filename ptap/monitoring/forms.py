"""Flask-WTF form of the quarterly report order (French)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField
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
        choices=[("1", "1er trimestre"), ("2", "2e trimestre"), ("3", "3e trimestre"), ("4", "4e trimestre")],
        validators=[InputRequired("Choisissez le trimestre.")],
    )
    territory = SelectField("Territoire", choices=[("", "Tous les territoires")], validate_choice=True)
