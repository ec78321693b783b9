"""Screenshots of the assessment-grid pages, for a human to look at.

Run: .venv/bin/python bench/screenshots_grids.py [--mobile]
Starts a throwaway PTAP server with the demo data, logs in as the demo coordinator, opens the
grids, the editor with a refused score reference, a patient's assessments (score chart and
table), then starts and fills an assessment; writes PNGs to artifacts/screenshots/.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import Page, ViewportSize, sync_playwright  # noqa: E402

from tests.e2e.conftest import (  # noqa: E402
    CHROMIUM,
    CSP_LISTENER,
    SCREENSHOTS,
    PageProblems,
    launch_chromium,
    login,
    start_server,
    stop_server,
)

COORDINATOR = "coordination@demo.ptap.test"


def shoot(page: Page, name: str, suffix: str) -> None:
    path = SCREENSHOTS / f"{name}{suffix}.png"
    page.screenshot(path=path, full_page=True)
    print(path.relative_to(SCREENSHOTS.parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mobile", action="store_true", help="390 px wide, like a phone")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing", file=sys.stderr)
        return 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    suffix = "-mobile" if args.mobile else ""
    viewport: ViewportSize = (
        {"width": 390, "height": 844} if args.mobile else {"width": 1366, "height": 800}
    )
    server = start_server(timeout=240)
    try:
        database = Path(server.workdir.name) / "ptap.sqlite3"
        with sqlite3.connect(database) as connection:
            (patient_id,) = connection.execute(
                "SELECT patient_id FROM assessments GROUP BY patient_id "
                "ORDER BY count(*) DESC, patient_id LIMIT 1"
            ).fetchone()
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context(locale="fr-FR", viewport=viewport)
            context.add_init_script(CSP_LISTENER)
            page = context.new_page()
            problems = PageProblems(page)
            page.set_default_timeout(20_000)
            base = server.url
            login(page, base, COORDINATOR)
            page.goto(f"{base}/grids")
            shoot(page, "grids-list", suffix)
            page.get_by_role("link", name="Repérage de la fragilité").click()
            shoot(page, "grids-show", suffix)
            page.goto(f"{base}/grids/new")
            page.get_by_label("Clé stable").fill("essai")
            page.get_by_label("Définition de la grille").fill(
                '{"title": "Essai", "sections": [{"title": "A", "items": '
                '[{"key": "q1", "label": "Question", "type": "yesno"}]}], '
                '"score_items": ["q2"]}'
            )
            page.get_by_role("button", name="Enregistrer le brouillon").click()
            page.wait_for_load_state("load")
            shoot(page, "grids-editor-error", suffix)
            page.goto(f"{base}/patients/{patient_id}/assessments")
            page.wait_for_timeout(500)  # the chart draws after load
            shoot(page, "grids-patient-history", suffix)
            page.get_by_label("Grille").select_option(label="Situation à domicile")
            page.get_by_role("button", name="Commencer l'évaluation").click()
            page.wait_for_url("**/assessments/*")
            page.get_by_label("Oui").first.check()
            page.wait_for_timeout(1500)  # autosave
            shoot(page, "grids-fill", suffix)
            page.get_by_role("button", name="Signer l'évaluation").click()
            page.wait_for_load_state("load")
            shoot(page, "grids-fill-error", suffix)
            print("page problems:", problems.all())
            browser.close()
    finally:
        stop_server(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
