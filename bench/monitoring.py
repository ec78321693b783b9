"""Benchmark of the regional monitoring on PostgreSQL (docs/performance.md, issue 12 #7).

Run: .venv/bin/python bench/monitoring.py [--scale 1.0] [--runs 60] [--keep]

Builds a fresh `ptap_bench_monitoring` database on 127.0.0.1 (as postgres) with create_all and
fills it with two years of a region's activity, ending now, with INSERT ... SELECT
generate_series (no ORM): at --scale 1.0, 6 territories, 48 teams, 50,000 patients, their
enrolments (60 % ended), care plans, three plan versions each with physician validations, one
DMP filing per version, 15 messages per patient, 1.5 requests per patient (85 % answered)
and pathway events: over a million events. Then it measures:

* the first run of the refresh job (a full build of the aggregates);
* the indicators page (/monitoring, 12 months, every team) and the API
  (/api/v1/monitoring/indicators) as an ARS analyst, p50/p95/max over --runs requests each,
  also filtered on one territory and one team;
* the incremental refresh after a day of activity (one region's day: inclusions, exits,
  plans, versions, messages, requests received and answered, breaks recorded late, filings
  settled, some of them requested months ago);
* within each refresh, the time spent protecting and storing the quarters' releases (the
  pages only read them: "cold" is the first request, parsing the stored release).

--scale 0.05 gives a quick check in about a minute.
"""

from __future__ import annotations

import argparse
import contextvars
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from flask.testing import FlaskClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ptap import create_app  # noqa: E402
from ptap.extensions import db  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "ptap_bench_monitoring"
PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway bench account

