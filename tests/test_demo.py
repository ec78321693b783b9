"""`ptap demo`: a believable fictitious territory, valid identifiers, idempotent.

Loads the whole demo (300+ patients through the audited services): about 8 s on SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.models import AuditEvent
from ptap.care_events.models import CareEvent
from ptap.care_plans.models import CarePlan, CarePlanVersion
from ptap.care_teams import access, queries
from ptap.care_teams.identity import IdentityData, validate_identity
from ptap.care_teams.models import (
    CareTeam,
    CircleInvitation,
    ConsentRecord,
    DuplicateFlag,
    Enrolment,
    IdentityStatus,
    Patient,
    PatientContact,
    Structure,
    TeamMembership,
    Territory,
)
from ptap.core import clock
from ptap.core.identifiers import is_valid_rpps, luhn_valid
from ptap.core.ins import InsOid, is_valid_nir
from ptap.demo import load_demo
from ptap.dmp_bridge import DmpSubmission
from ptap.intake.models import SupportRequest
from ptap.messaging.models import Message
from tests.audit.chain import sealed_report

COUNTED = (
    SupportRequest,
    CareEvent,
    CarePlan,
    CarePlanVersion,
    DmpSubmission,
    Message,
    User,
    Territory,
    Structure,
    CareTeam,
    TeamMembership,
    Patient,
    PatientContact,
    Enrolment,
    ConsentRecord,
    CircleInvitation,
    DuplicateFlag,
    AuditEvent,
)


def _counts(db) -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in COUNTED
    }


def _identity(patient: Patient) -> IdentityData:
    return IdentityData(
        birth_name=patient.birth_name,
        first_names=patient.first_names,
        birth_year=patient.birth_year,
        birth_month=patient.birth_month,
        birth_day=patient.birth_day,
        sex=patient.sex,
        birthplace_code=patient.birthplace_code,
        used_name=patient.used_name,
        used_first_name=patient.used_first_name,
        ins_matricule=patient.ins_matricule or "",
        ins_oid=patient.ins_oid or "",
        identity_status=patient.identity_status,
        identity_check_method=patient.identity_check_method,
    )


def _check_patient_space_demo(db) -> None:
    """The demo person's plan version awaits her agreement; her record has accesses."""
    from ptap.care_plans.models import CarePlan, PlanApproval
    from ptap.care_teams.queries import access_log
    from ptap.patient_space.models import PatientAccount

    person = db.session.scalars(
        sa.select(PatientAccount).where(PatientAccount.relationship == "self")
    ).one()
    plan = db.session.scalars(sa.select(CarePlan).filter_by(patient_id=person.patient_id)).one()
    kinds = db.session.scalars(
        sa.select(PlanApproval.kind).filter_by(version_id=plan.current_version_id)
    ).all()
    assert plan.status == "validated" and "patient_agreement" not in kinds
    assert len(access_log(person.patient_id)) >= 3


