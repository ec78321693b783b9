"""Where does an audited read's extra cost go? Diagnostics for docs/performance.md.

Run: .venv/bin/python bench/audit_profile.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
     [--threads 50 --reads 40 --rounds 3 --variants all]

Creates a throwaway database next to `--url` (as bench/audit_throughput.py does), one patient,
then measures "bare" audited reads (the patient row loaded through the ORM, then committed)
in variants that each add or remove ONE suspected cost, so the difference between two lines
is that cost:

- ``read``: the read alone (the unaudited side of the throughput bench);
- ``orm``: the read + ``AuditEvent`` added to the session and flushed (ORM unit of work,
  INSERT ... RETURNING id), as `record_event` did before the change;
- ``orm insert statement``: ``session.execute(insert(AuditEvent), values)``: no object, but
  the ORM's bulk-insert path (the statement names the mapped class);
- ``core``: the read + one Core ``INSERT`` on the Table (no ORM object, no RETURNING), as
  `record_event` does now;
- ``core + returning``: the same with ``RETURNING id`` read back;
- ``record_event``: the read + the product's `record_event` (whatever it currently is);
- ``core, async commit``: as ``core`` on connections opened with ``synchronous_commit =
  off``: a DIAGNOSTIC ONLY (the product never does this), it shows what waiting for the WAL
  flush at commit costs;
- ``core, no indexes``/``core, 3 old indexes``: as ``core`` with no secondary index on
  audit_events, or with the three single-column ones it had before migration 0014 (action,
  actor_id, patient_id) instead of (patient_id, id): what index maintenance costs;
- ``driver sql insert``: the INSERT as a SQL string through ``exec_driver_sql`` (no
  statement compilation or bind processing by SQLAlchemy): what SQLAlchemy Core adds;
- ``read + write nothing``: the read + a Core ``UPDATE`` that matches no row: one more round
  trip and statement, no row, no WAL flush: what an extra statement costs by itself;
- ``psycopg read``/``psycopg read + insert``: the same SQL on raw psycopg connections,
  no SQLAlchemy: the floor the database itself sets.

For each variant, at `--threads`: throughput (reads/s, median and range of `--rounds`, the
variants interleaved in each round so that the machine's load hits them alike), its ratio to
``read``, and the CPU time the Python process spent per read; with `--single N`, also the
median latency of N reads on one thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ptap import create_app  # noqa: E402
from ptap.audit.models import AuditEvent  # noqa: E402
from ptap.audit.services import AuditContext, record_event  # noqa: E402
from ptap.care_teams.models import Patient  # noqa: E402
from ptap.core.models import utcnow  # noqa: E402
from ptap.extensions import db  # noqa: E402

CTX = AuditContext(actor_label="bench", ip_address="127.0.0.1")
CURRENT_INDEX = "CREATE INDEX ix_audit_events_patient_id_id ON audit_events (patient_id, id)"
OLD_INDEXES = [
    "CREATE INDEX ix_old_action ON audit_events (action)",
    "CREATE INDEX ix_old_actor_id ON audit_events (actor_id)",
    "CREATE INDEX ix_old_patient_id ON audit_events (patient_id)",
]
#: Variant -> (DDL before it, DDL after it): the secondary indexes of audit_events it runs with.
INDEX_SETUPS = {
    "core, no indexes": (
        ["DROP INDEX ix_audit_events_patient_id_id"],
        [CURRENT_INDEX],
    ),
    "core, 3 old indexes": (
        ["DROP INDEX ix_audit_events_patient_id_id", *OLD_INDEXES],
        [f"DROP INDEX {ddl.split()[2]}" for ddl in OLD_INDEXES] + [CURRENT_INDEX],
    ),
}


def _values(pid: int) -> dict:
    return {
        "occurred_at": utcnow(),
        "actor_id": None,
        "actor_label": "bench",
        "action": "patient.read",
        "object_type": "patient",
        "object_id": str(pid),
        "patient_id": pid,
        "outcome": "success",
        "reason": "bench",
        "ip_address": "127.0.0.1",
    }


def _orm(pid: int) -> None:
    db.session.add(AuditEvent(**_values(pid)))
    db.session.flush()


_ORM_INSERT = sa.insert(AuditEvent)
_INSERT = sa.insert(AuditEvent.__table__)


def _orm_insert(pid: int) -> None:
    db.session.execute(_ORM_INSERT, _values(pid))


def _core(pid: int) -> None:
    db.session.execute(_INSERT, _values(pid))


def _returning(pid: int) -> None:
    db.session.execute(_INSERT.returning(AuditEvent.__table__.c.id), _values(pid)).scalar_one()


def _record(pid: int) -> None:
    record_event(
        CTX, "patient.read", object_type="patient", object_id=pid, patient_id=pid, reason="bench"
    )


_NOTHING = sa.update(Patient.__table__).where(Patient.__table__.c.id == -1).values(sex="x")


def _nothing(pid: int) -> None:
    db.session.execute(_NOTHING)


def _driver(pid: int) -> None:
    db.session.connection().exec_driver_sql(PG_INSERT, (utcnow(), str(pid), pid))


ORM_VARIANTS: dict[str, Callable[[int], None] | None] = {
    "read": None,
    "orm": _orm,
    "orm insert statement": _orm_insert,
    "core": _core,
    "core + returning": _returning,
    "record_event": _record,
    "core, async commit": _core,
    "core, no indexes": _core,
    "core, 3 old indexes": _core,
    "driver sql insert": _driver,
    "read + write nothing": _nothing,
}


def _orm_worker(app, pid: int, extra, reads: int, start: threading.Event, out: list) -> None:
    start.wait()
    with app.app_context():
        for _ in range(reads):
            began = time.perf_counter()
            patient = db.session.get(Patient, pid, populate_existing=True)
            assert patient is not None
            if extra is not None:
                extra(pid)
            db.session.commit()
            out.append(time.perf_counter() - began)
        db.session.remove()


PG_READ = "SELECT * FROM patients WHERE id = %s"
PG_INSERT = (
    "INSERT INTO audit_events (occurred_at, actor_id, actor_label, action, object_type, "
    "object_id, patient_id, outcome, reason, ip_address) "
    "VALUES (%s, NULL, 'bench', 'patient.read', 'patient', %s, %s, 'success', 'bench', "
    "'127.0.0.1')"
)


def _pg_worker(url: str, pid: int, insert: bool, reads: int, start, out: list) -> None:
    with psycopg.connect(url) as conn:
        start.wait()
        for _ in range(reads):
            began = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute(PG_READ, (pid,))
                cur.fetchone()
                if insert:
                    cur.execute(PG_INSERT, (utcnow(), str(pid), pid))
            conn.commit()
            out.append(time.perf_counter() - began)


def run(target, args: tuple, threads: int, reads: int) -> tuple[float, float, list[float]]:
    """Return (reads/s, Python CPU ms per read, per-read latencies)."""
    start = threading.Event()
    out: list[float] = []
    workers = [
        threading.Thread(target=target, args=(*args, reads, start, out)) for _ in range(threads)
    ]
    for w in workers:
        w.start()
    cpu0 = os.times()
    began = time.perf_counter()
    start.set()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    cpu1 = os.times()
    cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / (threads * reads)
    return threads * reads / elapsed, cpu * 1000, out


ENGINES: dict[str, sa.Engine] = {}


def _use_engine(app, which: str) -> None:
    with app.app_context():
        db.engine.dispose()
    db._app_engines[app][None] = ENGINES[which]  # noqa: SLF001 - bench only


def _prepare(app, url: str, pid: int, variant: str) -> tuple:
    """Return (worker, its arguments) for a variant, after setting up what it needs."""
    if variant == "core, async commit":
        _use_engine(app, "async")
    with app.app_context():
        for ddl in INDEX_SETUPS.get(variant, ([], []))[0]:
            db.session.execute(sa.text(ddl))
        db.session.commit()
        if variant.startswith("psycopg"):
            db.engine.dispose()  # give the pool's connections back for the raw ones
            return _pg_worker, (url, pid, variant.endswith("insert"))
    return _orm_worker, (app, pid, ORM_VARIANTS[variant])


def _restore(app, variant: str) -> None:
    if variant == "core, async commit":
        _use_engine(app, "sync")
    with app.app_context():
        for ddl in INDEX_SETUPS.get(variant, ([], []))[1]:
            db.session.execute(sa.text(ddl))
        db.session.commit()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--reads", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--single", type=int, default=0, help="reads on one thread (0: none)")
    parser.add_argument("--variants", default="all", help="names separated by ;, or all")
    args = parser.parse_args()
    name = f"ptap_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        args.url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = args.url.rsplit("/", 1)[0] + "/" + name
    wanted = None if args.variants == "all" else set(args.variants.split(";"))
    try:
        app = create_app({"ENV": "testing", "DATABASE_URL": url})
        with app.app_context():
            engine = sa.create_engine(
                app.config["SQLALCHEMY_DATABASE_URI"], pool_size=args.threads, max_overflow=0
            )
            ENGINES["sync"] = engine
            ENGINES["async"] = sa.create_engine(
                app.config["SQLALCHEMY_DATABASE_URI"],
                pool_size=args.threads,
                max_overflow=0,
                connect_args={"options": "-c synchronous_commit=off"},
            )
            db.engine.dispose()
            db._app_engines[app][None] = engine  # noqa: SLF001 - bench only
            db.create_all()
            from tests.factories import add_member, make_patient, make_team, make_user

            team = make_team()
            coord = make_user(role="coordinator")
            add_member(team, coord, "coordinator")
            pid = make_patient(team, coord).id
            db.session.commit()
            indexes = sa.inspect(engine).get_indexes("audit_events")
            print("audit_events indexes:", ", ".join(i["name"] or "?" for i in indexes))
        variants = [v for v in ORM_VARIANTS if wanted is None or v in wanted]
        variants += [
            v for v in ("psycopg read", "psycopg read + insert") if wanted is None or v in wanted
        ]
        print(f"{args.threads} threads x {args.reads} reads; {args.rounds} rounds, variants")
        print("interleaved in each round; median (min-max) over the rounds")
        rates: dict[str, list[float]] = {v: [] for v in variants}
        cpus: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(args.rounds):
            for variant in variants:
                target, extra = _prepare(app, url, pid, variant)
                run(target, extra, args.threads, 1)  # warm-up: every pool connection opened
                rate, cpu_ms, _lat = run(target, extra, args.threads, args.reads)
                rates[variant].append(rate)
                cpus[variant].append(cpu_ms)
                _restore(app, variant)
        base = statistics.median(rates[variants[0]])
        print(f"{'variant':<24}{'reads/s':>22}{'ratio':>7}{'CPU ms/read':>13}")
        for variant in variants:
            r, c = rates[variant], statistics.median(cpus[variant])
            spread = f"{statistics.median(r):5.0f} ({min(r):4.0f}-{max(r):4.0f})"
            ratio = statistics.median(r) / base
            print(f"{variant:<24}{spread:>22}{ratio:7.2f}{c:13.2f}", flush=True)
        if args.single:
            print(f"one thread x {args.single} reads: median latency, µs")
            for variant in variants:
                target, extra = _prepare(app, url, pid, variant)
                _, _, lat = run(target, extra, 1, args.single)
                _restore(app, variant)
                print(f"{variant:<24}{statistics.median(lat) * 1e6:9.0f}", flush=True)
        with app.app_context():
            db.engine.dispose()
        return 0
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
