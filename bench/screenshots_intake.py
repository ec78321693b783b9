"""Screenshots of the request-intake and pathway-events pages, for a human to look at.

Run: .venv/bin/python bench/screenshots_intake.py [--mobile]
Starts a throwaway PTAP server with the demo data, logs in as the demo coordinator, registers
a request through the form (a failed attempt first), qualifies and answers it, then opens a
patient's pathway events; writes PNGs to artifacts/screenshots/ (1366 px, or 390 px wide).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import Page, ViewportSize, sync_playwright  # noqa: E402

from tests.e2e.conftest import (  # noqa: E402
    CHROMIUM,
    CSP_LISTENER,
    SCREENSHOTS,
    launch_chromium,
    login,
    start_server,
    stop_server,
)

COORDINATOR = "coordination@demo.ptap.test"


def shoot(page: Page, name: str, suffix: str, full_page: bool = True) -> None:
    path = SCREENSHOTS / f"{name}{suffix}.png"
    page.screenshot(path=path, full_page=full_page)
    print(path.relative_to(SCREENSHOTS.parents[1]))


def register(page: Page, base: str, suffix: str) -> None:
    page.goto(f"{base}/requests/new")
    shoot(page, "request-new", suffix)
    if page.get_by_label("Équipe qui reçoit la demande").locator("option").count() > 1:
        page.get_by_label("Équipe qui reçoit la demande").select_option(index=1)
    page.get_by_label("Demandeur", exact=True).select_option("caregiver")
    page.get_by_label("Nom du demandeur").fill("Mme Petit (fille)")
    page.get_by_label("Pour le rappeler (téléphone, courriel)").fill("06 12 34 56 78")
    page.get_by_label("Personne concernée et demande").fill(
        "Sa mère, 88 ans, vit seule ; deux chutes ce mois-ci, ne prend plus ses traitements."
    )
    page.get_by_role("button", name="Enregistrer la demande").click()  # no channel, no motive
    page.wait_for_load_state("load")
    shoot(page, "request-new-error", suffix)
    page.get_by_label("Canal").select_option("phone")
    page.get_by_label("Perte d'autonomie").check()
    page.get_by_label("Situation urgente (à traiter en priorité)").check()
    page.get_by_role("button", name="Enregistrer la demande").click()
    page.wait_for_url(re.compile(r".*/requests/\d+$"))


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
        {"width": 390, "height": 844} if args.mobile else {"width": 1366, "height": 800}
    )
    server = start_server(timeout=180)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context(locale="fr-FR", viewport=viewport)
            context.add_init_script(CSP_LISTENER)
            page = context.new_page()
            page.set_default_timeout(20_000)
            base = server.url
            login(page, base, COORDINATOR)

            page.goto(f"{base}/requests")
            shoot(page, "requests-list", suffix)
            register(page, base, suffix)
            shoot(page, "request-show", suffix)
            page.get_by_label("Appui à la coordination").check()
            with page.expect_navigation():
                page.get_by_role("button", name="Enregistrer la qualification").click()
            page.get_by_label("Réponse apportée").fill(
                "Rappel de Mme Petit : visite d'évaluation à domicile proposée jeudi."
            )
            with page.expect_navigation():
                page.get_by_role("button", name="Enregistrer la réponse").click()
            shoot(page, "request-answered", suffix)
            page.get_by_role("link", name="Inclure la personne…").click()
            page.wait_for_load_state("load")
            shoot(page, "request-convert", suffix)
            page.goto(f"{base}/requests?status=all")
            shoot(page, "requests-all", suffix)
            page.goto(f"{base}/requests?late=1")
            shoot(page, "requests-late", suffix)
            page.locator("a", has_text="Délais cibles de l'équipe").first.click()
            page.wait_for_load_state("load")
            shoot(page, "team-targets", suffix)

            page.goto(f"{base}/patients")
            page.locator("table.patient-table tbody a").first.click()
            page.wait_for_url(re.compile(r".*/patients/\d+$"))
            page.get_by_role("link", name="Événements du parcours").click()
            page.wait_for_load_state("load")
            page.get_by_label("Événement", exact=True).select_option("unplanned_hospitalisation")
            page.get_by_label("Circonstances (facultatif)").fill(
                "Chute à domicile, hospitalisée en gériatrie à l'hôpital Édouard-Herriot."
            )
            page.get_by_role("button", name="Enregistrer l'événement").click()
            page.wait_for_load_state("load")
            shoot(page, "patient-events", suffix)
            page.get_by_role("link", name="Dossier").click()
            page.wait_for_load_state("load")
            page.locator("#historique").scroll_into_view_if_needed()
            shoot(page, "patient-timeline", suffix, full_page=False)
            violations = page.evaluate("window.__cspViolations || []")
            context.close()
            browser.close()
    finally:
        stop_server(server)
    for violation in violations:
        print("CSP violation:", violation, file=sys.stderr)
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
