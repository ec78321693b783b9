"""The scheduler lease: one holder at a time, taken over on expiry, never by two standbys."""

import threading
import time
from datetime import timedelta

from ptap.core import clock
from ptap.core.lease import LeaseKeeper, find_holder, release, try_acquire
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
        with app.app_context(), clock.frozen(later):
            barrier.wait()
            if try_acquire(name, 20):
                winners.append(name)

    threads = [threading.Thread(target=contend, args=(f"standby:{i}",)) for i in range(4)]
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
    app.config["SCHEDULER_LEASE_SECONDS"] = 0.5
    runs: list[str] = []
    job = Job("count", lambda: runs.append("run"), None)  # type: ignore[arg-type]
    keeper = LeaseKeeper(app, "host-a:1")
    assert keeper.renew()
    assert keeper.held()
    time.sleep(0.5)  # a pause: no renewal within the lease
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
