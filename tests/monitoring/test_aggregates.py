"""The incremental refresh gives the same aggregates as a full recomputation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from ptap.care_teams.models import Enrolment, Patient
from ptap.core import clock
from ptap.extensions import db
from ptap.monitoring import services
from ptap.monitoring.models import MonitoringCount, MonitoringState
from ptap.monitoring.tasks import rebuild_monitoring_aggregates, refresh_monitoring_aggregates
from tests.monitoring.conftest import START, World, simulate


def snapshot() -> dict[tuple, int]:
    rows = db.session.execute(
        sa.select(
            MonitoringCount.territory_id,
            MonitoringCount.team_id,
            MonitoringCount.month,
            MonitoringCount.indicator,
            MonitoringCount.dimension,
            MonitoringCount.value,
        )
    ).all()
    return {tuple(r[:5]): r[5] for r in rows}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_refresh_equals_full_recomputation(db, seed):
    world = World(seed)
    end = simulate(world, 75, per_day=10, run=refresh_monitoring_aggregates)
    with clock.frozen(end + timedelta(minutes=1)):
        refresh_monitoring_aggregates()
        incremental = snapshot()
        rebuild_monitoring_aggregates()
        full = snapshot()
    assert incremental == full
    assert {k[3] for k in full} >= {
        "file",
        "plans",
        "messages",
        "dmp_filings",
        "mix_sex",
        "requests_channel",
        "requests_mission",
        "first_answer_hours",
        "breaks",
    }


def test_a_break_recorded_late_reaches_the_month_it_occurred(db, world):
    simulate(world, 20)
    at = START + timedelta(days=70)
    with clock.frozen(at):
        refresh_monitoring_aggregates()
        world.rng.seed(5)
        enrolment = world.open[0]
        from ptap.care_events.models import CareEvent

        db.session.add(
            CareEvent(
                patient_id=enrolment.patient_id,
                team_id=enrolment.team_id,
                kind="emergency_visit",
                occurred_on=(START + timedelta(days=3)).date(),
                recorded_at=at,
                recorded_by_id=world.coordinators[0].id,
            )
        )
        first = world.requests[0]
        first.first_answer_at = first.first_answer_at or at
        first.updated_at = at
        db.session.commit()
        before = snapshot()
        refresh_monitoring_aggregates()
        incremental = snapshot()
        assert incremental != before
        rebuild_monitoring_aggregates()
        assert snapshot() == incremental


def test_late_status_change_of_an_old_filing_reaches_its_month(db, world):
    simulate(world, 40)
    at = START + timedelta(days=80)  # two months later
    with clock.frozen(at):
        refresh_monitoring_aggregates()
        old = next(s for s in world.submissions if s.requested_at < START + timedelta(days=20))
        old.status = "filed" if old.status != "filed" else "blocked"
        old.updated_at = at
        db.session.commit()
        refresh_monitoring_aggregates()
        incremental = snapshot()
        rebuild_monitoring_aggregates()
        assert snapshot() == incremental


def test_refresh_is_idempotent_and_moves_the_watermark(db, world):
    end = simulate(world, 20)
    with clock.frozen(end):
        refresh_monitoring_aggregates()
        first = snapshot()
        refresh_monitoring_aggregates()
        assert snapshot() == first
        state = db.session.get(MonitoringState, services.STATE_KEY)
        assert state.watermark == end


def test_an_interrupted_run_is_finished_by_the_next(db, world, monkeypatch):
    end = simulate(world, 30)
    calls = {"n": 0}
    real = services.recompute_month

    def crash_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    with clock.frozen(end):
        monkeypatch.setattr(services, "recompute_month", crash_on_second)
        with pytest.raises(RuntimeError):
            refresh_monitoring_aggregates()
        db.session.rollback()
        assert db.session.get(MonitoringState, services.STATE_KEY) is None
        monkeypatch.setattr(services, "recompute_month", real)
        refresh_monitoring_aggregates()
        incremental = snapshot()
        rebuild_monitoring_aggregates()
        assert snapshot() == incremental


def test_counts_match_the_activity(db, world):
    end = simulate(world, 10)
    with clock.frozen(end):
        refresh_monitoring_aggregates()
    counts = snapshot()
    new = sum(v for k, v in counts.items() if k[3] == "file" and k[4] == "new")
    assert new == len(world.patients)
    by_sex = sum(v for k, v in counts.items() if k[3] == "mix_sex")
    assert by_sex == len(world.patients)
    messages = sum(v for k, v in counts.items() if k[3] == "messages")
    assert messages == db.session.scalar(
        sa.select(sa.func.count()).select_from(sa.table("messages"))
    )


def test_a_request_moved_to_another_month_leaves_its_former_month(db, world):
    simulate(world, 40)
    at = START + timedelta(days=45)  # February: January is only refreshed when touched
    with clock.frozen(at):
        refresh_monitoring_aggregates()
        moved = next(r for r in world.requests if r.received_at < START + timedelta(days=10))
        team, january = moved.team_id, date(2026, 1, 1)

        def requests_of_january() -> int:
            return sum(
                v
                for k, v in snapshot().items()
                if k[1] == team and k[2] == january and k[3] == "requests_channel"
            )

        before = requests_of_january()
        moved.received_at = START + timedelta(days=30)  # corrected to February
        moved.first_answer_at = None
        moved.updated_at = at
        db.session.commit()
        refresh_monitoring_aggregates()
        incremental = snapshot()
        assert requests_of_january() == before - 1
        rebuild_monitoring_aggregates()
        assert snapshot() == incremental


def test_a_corrected_patient_sex_reaches_the_month_of_inclusion(db, world):
    simulate(world, 40)
    at = START + timedelta(days=45)
    with clock.frozen(at):
        refresh_monitoring_aggregates()
        enrolment = db.session.scalars(
            sa.select(Enrolment).where(Enrolment.enrolled_at < START + timedelta(days=10))
        ).first()
        patient = db.session.get(Patient, enrolment.patient_id)
        patient.sex = "F" if patient.sex == "M" else "M"
        patient.birth_year -= 40
        db.session.commit()
        before = snapshot()
        refresh_monitoring_aggregates()
        incremental = snapshot()
        assert incremental != before
        rebuild_monitoring_aggregates()
        assert snapshot() == incremental


def test_months_are_paris_calendar_months(db, world):
    assert services.month_of(datetime(2026, 2, 28, 23, 30, tzinfo=UTC)) == date(2026, 3, 1)
    assert services.month_bounds(date(2026, 3, 1)) == (
        datetime(2026, 2, 28, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 31, 22, 0, tzinfo=UTC),
    )
    received = datetime(2026, 2, 28, 23, 30, tzinfo=UTC)  # 1 March, 00:30 in Paris
    with clock.frozen(received):
        world.request(received)
        db.session.commit()
    with clock.frozen(received + timedelta(days=1)):
        refresh_monitoring_aggregates()
    months = {k[2] for k in snapshot() if k[3] == "requests_channel"}
    assert months == {date(2026, 3, 1)}
