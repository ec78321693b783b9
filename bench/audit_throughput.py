"""Benchmark: audited reads under concurrency on PostgreSQL (docs/performance.md).

Run: .venv/bin/python bench/audit_throughput.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
     [--threads 50 --reads 40]

Creates a throwaway database next to `--url`, a team, a coordinator with an API token and a
patient, then runs `--threads` threads that each do `--reads` audited reads, in three modes:
- no audit: the same read with the audit insert disabled;
- audited: as in production: `record_event` inserts one row (one Core INSERT in the read's
  transaction), no lock (sealed later by a job);
- global lock: the previous design, the `audit_heads` row locked before the insert.
Two levels: "endpoint" = `GET /api/v1/patients/<id>` through the whole app (bearer token,
need-to-know check, audit, JSON), one test client per thread; "bare" = only the patient row
load and the audit insert, each followed by a commit (the worst case for the audit's share).
Prints reads/s per mode (median and range over `--rounds`; the three modes run one after the
other in each round) and the ratio audited / no audit, computed per round then the median
(target >= 0.70). Exit status 1 if the endpoint ratio (or the bare one, with --levels bare)
is below the target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ptap import create_app  # noqa: E402
from ptap.accounts.services import create_api_token  # noqa: E402
from ptap.audit.models import AuditHead  # noqa: E402
from ptap.audit.services import GENESIS_HASH, SYSTEM, AuditContext, record_event  # noqa: E402
from ptap.care_teams import loaders  # noqa: E402
from ptap.care_teams.models import Patient  # noqa: E402
from ptap.extensions import db  # noqa: E402

MODES = ("no audit", "audited", "global lock")
CTX = AuditContext(actor_label="bench", ip_address="127.0.0.1")


def _old_style_lock() -> None:
    db.session.execute(
        sa.update(AuditHead).where(AuditHead.id == 1).values(last_seq=AuditHead.last_seq + 1)
    )


def _audit_mode(mode: str):
    """Return the record_event the endpoint will call in this mode."""
    if mode == "no audit":
        return lambda *args, **kwargs: None
    if mode == "global lock":

        def locked(*args, **kwargs):
            _old_style_lock()
            return record_event(*args, **kwargs)

        return locked
    return record_event


def _request(app, path: str, headers: dict, reads: int, start: threading.Event) -> None:
    client = app.test_client()
    start.wait()
    for _ in range(reads):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.status_code


def _read(app, patient_id: int, mode: str, reads: int, start: threading.Event) -> None:
    start.wait()
    with app.app_context():
        for _ in range(reads):
            patient = db.session.get(Patient, patient_id, populate_existing=True)
            assert patient is not None
            if mode == "global lock":
                _old_style_lock()
            if mode != "no audit":
                record_event(
                    CTX,
                    "patient.read",
                    object_type="patient",
                    object_id=patient_id,
                    patient_id=patient_id,
                    reason="bench",
                )
            db.session.commit()
        db.session.remove()


def run(app, target, args: tuple, threads: int, reads: int) -> float:
    start = threading.Event()
    workers = [
        threading.Thread(target=target, args=(app, *args, reads, start)) for _ in range(threads)
    ]
    for w in workers:
        w.start()
    began = time.perf_counter()
    start.set()
    for w in workers:
        w.join()
    return threads * reads / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--reads", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--levels", default="endpoint,bare", help="endpoint, bare or both")
    args = parser.parse_args()
    name = f"ptap_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        args.url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        app = create_app(
            {"ENV": "testing", "DATABASE_URL": args.url.rsplit("/", 1)[0] + "/" + name}
        )
        with app.app_context():
            # One connection per thread, as 50 web threads or processes would have.
            engine = sa.create_engine(
                app.config["SQLALCHEMY_DATABASE_URI"], pool_size=args.threads, max_overflow=0
            )
            db.engine.dispose()
            db._app_engines[app][None] = engine  # noqa: SLF001 - bench only
            db.create_all()
            from tests.factories import add_member, make_patient, make_team, make_user

            team = make_team()
            coord = make_user(role="coordinator")
            add_member(team, coord, "coordinator")
            patient = make_patient(team, coord)
            _, token = create_api_token(coord, "bench", ["api:read"], 30, SYSTEM)
            db.session.add(AuditHead(id=1, last_seq=0, last_hash=GENESIS_HASH, scan_from=0))
            db.session.commit()
            pid = patient.id
        path, headers = f"/api/v1/patients/{pid}", {"Authorization": f"Bearer {token}"}
        print(f"{args.threads} threads x {args.reads} reads, {args.rounds} rounds, the modes")
        print("interleaved in each round; median (min-max) over the rounds")
        run(app, _read, (pid, "no audit"), args.threads, 1)  # warm-up: open the pool
        ratios: dict[str, float] = {}
        for level in args.levels.split(","):
            rates: dict[str, list[float]] = {mode: [] for mode in MODES}
            for _ in range(args.rounds):
                for mode in MODES:
                    if level == "endpoint":
                        loaders.record_event = _audit_mode(mode)  # type: ignore[assignment]
                        rate = run(app, _request, (path, headers), args.threads, args.reads)
                        loaders.record_event = record_event  # type: ignore[assignment]
                    else:
                        rate = run(app, _read, (pid, mode), args.threads, args.reads)
                    rates[mode].append(rate)
            print(f"{level}:")
            base = rates["no audit"]
            for mode, rate in rates.items():
                # Ratio per round (the modes of a round ran one after the other, under about
                # the same load from the rest of the machine), then the median of those.
                per_round = [r / b for r, b in zip(rate, base, strict=True)]
                print(
                    f"  {mode:<12} {statistics.median(rate):6.0f} ({min(rate):.0f}-{max(rate):.0f})"
                    f" reads/s  ratio {statistics.median(per_round):.2f}"
                    f" ({min(per_round):.2f}-{max(per_round):.2f})"
                )
                if mode == "audited":
                    ratios[level] = statistics.median(per_round)
        for level, ratio in ratios.items():
            print(
                f"{level} ratio audited / no audit (median of rounds): {ratio:.2f} (target >= 0.70)"
            )
        ratio = ratios.get("endpoint", ratios.get("bare", 0.0))
        with app.app_context():
            db.engine.dispose()
        return 0 if ratio >= 0.70 else 1
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
