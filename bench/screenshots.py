"""One-off screenshots of the login journey's pages, for a human (or a reviewer) to look at.

Run: .venv/bin/python bench/screenshots.py [--mobile]
Starts a throwaway PTAP server with the demo data (the e2e tests' logic), drives the system
Chromium headless and writes PNGs to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import Page, ViewportSize, sync_playwright  # noqa: E402

from tests.e2e.conftest import (  # noqa: E402
    CHROMIUM,
    CSP_LISTENER,
    DEMO_PASSWORD,
    SCREENSHOTS,
    launch_chromium,
    login,
    start_server,
    stop_server,
    totp_code,
)

COORDINATOR = "coordination@demo.ptap.test"
ARS = "ars@demo.ptap.test"


def shoot(page: Page, name: str, suffix: str) -> None:
    path = SCREENSHOTS / f"{name}{suffix}.png"
    page.screenshot(path=path, full_page=True)
    print(path.relative_to(SCREENSHOTS.parents[1]))


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
    server = start_server()
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context(locale="fr-FR", viewport=viewport)
            context.add_init_script(CSP_LISTENER)
            page = context.new_page()
            errors: list[str] = []
            page.on(
                "console",
                lambda m: (
                    errors.append(f"{m.text} {m.location.get('url', '')}")
                    if m.type == "error"
                    else None
                ),
            )
            base = server.url

            page.goto(f"{base}/login")
            page.get_by_label("Adresse e-mail").fill(COORDINATOR)
            page.get_by_label("Mot de passe").fill("mauvais-mot-de-passe")
            page.get_by_role("button", name="Continuer").click()
            page.wait_for_load_state("load")
            shoot(page, "login-error", suffix)

            page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Continuer").click()
            page.wait_for_url("**/login/second-factor")
            shoot(page, "second-factor", suffix)
            page.get_by_label("Code à 6 chiffres ou code de secours").fill("000000")
            page.get_by_role("button", name="Se connecter").click()
            page.wait_for_load_state("load")
            shoot(page, "second-factor-error", suffix)
            page.get_by_label("Code à 6 chiffres ou code de secours").fill(totp_code(COORDINATOR))
            page.get_by_role("button", name="Se connecter").click()
            page.wait_for_url(f"{base}/")
            shoot(page, "home", suffix)

            page.goto(f"{base}/account")
            shoot(page, "account", suffix)
            page.get_by_text("Créer un jeton", exact=True).click()  # a closed <details>
            shoot(page, "account-token-form", suffix)
            page.get_by_label("Nom du jeton").fill("Tablette du cabinet")
            page.get_by_role("button", name="Créer le jeton").click()
            page.wait_for_load_state("load")
            shoot(page, "account-token", suffix)
            page.get_by_role("button", name="Se déconnecter", exact=True).click()
            page.wait_for_url("**/login")
            shoot(page, "logged-out", suffix)

            login(page, base, ARS)
            page.goto(f"{base}/admin/users")
            shoot(page, "forbidden", suffix)
            page.goto(f"{base}/nulle-part")
            shoot(page, "not-found", suffix)

            violations = page.evaluate("window.__cspViolations || []")
            context.close()
            browser.close()
    finally:
        stop_server(server)
    # The 401, 403 and 404 pages are logged as failed loads: expected, listed for the record.
    for message in errors:
        print("console error:", message, file=sys.stderr)
    for violation in violations:
        print("CSP violation:", violation, file=sys.stderr)
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
