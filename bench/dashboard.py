"""Benchmark of the coordinator dashboard for a large caseload (docs/performance.md).

Run: .venv/bin/python bench/dashboard.py [--caseload 500 --other-patients 4500 --runs 100]

Builds a fresh PostgreSQL database `ptap_dashboard_bench` on 127.0.0.1 (as postgres, dropped at
the end unless --keep) with create_all, bulk-inserts (Core executemany, not the audited
services) one measured team of `--caseload` patients and other teams around it, with two years
of plans, versions, actions, urgent and normal messages, acknowledgements, DMP filings,
emergency accesses, consents, care-pathway events and support requests. It then logs a
coordinator in through the real forms and times, through the WSGI stack (Flask test client:
routing, access guard, queries, template or JSON, audit event and its commit), the page
`/teams/<id>/dashboard` and the API `/api/v1/dashboard/teams/<id>`: p50, p95, max and the
number of SQL statements per request. Target: p95 < 150 ms for 500 patients.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ptap import create_app  # noqa: E402
from ptap.accounts.models import User  # noqa: E402
from ptap.accounts.passwords import hash_password  # noqa: E402
from ptap.care_events.models import CareEvent  # noqa: E402
from ptap.care_plans.models import CarePlan, CarePlanTask, CarePlanVersion  # noqa: E402
from ptap.care_teams.models import (  # noqa: E402
    BreakGlassAccess,
    CareTeam,
    ConsentRecord,
    Enrolment,
    Patient,
    Structure,
    TeamMembership,
    Territory,
)
from ptap.dmp_bridge import DmpDocumentSet, DmpSubmission  # noqa: E402
from ptap.extensions import db  # noqa: E402
from ptap.intake.models import SupportRequest  # noqa: E402
from ptap.messaging.models import Acknowledgement, Conversation, Message  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "ptap_dashboard_bench"
PASSWORD = "bench-password-123456"  # noqa: S105 - a throwaway benchmark account
CHUNK = 5000
NOW = datetime.now(UTC)
TODAY = NOW.date()
SURNAMES = [
    "MARTIN",
    "BERNARD",
    "THOMAS",
    "PETIT",
    "ROBERT",
    "RICHARD",
    "DURAND",
    "DUBOIS",
    "MOREAU",
    "LAURENT",
    "SIMON",
    "MICHEL",
    "LEFEBVRE",
    "LEROY",
    "ROUX",
    "DAVID",
    "BERTRAND",
    "MOREL",
    "FOURNIER",
    "GIRARD",
    "BONNET",
    "DUPONT",
    "LAMBERT",
]
CITIES = (("69004", "Lyon"), ("69100", "Villeurbanne"), ("69300", "Caluire-et-Cuire"), ("", ""))


@contextmanager
def database(keep: bool) -> Iterator[str]:
    """Yield the URL of a fresh empty PostgreSQL database, dropped afterwards."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {PG_DATABASE}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{PG_DATABASE}"
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        admin.dispose()


