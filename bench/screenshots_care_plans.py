"""Screenshots of the care-plan pages (plan, inline editing, conflict, versions, comparison,
tasks) and of the live notification centre, for a human (or a reviewer) to look at.

Run: .venv/bin/python bench/screenshots_care_plans.py [--mobile]
Starts a throwaway PTAP server with the demo data (the e2e tests' logic). The coordinator
creates the plan through the page; a setup step then fills its draft through the services (the
demo has no plan) and adds a hospital physician outside every circle, whose emergency access
notifies the coordinator live. Drives the system Chromium headless; writes PNGs to
artifacts/screenshots/ and prints every console error or CSP violation seen.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402
from playwright.sync_api import (  # noqa: E402
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    sync_playwright,  # noqa: E402
)

from ptap import create_app  # noqa: E402
from ptap.accounts.models import Profession, User  # noqa: E402
from ptap.accounts.queries import find_user_by_email  # noqa: E402
from ptap.accounts.services import NewUser, create_user  # noqa: E402
from ptap.audit.services import AuditContext  # noqa: E402
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
from ptap.care_plans.queries import find_plan_for_patient  # noqa: E402
from ptap.care_teams import access  # noqa: E402
from ptap.care_teams.models import Patient  # noqa: E402
from ptap.core import clock  # noqa: E402
from ptap.core.models import utcnow  # noqa: E402
from ptap.core.policy import PlatformRole  # noqa: E402
from ptap.demo import demo_totp_secret  # noqa: E402
from ptap.extensions import db  # noqa: E402
from tests.e2e.conftest import (  # noqa: E402
    CHROMIUM,
    CSP_LISTENER,
    DEMO_PASSWORD,
    DEMO_SEED,
    SCREENSHOTS,
    LiveServer,
    launch_chromium,
    login,
    start_server,
    stop_server,
)

COORDINATOR = "coordination@demo.ptap.test"
GP = "medecin@demo.ptap.test"
NURSE = "infirmiere@demo.ptap.test"
OUTSIDER = "urgences-plan@demo.ptap.test"
REASON = (
    "Patiente amenée inconsciente aux urgences de l'hôpital Édouard-Herriot : "
    "traitement anticoagulant à vérifier avant un geste."
)


def shoot(page: Page, name: str, suffix: str, full_page: bool = True) -> None:
    path = SCREENSHOTS / f"care-plan-{name}{suffix}.png"
    page.screenshot(path=path, full_page=full_page)
    print(path.relative_to(SCREENSHOTS.parents[1]))


def _app(server: LiveServer):  # noqa: ANN202
    url = f"sqlite:///{Path(server.workdir.name) / 'ptap.sqlite3'}"
    return create_app({"ENV": "development", "DATABASE_URL": url})


def pick_patient(server: LiveServer) -> int:
    """A patient the coordinator coordinates and the GP, the nurse and the physio all see."""
    with _app(server).app_context():
        people = [find_user_by_email(e) for e in (COORDINATOR, GP, NURSE)]
        coordinator = people[0]
        if coordinator is None or not all(people):
            raise SystemExit("the demo accounts are missing: run after `ptap demo`")
        ids = db.session.scalars(
            sa.select(Patient.id)
            .where(Patient.id.in_(access.visible_patient_ids(coordinator.id)))
            .where(Patient.sharing_consent.is_(True), Patient.merged_into_id.is_(None))
            .order_by(Patient.id)
        ).all()
        for patient_id in ids:
            patient = db.session.get(Patient, patient_id)
            assert patient is not None
            if access.coordinates_patient(coordinator.id, patient) and all(
                access.access_basis(u.id, patient) == "member" for u in people if u
            ):
                return patient_id
    raise SystemExit("no demo patient is shared by the coordinator, the GP and the nurse")


def fill_plan(server: LiveServer, patient_id: int) -> None:
    """Write a lived-in draft (the demo has no plan), publish it as version 1, GP validation."""
    with _app(server).app_context():
        coord, gp, nurse = (find_user_by_email(e) for e in (COORDINATOR, GP, NURSE))
        if not (coord and gp and nurse):
            raise SystemExit("the demo accounts are missing: run after `ptap demo`")
        plan = find_plan_for_patient(patient_id)
        assert plan is not None, "the plan is created through the page first"
        today = clock.paris_today()
        content = PlanContent(
            lead_user_id=coord.id,
            problems=[
                Problem(
                    key="falls",
                    dimension="medical",
                    description="Trois chutes à domicile depuis janvier",
                    priority="high",
                ),
                Problem(
                    key="meds",
                    dimension="medical",
                    description="Traitement anticoagulant mal suivi (oublis)",
                    priority="high",
                ),
                Problem(
                    key="mood",
                    dimension="psychological",
                    description="Tristesse depuis le décès de son mari",
                    priority="medium",
                ),
                Problem(
                    key="alone",
                    dimension="social",
                    description="Isolement : sa fille habite à Grenoble",
                    priority="medium",
                ),
                Problem(
                    key="stairs",
                    dimension="environmental",
                    description="Escalier sans rampe pour accéder à la chambre",
                    priority="low",
                ),
            ],
            expectations="« Je veux rester chez moi, dans ma maison, le plus longtemps possible. »",
            preferences=(
                "« Pas de visite avant 10 heures. Je préfère qu'on appelle ma fille plutôt "
                "que moi pour les rendez-vous. »"
            ),
            objectives=[
                Objective(
                    key="obj-falls",
                    title="Prévenir les chutes et rester à domicile en sécurité",
                    problem_keys=["falls", "stairs"],
                    actions=[
                        Action(
                            key="kine",
                            what="Rééducation à la marche, deux séances par semaine",
                            action_type=ActionType.CARE,
                            assignee_user_id=nurse.id,
                            due_on=today - timedelta(days=6),
                        ),
                        Action(
                            key="ergo",
                            what="Visite d'ergothérapeute : rampe d'escalier, barres d'appui",
                            action_type=ActionType.EQUIPMENT,
                            assignee_label="SSIAD Lyon 8e",
                            due_on=today + timedelta(days=20),
                            status=ActionStatus.IN_PROGRESS,
                        ),
                        Action(
                            key="tele",
                            what="Installer la téléassistance",
                            action_type=ActionType.EQUIPMENT,
                            assignee_user_id=coord.id,
                            due_on=today - timedelta(days=2),
                        ),
                    ],
                ),
                Objective(
                    key="obj-meds",
                    title="Sécuriser la prise du traitement anticoagulant",
                    problem_keys=["meds"],
                    actions=[
                        Action(
                            key="pilulier",
                            what="Préparation hebdomadaire du pilulier",
                            action_type=ActionType.CARE,
                            assignee_user_id=nurse.id,
                            due_on=today + timedelta(days=3),
                        ),
                        Action(
                            key="inr",
                            what="Contrôle INR et adaptation de la posologie",
                            action_type=ActionType.ASSESSMENT,
                            assignee_user_id=gp.id,
                            due_on=today + timedelta(days=10),
                        ),
                    ],
                ),
            ],
            unmet_objectives=[
                UnmetObjective(
                    objective="Reprendre le club de lecture du quartier",
                    reason="La personne ne souhaite pas sortir seule pour l'instant.",
                ),
            ],
            next_review_on=today + timedelta(days=90),
        )
        ctx = AuditContext(actor_id=coord.id, actor_label=coord.email)
        services.save_draft(coord, plan, content, plan.draft_revision, ctx)
        services.publish_version(coord, plan, "Première version, après la visite à domicile", ctx)
        services.record_approval(gp, plan, "gp_validation", "meeting", "", ctx)
        if find_user_by_email(OUTSIDER) is None:
            user: User = create_user(
                NewUser(
                    email=OUTSIDER,
                    first_name="Ulysse",
                    last_name="Urgentiste-Fictif",
                    profession=Profession.PHYSICIAN,
                    role=PlatformRole.PROFESSIONAL,
                    password=DEMO_PASSWORD,
                ),
                AuditContext(actor_label="bench"),
            )
            user.totp_secret = demo_totp_secret(OUTSIDER, DEMO_SEED)
            user.totp_confirmed_at = utcnow()
        db.session.commit()


def new_page(contexts: list[BrowserContext], browser: Browser, viewport: ViewportSize) -> Page:
    context = browser.new_context(locale="fr-FR", viewport=viewport)
    context.add_init_script(CSP_LISTENER)
    contexts.append(context)
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def run(
    browser: Browser, server: LiveServer, patient_id: int, viewport: ViewportSize, suffix: str
) -> list[str]:
    base = server.url
    plan = f"{base}/patients/{patient_id}/care-plan"
    contexts: list[BrowserContext] = []
    errors: list[str] = []
    coord = new_page(contexts, browser, viewport)
    coord.on(
        "console",
        lambda m: (
            errors.append(f"coord {coord.url}: {m.text[:120]}") if m.type == "error" else None
        ),
    )
    login(coord, base, COORDINATOR)

    coord.goto(plan)
    shoot(coord, "none", suffix, full_page=False)
    coord.get_by_role("button", name="Créer le plan").click()
    coord.wait_for_url(plan)
    fill_plan(server, patient_id)
    coord.goto(plan)
    shoot(coord, "page", suffix)

    # Adding an action without reloading the page: a marker set in the page survives the swap.
    coord.evaluate("window.__noReload = true")
    objective = coord.locator("#objective-obj-meds")
    objective.get_by_text("Ajouter une action").click()
    objective.get_by_label("Action", exact=True).fill(
        "Éducation thérapeutique : les signes d'alerte"
    )
    objective.get_by_label("Type").select_option(label="Éducation thérapeutique")
    objective.get_by_label("Échéance").fill((clock.paris_today() + timedelta(days=14)).isoformat())
    objective.get_by_label("Qui (professionnel du cercle)").select_option(index=1)
    objective.scroll_into_view_if_needed()
    shoot(coord, "add-action-before", suffix, full_page=False)
    objective.get_by_role("button", name="Ajouter l'action").click()
    coord.locator("#objective-obj-meds .flash-success").wait_for()
    assert coord.evaluate("window.__noReload === true"), "the page reloaded"
    coord.locator("#objective-obj-meds").scroll_into_view_if_needed()
    shoot(coord, "add-action-after", suffix, full_page=False)
    print(
        "  focus after the swap:",
        coord.evaluate("document.activeElement && document.activeElement.id"),
    )

    # Inline follow-up: the overdue physio sessions are done.
    row = coord.locator("#action-kine")
    row.get_by_label("Statut").select_option(label="Réalisée")
    row.get_by_role("button", name="Mettre à jour").click()
    coord.locator("#objective-obj-falls .flash-success").wait_for()
    coord.locator("#objective-obj-falls").scroll_into_view_if_needed()
    shoot(coord, "status-updated", suffix, full_page=False)

    # A concurrent status change: the GP changes an action the coordinator has on screen.
    gp = new_page(contexts, browser, viewport)
    gp.on("console", lambda m: errors.append(f"gp: {m.text}") if m.type == "error" else None)
    login(gp, base, GP)
    gp.goto(plan)
    gp.locator("#action-pilulier").get_by_label("Statut").select_option(label="En cours")
    gp.locator("#action-pilulier").get_by_role("button", name="Mettre à jour").click()
    gp.locator("#objective-obj-meds .flash-success").wait_for()
    coord.locator("#action-pilulier").get_by_label("Statut").select_option(label="Annulée")
    coord.locator("#action-pilulier").get_by_role("button", name="Mettre à jour").click()
    coord.locator("#objective-obj-meds .flash-conflict").wait_for()
    coord.locator("#objective-obj-meds").scroll_into_view_if_needed()
    shoot(coord, "status-conflict", suffix, full_page=False)

    # The GP's view: validation already recorded; a concurrent edit of the whole draft.
    gp.goto(plan)
    shoot(gp, "page-gp", suffix, full_page=False)
    coord.goto(f"{plan}/edit")
    gp.goto(f"{plan}/edit")
    gp.get_by_label("Attentes de la personne, dans ses mots").fill(
        "« Rester chez moi. Revoir mes petits-enfants à Noël. »"
    )
    gp.get_by_role("button", name="Enregistrer le brouillon").click()
    gp.wait_for_url(plan)
    shoot(coord, "edit", suffix)
    coord.get_by_label("Attentes de la personne, dans ses mots").fill(
        "« Rester chez moi, avec mon chat. »"
    )
    coord.locator("#problems-5-dimension").select_option(label="Social")
    coord.locator("#problems-5-description").fill("Aide au ménage insuffisante")
    coord.get_by_role("button", name="Enregistrer le brouillon").click()
    coord.wait_for_load_state("load")
    shoot(coord, "conflict", suffix)
    coord.get_by_role("button", name="Enregistrer le brouillon").click()
    coord.wait_for_url(plan)

    # Publish version 2, versions and comparison.
    coord.get_by_label("Résumé des changements").fill("Aide au ménage, attentes précisées")
    coord.get_by_role("button", name="Publier la version 2").click()
    coord.wait_for_url(plan)
    shoot(coord, "published", suffix, full_page=False)
    coord.locator("#cycle").scroll_into_view_if_needed()
    shoot(coord, "nothing-to-publish", suffix, full_page=False)
    coord.goto(f"{plan}/versions")
    shoot(coord, "versions", suffix)
    coord.goto(f"{plan}/compare?from=1&to=2")
    shoot(coord, "compare", suffix)
    coord.goto(f"{plan}/versions/1")
    shoot(coord, "version-1", suffix, full_page=False)

    coord.goto(f"{base}/tasks")
    shoot(coord, "tasks", suffix)

    # Live notification: an emergency access by an outsider reaches the coordinator's page.
    coord.goto(f"{base}/notifications")
    coord.wait_for_timeout(1500)  # the socket connects
    before = coord.locator("#unread-count").inner_text()
    outsider = new_page(contexts, browser, viewport)
    login(outsider, base, OUTSIDER)
    outsider.goto(f"{base}/patients/{patient_id}/break-glass")
    outsider.get_by_label("Motif de l'urgence").fill(REASON)
    outsider.get_by_role("button", name="Ouvrir l'accès en urgence").click()
    outsider.wait_for_url(f"**/patients/{patient_id}")
    coord.locator(".notification-arrived").wait_for()
    print("  unread badge:", before, "→", coord.locator("#unread-count").inner_text())
    shoot(coord, "notifications-live", suffix, full_page=False)
    outsider.goto(plan)
    shoot(outsider, "emergency-read", suffix, full_page=False)

    for page in (coord, gp, outsider):
        errors += [f"CSP: {v}" for v in page.evaluate("window.__cspViolations || []")]
    for context in contexts:
        context.close()
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mobile", action="store_true", help="390 px wide, like a phone")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    suffix = "-mobile" if args.mobile else ""
    viewport: ViewportSize = (
        {"width": 390, "height": 844} if args.mobile else {"width": 1280, "height": 900}
    )
    server = start_server()
    try:
        patient_id = pick_patient(server)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                errors = run(browser, server, patient_id, viewport, suffix)
            finally:
                browser.close()
    finally:
        stop_server(server)
    # The conflicts are provoked on purpose: the browser logs their 409 answers.
    expected = [e for e in errors if "status of 409" in e]
    problems = [e for e in errors if e not in expected]
    print(f"{len(expected)} expected 409 answers (the provoked conflicts)")
    for error in problems:
        print("PROBLEM:", error)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
