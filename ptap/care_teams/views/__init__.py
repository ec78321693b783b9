"""Web pages of the care-teams domain (one blueprint, several modules)."""

from flask import Blueprint

from ptap.core.web import register_nav

bp = Blueprint("care_teams", __name__)

register_nav("Patients", "care_teams.list_patients", "patients.list")
register_nav("Équipes", "care_teams.list_teams", "teams.list")
register_nav("Doublons", "care_teams.list_duplicates", "duplicates.review")
register_nav("Accès en urgence", "care_teams.break_glass_reviews", "break_glass.review")

from ptap.care_teams.views import (  # noqa: E402, F401 - routes register on bp
    access_log,
    circle,
    circle_structures,
    emergency,
    helpers,
    identity,
    organisation,
    patients,
    search,
    teams,
)
