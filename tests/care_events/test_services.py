"""Care-pathway events: recording, validation, need-to-know, timeline, withdrawal, audit."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.audit.services import AuditContext
from ptap.care_events import queries, services
from ptap.care_events.models import BREAK_KINDS, CareEventKind, is_break
from ptap.care_teams.timeline import patient_timeline
from ptap.core import clock
from ptap.core.clock import PARIS
from ptap.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ptap.core.policy import can
from tests.factories import add_member, make_patient, make_team, make_user

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=PARIS)


def ctx(user):
    return AuditContext(actor_id=user.id, actor_label=user.email)


@pytest.fixture
def setting(db):
    team, other_team = make_team("DAC Lyon"), make_team("DAC Vienne")
    coordinator = make_user(role="coordinator", profession="nurse")
    member = make_user(profession="nurse")
    outsider = make_user(role="coordinator", profession="nurse")
    add_member(team, coordinator, "coordinator")
    add_member(team, member)
    add_member(other_team, outsider, "coordinator")
    patient = make_patient(team, coordinator)
    with clock.frozen(NOW):
        yield team, coordinator, member, outsider, patient


def hospitalisation(**changes):
    values = {
        "kind": "unplanned_hospitalisation",
        "occurred_on": date(2026, 12, 5),
        "note": "Chute, fracture du col.",
    }
    values.update(changes)
    return services.CareEventData(**values)


def test_break_kinds():
    assert is_break("emergency_visit") and is_break(CareEventKind.CAREGIVER_LOSS)
    assert not is_break("return_home") and not is_break("death")
    assert set(CareEventKind) >= BREAK_KINDS


def test_a_member_records_a_break_shown_on_the_timeline(db, setting):
    team, _coordinator, member, _outsider, patient = setting
    event = services.record_care_event(member, patient, hospitalisation(), ctx(member))
    assert event.team_id == team.id and event.is_break
    entries = [e for e in patient_timeline(patient.id) if e.kind.startswith("care_event")]
    assert [e.title for e in entries] == ["Rupture de parcours : Hospitalisation non programmée"]
    assert entries[0].at.date() == date(2026, 12, 5)
    audit = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.object_type == "care_event")
    ).all()
    assert audit == ["care_event.record"]
    assert [b.id for b in queries.recent_breaks([team.id], date(2026, 12, 1))] == [event.id]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "alien_abduction"}, "kind"),
        ({"occurred_on": date(2026, 12, 8)}, "occurred_on"),
        ({"occurred_on": date(2010, 1, 1)}, "occurred_on"),
        ({"note": "x" * 10_001}, "note"),
        ({"team_id": 999_999}, "team_id"),
    ],
)
def test_malformed_events_are_refused(db, setting, changes, field):
    _team, _coordinator, member, _outsider, patient = setting
    with pytest.raises(InvalidInput) as error:
        services.record_care_event(member, patient, hospitalisation(**changes), ctx(member))
    assert error.value.field == field


def test_outsiders_and_analysts_cannot_record_nor_read(db, setting):
    _team, _coordinator, member, outsider, patient = setting
    analyst = make_user(role="ars_analyst", profession="other")
    for user in (outsider, analyst):
        with pytest.raises(PermissionDenied):
            services.record_care_event(user, patient, hospitalisation(), ctx(user))
        assert not can(user, "care_events.list", patient)
    event = services.record_care_event(member, patient, hospitalisation(), ctx(member))
    with pytest.raises(NotFound):
        queries.get_event(outsider, patient.id, event.id)
    assert queries.get_event(member, patient.id, event.id) is event


def test_withdrawal_by_the_recorder_or_a_coordinator(db, setting):
    _team, coordinator, member, outsider, patient = setting
    other_member = make_user(profession="physician")
    add_member(_team, other_member)
    event = services.record_care_event(member, patient, hospitalisation(), ctx(member))
    with pytest.raises(PermissionDenied):
        services.withdraw_care_event(other_member, event, ctx(other_member))
    with pytest.raises(PermissionDenied):
        services.withdraw_care_event(outsider, event, ctx(outsider))
    services.withdraw_care_event(coordinator, event, ctx(coordinator))
    assert queries.list_patient_events(patient.id) == []
    assert not [e for e in patient_timeline(patient.id) if e.kind.startswith("care_event")]
    with pytest.raises(Conflict):
        services.withdraw_care_event(member, event, ctx(member))


def test_a_return_home_is_not_a_break(db, setting):
    _team, _coordinator, member, _outsider, patient = setting
    services.record_care_event(
        member, patient, hospitalisation(kind="return_home", note=""), ctx(member)
    )
    entries = [e for e in patient_timeline(patient.id) if e.kind.startswith("care_event")]
    assert [(e.kind, e.title) for e in entries] == [("care_event", "Retour à domicile")]
