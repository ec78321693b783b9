"""Presentation helpers shared by the care-teams pages (template filters, tabs, labels)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import url_for
from flask_login import current_user

from ptap.accounts.models import User
from ptap.care_teams.models import IDENTITY_STATUS_LABELS, SEX_LABELS
from ptap.care_teams.views import bp
from ptap.core.ins import INS_OID_LABELS

PARIS = ZoneInfo("Europe/Paris")
TEAM_ROLE_LABELS = {"coordinator": "Coordination", "member": "Membre"}
#: The record's tabs: (label, endpoint, key). The last three pages live in views/circle.py.
PATIENT_TABS = (
    ("Dossier", "care_teams.show_patient", "record"),
    ("Plan de coordination", "care_plans.show_plan", "care_plan"),
    ("Consentements", "care_teams.consents", "consents"),
    ("Cercle de soins", "care_teams.patient_circle", "circle"),
    ("Historique des accès", "care_teams.access_log", "access_log"),
)


def label(labels: Mapping[Any, str], value: str) -> str:
    """Return the French label of a stored value (the value itself if unknown)."""
    return labels.get(value, value)


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


@bp.app_template_filter("ins_format")
def ins_format(value: str | None) -> str:
    """Group an INS matricule as printed on the carte Vitale: 2 40 05 69 381 001 | 42."""
    if not value or len(value) != 15:
        return value or ""
    parts = (value[0], value[1:3], value[3:5], value[5:7], value[7:10], value[10:13], value[13:])
    return " ".join(parts)


@bp.app_template_filter("fr_date")
def fr_date(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


@bp.app_template_global()
def patient_tabs(patient_id: int, active: str = "") -> list[tuple[str, str, bool]]:
    """Return the record's tabs as (label, url, current)."""
    return [
        (label, url_for(endpoint, patient_id=patient_id), key == active)
        for label, endpoint, key in PATIENT_TABS
    ]


@bp.app_template_filter("local_datetime")
def local_datetime(value: datetime | None) -> str:
    """Format a UTC datetime as French local time: 05/03/2026 à 14:07."""
    return value.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M") if value else ""


@bp.app_template_filter("local_date")
def local_date(value: datetime | None) -> str:
    """Format a UTC datetime as a French local date: 05/03/2026."""
    return value.astimezone(PARIS).strftime("%d/%m/%Y") if value else ""


def record_url(patient_id: int) -> str:
    """Return the URL of the patient's record page."""
    return url_for("care_teams.show_patient", patient_id=patient_id)


def acting_user() -> User:
    """Return the logged-in user (the object, not Flask-Login's proxy)."""
    return current_user._get_current_object()
