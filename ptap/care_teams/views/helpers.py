"""Presentation helpers shared by the care-teams pages (template filters, tabs, labels)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request, url_for
from flask_login import current_user

from ptap.accounts.models import User
from ptap.care_teams import queries
from ptap.care_teams.models import IDENTITY_STATUS_LABELS, SEX_LABELS, TEAM_ROLE_LABELS
from ptap.care_teams.schemas import professional_label
from ptap.care_teams.views import bp
from ptap.core.bounds import MAX_DB_INT
from ptap.core.formatting import PARIS, fr_date, ins_format, label, local_date, local_datetime
from ptap.core.ins import INS_OID_LABELS
from ptap.extensions import db

__all__ = ["PARIS", "TEAM_ROLE_LABELS", "label", "local_datetime", "record_url", "acting_user"]
#: The record's tabs: (label, endpoint, key). The last three pages live in views/circle.py.
PATIENT_TABS = (
    ("Dossier", "care_teams.show_patient", "record"),
    ("Plan de coordination", "care_plans.show_plan", "care_plan"),
    ("Parcours", "pathways.patient_pathways", "pathways"),
    ("Messages", "messaging.patient_messages", "messages"),
    ("Événements du parcours", "care_events.patient_events", "events"),
    ("Concertations", "meetings.patient_meetings", "meetings"),
    ("Lettres", "letters.patient_letters", "letters"),
    ("Évaluations", "grids.patient_assessments", "assessments"),
    ("Consentements", "care_teams.consents", "consents"),
    ("Cercle de soins", "care_teams.patient_circle", "circle"),
    ("Historique des accès", "care_teams.access_log", "access_log"),
    ("Espace patient", "patient_space.patient_accounts", "patient_space"),
)


# --- template helpers (also used by the other patient pages through _patient_header.html) ---


@bp.app_template_filter("identity_status_label")
def identity_status_label(value: str) -> str:
    return label(IDENTITY_STATUS_LABELS, value)


@bp.app_template_filter("sex_label")
def sex_label(value: str) -> str:
    return label(SEX_LABELS, value)


@bp.app_template_filter("ins_oid_label")
def ins_oid_label(value: str | None) -> str:
    return label(INS_OID_LABELS, value or "")


# The formatting functions live in ptap.core.formatting (PDFs and other domains use them).
bp.add_app_template_filter(ins_format, "ins_format")
bp.add_app_template_filter(fr_date, "fr_date")
bp.add_app_template_filter(local_datetime, "local_datetime")
bp.add_app_template_filter(local_date, "local_date")


#: Counters shown on a tab for the current user, by tab key (a domain above care_teams
#: registers its own, e.g. messaging's unread messages): patient id -> count (0: no badge).
TAB_BADGES: dict[str, Callable[[int], int]] = {}


def register_tab_badge(key: str, count: Callable[[int], int]) -> None:
    """Show `count(patient_id)` on the record's tab `key` (for the current user)."""
    TAB_BADGES[key] = count


@bp.app_template_global()
def patient_tabs(patient_id: int, active: str = "") -> list[tuple[str, str, bool, int]]:
    """Return the record's tabs as (label, url, current, badge count)."""
    return [
        (
            label,
            url_for(endpoint, patient_id=patient_id),
            key == active,
            TAB_BADGES[key](patient_id) if key in TAB_BADGES else 0,
        )
        for label, endpoint, key in PATIENT_TABS
    ]


def record_url(patient_id: int) -> str:
    """Return the URL of the patient's record page."""
    return url_for("care_teams.show_patient", patient_id=patient_id)


def acting_user() -> User:
    """Return the logged-in user (the object, not Flask-Login's proxy)."""
    return current_user._get_current_object()


# --- choosing a professional by name (autocompletion, and its no-JavaScript fallback) ----------


def chosen_professional(
    form: Any, text_field: str = "person", id_field: str = "user_id", profession: str = ""
) -> User | None:
    """Return the professional a form names: the id the autocompletion (or the fallback list)
    set, else the single active clinician whose name starts with the typed text.

    Otherwise put an error on the id field and, when several people match, the few matches
    on `form.person_choices` for the page to offer as radio buttons; return None.
    """
    hidden = getattr(form, id_field)
    raw = (hidden.data or request.form.get(f"{hidden.name}_choice") or "").strip()
    if raw:
        user = None
        if raw.isascii() and raw.isdecimal() and int(raw) <= MAX_DB_INT:
            user = db.session.get(User, int(raw))
        if user is not None:
            return user
        hidden.errors = ["Choisissez un professionnel."]
        return None
    typed = (getattr(form, text_field).data or "").strip()
    matches = queries.search_professionals(typed, profession=profession) if typed else []
    if len(matches) == 1:
        return matches[0]
    if not typed:
        hidden.errors = ["Indiquez le nom du professionnel."]
    elif not matches:
        hidden.errors = [f"Aucun professionnel actif ne correspond à « {typed} »."]
    else:
        form.person_choices = [(u.id, professional_label(u)) for u in matches]
        hidden.errors = ["Plusieurs professionnels correspondent : choisissez-en un."]
    return None
