"""The patient space in a real browser at 320 px: sign in with the e-mailed code (shown on the
page outside production), the home page and the agreement page fit the screen, no JS errors."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from playwright.sync_api import Browser

from tests.e2e.conftest import CSP_LISTENER, SCREENSHOTS, LiveServer, PageProblems

PATIENT = "patiente@demo.ptap.test"


def _mailed_code(server: LiveServer, email: str) -> str:
    """Read the code from the e-mail queued in the server's outbox (development mails it)."""
    database = Path(server.workdir.name) / "ptap.sqlite3"
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT body FROM mail_outbox WHERE recipient = ? ORDER BY id DESC LIMIT 1", (email,)
        ).fetchone()
    code = re.search(r"\b(\d{6})\b", row[0] if row else "")
    assert code, row
    return code.group(1)


def _sign_in(page, server: LiveServer, email: str) -> None:
    base_url = server.url
    page.goto(f"{base_url}/espace/connexion")
    page.get_by_label("Votre adresse e-mail").fill(email)
    page.get_by_role("button", name="Recevoir mon code").click()
    code = re.search(r"(\d{6})", _mailed_code(server, email))
    page.get_by_label("Code reçu par e-mail (6 chiffres)").fill(code.group(1))
    page.get_by_role("button", name="Me connecter").click()
    page.wait_for_url(f"{base_url}/espace")


def _fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"the page is {width} px wide at 320"


def test_patient_home_and_agreement_fit_a_320px_phone(browser: Browser, live_server: LiveServer):
    base_url = live_server.url
    context = browser.new_context(locale="fr-FR", viewport={"width": 320, "height": 640})
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    problems = PageProblems(page)
    try:
        _sign_in(page, live_server, PATIENT)
        assert page.get_by_role("heading", name="Un plan attend votre accord").is_visible()
        _fits(page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "patient-space-home-320.png"), full_page=True)
        page.get_by_role("link", name="Lire le plan et répondre").click()
        page.wait_for_url(f"{base_url}/espace/plan/accord")
        _fits(page)
        page.screenshot(path=str(SCREENSHOTS / "patient-space-agreement-320.png"), full_page=True)
        page.get_by_role("button", name="Envoyer ma réponse").click()
        assert "Choisissez votre réponse" in page.locator(".error-summary").inner_text()
        # The refused form answers 422 (logged by the browser as a failed resource): expected.
        assert [p for p in problems.all() if "422" not in p] == []
    finally:
        context.close()
