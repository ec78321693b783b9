"""Screenshots of the DMP section of a patient's record and of a team's DMP panel.

Run: .venv/bin/python -m tests.filings.screenshots
Starts a throwaway PTAP server with the demo data (the e2e tests' helpers), validates care
plans of three demo patients through the real services, sends the outbox to an in-memory DMP
(version 1 filed, version 2 refused; one identity not qualified; one DMP opposition), then
drives the system Chromium headless and writes docs/screenshots/dmp-patient.png and
docs/screenshots/dmp-team.png. Prints every console error or CSP violation seen.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import sync_playwright

from ptap import create_app
from ptap.accounts.queries import find_user_by_email
from ptap.audit.services import AuditContext
from ptap.care_plans import services as plans
from ptap.care_plans.content import Action, Objective, PlanContent, Problem
from ptap.care_teams import access
from ptap.care_teams.models import Enrolment, Patient
from ptap.core import clock
from ptap.dmp_bridge import DmpRejected, outbox
from ptap.dmp_bridge.fake import FakeDmpTransport
from ptap.extensions import db
from tests.e2e.conftest import (
    CHROMIUM,
    CSP_LISTENER,
    ROOT,
    LiveServer,
    launch_chromium,
    login,
    start_server,
    stop_server,
)

COORDINATOR = "coordination@demo.ptap.test"
GP = "medecin@demo.ptap.test"
OUT = ROOT / "docs" / "screenshots"


def _app(server: LiveServer):  # noqa: ANN202
    url = f"sqlite:///{Path(server.workdir.name) / 'ptap.sqlite3'}"
    return create_app({"ENV": "development", "DATABASE_URL": url})


def _content(lead_id: int, nurse_id: int, expectations: str) -> PlanContent:
    today = clock.paris_today()
    return PlanContent(
        lead_user_id=lead_id,
        problems=[Problem(key="falls", dimension="medical", description="Chutes répétées")],
        expectations=expectations,
        objectives=[
            Objective(
                key="obj1",
                title="Prévenir les chutes",
                problem_keys=["falls"],
                actions=[
                    Action(
                        key="kine",
                        what="Rééducation à la marche",
                        assignee_user_id=nurse_id,
                        due_on=today + timedelta(days=14),
                    )
                ],
            )
        ],
        next_review_on=today + timedelta(days=90),
    )


def _validate(patient: Patient, coord, gp, expectations: str) -> None:  # noqa: ANN001
    """Publish the patient's plan (created on first call) and record the GP's validation."""
    from ptap.care_plans.queries import find_plan_for_patient

    ctx = AuditContext(actor_id=coord.id, actor_label=coord.email)
    plan = find_plan_for_patient(patient.id)
    if plan is None:
        enrolment = db.session.scalars(
            sa.select(Enrolment).where(
                Enrolment.patient_id == patient.id, Enrolment.ended_at.is_(None)
            )
        ).first()
        assert enrolment is not None
        plan = plans.create_plan(coord, enrolment, ctx)
    content = _content(coord.id, gp.id, expectations)
    plans.save_draft(coord, plan, content, plan.draft_revision, ctx)
    plans.publish_version(coord, plan, expectations, ctx)
    gp_ctx = AuditContext(actor_id=gp.id, actor_label=gp.email)
    plans.record_approval(gp, plan, "gp_validation", "meeting", "", gp_ctx)


def prepare(server: LiveServer) -> tuple[int, int]:
    """Queue and send filings for three demo patients; return (patient id, team id)."""
    app = _app(server)
    app.config["DMP_VALIDATE_BEFORE_SEND"] = False  # seconds per CDA; tests validate them
    with app.app_context():
        coord, gp = find_user_by_email(COORDINATOR), find_user_by_email(GP)
        if coord is None or gp is None:
            raise SystemExit("the demo accounts are missing")
        ids = db.session.scalars(
            sa.select(Patient.id)
            .where(Patient.id.in_(access.visible_patient_ids(coord.id)))
            .where(Patient.sharing_consent.is_(True), Patient.merged_into_id.is_(None))
            .where(Patient.ins_matricule.is_not(None))
            .order_by(Patient.id)
        ).all()
        chosen = []
        for patient_id in ids:
            patient = db.session.get(Patient, patient_id)
            assert patient is not None
            if access.coordinates_patient(coord.id, patient) and access.access_basis(
                gp.id, patient
            ):
                chosen.append(patient)
            if len(chosen) == 3:
                break
        main, unqualified, opposed = chosen
        main.identity_status = "qualified"
        unqualified.identity_status = "validated"
        opposed.identity_status = "qualified"
        opposed.dmp_opposition = True
        fake = FakeDmpTransport()
        _validate(main, coord, gp, "Rester chez elle le plus longtemps possible")
        db.session.commit()
        outbox.send_due(fake)
        _validate(main, coord, gp, "Rester chez elle, avec le passage d'une aide à domicile")
        _validate(unqualified, coord, gp, "Rentrer chez lui après l'hospitalisation")
        _validate(opposed, coord, gp, "Garder son autonomie pour les courses")
        db.session.commit()
        fake.fail_next(
            DmpRejected(
                "Le DMP a refusé le document : l'auteur n'est pas autorisé à alimenter ce "
                "dossier (habilitation absente).",
                code="DMPAuthorNotAllowed",
            )
        )
        outbox.send_due(fake)
        enrolment = db.session.scalars(
            sa.select(Enrolment).where(Enrolment.patient_id == main.id)
        ).first()
        assert enrolment is not None
        return main.id, enrolment.team_id


def shoot(server: LiveServer, patient_id: int, team_id: int) -> list[str]:
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        login(page, server.url, COORDINATOR)
        page.goto(f"{server.url}/patients/{patient_id}")
        section = page.locator("#dmp")
        section.locator("h3").first.wait_for()  # htmx swapped the section in
        section.locator("summary").first.click()  # open "Annuler l'envoi" of the failed row
        section.screenshot(path=OUT / "dmp-patient.png")
        page.goto(f"{server.url}/teams/{team_id}/dmp")
        page.screenshot(path=OUT / "dmp-team.png", full_page=True)
        errors += [f"CSP: {v}" for v in page.evaluate("window.__cspViolations || []")]
        browser.close()
    return errors


def main() -> int:
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    server = start_server()
    try:
        patient_id, team_id = prepare(server)
        errors = shoot(server, patient_id, team_id)
    finally:
        stop_server(server)
    for error in errors:
        print("browser:", error)
    print(OUT / "dmp-patient.png", OUT / "dmp-team.png", sep="\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
