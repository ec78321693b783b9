"""Screenshots of the DMP consultation: a patient's DMP documents and an opened CDA N3.

Run: .venv/bin/python -m tests.filings.dmp_consult_screenshots [OUT_DIR]
(default artifacts/screenshots).
Starts the DMP simulator (with its example documents) and a throwaway PTAP server with the
demo data, logs the demo GP in and shoots the list and the discharge letter at 1366 and 390 px
wide. Prints every console error or CSP violation seen.
"""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import sync_playwright

import tests.e2e.conftest as e2e
from ptap import create_app
from ptap.accounts.queries import find_user_by_email
from ptap.care_teams import access
from ptap.care_teams.models import Enrolment, Patient
from ptap.devtools.dmp_simulator import start_in_thread
from ptap.extensions import db

GP = "medecin@demo.ptap.test"


def _patient_id(server: e2e.LiveServer) -> int:
    url = f"sqlite:///{Path(server.workdir.name) / 'ptap.sqlite3'}"
    app = create_app({"ENV": "development", "DATABASE_URL": url})
    with app.app_context():
        gp = find_user_by_email(GP)
        assert gp is not None
        patients = db.session.scalars(
            sa.select(Patient)
            .join(Enrolment, Enrolment.patient_id == Patient.id)
            .where(
                Enrolment.team_id.in_(access.active_team_ids(gp.id)),
                Enrolment.ended_at.is_(None),
                Patient.sharing_consent.is_(True),
                Patient.dmp_opposition.is_(False),
                Patient.ins_matricule.is_not(None),
            )
            .order_by(Patient.id)
        ).all()
        return patients[0].id


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else e2e.ROOT / "artifacts" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    base_url, stop_simulator = start_in_thread("127.0.0.1", 0, seed_examples=True)
    plain_env = e2e.server_env

    def env(database_url: str) -> dict[str, str]:
        return {**plain_env(database_url), "PTAP_DMP_BASE_URL": base_url}

    e2e.server_env = env  # type: ignore[assignment]
    server = e2e.start_server()
    errors: list[str] = []
    try:
        patient_id = _patient_id(server)
        with sync_playwright() as p:
            browser = e2e.launch_chromium(p)
            for width, height in ((1366, 900), (390, 844)):
                page = browser.new_page(viewport={"width": width, "height": height})
                page.add_init_script(e2e.CSP_LISTENER)
                page.on(
                    "console",
                    lambda m, seen=errors: seen.append(m.text) if m.type == "error" else None,
                )
                e2e.login(page, server.url, GP)
                page.goto(f"{server.url}/patients/{patient_id}/dmp")
                page.get_by_role("link", name="Consulter les documents du DMP").click()
                page.wait_for_load_state("load")
                page.screenshot(path=out / f"dmp-documents-{width}.png", full_page=True)
                letter = "Lettre de liaison à la sortie — Médecine interne"
                page.get_by_role("link", name=letter).click()
                page.wait_for_load_state("load")
                page.screenshot(path=out / f"dmp-cda-{width}.png", full_page=True)
                errors += [f"CSP: {v}" for v in page.evaluate("window.__cspViolations || []")]
                page.close()
            browser.close()
    finally:
        e2e.stop_server(server)
        stop_simulator()
    for error in errors:
        print(error)
    print(f"screenshots in {out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
