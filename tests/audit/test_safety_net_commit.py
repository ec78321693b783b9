"""The after-request safety net commits nothing but audit events.

A view that leaves a write of its own uncommitted (a bug) must not see it committed by the
hook that audits the patients the response shows: the hook rolls it back and writes the
`patient.list` event in a transaction of its own.
"""

import sqlalchemy as sa
from flask import Response

from ptap.audit.context import audit_unaudited_patients, note_patients_shown
from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM, record_event
from ptap.care_teams.models import Patient
from tests.factories import add_member, make_patient, make_team, make_user


def _patient(db) -> Patient:
    team = make_team("Équipe Croix-Rousse")
    coord = make_user(role="coordinator", profession="nurse")
    add_member(team, coord, "coordinator")
    patient = make_patient(team, coord, city="Lyon")
    db.session.commit()
    return patient


def _reload(db, patient: Patient) -> Patient:
    db.session.expire_all()
    return db.session.get(Patient, patient.id)


def _lists(db, patient_id: int) -> list[AuditEvent]:
    return db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "patient.list", AuditEvent.reason.contains(str(patient_id))
        )
    ).all()


def _after_view(app, patient: Patient, view) -> Response:
    with app.test_request_context("/somewhere"):
        note_patients_shown([patient.id])
        view()
        return audit_unaudited_patients(Response("page", status=200))


def test_an_uncommitted_write_of_the_view_is_not_committed(app, db):
    patient = _patient(db)

    def view():
        patient.city = "Villeurbanne"  # left dirty, never committed

    _after_view(app, patient, view)
    assert _reload(db, patient).city == "Lyon"
    assert len(_lists(db, patient.id)) == 1


def test_a_flushed_write_beside_a_pending_audit_event_is_not_committed(app, db):
    patient = _patient(db)

    def view():
        patient.city = "Villeurbanne"
        # record_event flushes the change first, then inserts its row: both pending.
        record_event(SYSTEM, "patient.read", object_type="patient", patient_id=patient.id)

    _after_view(app, patient, view)
    assert _reload(db, patient).city == "Lyon"
    # The audit event went with the rollback: the hook named the patient again.
    assert len(_lists(db, patient.id)) == 1


def test_a_core_write_of_the_view_is_not_committed(app, db):
    patient = _patient(db)

    def view():
        db.session.execute(sa.update(Patient).where(Patient.id == patient.id).values(city="Bron"))

    _after_view(app, patient, view)
    assert _reload(db, patient).city == "Lyon"
    assert len(_lists(db, patient.id)) == 1


def test_a_pending_audit_event_alone_is_committed(app, db):
    patient = _patient(db)

    def view():
        record_event(SYSTEM, "patient.read", object_type="patient", patient_id=patient.id)

    _after_view(app, patient, view)
    db.session.rollback()
    reads = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "patient.read", AuditEvent.patient_id == patient.id
        )
    ).all()
    assert len(reads) == 1
    assert _lists(db, patient.id) == []  # the view's own event names the patient
