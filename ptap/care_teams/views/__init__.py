"""Web pages of the care-teams domain (one blueprint, several modules)."""

from flask import Blueprint

from ptap.core.web import register_nav

bp = Blueprint("care_teams", __name__)

register_nav("Mes patients", "care_teams.list_patients", "patients.list", "patients")
register_nav("Équipes", "care_teams.list_teams", "teams.list", "territoire")
register_nav("Doublons", "care_teams.list_duplicates", "duplicates.review", "patients")
register_nav(
    "Accès en urgence", "care_teams.break_glass_reviews", "break_glass.review", "administration"
)

from ptap.care_teams.views import (  # noqa: E402, F401 - routes register on bp
    access_log,
    circle,
    circle_structures,
    emergency,
    helpers,
    identity,
    organisation,
    patients,
    referents,
    search,
    teams,
)
