"""Scale benchmark of patient search and lists through need-to-know (docs/performance.md).

Run: .venv/bin/python bench/care_teams.py --db sqlite|postgresql
         [--patients 50000 --professionals 2000 --teams 200 --runs 200]

Builds a throwaway database (SQLite file in a temporary folder; on PostgreSQL a fresh
`ptap_bench` database on 127.0.0.1 as postgres, dropped at the end) with create_all,
bulk-inserts fictitious professionals, teams, memberships, patients, enrolments, consents,
invitations and emergency accesses (Core executemany, not the audited services), then times the
application's own query functions inside an app context and prints p50/p95/max per query.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ptap import create_app  # noqa: E402
from ptap.accounts.models import User  # noqa: E402
from ptap.care_teams import access  # noqa: E402
from ptap.care_teams.identity import search_key  # noqa: E402
from ptap.care_teams.models import (  # noqa: E402
    BreakGlassAccess,
    CareTeam,
    CircleInvitation,
    ConsentRecord,
    Enrolment,
    Patient,
    Structure,
    TeamMembership,
    Territory,
)
from ptap.care_teams.queries import PatientSearch, visible_patients_query  # noqa: E402
from ptap.core.ins import InsOid, with_key  # noqa: E402
from ptap.extensions import db  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "ptap_bench"
CHUNK = 5000
PAGE = 50


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: Common French surnames (the DUP... family included, for the prefix search), each also
#: declined with a few endings to get thousands of distinct birth names.
SURNAMES = _words(
    "MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL "
    "LEFEBVRE LEROY ROUX DAVID BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT FONTAINE "
    "ROUSSEAU VINCENT MULLER LEFEVRE FAURE ANDRE MERCIER BLANC GUERIN BOYER GARNIER CHEVALIER "
    "FRANCOIS LEGRAND GAUTHIER GARCIA PERRIN ROBIN CLEMENT MORIN NICOLAS HENRY ROUSSEL MATHIEU "
    "GAUTIER MASSON MARCHAND DUVAL DENIS DUMONT MARIE LEMAIRE NOEL MEYER DUFOUR MEUNIER BRUN "
    "BLANCHARD GIRAUD JOLY RIVIERE LUCAS BRUNET GAILLARD BARBIER ARNAUD MARTINEZ GERARD ROCHE "
    "RENARD SCHMITT ROY LEROUX COLIN VIDAL CARON PICARD ROGER FABRE AUBERT LEMOINE RENAUD "
    "DUMAS LACROIX OLIVIER PHILIPPE BOURGEOIS PIERRE BENOIT REY LECLERC PAYET ROLLAND LECLERCQ "
    "GUILLAUME LECOMTE LOPEZ JEAN DUPUY GUILLOT HUBERT BERGER CARPENTIER SANCHEZ DUPUIS MOULIN "
    "LOUIS DESCHAMPS HUET VASSEUR PEREZ BOUCHER FLEURY ROYER KLEIN JACQUET ADAM PARIS POIRIER "
    "MARTY AUBRY GUYOT CARRE CHARLES RENAULT CHARPENTIER MENARD MAILLARD BARON BERTIN BAILLY "
    "HERVE SCHNEIDER FERNANDEZ COLLET LEGER BOUVIER JULIEN PREVOST MILLET PERROT DANIEL "
    "DUPRE DUPRAT DUPIN DUPERRON"
)
ENDINGS = ("", "", "", "ET", "IN", "OT", "EAU", "IER", "AUD", "ARD", "ON", "EL", "AT", "Y")
FIRST_F = _words("Jeanne Marie Simone Yvette Paulette Odette Suzanne Monique Colette Denise")
FIRST_M = _words("Jean Pierre André Marcel René Roger Robert Henri Louis Georges")


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def insert(model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Bulk-insert rows through Core executemany (insertmanyvalues), in chunks."""
    table = model.__table__
    for chunk in _chunks(rows):
        db.session.execute(sa.insert(table), chunk)


@dataclass
class Dataset:
    """What the builder made, for picking realistic query arguments."""

    professional_ids: list[int]
    patients_by_team: dict[int, list[int]]
    teams_by_user: dict[int, list[int]]
    nir_by_patient: dict[int, str]
    birth_by_patient: dict[int, tuple[int, int, int]]
    large_team_users: list[int]


