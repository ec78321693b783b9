"""Two real `ptap scheduler` processes: one runs the jobs; SIGKILLed, the other takes over.

Short lease settings (8 s, renewed every 0.5 s; with 2 s a holder starved of CPU by a loaded
machine had its lease taken over, as designed, before the test killed it):
once both processes run, the test takes about 15 s.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ptap.core import clock
from ptap.core.heartbeat import SchedulerHeartbeat
from ptap.core.lease import find_holder

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env(database_url: str, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PTAP_", "FLASK_"))}
    env.update(
        PTAP_ENV="development",
        PTAP_DATABASE_URL=database_url,
        PTAP_UPLOAD_FOLDER=str(folder / "uploads"),
        PTAP_LOG_FORMAT="json",
        PTAP_LOG_LEVEL="DEBUG",
        PTAP_MAIL_TRANSPORT="none",
        PTAP_DMP_TRANSPORT="fake",
        PTAP_SCHEDULER_LEASE_SECONDS="8",
        PTAP_SCHEDULER_LEASE_RENEW_SECONDS="0.5",
        PTAP_SCHEDULER_HEARTBEAT_SECONDS="0.5",
        PTAP_DMP_SEND_INTERVAL_SECONDS="1",
        PTAP_MAIL_SEND_INTERVAL_SECONDS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape(port: int) -> str:
    """Read a scheduler's metrics (its listener may still be starting on a busy machine)."""
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _runs(log: Path) -> list[tuple[float, str]]:
    """Return (time, job id) of every job run a scheduler's JSON log records."""
    runs = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("job_id") and record.get("outcome"):
            runs.append((_epoch(record["time"]), record["job_id"]))
    return runs


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def _beat(db) -> SchedulerHeartbeat | None:  # noqa: ANN001
    db.session.expire_all()
    beat = db.session.get(SchedulerHeartbeat, "scheduler")
    db.session.commit()
    return beat


def _wait(predicate, seconds: float, what: str, logs: dict[str, Path]):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    shown = "\n".join(
        f"--- {name}\n{log.read_text(errors='replace')[-3000:]}" for name, log in logs.items()
    )
    pytest.fail(f"timed out waiting for {what}\n{shown}")


def test_one_scheduler_runs_the_jobs_and_the_other_takes_over_when_it_dies(
    app, db, database_url, tmp_path
):
    env = _env(database_url, tmp_path)
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b")}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    ports = {name: _free_port() for name in logs}
    try:
        for name, log in logs.items():
            with log.open("wb") as out:  # the child keeps its own descriptor
                processes[name] = subprocess.Popen(
                    [str(BIN / "ptap"), "scheduler"],
                    env={**env, "PTAP_SCHEDULER_METRICS_PORT": str(ports[name])},
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        pids = {str(p.pid): name for name, p in processes.items()}

        def active() -> str | None:
            beat = _beat(db)
            return pids.get(beat.process.rsplit(":", 1)[-1]) if beat else None

        # Start-up time is not what is tested (minutes on a loaded machine): wait for both.
        _wait(
            lambda: all(
                "PTAP scheduler" in log.read_text(errors="replace") for log in logs.values()
            ),
            120,
            "both schedulers to start",
            logs,
        )
        first = _wait(active, 30, "a first active scheduler", logs)
        other = "b" if first == "a" else "a"
        # Both run for a while: only the active one runs jobs, the other stays standby.
        time.sleep(2)
        assert _runs(logs[first]), logs[first].read_text()
        assert _runs(logs[other]) == [], logs[first].read_text() + "=====" + logs[other].read_text()
        assert find_holder().holder.endswith(f":{processes[first].pid}")
        db.session.commit()
        # Each process's metrics listener says whether it is the active one.
        assert "ptap_scheduler_active 1.0" in _scrape(ports[first])
        assert "ptap_scheduler_active 0.0" in _scrape(ports[other])
        assert 'ptap_job_runs_total{job="scheduler_heartbeat",outcome="ok"}' in _scrape(
            ports[first]
        )

        processes[first].send_signal(signal.SIGKILL)
        processes[first].wait(5)
        killed_at = time.time()
        _wait(lambda: active() == other, 30, "the standby to take over", logs)
        took_over = time.time() - killed_at
        assert took_over < 30
        time.sleep(1)
        before, after = _runs(logs[first]), _runs(logs[other])
        assert after, logs[other].read_text()
        # No overlap: every run of the new holder comes after the last run of the dead one.
        assert max(t for t, _ in before) < min(t for t, _ in after)
        assert min(t for t, _ in after) >= killed_at - 0.5
        assert "scheduler lease acquired" in logs[other].read_text()
        assert "ptap_scheduler_active 1.0" in _scrape(ports[other])
        # A clean stop (systemd's SIGTERM) releases the lease: a standby need not wait for it.
        processes[other].send_signal(signal.SIGTERM)
        assert processes[other].wait(60) == 0
        db.session.expire_all()
        assert find_holder().expires_at <= clock.now()
        db.session.commit()
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(5)
