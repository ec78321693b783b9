"""The scheduler lease: one holder at a time, taken over on expiry, never by two standbys."""

import logging
import threading
import time
from datetime import timedelta

import sqlalchemy as sa

from ptap.core import clock
from ptap.core.lease import LeaseKeeper, SchedulerLease, find_holder, release, try_acquire
from ptap.scheduler import Job, run_job


def test_the_first_process_takes_the_lease_and_a_second_cannot(app, db):
    assert try_acquire("host-a:1", 20)
    assert not try_acquire("host-b:2", 20)
    # The holder renews; the other still cannot take it.
    assert try_acquire("host-a:1", 20)
    assert not try_acquire("host-b:2", 20)
    assert find_holder().holder == "host-a:1"


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_renew(app, db):
    assert try_acquire("host-a:1", 20)
    first = find_holder().acquired_at
    db.session.expire_all()
    with clock.frozen(clock.now() + timedelta(seconds=21)):
        assert try_acquire("host-b:2", 20)
        assert not try_acquire("host-a:1", 20)
    lease = find_holder()
    assert lease.holder == "host-b:2"
    assert lease.acquired_at > first


def test_renewal_keeps_the_acquisition_time(app, db):
    assert try_acquire("host-a:1", 20)
    first = find_holder().acquired_at
    db.session.expire_all()
    with clock.frozen(clock.now() + timedelta(seconds=5)):
        assert try_acquire("host-a:1", 20)
    assert find_holder().acquired_at == first


def test_release_lets_a_standby_take_over_at_once(app, db):
    assert try_acquire("host-a:1", 20)
    release("host-b:2")  # not the holder: nothing happens
    assert not try_acquire("host-b:2", 20)
    release("host-a:1")
    assert try_acquire("host-b:2", 20)


def test_two_standbys_racing_for_an_expired_lease_never_both_win(app, db):
    assert try_acquire("dead:0", 1)
    later = clock.now() + timedelta(seconds=5)
    winners: list[str] = []
    barrier = threading.Barrier(4)

    def contend(name: str) -> None:
        with app.app_context():
            barrier.wait()
            if try_acquire(name, 20):
                winners.append(name)

    threads = [threading.Thread(target=contend, args=(f"standby:{i}",)) for i in range(4)]
    # Frozen once for all threads: the clock's source is process-wide, and four threads each
    # freezing and restoring it could leave it frozen for the tests that follow.
    with clock.frozen(later):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(winners) == 1
    db.session.expire_all()
    assert find_holder().holder == winners[0]


def test_a_process_without_the_lease_skips_its_jobs(app, db):
    runs: list[str] = []
    job = Job("count", lambda: runs.append("run"), None)  # type: ignore[arg-type]
    active, standby = LeaseKeeper(app, "host-a:1"), LeaseKeeper(app, "host-b:2")
    assert active.renew()
    assert not standby.renew()
    run_job(app, job, standby)
    assert runs == []
    run_job(app, job, active)
    assert runs == ["run"]


def test_a_holder_paused_past_its_lease_stops_before_a_standby_can_start(app, db):
    # Long enough that a loaded CI machine still sees it held right after renewing.
    app.config["SCHEDULER_LEASE_SECONDS"] = 3
    runs: list[str] = []
    job = Job("count", lambda: runs.append("run"), None)  # type: ignore[arg-type]
    keeper = LeaseKeeper(app, "host-a:1")
    assert keeper.renew()
    assert keeper.held()
    time.sleep(3)  # a pause: no renewal within the lease
    # Its own clock says the lease is stale even before anyone takes it over.
    assert not keeper.held()
    run_job(app, job, keeper)
    assert runs == []
    # Then a standby takes it: the paused process stays standby when it wakes up.
    with clock.frozen(clock.now() + timedelta(seconds=1)):
        assert try_acquire("host-b:2", 20)
    assert not keeper.renew()
    assert not keeper.held()


def test_becoming_active_calls_back_once(app, db):
    calls: list[int] = []
    keeper = LeaseKeeper(app, "host-a:1")
    keeper.on_acquired = lambda: calls.append(1)
    assert keeper.renew()
    assert keeper.renew()
    assert calls == [1]


def test_settings_refuse_a_lease_shorter_than_two_renewals(app):
    from ptap.settings import check

    cfg = dict(app.config)
    assert not [p for p in check(cfg) if p.group == "ops"]
    cfg.update(SCHEDULER_LEASE_SECONDS=5, SCHEDULER_LEASE_RENEW_SECONDS=5)
    [problem] = [p for p in check(cfg) if p.group == "ops"]
    assert "SCHEDULER_LEASE_SECONDS" in problem.message


def _audit_count(db) -> int:  # noqa: ANN001
    from ptap.audit.models import AuditEvent

    db.session.expire_all()
    count = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    db.session.commit()
    return int(count or 0)


def _lease_lost_runs(job_id: str) -> float:
    from ptap.core.metrics import JOB_RUNS

    return JOB_RUNS.labels(job_id, "lease_lost")._value.get()


