"""The patient timeline: entries from every provider, newest first."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext
from ptap.care_teams import circle, services, timeline
from ptap.care_teams.identity import IdentityData
from ptap.care_teams.models import CareTeam, Enrolment, Patient
from ptap.care_teams.timeline import TimelineEntry, patient_timeline, register_provider
from ptap.core.ins import InsOid
from tests.factories import add_member, make_team, make_user, valid_nir

REASON = "Chute au domicile, appel du SAMU, traitement en cours inconnu."
REQUEST = services.EnrolmentRequest(date(2026, 1, 5), "gp", "", ("medical",))


def ctx(user: User) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=user.email)


def new_patient(coord: User, team: CareTeam, name: str = "Dupont") -> Patient:
    data = IdentityData(
        birth_name=name,
        first_names="Marie",
        birth_year=1940,
        birth_month=5,
        birth_day=12,
        sex="F",
        birthplace_code="69381",
        ins_matricule=valid_nir("F", 1940, 5),
        ins_oid=InsOid.TEST_NIR,
        identity_status="validated",
        identity_check_method="passport",
    )
    return services.create_patient(coord, team, data, REQUEST, ctx(coord))


@pytest.fixture
def story(db) -> tuple[Patient, User, User, CareTeam]:
    """A patient created, consenting, opening to an emergency access, then discharged."""
    team = make_team("Équipe Croix-Rousse")
    coord = make_user(role="coordinator", profession="nurse")
    outsider = make_user(profession="physician")
    add_member(team, coord, "coordinator")
    patient = new_patient(coord, team)
    circle.record_consent(coord, patient, "sharing", True, "oral", "", ctx(coord))
    circle.record_consent(coord, patient, "dmp_opposition", True, "oral", "", ctx(coord))
    circle.open_break_glass(outsider, patient, REASON, ctx(outsider))
    circle.record_consent(coord, patient, "sharing", False, "oral", "", ctx(coord))
    enrolment = db.session.scalars(
        sa.select(Enrolment).where(Enrolment.patient_id == patient.id)
    ).one()
    services.end_enrolment(coord, enrolment, "moved", "", ctx(coord))
    return patient, coord, outsider, team


def test_timeline_tells_the_story_newest_first(db, story):
    patient, coord, outsider, team = story
    entries = patient_timeline(patient.id)
    assert [(e.kind, e.title) for e in entries] == [
        ("enrolment", f"Sortie de l'équipe {team.name}"),
        (
            "consent",
            "Information et accord au partage au sein du cercle de soins : retiré",
        ),
        ("break_glass", "Accès en urgence (bris de glace)"),
        ("consent", "Opposition à l'alimentation du DMP : exprimé"),
        (
            "consent",
            "Information et accord au partage au sein du cercle de soins : exprimé",
        ),
        ("enrolment", f"Entrée dans l'équipe {team.name}"),
        ("patient", "Création du dossier"),
    ]
    times = [e.at for e in entries]
    assert times == sorted(times, reverse=True)
    assert all(e.at.tzinfo is not None for e in entries)
    by_kind = {(e.kind, e.title): e for e in entries}
    assert by_kind[("patient", "Création du dossier")].actor == coord.full_name
    assert by_kind[("enrolment", f"Entrée dans l'équipe {team.name}")].actor == coord.full_name
    discharge = entries[0]
    assert discharge.detail == "Déménagement hors du territoire"
    glass = by_kind[("break_glass", "Accès en urgence (bris de glace)")]
    assert (glass.actor, glass.detail) == (outsider.full_name, REASON)
    assert entries[1].actor == coord.full_name


def test_timeline_is_per_patient(db, story):
    patient, coord, _outsider, team = story
    other = new_patient(coord, team, "Martin")
    entries = patient_timeline(other.id)
    assert [e.kind for e in entries] == ["enrolment", "patient"]
    assert len(patient_timeline(patient.id)) == 7


def test_timeline_of_an_unknown_patient_is_empty(db):
    assert patient_timeline(999_999) == []


def test_a_provider_registered_by_another_domain_shows_up(db, story):
    patient, _coord, _outsider, _team = story
    entries_before = patient_timeline(patient.id)
    # One hour after the discharge: the newest entry.
    at = entries_before[0].at + timedelta(hours=1)
    calls: list[int] = []

    def care_plans(patient_id: int) -> list[TimelineEntry]:
        calls.append(patient_id)
        return [TimelineEntry(at, "care_plan", "Plan personnalisé publié", actor="Dr Martin")]

    count = len(timeline.PROVIDERS)
    try:
        assert register_provider(care_plans) is care_plans
        register_provider(care_plans)  # idempotent
        assert len(timeline.PROVIDERS) == count + 1
        entries = patient_timeline(patient.id)
        assert calls == [patient.id]
        assert entries[0] == TimelineEntry(
            at, "care_plan", "Plan personnalisé publié", actor="Dr Martin"
        )
        assert entries[1:] == entries_before
    finally:
        timeline.PROVIDERS.remove(care_plans)
    assert care_plans not in timeline.PROVIDERS
    assert patient_timeline(patient.id) == entries_before


def test_a_provider_entry_sorts_among_the_others(db, story):
    patient, _coord, _outsider, _team = story
    entries_before = patient_timeline(patient.id)
    # Just after the creation, before the enrolment.
    at = entries_before[-1].at + (entries_before[-2].at - entries_before[-1].at) / 2

    def meetings(patient_id: int) -> list[TimelineEntry]:
        return [TimelineEntry(at, "meeting", "Réunion de concertation")]

    register_provider(meetings)
    try:
        kinds = [e.kind for e in patient_timeline(patient.id)]
    finally:
        timeline.PROVIDERS.remove(meetings)
    assert kinds[-3:] == ["enrolment", "meeting", "patient"]
