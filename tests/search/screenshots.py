"""Screenshots of the patient search: the coordinating nurse searching "escalier".

Run: PYTHONPATH=$PWD .venv/bin/python -m tests.search.screenshots
Starts a throwaway PTAP server with the demo data (the e2e tests' helpers), picks the demo
patient of the coordinator with the most "escalier" hits, and writes
docs/screenshots/search-escalier.png (1280 px) and search-escalier-390.png (a phone).
Prints every console error or CSP violation seen.
"""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import sync_playwright

from ptap import create_app
from ptap.accounts.queries import find_user_by_email
from ptap.care_teams import access
from ptap.care_teams.models import Patient
from ptap.extensions import db
from ptap.search.queries import search_patient
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
OUT = ROOT / "docs" / "screenshots"


def best_patient(server: LiveServer) -> int:
    """The coordinator's demo patient whose file has the most kinds of "escalier" hits."""
    url = f"sqlite:///{Path(server.workdir.name) / 'ptap.sqlite3'}"
    app = create_app({"ENV": "development", "DATABASE_URL": url, "SERVER_NAME": "localhost"})
    with app.app_context(), app.test_request_context():
        coord = find_user_by_email(COORDINATOR)
        assert coord is not None
        ids = db.session.scalars(
            sa.select(Patient.id).where(Patient.id.in_(access.visible_patient_ids(coord.id)))
        ).all()
        best, best_kinds = ids[0], -1
        for pid in ids[:80]:
            patient = db.session.get(Patient, pid)
            kinds = len(search_patient(coord, patient, "escalier").by_kind)
            if kinds > best_kinds:
                best, best_kinds = pid, kinds
        return best


def shoot(server: LiveServer, patient_id: int) -> list[str]:
    errors: list[str] = []

    def console(message) -> None:  # noqa: ANN001
        if message.type == "error":
            errors.append(message.text)

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for width, name in ((1280, "search-escalier.png"), (390, "search-escalier-390.png")):
            context = browser.new_context(locale="fr-FR", viewport={"width": width, "height": 900})
            context.add_init_script(CSP_LISTENER)
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.on("console", console)
            login(page, server.url, COORDINATOR)
            page.goto(f"{server.url}/patients/{patient_id}")
            page.get_by_label("Chercher dans le dossier").fill("escalier")
            page.get_by_role("button", name="Chercher", exact=True).first.click()
            page.wait_for_url("**/search?q=escalier*")
            page.screenshot(path=OUT / name, full_page=True)
            width_px = page.evaluate("document.documentElement.scrollWidth")
            if width_px > width:
                errors.append(f"{name}: page {width_px} px wide")
            errors += [f"CSP: {v}" for v in page.evaluate("window.__cspViolations || []")]
            context.close()
        browser.close()
    return errors


def main() -> int:
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    server = start_server(timeout=120)
    try:
        errors = shoot(server, best_patient(server))
    finally:
        stop_server(server)
    for error in errors:
        print("browser:", error)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
