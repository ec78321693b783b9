"""Screenshots of the consent, circle, break-the-glass, duplicate and access-log pages, and
the access-log PDF rendered to PNG, for a human (or a reviewer) to look at.

Run: .venv/bin/python bench/screenshots_circle.py [--mobile]
Starts a throwaway PTAP server with the demo data (the e2e tests' logic). A setup step adds
what the demo lacks: a hospital physician outside every circle (for the emergency access) and,
if the demo has no patient, one created through the services. Drives the system Chromium
headless; writes PNGs (and the PDF) to artifacts/screenshots/. `pdftoppm` (poppler-utils)
turns the PDF's pages into PNGs when it is installed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402
from playwright.sync_api import BrowserContext, Page, ViewportSize, sync_playwright  # noqa: E402

from ptap import create_app  # noqa: E402
from ptap.accounts.models import Profession, User  # noqa: E402
from ptap.accounts.queries import find_user_by_email  # noqa: E402
from ptap.accounts.services import NewUser, create_user  # noqa: E402
from ptap.audit.services import AuditContext, record_event  # noqa: E402
from ptap.care_teams import access  # noqa: E402
from ptap.care_teams.models import CircleInvitation, Patient, TeamMembership  # noqa: E402
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
OUTSIDER = "urgences@demo.ptap.test"
SIGNED_FORM = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
REASON = (
    "Patiente amenée inconsciente aux urgences de l'hôpital Édouard-Herriot : "
    "traitement anticoagulant à vérifier avant un geste."
)


def shoot(page: Page, name: str, suffix: str, full_page: bool = True) -> None:
    path = SCREENSHOTS / f"{name}{suffix}.png"
    page.screenshot(path=path, full_page=full_page)
    print(path.relative_to(SCREENSHOTS.parents[1]))


def _pick_patient(coordinator: User) -> Patient:
    """A patient the coordinator follows, with the sharing agreement; invited guests if any."""
    visible = access.visible_patient_ids(coordinator.id)
    base = sa.select(Patient).where(
        Patient.id.in_(visible), Patient.sharing_consent.is_(True), Patient.merged_into_id.is_(None)
    )
    invited = sa.select(CircleInvitation.patient_id).where(
        CircleInvitation.revoked_at.is_(None), CircleInvitation.expires_at > utcnow()
    )
    patient = db.session.scalar(base.where(Patient.id.in_(invited)).limit(1))
    patient = patient or db.session.scalar(base.order_by(Patient.id).limit(1))
    if patient is None:
        raise SystemExit("the demo data has no patient for the coordinator: run after `ptap demo`")
    return patient


def setup(server: LiveServer) -> int:
    """Add the outsider physician and some reads by the team; return the chosen patient id."""
    url = f"sqlite:///{Path(server.workdir.name) / 'ptap.sqlite3'}"
    app = create_app({"ENV": "development", "DATABASE_URL": url})
    with app.app_context():
        ctx = AuditContext(actor_label="bench")
        if find_user_by_email(OUTSIDER) is None:
            user = create_user(
                NewUser(
                    email=OUTSIDER,
                    first_name="Ulysse",
                    last_name="Urgentiste-Fictif",
                    profession=Profession.PHYSICIAN,
                    role=PlatformRole.PROFESSIONAL,
                    password=DEMO_PASSWORD,
                ),
                ctx,
            )
            user.totp_secret = demo_totp_secret(OUTSIDER, DEMO_SEED)
            user.totp_confirmed_at = utcnow()
        coordinator = find_user_by_email(COORDINATOR)
        assert coordinator is not None
        patient = _pick_patient(coordinator)
        # A lived-in record: the team's members read it (three pages of the PDF, with these).
        team_ids = sa.select(TeamMembership.team_id).where(TeamMembership.user_id == coordinator.id)
        members = db.session.scalars(
            sa.select(User).join(TeamMembership).where(TeamMembership.team_id.in_(team_ids))
        ).all()
        for i in range(90):
            reader = members[i % len(members)]
            if access.access_basis(reader.id, patient) is not None:
                record_event(
                    AuditContext(actor_id=reader.id, actor_label=reader.email),
                    "patient.read",
                    object_type="patient",
                    object_id=patient.id,
                    patient_id=patient.id,
                    reason="member: record",
                )
        db.session.commit()
        return patient.id


def new_page(contexts: list[BrowserContext], browser, viewport: ViewportSize) -> Page:  # noqa: ANN001
    context = browser.new_context(locale="fr-FR", viewport=viewport, accept_downloads=True)
    context.add_init_script(CSP_LISTENER)
    contexts.append(context)
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def pdf_to_png(pdf: Path, suffix: str) -> None:
    if shutil.which("pdftoppm") is None:
        print("pdftoppm is missing (apt-get install poppler-utils): PDF not rasterised")
        return
    prefix = SCREENSHOTS / f"access-log-pdf{suffix}"
    subprocess.run(["pdftoppm", "-png", "-r", "80", str(pdf), str(prefix)], check=True)  # noqa: S603, S607
    for png in sorted(SCREENSHOTS.glob(f"{prefix.name}-*.png")):
        print(png.relative_to(SCREENSHOTS.parents[1]))


def run(browser, base: str, patient_id: int, viewport: ViewportSize, suffix: str) -> list[str]:  # noqa: ANN001
    contexts: list[BrowserContext] = []
    coord = new_page(contexts, browser, viewport)
    login(coord, base, COORDINATOR)
    coord.goto(f"{base}/patients/{patient_id}/consents")
    shoot(coord, "consents", suffix)
    coord.get_by_label("S'oppose à l'alimentation de son DMP").check()
    coord.get_by_role("radio", name="Formulaire signé").check()
    coord.get_by_label("Commentaire (facultatif)").fill("Formulaire remis en consultation.")
    coord.get_by_role("button", name="Enregistrer le choix").click()
    coord.wait_for_load_state("load")
    shoot(coord, "consents-error", suffix)
    coord.get_by_label("Formulaire signé (PDF, 10 Mo au plus)").set_input_files(
        {"name": "formulaire-dmp.pdf", "mimeType": "application/pdf", "buffer": SIGNED_FORM}
    )
    coord.get_by_role("button", name="Enregistrer le choix").click()
    coord.wait_for_url(f"**/patients/{patient_id}/consents")
    shoot(coord, "consents-recorded", suffix)

    coord.goto(f"{base}/patients/{patient_id}/circle")
    coord.get_by_text("Inviter un professionnel", exact=True).click()
    shoot(coord, "circle", suffix)
    coord.get_by_label("Dernier jour de l'invitation").fill(date(2020, 1, 1).isoformat())
    coord.get_by_role("button", name="Inviter", exact=True).click()
    coord.wait_for_load_state("load")
    shoot(coord, "circle-invite-error", suffix)

    outsider = new_page(contexts, browser, viewport)
    login(outsider, base, OUTSIDER)
    outsider.goto(f"{base}/patients/{patient_id}/break-glass")
    shoot(outsider, "break-glass", suffix)
    outsider.get_by_label("Motif de l'urgence").fill("Urgence")
    outsider.get_by_role("button", name="Ouvrir l'accès en urgence").click()
    outsider.wait_for_load_state("load")
    shoot(outsider, "break-glass-error", suffix)
    outsider.get_by_label("Motif de l'urgence").fill(REASON)
    outsider.get_by_role("button", name="Ouvrir l'accès en urgence").click()
    outsider.wait_for_url(f"**/patients/{patient_id}")
    shoot(outsider, "break-glass-opened", suffix, full_page=False)

    coord.goto(f"{base}/break-glass/reviews")
    shoot(coord, "break-glass-reviews", suffix)
    coord.get_by_role("button", name="Enregistrer l'examen").first.click()
    coord.wait_for_load_state("load")
    shoot(coord, "break-glass-reviews-error", suffix)

    coord.goto(f"{base}/duplicates")
    shoot(coord, "duplicates", suffix, full_page=False)

    coord.goto(f"{base}/patients/{patient_id}/access-log")
    shoot(coord, "access-log", suffix, full_page=False)
    with coord.expect_download() as download:
        coord.get_by_role("link", name="Télécharger le PDF à remettre à la personne").click()
    pdf = SCREENSHOTS / f"access-log{suffix}.pdf"
    download.value.save_as(pdf)
    print(pdf.relative_to(SCREENSHOTS.parents[1]), download.value.suggested_filename)
    pdf_to_png(pdf, suffix)

    violations: list[str] = []
    for page in (coord, outsider):
        violations += page.evaluate("window.__cspViolations || []")
    for context in contexts:
        context.close()
    return violations


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
        {"width": 390, "height": 844} if args.mobile else {"width": 1280, "height": 800}
    )
    server = start_server(timeout=180)
    try:
        patient_id = setup(server)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            violations = run(browser, server.url, patient_id, viewport, suffix)
            browser.close()
    finally:
        stop_server(server)
    for violation in violations:
        print("CSP violation:", violation, file=sys.stderr)
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