def build(
    rng: random.Random, patients: int, professionals: int, teams: int, large_team: int
) -> Dataset:
    """Fill the empty database; return what the measurements need.

    Team 1 follows the first `large_team` patients (a big DAC caseload); the others are spread
    over the other teams at random.
    """
    now = datetime.now(UTC)
    today = now.date()
    db.session.add(Territory(id=1, name="Bench", region_code="84", department_code="69"))
    db.session.add(Structure(id=1, name="Bench DAC", kind="dac", territory_id=1))
    db.session.flush()
    insert(
        CareTeam,
        [
            {
                "id": t,
                "name": f"Équipe {t}",
                "territory_id": 1,
                "structure_id": 1,
                "active": True,
                "created_at": now,
            }
            for t in range(1, teams + 1)
        ],
    )
    professions = ("physician", "nurse", "pharmacist", "physiotherapist", "social_worker")
    insert(
        User,
        [
            {
                "id": u,
                "email": f"pro{u}@bench.test",
                "first_name": f"Prénom{u}",
                "last_name": f"Nom{u}",
                "profession": professions[u % len(professions)],
                "role": "professional",
                "password_hash": "-",
                "must_change_password": False,
                "active": True,
                "totp_last_step": 0,
                "failed_logins": 0,
                "session_version": 1,
                "created_at": now,
            }
            for u in range(1, professionals + 1)
        ],
    )
    # Each professional in one team, a fifth in a second; the first two of a team coordinate.
    memberships: list[dict[str, Any]] = []
    teams_by_user: dict[int, list[int]] = {}
    members_by_team: dict[int, list[int]] = {t: [] for t in range(1, teams + 1)}
    for u in range(1, professionals + 1):
        own = [(u - 1) % teams + 1]
        if rng.random() < 0.2:
            own.append(rng.randint(1, teams))
        for t in dict.fromkeys(own):
            members_by_team[t].append(u)
            ended = rng.random() < 0.05
            memberships.append(
                {
                    "team_id": t,
                    "user_id": u,
                    "role": "coordinator" if len(members_by_team[t]) <= 2 else "member",
                    "starts_on": date(2024, 1, 1),
                    "ends_on": date(2025, 6, 30) if ended else None,
                }
            )
            if not ended:
                teams_by_user.setdefault(u, []).append(t)
    insert(TeamMembership, memberships)
    coordinators = {t: members_by_team[t][:2] for t in members_by_team}
    db.session.execute(
        sa.update(User)
        .where(User.id.in_({c for pair in coordinators.values() for c in pair}))
        .values(role="coordinator")
    )

    names = [s + e for s in SURNAMES for e in ENDINGS]
    patient_rows, enrolments, consents = [], [], []
    patients_by_team: dict[int, list[int]] = {t: [] for t in range(1, teams + 1)}
    nir_by_patient: dict[int, str] = {}
    birth_by_patient: dict[int, tuple[int, int, int]] = {}
    for p in range(1, patients + 1):
        sex = rng.choice("FM")
        year = round(rng.triangular(1925, 1965, 1942))
        month, day = rng.randint(1, 12), rng.randint(1, 28)
        birth_name = rng.choice(names)
        used_name = rng.choice(names) if sex == "F" and rng.random() < 0.4 else ""
        nir = with_key(
            f"{'2' if sex == 'F' else '1'}{year % 100:02d}{month:02d}69{p // 1000:03d}"
            f"{p % 1000:03d}"
        )
        consent = rng.random() < 0.9
        patient_rows.append(
            {
                "id": p,
                "ins_matricule": nir,
                "ins_oid": InsOid.TEST_NIR.value,
                "birth_name": birth_name,
                "used_name": used_name,
                "first_names": rng.choice(FIRST_F if sex == "F" else FIRST_M),
                "used_first_name": "",
                "birth_year": year,
                "birth_month": month,
                "birth_day": day,
                "sex": sex,
                "birthplace_code": "69123",
                "identity_status": "qualified",
                "identity_check_method": "insi_and_document",
                "search_birth_name": search_key(birth_name),
                "search_used_name": search_key(used_name),
                "address": "",
                "postal_code": "",
                "city": "",
                "phone": "",
                "email": "",
                "gp_name": "",
                "sharing_consent": consent,
                "dmp_opposition": False,
                "created_at": now,
                "updated_at": now,
            }
        )
        nir_by_patient[p] = nir
        birth_by_patient[p] = (day, month, year)
        followed = [1 if p <= large_team else rng.randint(2, teams)]
        if rng.random() < 0.05:
            followed.append(rng.randint(1, teams))
        for t in dict.fromkeys(followed):
            ended = rng.random() < 0.05
            enrolments.append(
                {
                    "patient_id": p,
                    "team_id": t,
                    "requested_on": today - timedelta(days=rng.randint(1, 700)),
                    "requester_kind": "gp",
                    "requester_name": "",
                    "problem_categories": "medical",
                    "enrolled_at": now,
                    "enrolled_by_id": rng.choice(coordinators[t]),
                    "ended_at": now if ended else None,
                    "end_reason": "goals_met" if ended else "",
                    "end_note": "",
                }
            )
            if not ended:
                patients_by_team[t].append(p)
        if consent:
            consents.append(
                {
                    "patient_id": p,
                    "kind": "sharing",
                    "given": True,
                    "method": "oral",
                    "note": "",
                    "document_path": "",
                    "document_sha256": "",
                    "recorded_by_id": enrolments[-1]["enrolled_by_id"],
                    "recorded_at": now,
                }
            )
    insert(Patient, patient_rows)
    insert(Enrolment, enrolments)
    insert(ConsentRecord, consents)
    insert(
        CircleInvitation,
        [
            {
                "patient_id": rng.randint(1, patients),
                "user_id": rng.randint(1, professionals),
                "invited_by_id": 1,
                "reason": "",
                "created_at": now,
                "expires_at": now + timedelta(days=rng.choice((-30, 60))),
            }
            for _ in range(patients // 50)
        ],
    )
    insert(
        BreakGlassAccess,
        [
            {
                "patient_id": rng.randint(1, patients),
                "user_id": rng.randint(1, professionals),
                "reason": "Urgence (bench)",
                "created_at": now,
                "expires_at": now + timedelta(hours=rng.choice((-48, 2))),
                "review_note": "",
            }
            for _ in range(patients // 500)
        ],
    )
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return Dataset(
        professional_ids=sorted(teams_by_user),
        patients_by_team=patients_by_team,
        teams_by_user=teams_by_user,
        nir_by_patient=nir_by_patient,
        birth_by_patient=birth_by_patient,
        large_team_users=[u for u, own in teams_by_user.items() if 1 in own],
    )


@dataclass(frozen=True)
class Result:
    name: str
    runs: int
    p50: float
    p95: float
    max: float
    rows: float


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(name: str, runs: int, make: Callable[[int], Callable[[], int]]) -> Result:
    """Time `runs` calls; `make(i)` prepares call i (untimed) and returns it."""
    make(0)()  # warm-up: statement compilation, caches
    timings, rows = [], []
    for i in range(runs):
        call = make(i)
        db.session.expunge_all()
        start = time.perf_counter()
        rows.append(call())
        timings.append((time.perf_counter() - start) * 1000)
    return Result(
        name,
        runs,
        statistics.median(timings),
        _percentile(timings, 0.95),
        max(timings),
        statistics.mean(rows),
    )


def run_measurements(data: Dataset, rng: random.Random, runs: int) -> list[Result]:
    users = [rng.choice(data.professional_ids) for _ in range(runs)]

    def visible_of(user_id: int) -> list[int]:
        return [p for t in data.teams_by_user[user_id] for p in data.patients_by_team[t]]

    def page(user_id: int, search: PatientSearch | None) -> Callable[[], int]:
        stmt = visible_patients_query(user_id, search).limit(PAGE)
        return lambda: len(db.session.scalars(stmt).all())

    def by_name(i: int) -> Callable[[], int]:
        return page(users[i], PatientSearch(name="DUP"))

    def by_ins(i: int) -> Callable[[], int]:
        mine = visible_of(users[i]) or [1]
        return page(users[i], PatientSearch(ins=data.nir_by_patient[rng.choice(mine)]))

    def by_birth(i: int) -> Callable[[], int]:
        mine = visible_of(users[i]) or [1]
        day, month, year = data.birth_by_patient[rng.choice(mine)]
        return page(users[i], PatientSearch(birth_date=f"{day:02d}/{month:02d}/{year}"))

    def first_page(i: int) -> Callable[[], int]:
        return page(users[i], None)

    def page_count(i: int) -> Callable[[], int]:
        # What db.paginate runs besides the page: the total, for the pager.
        sub = visible_patients_query(users[i]).order_by(None).subquery()
        stmt = sa.select(sa.func.count()).select_from(sub)
        return lambda: int(db.session.scalar(stmt) or 0)

    def basis(i: int) -> Callable[[], int]:
        # Half the checks on a patient of the user's teams, half on anyone.
        mine = visible_of(users[i])
        patient_id = (
            rng.choice(mine) if mine and i % 2 == 0 else rng.randint(1, len(data.nir_by_patient))
        )
        user_id = users[i]

        def call() -> int:
            patient = db.session.get(Patient, patient_id)
            assert patient is not None
            return int(access.access_basis(user_id, patient) is not None)

        return call

    large = [rng.choice(data.large_team_users or [0]) for _ in range(runs)]
    big = len(data.patients_by_team[1])

    def large_page(i: int) -> Callable[[], int]:
        return page(large[i], None)

    def large_name(i: int) -> Callable[[], int]:
        return page(large[i], PatientSearch(name="DUP"))

    def large_count(i: int) -> Callable[[], int]:
        sub = visible_patients_query(large[i]).order_by(None).subquery()
        stmt = sa.select(sa.func.count()).select_from(sub)
        return lambda: int(db.session.scalar(stmt) or 0)

    results = [
        measure("(a) search by name prefix 'DUP', LIMIT 50", runs, by_name),
        measure("(b) search by INS", runs, by_ins),
        measure("(c) search by birth date", runs, by_birth),
        measure("(d) patient list, first page (LIMIT 50)", runs, first_page),
        measure("(d') patient list total (db.paginate count)", runs, page_count),
        measure("(e) access_basis for one patient", runs, basis),
    ]
    if big and data.large_team_users:
        results += [
            measure(f"(f) list first page, team of {big} patients", runs, large_page),
            measure(f"(f') list total, team of {big} patients", runs, large_count),
            measure(f"(g) name prefix 'DUP', team of {big} patients", runs, large_name),
        ]
    return results


@contextmanager
def database(kind: str, keep: bool = False) -> Iterator[str]:
    """Yield the URL of a fresh empty database, removed afterwards (unless `keep`)."""
    if kind == "sqlite":
        if keep:
            folder = tempfile.mkdtemp(prefix="ptap-bench-")
            print(f"database kept: {folder}/bench.sqlite3")
            yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
            return
        with tempfile.TemporaryDirectory(prefix="ptap-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        return
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {PG_DATABASE}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{PG_DATABASE}"
    finally:
        if keep:
            print(f"database kept: {PG_DATABASE}")
        else:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--professionals", type=int, default=2_000)
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--large-team", type=int, default=5_000, help="patients of team 1")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--explain", action="store_true", help="print the query plans too")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with database(args.db, args.keep) as url:
        app = create_app({"ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "b" * 32})
        with app.app_context():
            db.create_all()
            start = time.perf_counter()
            data = build(rng, args.patients, args.professionals, args.teams, args.large_team)
            built = time.perf_counter() - start
            print(
                f"{args.db}: {args.patients} patients, {args.professionals} professionals, "
                f"{args.teams} teams built in {built:.1f} s; {args.runs} runs per query"
            )
            if args.explain:
                explain(data)
            results = run_measurements(data, rng, args.runs)
            db.session.remove()
            db.engine.dispose()
    print(f"{'query':<50} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'rows':>6}")
    for r in results:
        print(f"{r.name:<50} {r.p50:>8.2f} {r.p95:>8.2f} {r.max:>8.2f} {r.rows:>6.1f}")
    slow = [r.name for r in results if r.p95 >= 100]
    print("p95 < 100 ms: " + ("yes" if not slow else "NO: " + ", ".join(slow)))
    return 1 if slow else 0


def explain(data: Dataset) -> None:
    """Print the plans of the list and search queries for one professional."""
    user_id = data.professional_ids[0]
    prefix = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
    for label, search in (
        ("name", PatientSearch(name="DUP")),
        ("list", None),
    ):
        stmt = visible_patients_query(user_id, search).limit(PAGE)
        sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
        print(f"--- plan: {label}")
        for row in db.session.execute(sa.text(prefix + sql)):
            print("   ", " | ".join(str(c) for c in row))


if __name__ == "__main__":
    sys.exit(main())
