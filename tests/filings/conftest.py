"""Fixtures of the DMP filing tests: two teams, their coordinators and patients, outbox rows."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from ptap import dmp_bridge
from ptap.accounts import services as account_services
from ptap.accounts.models import User
from ptap.audit.context import request_context
from ptap.care_teams.models import CareTeam, Patient
from ptap.dmp_bridge.models import DmpPayload, DmpSubmission
from ptap.extensions import db as _db
from tests.factories import add_member, make_patient, make_team, make_user

_refs = itertools.count(1000)

CDA = b'<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"/>\n'
REQUEST = (
    b"--MIMEBoundary\r\nContent-Type: application/xop+xml\r\n\r\n<Envelope/>\r\n--MIMEBoundary--"
)
REQUEST_TYPE = (
    'multipart/related; boundary="MIMEBoundary"; type="application/xop+xml"; '
    'start-info="application/soap+xml"'
)


@dataclass
class Org:
    """Team A follows `patient` (coordinator, nurse, GP); team B follows `other_patient`."""

    team: CareTeam
    coord: User
    nurse: User
    gp: User
    patient: Patient
    other_team: CareTeam
    other_coord: User
    other_patient: Patient
    admin: User


@pytest.fixture
def org(db) -> Org:
    team = make_team("Équipe Croix-Rousse")
    coord = make_user(role="coordinator", profession="nurse")
    nurse = make_user(profession="nurse")
    gp = make_user(profession="physician")
    add_member(team, coord, "coordinator")
    add_member(team, nurse)
    add_member(team, gp)
    patient = make_patient(team, coord, birth_name="BERNARD", search_birth_name="BERNARD")
    other_team = make_team("Équipe Vaise")
    other_coord = make_user(role="coordinator", profession="nurse")
    add_member(other_team, other_coord, "coordinator")
    other_patient = make_patient(other_team, other_coord)
    admin = make_user(role="admin", profession="administrative")
    return Org(team, coord, nurse, gp, patient, other_team, other_coord, other_patient, admin)


def make_row(
    patient: Patient,
    team: CareTeam | None,
    *,
    by: User | None = None,
    title: str = "Plan personnalisé de coordination en santé — version 1",
    **columns: object,
) -> DmpSubmission:
    """Queue a filing for `patient` (no plan behind it: it is never sent), then set `columns`."""
    n = next(_refs)
    row = dmp_bridge.request_filing(
        kind=dmp_bridge.DocumentKind.PPCS,
        set_key=f"test:{n}",
        source_ref=f"care_plan_version:{n}",
        patient_id=patient.id,
        team_id=team.id if team is not None else None,
        title=title,
        requested_by_id=by.id if by is not None else None,
    )
    for key, value in columns.items():
        setattr(row, key, value)
    _db.session.flush()
    return row


def add_payload(
    row: DmpSubmission,
    cda: bytes | None = CDA,
    request: bytes | None = REQUEST,
    content_type: str = REQUEST_TYPE,
) -> DmpPayload:
    """Store a CDA and a request for `row`, as an attempt would."""
    payload = DmpPayload(
        submission_id=row.id, cda=cda, request=request, request_content_type=content_type
    )
    _db.session.add(payload)
    _db.session.flush()
    return payload


def api_headers(user: User, scopes: tuple[str, ...] = ("api:read", "api:write")) -> dict:
    """A bearer token of `user` with `scopes`."""
    _, plaintext = account_services.create_api_token(
        user, "t", list(scopes), 30, request_context(user)
    )
    return {"Authorization": f"Bearer {plaintext}"}