def test_a_job_whose_lease_is_taken_over_while_it_runs_rolls_back(app, db, caplog):
    from ptap.audit.services import SYSTEM, record_event

    keeper = LeaseKeeper(app, "host-a:1")
    assert keeper.renew()

    def slow_job() -> None:
        # While it runs (a long SMTP send, a pause), the lease expires and a standby takes it.
        with clock.frozen(clock.now() + timedelta(seconds=keeper.seconds + 1)):
            assert try_acquire("host-b:2", 20)
        record_event(SYSTEM, "job.test")
        assert keeper.held()  # the local view has not noticed yet: only the row tells

    before = _lease_lost_runs("taken_over")
    with caplog.at_level(logging.WARNING, logger="ptap"):
        run_job(app, Job("taken_over", slow_job, None), keeper)  # type: ignore[arg-type]
    assert _audit_count(db) == 0
    assert _lease_lost_runs("taken_over") == before + 1
    assert "job taken_over rolled back" in caplog.text
    assert "lease lost" in caplog.text
    assert "job taken_over ok" not in caplog.text


def test_a_job_whose_lease_expired_while_it_ran_rolls_back_even_if_nobody_took_it(app, db):
    from ptap.audit.services import SYSTEM, record_event

    keeper = LeaseKeeper(app, "host-a:1")
    assert keeper.renew()

    def job() -> None:
        with db.engine.begin() as conn:  # the row's expiry passes (renewals stalled)
            conn.execute(
                sa.update(SchedulerLease).values(expires_at=clock.now() - timedelta(seconds=1))
            )
        record_event(SYSTEM, "job.test")

    run_job(app, Job("expired", job, None), keeper)  # type: ignore[arg-type]
    assert _audit_count(db) == 0


def test_a_job_that_still_holds_the_lease_commits(app, db):
    from ptap.audit.services import SYSTEM, record_event

    keeper = LeaseKeeper(app, "host-a:1")
    assert keeper.renew()
    before = _lease_lost_runs("holds")
    run_job(app, Job("holds", lambda: record_event(SYSTEM, "job.test"), None), keeper)  # type: ignore[arg-type]
    assert _audit_count(db) == 1
    assert _lease_lost_runs("holds") == before


def test_a_clean_stop_keeps_renewing_the_lease_while_jobs_drain_then_releases_it(app, db):
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    from ptap.scheduler import stop

    app.config["SCHEDULER_LEASE_SECONDS"] = 1.0
    keeper = LeaseKeeper(app, "host-a:1")
    assert keeper.renew()
    keeper.start_renewing(0.1)
    started, seen = threading.Event(), []

    def long_job() -> None:
        started.set()
        time.sleep(2.0)  # twice the lease: only renewals during the drain keep it
        seen.append(keeper.held())
        with app.app_context():
            seen.append(find_holder().holder)
            db.session.remove()

    scheduler = BackgroundScheduler(timezone="UTC")
    # An interval job, not a one-off one: APScheduler removes a one-off job from its store in
    # its own thread, racing the shutdown on a loaded machine.
    scheduler.add_job(long_job, IntervalTrigger(hours=1), next_run_time=clock.now())
    try:
        scheduler.start()
        assert started.wait(10)
    finally:
        stop(scheduler, keeper)  # what SIGTERM runs
    # The job finished before stop() returned, and the lease was still ours at its end.
    assert seen == [True, "host-a:1"]
    # Renewal stopped before the release: the lease stays released, a standby takes it at once.
    time.sleep(0.3)
    assert not keeper.held()
    db.session.expire_all()
    assert find_holder().expires_at <= clock.now()
    assert try_acquire("host-b:2", 20)


def test_stop_drains_the_jobs_then_stops_renewing_then_releases(app):
    from unittest import mock

    from ptap.scheduler import stop

    calls: list[str] = []
    scheduler = mock.Mock(running=True)
    scheduler.shutdown.side_effect = lambda wait: calls.append(f"shutdown(wait={wait})")
    lease = mock.Mock()
    lease.stop_renewing.side_effect = lambda: calls.append("stop_renewing")
    lease.release.side_effect = lambda: calls.append("release")
    stop(scheduler, lease)
    assert calls == ["shutdown(wait=True)", "stop_renewing", "release"]


def test_a_standby_cannot_take_the_lease_between_the_check_and_the_commit(app, db):
    from ptap.audit.services import SYSTEM, record_event

    order: list[str] = []
    later = clock.now() + timedelta(seconds=60)  # the job's lease has expired by then

    def take_over() -> None:
        with app.app_context(), clock.frozen(later):
            if try_acquire("host-b:2", 20):
                order.append("taken")

    standby = threading.Thread(target=take_over)

    class Keeper(LeaseKeeper):
        def still_held(self) -> bool:
            held = super().still_held()  # the row is now locked until the job's commit
            standby.start()
            standby.join(0.5)  # the takeover waits for the job's transaction
            order.append("checked")
            return held

    keeper = Keeper(app, "host-a:1")
    assert keeper.renew()
    run_job(app, Job("fenced", lambda: record_event(SYSTEM, "job.test"), None), keeper)  # type: ignore[arg-type]
    standby.join(10)
    # The job committed under its lease; the standby took over only after that commit.
    assert order == ["checked", "taken"]
    assert _audit_count(db) == 1
    db.session.expire_all()
    assert find_holder().holder == "host-b:2"