FILL = [
    # Territories, structures, 8 teams per territory.
    """INSERT INTO territories (id, name, region_code, department_code)
       SELECT t, 'Territoire ' || t, '84', lpad(t::text, 2, '0') FROM generate_series(1, 6) t""",
    """INSERT INTO structures (id, name, kind, territory_id)
       SELECT t, 'DAC ' || t, 'dac', t FROM generate_series(1, 6) t""",
    """INSERT INTO care_teams (id, name, territory_id, structure_id, active, created_at)
       SELECT t, 'Équipe ' || t, (t - 1) / 8 + 1, (t - 1) / 8 + 1, true, now() - interval '3 years'
       FROM generate_series(1, 48) t""",
    # Professionals of five professions.
    """INSERT INTO users (id, email, first_name, last_name, profession, role, password_hash,
                          must_change_password, active, totp_last_step, failed_logins,
                          session_version, created_at)
       SELECT u, 'pro' || u || '@bench.test', 'Pro', 'Bench' || u,
              (ARRAY['physician','nurse','pharmacist','social_worker','physiotherapist'])[u % 5 + 1],
              'professional', 'x', false, true, 0, 0, 1, now()
       FROM generate_series(1, 400) u""",
    # Patients, with birth years 1920-1990 and both sexes, recorded when they were enrolled
    # (a patient updated now would have the refresh recompute the months of their inclusion).
    """INSERT INTO patients (id, birth_name, used_name, first_names, used_first_name, birth_year,
                             sex, birthplace_code, identity_status, identity_check_method,
                             search_birth_name, search_used_name, address, postal_code, city,
                             phone, email, gp_name, sharing_consent, dmp_opposition, created_at,
                             updated_at)
       SELECT p, 'NOM' || p, '', 'Prenom', '', 1920 + (p * 7919) % 71,
              (ARRAY['F','M'])[p % 2 + 1], '', 'qualified', '', 'NOM' || p, '', '', '', '', '',
              '', '', true, false, e, e
       FROM (SELECT p, now() - interval '730 days' + (p::float / :patients) * interval '729 days' AS e
             FROM generate_series(1, :patients) p) t""",
    # One enrolment per patient over two years; 60 % ended after 1 to 12 months.
    """INSERT INTO enrolments (id, patient_id, team_id, requested_on, requester_kind, requester_name,
                               problem_categories, enrolled_at, enrolled_by_id, ended_at,
                               end_reason, end_note)
       SELECT p, p, (p * 31) % 48 + 1, (e)::date, 'gp', '', 'medical', e, 1,
              CASE WHEN p % 5 < 3 AND e + ((p % 12 + 1) * interval '30 days') < now()
                   THEN e + ((p % 12 + 1) * interval '30 days') END,
              (ARRAY['goals_met','moved','institution','deceased','transferred','other'])[p % 6 + 1],
              ''
       FROM (SELECT p, now() - interval '730 days' + (p::float / :patients) * interval '729 days' AS e
             FROM generate_series(1, :patients) p) s""",
    # A plan for 80 % of enrolments, one day after inclusion; some closed.
    """INSERT INTO care_plans (id, enrolment_id, patient_id, status, draft, draft_revision,
                               draft_updated_at, created_at, created_by_id, closed_at, close_reason)
       SELECT e.id, e.id, e.patient_id, 'active', '{}', 0, e.enrolled_at,
              e.enrolled_at + interval '1 day', 1, e.ended_at, ''
       FROM enrolments e WHERE e.id % 5 <> 0""",
    # Three versions per plan, 40 days apart, each due for re-evaluation after 45 days.
    """INSERT INTO care_plan_versions (plan_id, number, content, content_hash, change_summary,
                                       next_review_on, created_by_id, created_at, confidentiality)
       SELECT cp.id, n, '{}', md5(cp.id || '-' || n), '',
              (cp.created_at + ((n - 1) * interval '40 days') + interval '45 days')::date, 1,
              cp.created_at + ((n - 1) * interval '40 days'), 'normal'
       FROM care_plans cp CROSS JOIN generate_series(1, 3) n
       WHERE cp.created_at + ((n - 1) * interval '40 days') < now()""",
    """INSERT INTO care_plan_approvals (version_id, kind, method, note, recorded_by_id, recorded_at)
       SELECT v.id, 'gp_validation', 'phone', '', 1, v.created_at + interval '3 days'
       FROM care_plan_versions v WHERE v.id % 10 < 7 AND v.created_at + interval '3 days' < now()""",
    # One DMP filing per version: mostly filed, some failed or blocked.
    """INSERT INTO dmp_document_sets (id, set_key, set_oid, kind, patient_id, created_at)
       SELECT v.id, 'care_plan_version:' || v.id, '2.25.' || v.id, 'care_plan', cp.patient_id,
              v.created_at
       FROM care_plan_versions v JOIN care_plans cp ON cp.id = v.plan_id""",
    """INSERT INTO dmp_submissions (set_id, patient_id, team_id, kind, operation, source_ref, title,
                                    version_number, document_oid, confidentiality, status,
                                    status_reason, error_code, attempts, budget_used,
                                    next_attempt_at, claimed_by, requested_at, updated_at,
                                    entry_uuid, submission_set_oid)
       SELECT d.id, d.patient_id, e.team_id, 'care_plan', 'file', d.set_key, '', 1,
              '2.25.9' || d.id, 'normal',
              (ARRAY['filed','filed','filed','filed','filed','filed','filed','failed','blocked','pending'])[d.id % 10 + 1],
              '', '', 1, 1, d.created_at, '', d.created_at, d.created_at, '', ''
       FROM dmp_document_sets d JOIN enrolments e ON e.patient_id = d.patient_id""",
    # Requests (sollicitations): 1.5 per patient, 85 % answered after 1 to 100 hours, those of
    # enrolled people linked to their enrolment.
    """INSERT INTO support_requests (team_id, received_at, requester_kind, requester_name,
                                     requester_contact, channel, patient_id, person_summary,
                                     problem_categories, urgent, mission_type, status,
                                     first_answer_at, answer_note, first_answer_due_at,
                                     evaluation_due_at, ppcs_due_at, outcome_note, created_by_id,
                                     created_at, updated_at)
       SELECT (r * 31) % 48 + 1, rec, (ARRAY['gp','hospital','caregiver','patient','medico_social'])[r % 5 + 1],
              '', '', (ARRAY['phone','phone','email','mssante','form'])[r % 5 + 1], NULL, '', '',
              false, CASE WHEN r % 20 <> 0 THEN (ARRAY['information','orientation','coordination'])[r % 3 + 1] END,
              CASE WHEN r % 20 <> 0 THEN 'answered' ELSE 'received' END,
              CASE WHEN r % 20 <> 0 THEN rec + ((r * 37) % 100 + 1) * interval '1 hour' END, '',
              rec + interval '2 days', rec + interval '14 days', rec + interval '60 days', '', 1,
              rec, rec
       FROM (SELECT r, now() - interval '730 days' + (r::float / (:patients * 1.5)) * interval '729 days' AS rec
             FROM generate_series(1, (:patients * 3) / 2) r) s""",
    # Care-pathway events: 0.4 per patient.
    """INSERT INTO care_events (patient_id, team_id, kind, occurred_on, recorded_at, recorded_by_id, note)
       SELECT e.id, e.team_id,
              (ARRAY['unplanned_hospitalisation','emergency_visit','institution_entry','caregiver_loss','return_home'])[e.id % 5 + 1],
              (e.enrolled_at + interval '20 days')::date, e.enrolled_at + interval '21 days', 1, ''
       FROM enrolments e WHERE e.id % 5 < 2 AND e.enrolled_at + interval '21 days' < now()""",
    # One conversation per patient and 15 messages, spread over the enrolment's first months.
    """INSERT INTO conversations (id, kind, patient_id, last_seq, created_at)
       SELECT p, 'patient', p, 15, now() FROM generate_series(1, :patients) p""",
    """INSERT INTO messages (conversation_id, seq, client_id, author_id, body, body_html, priority,
                             created_at)
       SELECT e.patient_id, s, e.patient_id || '-' || s, (e.patient_id * 7 + s * 13) % 400 + 1,
              '', '', 'normal', e.enrolled_at + s * interval '5 days'
       FROM enrolments e CROSS JOIN generate_series(1, 15) s
       WHERE e.enrolled_at + s * interval '5 days' < now()""",
]

