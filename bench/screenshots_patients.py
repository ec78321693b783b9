"""Screenshots of the patient and team pages, for a human (or a reviewer) to look at.

Run: .venv/bin/python bench/screenshots_patients.py [--mobile]
Starts a throwaway PTAP server with the demo data (the e2e tests' logic), logs in as the demo
coordinator, drives the system Chromium headless and writes PNGs to artifacts/screenshots/.
If the demo has no patients, the script creates a few through the creation form first.
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
from tests.factories import valid_nir  # noqa: E402

COORDINATOR = "coordination@demo.ptap.test"
FALLBACK_PATIENTS = [
    ("Martin", "Jeanne Louise", "12", "05", "1938", "F"),
    ("Bernard", "Henri Paul", "", "", "1941", "M"),
    ("Lefèvre", "Odette", "03", "11", "1935", "F"),
]


def shoot(page: Page, name: str, suffix: str, full_page: bool = True) -> None:
    path = SCREENSHOTS / f"{name}{suffix}.png"
    page.screenshot(path=path, full_page=full_page)
    print(path.relative_to(SCREENSHOTS.parents[1]))


def fill_patient(page: Page, birth_name: str, first: str, day: str, month: str, year: str,
                 sex: str, nir: str) -> None:  # fmt: skip
    """Fill the creation form as a coordinator would (first team, a GP request)."""
    page.get_by_label("Nom de naissance").fill(birth_name)
    page.get_by_label("Prénoms de naissance").fill(first)
    page.get_by_label("Jour").fill(day)
    page.get_by_label("Mois", exact=True).fill(month)
    page.get_by_label("Année").fill(year)
    page.get_by_label("Sexe").select_option(sex)
    page.get_by_label("Code INSEE du lieu de naissance").fill("69381")
    page.get_by_label("Matricule INS (NIR ou NIA)").fill(nir)
    page.get_by_label("Type de matricule (OID)").select_option("1.2.250.1.213.1.4.10")
    page.get_by_label("Demande faite par").select_option("gp")
    page.get_by_label("Nom du demandeur (facultatif)").fill("Dr Exemple")
    page.get_by_label("Médical (polypathologie, soins complexes)").check()


def create_fallback_patients(page: Page, base: str) -> None:
    for birth_name, first, day, month, year, sex in FALLBACK_PATIENTS:
        page.goto(f"{base}/patients/new")
        fill_patient(page, birth_name, first, day, month, year, sex, valid_nir(sex, int(year), 1))
        page.get_by_role("button", name="Créer le dossier").click()
        page.wait_for_url(re.compile(r".*/patients/\d+$"))


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
    server = start_server(timeout=120)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context(locale="fr-FR", viewport=viewport)
            context.add_init_script(CSP_LISTENER)
            page = context.new_page()
            page.set_default_timeout(20_000)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            base = server.url
            login(page, base, COORDINATOR)

            page.goto(f"{base}/patients")
            if page.locator("table.patient-table").count() == 0:
                create_fallback_patients(page, base)
                page.goto(f"{base}/patients")
            shoot(page, "patients-list", suffix, full_page=False)
            # About twenty rows: the names starting with B or M, depending on the data.
            for prefix in ("b", "m", "l", "d", ""):
                page.goto(f"{base}/patients?name={prefix}")
                rows = page.locator("table.patient-table tbody tr").count()
                if 8 <= rows <= 30 or not prefix:
                    break
            shoot(page, "patients-search", suffix)
            page.goto(f"{base}/patients?birth_date=31/02")
            shoot(page, "patients-search-error", suffix, full_page=False)

            page.goto(f"{base}/patients/new")
            nir = valid_nir("F", 1938, 5)
            wrong_key = nir[:13] + ("01" if nir[13:] != "01" else "02")
            fill_patient(page, "Dupré", "Marie Thérèse", "12", "05", "1938", "F", wrong_key)
            page.get_by_role("button", name="Créer le dossier").click()
            page.wait_for_load_state("load")
            shoot(page, "patient-new-error", suffix)

            page.goto(f"{base}/patients")
            page.locator("table.patient-table tbody a").first.click()
            page.wait_for_url(re.compile(r".*/patients/\d+$"))
            shoot(page, "patient-record", suffix)
            for summary in page.locator("details.disclosure > summary").all():
                summary.click()
            shoot(page, "patient-record-forms", suffix)
            page.get_by_role("link", name="Modifier l'identité").click()
            page.wait_for_load_state("load")
            shoot(page, "patient-identity", suffix)

            page.goto(f"{base}/teams")
            shoot(page, "teams", suffix, full_page=False)
            page.locator("table a").first.click()
            page.wait_for_url(re.compile(r".*/teams/\d+$"))
            shoot(page, "team", suffix)

            page.goto(f"{base}/notifications")
            shoot(page, "notifications", suffix, full_page=False)

            violations = page.evaluate("window.__cspViolations || []")
            context.close()
            browser.close()
    finally:
        stop_server(server)
    for message in errors:  # the 422 pages are logged as failed loads: expected
        print("console error:", message, file=sys.stderr)
    for violation in violations:
        print("CSP violation:", violation, file=sys.stderr)
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