def test_demo_builds_a_believable_territory_once(app, db):
    accounts = load_demo().accounts
    first = _counts(db)
    assert [a.email.split("@")[0] for a in accounts][:2] == ["admin", "coordination"]
    # 8 professionals' accounts, then the patient space's person and caregiver (issue 16).
    assert len(accounts) == 10
    assert [a.role for a in accounts[8:]] == ["patiente", "aidante"]
    _check_patient_space_demo(db)

    # Organisation: structures with valid-format FINESS, three teams, ended memberships.
    structures = db.session.scalars(sa.select(Structure)).all()
    assert len(structures) >= 2
    assert {s.kind for s in structures} >= {"dac", "cpts"}
    for structure in structures:
        assert structure.finess and len(structure.finess) == 9
        assert structure.finess.startswith("69") and luhn_valid(structure.finess)
    assert first["CareTeam"] == 3
    memberships = db.session.scalars(sa.select(TeamMembership)).all()
    assert any(m.ends_on is not None for m in memberships)
    for team_id in {m.team_id for m in memberships}:
        coordinators = [m for m in memberships if m.team_id == team_id and m.role == "coordinator"]
        assert 1 <= len(coordinators) <= 2

    # Professionals with valid RPPS, across professions.
    clinicians = db.session.scalars(
        sa.select(User).where(User.role.in_(("coordinator", "professional")))
    ).all()
    with_rpps = [u for u in clinicians if u.rpps and is_valid_rpps(u.rpps)]
    assert len(with_rpps) >= 30
    assert {u.profession for u in with_rpps} >= {
        "physician",
        "nurse",
        "pharmacist",
        "physiotherapist",
        "social_worker",
        "dietitian",
        "psychologist",
        "occupational_therapist",
    }

    # Patients: valid test NIRs coherent with the traits, mixed statuses.
    patients = db.session.scalars(sa.select(Patient)).all()
    with_nir = [p for p in patients if p.ins_matricule]
    assert len(with_nir) >= 300
    for patient in patients:
        validate_identity(_identity(patient), allow_test_identities=True)
    for patient in with_nir:
        assert is_valid_nir(patient.ins_matricule)
        assert patient.ins_oid == InsOid.TEST_NIR
        assert patient.ins_matricule[0] == ("1" if patient.sex == "M" else "2")
        assert patient.ins_matricule[1:3] == f"{patient.birth_year % 100:02d}"
        assert patient.ins_matricule[3:5] == f"{patient.birth_month:02d}"
    assert {p.identity_status for p in patients} == set(IdentityStatus)
    assert any(p.birth_day is None for p in patients)
    assert sum(p.sharing_consent for p in patients) > len(patients) * 0.8
    assert any(p.dmp_opposition for p in patients)
    ages = [clock.paris_today().year - p.birth_year for p in patients]
    assert sum(65 <= a <= 97 for a in ages) > len(ages) * 0.8

    # Consent ledger: given, never collected, withdrawn.
    ledger = db.session.scalars(sa.select(ConsentRecord)).all()
    withdrawn = {r.patient_id for r in ledger if r.kind == "sharing" and not r.given}
    assert withdrawn
    assert not any(p.sharing_consent for p in patients if p.id in withdrawn)
    assert any(p.id not in {r.patient_id for r in ledger} for p in patients)

    # Enrolments, contacts, invitations, duplicates.
    enrolments = db.session.scalars(sa.select(Enrolment)).all()
    closed = [e for e in enrolments if e.ended_at is not None]
    assert len(closed) >= 10
    assert all(e.end_reason for e in closed)
    assert {e.end_reason for e in closed} >= {"deceased", "institution", "transferred"}
    assert first["PatientContact"] >= 200
    assert first["CircleInvitation"] >= 3
    assert 2 <= first["DuplicateFlag"] <= 3

    # The demo accounts see patients; the demo coordinator has duplicates to review.
    coordinator = db.session.scalar(sa.select(User).where(User.email.startswith("coordination@")))
    physician = db.session.scalar(sa.select(User).where(User.email.startswith("medecin@")))
    assert coordinator is not None and physician is not None
    assert db.session.scalars(access.visible_patient_ids(coordinator.id)).first()
    assert len(db.session.scalars(access.visible_patient_ids(physician.id)).all()) >= 100
    assert queries.open_duplicates(coordinator.id)
    assert sealed_report().ok

    # A second run adds nothing.
    again = load_demo()
    assert again.accounts == []
    assert again.professionals_created == 0
    assert _counts(db) == first


def _activity(db) -> list[tuple]:
    from ptap.care_events.models import CareEvent
    from ptap.intake.models import SupportRequest

    requests = db.session.execute(
        sa.select(
            SupportRequest.team_id,
            SupportRequest.received_at,
            SupportRequest.status,
            SupportRequest.mission_type,
            SupportRequest.channel,
            SupportRequest.first_answer_at,
        ).order_by(SupportRequest.id)
    ).all()
    events = db.session.execute(
        sa.select(CareEvent.patient_id, CareEvent.kind, CareEvent.occurred_on).order_by(
            CareEvent.id
        )
    ).all()
    return [tuple(r) for r in requests] + [tuple(e) for e in events]