DAY = [
    # A day of the region: new inclusions (with their conversation), exits, plans, versions,
    # messages, and filings that settle, some requested months ago.
    """INSERT INTO patients (id, birth_name, used_name, first_names, used_first_name, birth_year,
                             sex, birthplace_code, identity_status, identity_check_method,
                             search_birth_name, search_used_name, address, postal_code, city,
                             phone, email, gp_name, sharing_consent, dmp_opposition, created_at,
                             updated_at)
       SELECT p, 'NOM' || p, '', 'Prenom', '', 1940, 'F', '', 'qualified', '', 'NOM' || p, '',
              '', '', '', '', '', '', true, false, now(), now()
       FROM generate_series(:base + 1, :base + :new) p""",
    """INSERT INTO enrolments (id, patient_id, team_id, requested_on, requester_kind, requester_name,
                               problem_categories, enrolled_at, enrolled_by_id, end_reason, end_note)
       SELECT p, p, p % 48 + 1, now()::date, 'gp', '', 'medical',
              now() - interval '1 hour', 1, '', ''
       FROM generate_series(:base + 1, :base + :new) p""",
    """INSERT INTO conversations (id, kind, patient_id, last_seq, created_at)
       SELECT p, 'patient', p, 0, now() FROM generate_series(:base + 1, :base + :new) p""",
    """UPDATE enrolments SET ended_at = now() - interval '30 minutes', end_reason = 'goals_met'
       WHERE id IN (SELECT id FROM enrolments WHERE ended_at IS NULL ORDER BY id LIMIT :exits)""",
    """INSERT INTO care_plans (id, enrolment_id, patient_id, status, draft, draft_revision,
                               draft_updated_at, created_at, created_by_id, close_reason)
       SELECT p, p, p, 'draft', '{}', 0, now(), now() - interval '20 minutes', 1, ''
       FROM generate_series(:base + 1, :base + :new) p""",
    """INSERT INTO care_plan_versions (plan_id, number, content, content_hash, change_summary,
                                       next_review_on, created_by_id, created_at, confidentiality)
       SELECT cp.id, (SELECT max(number) + 1 FROM care_plan_versions v WHERE v.plan_id = cp.id),
              '{}', md5('day' || cp.id), '', (now() + interval '60 days')::date, 1,
              now() - interval '10 minutes', 'normal'
       FROM care_plans cp
       WHERE cp.closed_at IS NULL AND EXISTS (SELECT 1 FROM care_plan_versions v WHERE v.plan_id = cp.id)
       ORDER BY cp.id DESC LIMIT :versions""",
    """INSERT INTO messages (conversation_id, seq, client_id, author_id, body, body_html, priority,
                             created_at)
       SELECT c, 1000 + s, 'day-' || c || '-' || s, (c + s) % 400 + 1, '', '', 'normal',
              now() - interval '5 minutes'
       FROM generate_series(greatest(1, :base - 2000), :base - 1) c CROSS JOIN generate_series(1, :per_conv) s""",
    """INSERT INTO support_requests (team_id, received_at, requester_kind, requester_name,
                                     requester_contact, channel, person_summary,
                                     problem_categories, urgent, status, answer_note,
                                     first_answer_due_at, evaluation_due_at, ppcs_due_at,
                                     outcome_note, created_by_id, created_at, updated_at)
       SELECT r % 48 + 1, now() - interval '2 hours', 'gp', '', '', 'phone', '', '', false,
              'received', '', now(), now(), now(), '', 1, now(), now()
       FROM generate_series(1, :requests) r""",
    # Requests of the last weeks answered today (their reception month is recomputed).
    """UPDATE support_requests SET first_answer_at = now(), status = 'answered',
              mission_type = 'orientation', updated_at = now()
       WHERE id IN (SELECT id FROM support_requests WHERE first_answer_at IS NULL
                    ORDER BY id LIMIT :requests)""",
    """INSERT INTO care_events (patient_id, team_id, kind, occurred_on, recorded_at, recorded_by_id, note)
       SELECT e.id, e.team_id, 'emergency_visit', (now() - interval '40 days')::date, now(), 1, ''
       FROM enrolments e WHERE e.ended_at IS NULL ORDER BY e.id LIMIT :breaks""",
    """UPDATE dmp_submissions SET status = 'filed', updated_at = now()
       WHERE id IN (SELECT id FROM dmp_submissions WHERE status IN ('pending', 'failed')
                    ORDER BY id LIMIT :settled)""",
]