def insert(model: type[Any], rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        db.session.execute(sa.insert(model), rows[start : start + CHUNK])


def ago(rng: random.Random, days: int) -> datetime:
    return NOW - timedelta(days=rng.uniform(0, days))


def build(rng: random.Random, caseload: int, others: int, teams: int) -> tuple[int, int]:
    """Insert the data set; return the measured team's id and its coordinator's id."""
    hashed = hash_password(PASSWORD)
    territory = Territory(name="Rhône", region_code="84", department_code="69")
    structure = Structure(name="DAC du Rhône", kind="dac", territory=territory)
    db.session.add_all([territory, structure])
    db.session.flush()
    team_ids = []
    for n in range(teams):
        team = CareTeam(
            name=f"Équipe {n + 1}", territory_id=territory.id, structure_id=structure.id
        )
        db.session.add(team)
        db.session.flush()
        team_ids.append(team.id)
    coordinator = User(
        email="coordination@bench.test",
        first_name="Claire",
        last_name="Coordination",
        profession="nurse",
        role="coordinator",
        password_hash=hashed,
        totp_secret=pyotp.random_base32(32),
        totp_confirmed_at=NOW,
        password_changed_at=NOW,
    )
    db.session.add(coordinator)
    db.session.flush()
    users = [
        {
            "email": f"pro{i}@bench.test",
            "first_name": f"Pro{i}",
            "last_name": "Bench",
            "profession": rng.choice(["nurse", "physician", "physiotherapist", "social_worker"]),
            "role": "professional",
            "password_hash": hashed,
            "session_version": 1,
            "failed_logins": 0,
            "totp_last_step": 0,
            "active": True,
            "must_change_password": False,
            "created_at": NOW,
        }
        for i in range(15 * teams)
    ]
    insert(User, users)
    pro_ids = list(db.session.scalars(sa.select(User.id).where(User.role == "professional")))
    memberships = [
        {
            "team_id": team_ids[0],
            "user_id": coordinator.id,
            "role": "coordinator",
            "starts_on": date(2024, 1, 1),
        }
    ]
    members: dict[int, list[int]] = {}
    for i, team_id in enumerate(team_ids):
        members[team_id] = pro_ids[i * 15 : (i + 1) * 15]
        memberships += [
            {"team_id": team_id, "user_id": u, "role": "member", "starts_on": date(2024, 1, 1)}
            for u in members[team_id]
        ]
    insert(TeamMembership, memberships)

    sizes = [caseload] + [others // max(1, teams - 1)] * (teams - 1)
    patients, enrolments = [], []
    pid = 0
    owners: list[tuple[int, int]] = []  # (patient number, team id)
    for team_id, size in zip(team_ids, sizes, strict=True):
        for _ in range(size):
            pid += 1
            postal, city = rng.choice(CITIES)
            consent = rng.random() < 0.93
            patients.append(
                {
                    "id": pid,
                    "birth_name": rng.choice(SURNAMES),
                    "used_name": "",
                    "first_names": rng.choice(["Jeanne Marie", "Paul", "Simone", "André"]),
                    "used_first_name": "",
                    "birth_year": rng.randint(1925, 1960),
                    "birth_month": rng.randint(1, 12),
                    "birth_day": rng.randint(1, 28),
                    "sex": rng.choice("FM"),
                    "birthplace_code": "69381",
                    "identity_status": "qualified" if rng.random() < 0.85 else "provisional",
                    "identity_check_method": "",
                    "search_birth_name": "X",
                    "search_used_name": "",
                    "address": "",
                    "postal_code": postal,
                    "city": city,
                    "phone": "",
                    "email": "",
                    "gp_name": "",
                    "sharing_consent": consent,
                    "dmp_opposition": False,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
            enrolments.append(
                {
                    "id": pid,
                    "patient_id": pid,
                    "team_id": team_id,
                    "requested_on": TODAY - timedelta(days=400),
                    "requester_kind": "gp",
                    "requester_name": "",
                    "problem_categories": "medical",
                    "enrolled_at": ago(rng, 730),
                    "enrolled_by_id": coordinator.id,
                    "end_reason": "",
                    "end_note": "",
                }
            )
            owners.append((pid, team_id))
    insert(Patient, patients)
    insert(Enrolment, enrolments)
    insert(
        ConsentRecord,
        [
            {
                "patient_id": p["id"],
                "kind": "sharing",
                "given": p["sharing_consent"],
                "method": "oral",
                "note": "",
                "document_path": "",
                "document_sha256": "",
                "recorded_by_id": coordinator.id,
                "recorded_at": ago(rng, 700),
            }
            for p in patients
        ],
    )

    plans, versions, tasks = [], [], []
    convs, messages, acks, sets, subs, glass, events = [], [], [], [], [], [], []
    version_id = 0
    message_id = 0
    for n, team_id in owners:
        team_members = members[team_id]
        convs.append(
            {"id": n, "kind": "patient", "patient_id": n, "last_seq": 6, "created_at": NOW}
        )
        for seq in range(1, 7):
            message_id += 1
            urgent = seq == 6 and rng.random() < 0.08
            messages.append(
                {
                    "id": message_id,
                    "conversation_id": n,
                    "seq": seq,
                    "client_id": uuid.uuid4().hex,
                    "author_id": rng.choice(team_members),
                    "body": "Passage fait, RAS.",
                    "body_html": "<p>Passage fait, RAS.</p>",
                    "priority": "urgent" if urgent else "normal",
                    "created_at": ago(rng, 60),
                }
            )
            if urgent and rng.random() < 0.5:
                acks.append(
                    {"message_id": message_id, "user_id": rng.choice(team_members), "at": NOW}
                )
        for _ in range(rng.choice([0, 1, 2, 3])):
            occurred = TODAY - timedelta(days=rng.randint(0, 700))
            events.append(
                {
                    "patient_id": n,
                    "team_id": team_id,
                    "occurred_on": occurred,
                    "kind": rng.choice(
                        [
                            "unplanned_hospitalisation",
                            "emergency_visit",
                            "return_home",
                            "caregiver_loss",
                        ]
                    ),
                    "recorded_at": NOW,
                    "recorded_by_id": rng.choice(team_members),
                    "note": "",
                }
            )
        if rng.random() < 0.02:
            glass.append(
                {
                    "patient_id": n,
                    "user_id": rng.choice(pro_ids),
                    "reason": "Urgence",
                    "created_at": ago(rng, 20),
                    "expires_at": ago(rng, 10),
                    "review_note": "",
                }
            )
        if rng.random() < 0.12:
            continue  # no plan yet
        published = rng.random() < 0.9
        review = TODAY + timedelta(days=rng.randint(-30, 180))
        plan = {
            "id": n,
            "enrolment_id": n,
            "patient_id": n,
            "status": "active",
            "draft": {},
            "draft_revision": 1,
            "draft_updated_at": NOW,
            "next_review_on": None,
            "created_at": NOW,
            "created_by_id": coordinator.id,
            "close_reason": "",
            "current_version_id": None,
        }
        if published:
            version_id += 1
            versions.append(
                {
                    "id": version_id,
                    "plan_id": n,
                    "number": 1,
                    "content": {},
                    "content_hash": uuid.uuid4().hex,
                    "change_summary": "",
                    "next_review_on": review,
                    "created_by_id": coordinator.id,
                    "created_at": NOW,
                    "confidentiality": "normal",
                }
            )
            plan["next_review_on"] = review
            plan["_version"] = version_id
            sets.append(
                {
                    "id": n,
                    "set_key": f"care_plan:{n}",
                    "set_oid": f"2.25.{n}",
                    "kind": "ppcs",
                    "patient_id": n,
                    "created_at": NOW,
                }
            )
            status = rng.choices(["filed", "failed", "blocked"], [0.95, 0.03, 0.02])[0]
            subs.append(
                {
                    "set_id": n,
                    "patient_id": n,
                    "team_id": team_id,
                    "kind": "ppcs",
                    "operation": "file",
                    "source_ref": f"care_plan_version:{version_id}",
                    "title": "PPCS",
                    "version_number": 1,
                    "document_oid": f"2.25.9{n}",
                    "confidentiality": "normal",
                    "status": status,
                    "status_reason": "",
                    "error_code": "",
                    "attempts": 1,
                    "budget_used": 1,
                    "next_attempt_at": NOW,
                    "claimed_by": "",
                    "requested_at": ago(rng, 300),
                    "updated_at": NOW,
                    "entry_uuid": "",
                    "submission_set_oid": "",
                }
            )
        plans.append(plan)
        for k in range(4):
            tasks.append(
                {
                    "plan_id": n,
                    "patient_id": n,
                    "action_key": f"a{k}",
                    "objective": "Maintien",
                    "what": "Passage",
                    "assignee_id": rng.choice(team_members),
                    "due_on": TODAY + timedelta(days=rng.randint(-20, 90)),
                    "status": rng.choices(["planned", "in_progress", "done"], [0.5, 0.2, 0.3])[0],
                }
            )
    insert(CarePlan, [{k: v for k, v in p.items() if k != "_version"} for p in plans])
    insert(CarePlanVersion, versions)
    for p in plans:
        if "_version" in p:
            p["v"] = p["_version"]
    table = CarePlan.__table__
    db.session.connection().execute(
        sa.update(table)
        .where(table.c.id == sa.bindparam("pid"))
        .values(current_version_id=sa.bindparam("v")),
        [{"pid": p["id"], "v": p["v"]} for p in plans if "v" in p],
    )
    insert(CarePlanTask, tasks)
    insert(Conversation, convs)
    insert(Message, messages)
    insert(Acknowledgement, acks)
    insert(DmpDocumentSet, sets)
    insert(DmpSubmission, subs)
    insert(
        BreakGlassAccess, [{**g, "reviewed_at": NOW if rng.random() < 0.7 else None} for g in glass]
    )
    insert(CareEvent, events)
    requests = []
    for team_id in team_ids:
        for _ in range(400 if team_id == team_ids[0] else 60):
            received = ago(rng, 730)
            answered = received + timedelta(days=rng.uniform(0.1, 4))
            waiting = received > NOW - timedelta(days=8) and rng.random() < 0.6
            requests.append(
                {
                    "team_id": team_id,
                    "received_at": received,
                    "requester_kind": "gp",
                    "requester_name": "Dr Bench",
                    "requester_contact": "",
                    "channel": "phone",
                    "person_summary": "",
                    "problem_categories": "medical",
                    "urgent": False,
                    "status": "received" if waiting else "closed",
                    "first_answer_at": None if waiting else answered,
                    "answer_note": "",
                    "first_answer_due_at": received + timedelta(days=2),
                    "evaluation_due_at": received + timedelta(days=14),
                    "ppcs_due_at": received + timedelta(days=60),
                    "outcome_note": "",
                    "created_by_id": coordinator.id,
                    "created_at": received,
                    "updated_at": NOW,
                }
            )
    insert(SupportRequest, requests)
    for table in (
        "patients",
        "enrolments",
        "conversations",
        "messages",
        "care_plans",
        "care_plan_versions",
        "dmp_document_sets",
    ):
        db.session.execute(
            sa.text(
                # Table names from the literal tuple above, not input.
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        )
    db.session.commit()
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()
    print(
        f"data: {len(patients)} patients ({caseload} in the measured team), {len(messages)} "
        f"messages, {len(tasks)} actions, {len(subs)} filings, {len(events)} pathway events, "
        f"{len(requests)} requests"
    )
    return team_ids[0], coordinator.id


def login(client: Any, email: str, secret: str) -> None:
    import re

    token_re = re.compile(r'name="csrf-token" content="([^"]+)"')
    token = token_re.search(client.get("/login").get_data(as_text=True)).group(1)
    first = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    page = client.get("/login/second-factor").get_data(as_text=True)
    code = pyotp.TOTP(secret).now()
    done = client.post(
        "/login/second-factor", data={"code": code, "csrf_token": token_re.search(page).group(1)}
    )
    if done.status_code != 302 or "second-factor" in done.headers.get("Location", "x"):
        raise SystemExit(
            f"login failed: {first.status_code} {first.headers.get('Location')} "
            f"{done.status_code} {done.get_data(as_text=True)[:2000]}"
        )


def measure(label: str, fn: Any, runs: int, engine: sa.Engine) -> None:
    statements: list[int] = []

    def count(*_: Any) -> None:
        statements[-1] += 1

    times = []
    cpu = []
    fn()  # warm-up
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(runs):
            statements.append(0)
            start, start_cpu = time.perf_counter(), time.process_time()
            status = fn()
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            assert status == 200, status
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    times.sort()
    cpu.sort()
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    cpu95 = cpu[max(0, int(len(cpu) * 0.95) - 1)]
    print(
        f"{label:<36} p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms  "
        f"max {times[-1]:6.1f} ms | web CPU p50 {statistics.median(cpu):5.1f} p95 {cpu95:5.1f}"
        f" ms | SQL statements {min(statements)}–{max(statements)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caseload", type=int, default=500)
    parser.add_argument("--other-patients", type=int, default=4500)
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"load average before the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with database(args.keep) as url:
        app = create_app(
            {
                "ENV": "testing",
                "DATABASE_URL": url,
                "SECRET_KEY": "b" * 40,
                "LOGIN_RATE_LIMIT": "1000 per minute",
            }
        )
        with app.app_context():
            db.create_all()
            started = time.perf_counter()
            team_id, coordinator_id = build(rng, args.caseload, args.other_patients, args.teams)
            print(f"built in {time.perf_counter() - started:.1f} s")
            user = db.session.get(User, coordinator_id)
            from ptap.accounts.services import create_api_token
            from ptap.audit.services import SYSTEM

            _, token = create_api_token(user, "bench", ["api:read"], 30, SYSTEM)
            db.session.commit()
            engine = db.engine
            email, secret = user.email, user.totp_secret or ""
        client = app.test_client()
        # Outside any app context: each request gets its own (as in production).
        login(client, email, secret)
        # As `ptap run` does before serving: what is loaded lives as long as the process, so
        # keep it out of the collector's full passes (100+ ms each, bench/messaging.py).
        gc.collect()
        gc.freeze()
        page = f"/teams/{team_id}/dashboard"
        api = f"/api/v1/dashboard/teams/{team_id}"
        headers = {"Authorization": f"Bearer {token}"}
        body = client.get(page).get_data(as_text=True)
        shown = body.count('<tr id="patient-')
        print(f"page shows {shown} patients with something to do, {len(body) // 1024} KiB")
        measure("page  " + page, lambda: client.get(page).status_code, args.runs, engine)
        measure(
            "page, all patients (?show=all)",
            lambda: client.get(page + "?show=all").status_code,
            args.runs,
            engine,
        )
        measure(
            "API   " + api, lambda: client.get(api, headers=headers).status_code, args.runs, engine
        )
        measure(
            "page, filtered (?alert=overdue_actions)",
            lambda: client.get(page + "?alert=overdue_actions").status_code,
            args.runs,
            engine,
        )
        with app.app_context():
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