def test_demo_adds_two_years_of_requests_and_breaks(app, db):
    from datetime import timedelta

    from ptap.care_events.models import BREAK_KINDS, CareEvent
    from ptap.demo import load_activity
    from ptap.intake.clocks import deadlines
    from ptap.intake.models import OPEN_STATUSES, RequestStatus, SupportRequest
    from ptap.intake.queries import get_targets, late_requests_clause

    now = clock.now()
    with clock.frozen(now):  # the activity is relative to the clock: one instant for both runs
        load_demo()
    requests = db.session.scalars(sa.select(SupportRequest)).all()
    assert {r.status for r in requests} == set(RequestStatus)
    assert {r.mission_type for r in requests if r.mission_type} == {
        "information",
        "orientation",
        "coordination",
    }
    oldest = min(r.received_at for r in requests)
    assert now - oldest > timedelta(days=600)  # two years of activity
    assert all(r.received_at <= now for r in requests)
    # Every enrolment came from a converted request linked to it.
    enrolments = db.session.scalars(sa.select(Enrolment)).all()
    converted = {r.enrolment_id: r for r in requests if r.status == "converted"}
    assert set(converted) == {e.id for e in enrolments}
    assert all(converted[e.id].patient_id == e.patient_id for e in enrolments)
    # The stored deadlines are those the team's targets give; some open requests are late.
    for req in requests[:50]:
        due = deadlines(req.received_at, get_targets(req.team_id))
        assert req.first_answer_due_at == due.first_answer_due_at
    open_requests = [r for r in requests if r.status in OPEN_STATUSES]
    late = db.session.scalars(sa.select(SupportRequest).where(late_requests_clause(now))).all()
    assert 1 <= len(late) < len(open_requests)
    assert any(r.first_answer_at and r.first_answer_at > r.first_answer_due_at for r in requests)
    # Pathway events within the follow-up, breaks among them, deaths for the deceased.
    events = db.session.scalars(sa.select(CareEvent)).all()
    assert sum(e.kind in BREAK_KINDS for e in events) >= 50
    assert {e.kind for e in events} >= {"unplanned_hospitalisation", "return_home", "death"}
    deceased = {e.patient_id for e in enrolments if e.end_reason == "deceased"}
    assert deceased <= {e.patient_id for e in events if e.kind == "death"}
    assert all(e.occurred_on <= clock.paris_today() for e in events)

    # Plans in every lifecycle state, dated within the follow-up; their DMP filings answered.
    plans = db.session.scalars(sa.select(CarePlan)).all()
    assert {p.status for p in plans} == {
        "draft",
        "validated",
        "active",
        "under_revision",
        "closed",
    }
    versions = db.session.scalars(sa.select(CarePlanVersion)).all()
    assert all(v.created_at <= now for v in versions)
    assert min(v.created_at for v in versions) < now - timedelta(days=180)
    filings = db.session.scalars(sa.select(DmpSubmission)).all()
    assert {"filed", "failed"} <= {f.status for f in filings}
    # Conversations with messages, a few urgent.
    messages = db.session.scalars(sa.select(Message)).all()
    assert len(messages) >= 100
    assert any(m.priority == "urgent" for m in messages)
    # The analysts' aggregates are built: requests and the active file over many months.
    from ptap.monitoring.models import MonitoringCount

    counts = db.session.scalars(sa.select(MonitoringCount)).all()
    assert {"requests_requester", "requests_channel", "file"} <= {c.indicator for c in counts}
    assert len({c.month for c in counts}) >= 20
    # ... and the protected releases of every quarter: the region's, read by every user.
    from ptap.monitoring.models import MonitoringRelease

    stored = db.session.scalars(sa.select(MonitoringRelease)).all()
    assert len({r.quarter for r in stored}) >= 7
    assert {r.scope for r in stored} == {"all"}

    # The same seed gives the same activity.
    with clock.frozen(now):
        before = _activity(db)
        db.session.execute(sa.delete(SupportRequest))
        db.session.execute(sa.delete(CareEvent))
        from ptap.intake.models import TeamIntakeTargets

        db.session.execute(sa.delete(TeamIntakeTargets))
        load_activity()
        again = _activity(db)
    assert again == before


def test_demo_dates_agree_between_the_record_its_access_log_and_its_timeline(app, db):
    """Bug: a demo file said "created today" in the access log, an older date in the timeline."""
    from ptap.care_teams.timeline import patient_timeline

    load_demo()
    today = clock.paris_today()
    events = db.session.execute(
        sa.select(AuditEvent.patient_id, AuditEvent.occurred_at).where(
            AuditEvent.action == "patient.create"
        )
    ).all()
    created = {pid: at for pid, at in events}
    patients = db.session.scalars(sa.select(Patient).where(Patient.id.in_(created))).all()
    assert len(patients) >= 300
    for patient in patients:
        assert clock.paris_day(created[patient.id]) == clock.paris_day(patient.created_at)
    # Dated relative to today: most files are older, a few (and the duplicates) are new.
    assert sum(clock.paris_day(p.created_at) < today for p in patients) > len(patients) * 0.9
    # The consents and their audit events are dated alike.
    consent_days = {
        (r.patient_id, clock.paris_day(r.recorded_at))
        for r in db.session.scalars(sa.select(ConsentRecord))
    }
    audit_days = {
        (pid, clock.paris_day(at))
        for pid, at in db.session.execute(
            sa.select(AuditEvent.patient_id, AuditEvent.occurred_at).where(
                AuditEvent.action == "consent.record"
            )
        )
    }
    assert consent_days <= audit_days
    sample = patients[0]
    story = {e.title: e.at for e in patient_timeline(sample.id)}
    assert clock.paris_day(story["Création du dossier"]) == clock.paris_day(created[sample.id])
    assert sealed_report().ok