class IsolatedClient(FlaskClient):
    """Requests run in their own context, as in production (not in the bench's app context)."""

    def open(self, *args, **kwargs):
        db.session.commit()
        try:
            return contextvars.Context().run(super().open, *args, **kwargs)
        finally:
            db.session.expire_all()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def login(client, email: str) -> None:
    import re

    import pyotp

    from ptap.accounts.models import User

    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    page = client.get("/login/second-factor").text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    user = db.session.scalar(sa.select(User).where(User.email == email))
    code = pyotp.TOTP(user.totp_secret).now()
    response = client.post("/login/second-factor", data={"code": code, "csrf_token": token})
    assert response.status_code == 302, response.status_code


def timed(client, url: str, runs: int) -> tuple[float, float, float, int, float]:
    from ptap.monitoring.releases import clear_cache

    clear_cache()  # the first request reads and parses the stored releases (cold)
    started = time.perf_counter()
    client.get(url)
    cold = (time.perf_counter() - started) * 1000
    times, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        size = len(response.data)
    return statistics.median(times), pct(times, 0.95), max(times), size, cold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    patients = int(50_000 * args.scale)

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {PG_DATABASE}")
    url = f"postgresql://postgres@127.0.0.1:5432/{PG_DATABASE}"
    app = create_app({"ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "b" * 40})
    app.config["RATELIMIT_ENABLED"] = False
    app.test_client_class = IsolatedClient
    try:
        with app.app_context():
            run(app, patients, args)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if not args.keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        admin.dispose()


def run(app, patients: int, args: argparse.Namespace) -> None:
    from ptap.accounts.models import User
    from ptap.accounts.passwords import hash_password
    from ptap.monitoring import tasks
    from ptap.monitoring.tasks import refresh_monitoring_aggregates

    protect = tasks.store_releases
    spent: list[tuple[int, float]] = []

    def timed_releases() -> int:
        started = time.perf_counter()
        computed = protect()
        spent.append((computed, time.perf_counter() - started))
        return computed

    tasks.store_releases = timed_releases  # type: ignore[assignment] - timing only

    def releases_line() -> str:
        computed, seconds = spent[-1]
        return f"  of which protected releases: {computed} quarters x scopes in {seconds:.2f} s"

    db.create_all()
    started = time.perf_counter()
    for statement in FILL:
        db.session.execute(sa.text(statement), {"patients": patients})
    for table in (
        "territories", "structures", "care_teams", "users", "patients", "enrolments",
        "care_plans", "dmp_document_sets", "conversations",
    ):  # fmt: skip
        db.session.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        )
    db.session.commit()
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()
    fill_s = time.perf_counter() - started
    counts = {
        t: db.session.scalar(sa.text(f"SELECT count(*) FROM {t}"))  # noqa: S608 - constant names
        for t in (
            "patients",
            "enrolments",
            "care_plans",
            "care_plan_versions",
            "care_plan_approvals",
            "dmp_submissions",
            "messages",
            "support_requests",
            "care_events",
        )
    }
    events = sum(v for k, v in counts.items() if k != "patients")
    print(f"fill: {fill_s:.1f} s; " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(
        "events (enrolments, plans, versions, validations, filings, messages, requests, "
        f"pathway events): {events:,}"
    )

    started = time.perf_counter()
    rows = refresh_monitoring_aggregates()
    print(
        f"first refresh (full build, 25 months): {time.perf_counter() - started:.2f} s, {rows:,} rows"
    )
    print(releases_line())
    started = time.perf_counter()
    refresh_monitoring_aggregates()
    print(f"refresh with no new activity: {time.perf_counter() - started:.2f} s")
    print(releases_line())

    import pyotp

    analyst = User(
        email="ars@bench.test",
        first_name="Ana",
        last_name="Lyste",
        profession="public_health",
        role="ars_analyst",
        password_hash=hash_password(PASSWORD),
        totp_secret=pyotp.random_base32(32),
        totp_confirmed_at=sa.func.now(),
    )
    db.session.add(analyst)
    db.session.commit()
    client = app.test_client()
    login(client, analyst.email)
    for label, path in (
        ("page, every team, 12 months", "/monitoring"),
        ("API, every team, 12 months", "/api/v1/monitoring/indicators"),
        ("page, one territory", "/monitoring?territory=2"),
        (
            "API, one team, 24 months",
            "/api/v1/monitoring/indicators?team=7&from=" + _months_ago(23),
        ),
        ("CSV export, every team", "/monitoring/export.csv"),
    ):
        p50, p95, worst, size, cold = timed(client, path, args.runs)
        print(
            f"{label:32s} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {worst:6.1f} ms  "
            f"cold {cold:7.1f} ms  ({size:,} bytes)"
        )

    base = db.session.scalar(sa.text("SELECT max(id) FROM patients"))
    day = {
        "base": base,
        "new": max(5, patients // 700),
        "exits": max(3, patients // 1000),
        "versions": max(10, patients // 200),
        "per_conv": max(1, patients // 25_000),
        "settled": max(5, patients // 500),
        "requests": max(5, patients // 500),
        "breaks": max(3, patients // 2000),
    }
    for statement in DAY:
        db.session.execute(sa.text(statement), day)
    db.session.commit()
    started = time.perf_counter()
    rows = refresh_monitoring_aggregates()
    print(
        f"incremental refresh after a day ({day['new']} inclusions, {day['exits']} exits, "
        f"{day['versions']} versions, {2000 * day['per_conv']:,} messages, "
        f"{day['settled']} filings settled, {day['requests']} requests received and as many "
        f"answered, {day['breaks']} breaks of last month): "
        f"{time.perf_counter() - started:.2f} s, {rows:,} rows"
    )
    print(releases_line())
    p50, p95, worst, size, _ = timed(client, "/monitoring", args.runs)
    print(
        f"page after the day's refresh: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {worst:6.1f} ms"
    )


def _months_ago(n: int) -> str:
    from ptap.core import clock

    today = clock.now().date()
    month = today.year * 12 + today.month - 1 - n
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


if __name__ == "__main__":
    main()
