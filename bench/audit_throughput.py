"""Benchmark: audited reads under concurrency on PostgreSQL (docs/performance.md).

Run: .venv/bin/python bench/audit_throughput.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
     [--threads 50 --reads 40]

Creates a throwaway database next to `--url`, one patient, then runs `--threads` threads that
each do `--reads` "patient reads" (load the patient row, commit), in three modes:
- no audit: the read alone;
- audited: the read plus `record_event` (an insert, no lock), as every request does now;
- global lock: the read plus the previous design's `audit_heads` row lock before the insert.
Prints reads/s for each mode and the ratio audited / no audit (target >= 0.70).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ptap import create_app  # noqa: E402
from ptap.audit.models import AuditHead  # noqa: E402
from ptap.audit.services import GENESIS_HASH, AuditContext, record_event  # noqa: E402
from ptap.care_teams.models import Patient  # noqa: E402
from ptap.extensions import db  # noqa: E402

CTX = AuditContext(actor_label="bench", ip_address="127.0.0.1")


def _read(app, patient_id: int, reads: int, mode: str, start: threading.Event) -> None:
    start.wait()
    with app.app_context():
        for _ in range(reads):
            patient = db.session.get(Patient, patient_id, populate_existing=True)
            assert patient is not None
            if mode == "global lock":
                db.session.execute(
                    sa.update(AuditHead)
                    .where(AuditHead.id == 1)
                    .values(last_seq=AuditHead.last_seq + 1)
                )
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


def run(app, patient_id: int, threads: int, reads: int, mode: str) -> float:
    start = threading.Event()
    workers = [
        threading.Thread(target=_read, args=(app, patient_id, reads, mode, start))
        for _ in range(threads)
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
            from tests.factories import make_patient, make_team, make_user

            team = make_team()
            patient = make_patient(team, make_user(role="coordinator"))
            db.session.add(AuditHead(id=1, last_seq=0, last_hash=GENESIS_HASH, scan_from=0))
            db.session.commit()
            pid = patient.id
        print(f"{args.threads} threads x {args.reads} reads, best of {args.rounds} rounds")
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for mode in ("no audit", "audited", "global lock"):
                rate = run(app, pid, args.threads, args.reads, mode)
                best[mode] = max(best.get(mode, 0.0), rate)
        for mode, rate in best.items():
            print(f"  {mode:<12} {rate:8.0f} reads/s")
        ratio = best["audited"] / best["no audit"]
        print(f"  ratio audited / no audit: {ratio:.2f} (target >= 0.70)")
        print(f"  ratio global lock / no audit: {best['global lock'] / best['no audit']:.2f}")
        with app.app_context():
            db.engine.dispose()
        return 0 if ratio >= 0.70 else 1
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
