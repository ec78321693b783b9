"""Benchmark of the PPCS PDF: a five-page care plan rendered 20 times (docs/performance.md).

Run: .venv/bin/python bench/care_plan_pdf.py [--pages 5 --runs 20 --target 1.0 --keep-gc]

Builds a throwaway SQLite database (temporary folder) with a team of five professionals and a
qualified patient, through the audited services (create_plan, save_draft, publish_version). It
then finds how many actions make a plan of exactly `--pages` pages (page count read back from
the PDF with pypdf), publishes that plan, and times `render_version_pdf(version)` end to end
(loading the version's sources, building the context, Jinja, WeasyPrint layout, PDF/A-1b
writing) after one untimed warm-up, in wall-clock and CPU time. It also times the FHIR export of
the same version. Prints p50/p95/max; exits 1 when the wall-clock p95 misses the target.
`--keep-gc` leaves the garbage collector on during renders (the "before" figures).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from io import BytesIO
from pathlib import Path

import sqlalchemy as sa
from pypdf import PdfReader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ptap import create_app  # noqa: E402
from ptap.accounts.models import User  # noqa: E402
from ptap.audit.services import SYSTEM  # noqa: E402
from ptap.care_plans import services  # noqa: E402
from ptap.care_plans.content import (  # noqa: E402
    Action,
    ActionStatus,
    ActionType,
    Objective,
    PlanContent,
    Problem,
    UnmetObjective,
)
from ptap.care_plans.documents import (  # noqa: E402
    PDF_VARIANT,
    TEMPLATE,
    load_sources,
    render_version_pdf,
    version_document,
)
from ptap.care_plans.fhir import version_bundle  # noqa: E402
from ptap.care_plans.models import CarePlan, CarePlanVersion  # noqa: E402
from ptap.care_teams.models import Enrolment, PatientContact  # noqa: E402
from ptap.core import pdf as core_pdf  # noqa: E402
from ptap.core.pdf import render_pdf  # noqa: E402
from ptap.extensions import db  # noqa: E402
from tests.factories import add_member, make_patient, make_team, make_user, valid_rpps  # noqa: E402

ACTIONS_PER_OBJECTIVE = 6
WHAT = (
    "Séance de kinésithérapie : renforcement musculaire et travail de l'équilibre",
    "Réévaluer le traitement diurétique après le bilan sanguin",
    "Mettre en place le portage des repas (CCAS), cinq jours sur sept",
    "Visite à domicile de l'ergothérapeute pour aménager la salle de bains",
    "Atelier d'éducation thérapeutique sur l'insuffisance cardiaque",
    "Appeler le fils chaque semaine pour faire le point",
)
HEADERS = ("p50", "p95", "max", "cpu p50", "cpu p95", "cpu max")
STATUSES = tuple(s for s in ActionStatus if s != ActionStatus.NOT_ACHIEVED)


@dataclasses.dataclass
class World:
    coord: User
    team_users: list[User]
    plan: CarePlan


def build_world() -> World:
    """A team of five around a qualified patient, with an empty plan led by the coordinator."""
    team = make_team("Équipe Croix-Rousse")
    coord = make_user(role="coordinator", profession="care_coordinator", first_name="Claire")
    professions = ("physician", "nurse", "physiotherapist", "social_worker")
    others = [
        make_user(profession=p, rpps=valid_rpps(900 + i), first_name=f"Pro{i}")
        for i, p in enumerate(professions)
    ]
    add_member(team, coord, "coordinator")
    for user in others:
        add_member(team, user)
    patient = make_patient(
        team,
        coord,
        birth_name="DUPONT",
        search_birth_name="DUPONT",
        first_names="Jeanne Marie Louise",
        gp_user_id=others[0].id,
    )
    db.session.add(
        PatientContact(patient_id=patient.id, kind="caregiver", name="Pierre Dupont", phone="06")
    )
    enrolment = db.session.scalars(
        sa.select(Enrolment).where(Enrolment.patient_id == patient.id)
    ).one()
    plan = services.create_plan(coord, enrolment, SYSTEM)
    return World(coord, [coord, *others], plan)


def content(world: World, actions: int) -> PlanContent:
    """A realistic plan with `actions` actions, six per objective."""
    problems = [
        Problem(dimension="medical", description="Chutes répétées (trois en six mois)"),
        Problem(dimension="medical", description="Insuffisance cardiaque, décompensations"),
        Problem(dimension="psychological", description="Humeur triste depuis un deuil"),
        Problem(dimension="social", description="Isolement : vit seule, fils à 200 km"),
        Problem(dimension="environmental", description="Salle de bains inadaptée"),
    ]
    objectives = []
    for o in range(0, actions, ACTIONS_PER_OBJECTIVE):
        items = [
            Action(
                what=WHAT[k % len(WHAT)],
                action_type=list(ActionType)[k % len(ActionType)],
                assignee_user_id=world.team_users[k % len(world.team_users)].id,
                due_on=date(2027, 1 + k % 12, 1 + k % 28),
                status=STATUSES[k % len(STATUSES)],
            )
            for k in range(o, min(o + ACTIONS_PER_OBJECTIVE, actions))
        ]
        objectives.append(
            Objective(
                title=f"Objectif partagé {o // ACTIONS_PER_OBJECTIVE + 1} : rester à domicile",
                problem_keys=[problems[(o // ACTIONS_PER_OBJECTIVE) % len(problems)].key],
                actions=items,
            )
        )
    return PlanContent(
        lead_user_id=world.coord.id,
        problems=problems,
        expectations="Rester chez elle le plus longtemps possible.",
        preferences="Visites le matin ; pas le mercredi (sa petite-fille).",
        objectives=objectives,
        unmet_objectives=[UnmetObjective(objective="Reprendre la marche", reason="Douleurs")],
        next_review_on=date(2027, 6, 1),
    )


def page_count(pdf: bytes) -> int:
    return len(PdfReader(BytesIO(pdf)).pages)


def actions_for(world: World, pages: int, version: CarePlanVersion) -> int:
    """Return the largest number of actions that still fits in `pages` pages."""
    sources = load_sources(version)

    def count(actions: int) -> int:
        changed = dataclasses.replace(sources, content=content(world, actions))
        return page_count(render_pdf(TEMPLATE, version_document(changed), variant=PDF_VARIANT))

    low, high = 1, 8
    while count(high) <= pages:  # grow until past the target
        low, high = high, high * 2
    while high - low > 1:  # invariant: count(low) <= pages < count(high)
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) <= pages else (low, middle)
    if count(low) != pages:
        raise SystemExit(f"no number of actions gives exactly {pages} pages")
    return low


def publish(world: World, actions: int, summary: str) -> CarePlanVersion:
    plan = world.plan
    services.save_draft(world.coord, plan, content(world, actions), plan.draft_revision, SYSTEM)
    version = services.publish_version(world.coord, plan, summary, SYSTEM)
    assert version is not None
    return version


def timed(runs: int, call: Callable[[], object]) -> tuple[list[float], list[float]]:
    """Return the wall-clock and CPU seconds of `runs` calls, after one warm-up call."""
    call()  # warm-up: templates compiled, fonts loaded by fontconfig
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, timings: tuple[list[float], list[float]]) -> float:
    """Print p50/p95/max in milliseconds, wall clock then CPU; return the wall-clock p95."""
    cells = []
    for values in timings:
        cells += [statistics.median(values), _percentile(values, 0.95), max(values)]
    print(f"{name:<30}" + "".join(f"{v * 1000:>9.0f}" for v in cells))
    return _percentile(timings[0], 0.95)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--target", type=float, default=1.0, help="p95 target in seconds")
    parser.add_argument(
        "--keep-gc", action="store_true", help="leave the garbage collector on while rendering"
    )
    args = parser.parse_args()
    if args.keep_gc:  # the "before" figures of docs/performance.md
        core_pdf.gc_paused = contextlib.nullcontext  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        app = create_app({"ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "b" * 32})
        with app.app_context():
            db.create_all()
            world = build_world()
            probe = publish(world, 1, "Sonde")
            actions = actions_for(world, args.pages, probe)
            version = publish(world, actions, "Plan mesuré")
            db.session.commit()
            pdf = render_version_pdf(version)
            print(
                f"{actions} actions in {-(-actions // ACTIONS_PER_OBJECTIVE)} objectives: "
                f"{page_count(pdf)} pages, {len(pdf) / 1024:.0f} KiB; {args.runs} runs"
            )
            print(f"{'ms':<30}" + "".join(f"{h:>9}" for h in HEADERS))
            p95 = report(
                "render_version_pdf (PDF/A-1b)",
                timed(args.runs, lambda: render_version_pdf(version)),
            )
            report("version_bundle (FHIR R4)", timed(args.runs, lambda: version_bundle(version)))
            db.session.execute(sa.update(CarePlan).values(current_version_id=None))
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
    ok = p95 < args.target
    print(f"PDF p95 < {args.target:.1f} s: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
