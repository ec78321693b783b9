"""Presentation helpers shared by the care-teams pages (template filters, tabs, labels)."""

from __future__ import annotations

from flask import url_for
from flask_login import current_user

from ptap.accounts.models import User
from ptap.care_teams.models import IDENTITY_STATUS_LABELS, SEX_LABELS, TEAM_ROLE_LABELS
from ptap.care_teams.views import bp
from ptap.core.formatting import PARIS, fr_date, ins_format, label, local_date, local_datetime
from ptap.core.ins import INS_OID_LABELS

__all__ = ["PARIS", "TEAM_ROLE_LABELS", "label", "local_datetime", "record_url", "acting_user"]
#: The record's tabs: (label, endpoint, key). The last three pages live in views/circle.py.
PATIENT_TABS = (
    ("Dossier", "care_teams.show_patient", "record"),
    ("Plan de coordination", "care_plans.show_plan", "care_plan"),
    ("Consentements", "care_teams.consents", "consents"),
    ("Cercle de soins", "care_teams.patient_circle", "circle"),
    ("Historique des accès", "care_teams.access_log", "access_log"),
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


@bp.app_template_global()
def patient_tabs(patient_id: int, active: str = "") -> list[tuple[str, str, bool]]:
    """Return the record's tabs as (label, url, current)."""
    return [
        (label, url_for(endpoint, patient_id=patient_id), key == active)
        for label, endpoint, key in PATIENT_TABS
    ]


def record_url(patient_id: int) -> str:
    """Return the URL of the patient's record page."""
    return url_for("care_teams.show_patient", patient_id=patient_id)


def acting_user() -> User:
    """Return the logged-in user (the object, not Flask-Login's proxy)."""
    return current_user._get_current_object()
