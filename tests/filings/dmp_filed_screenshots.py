"""Screenshots of filing a DMP document into the coordination file, as the demo GP.

Run: .venv/bin/python -m tests.filings.dmp_filed_screenshots [OUT_DIR]
(default artifacts/screenshots).
Starts the DMP simulator and a throwaway PTAP server with the demo data, opens the discharge
letter from the patient's DMP, files it, then shoots the filed copy and the patient's DMP
section at 1366 and 390 px wide. Prints every console error or CSP violation seen.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

import tests.e2e.conftest as e2e
from ptap.devtools.dmp_simulator import start_in_thread
from tests.filings.dmp_consult_screenshots import GP, _patient_id

LETTER = "Lettre de liaison à la sortie — Médecine interne"


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
                page.get_by_role("link", name=LETTER).click()
                page.wait_for_load_state("load")
                button = page.get_by_role("button", name="Verser au dossier de coordination")
                if button.count():
                    page.screenshot(path=out / f"dmp-file-button-{width}.png", full_page=True)
                    button.click()
                else:
                    page.get_by_role("link", name="Voir la copie versée").click()
                page.wait_for_load_state("load")
                page.screenshot(path=out / f"dmp-filed-copy-{width}.png", full_page=True)
                page.goto(f"{server.url}/patients/{patient_id}/dmp")
                page.screenshot(path=out / f"dmp-section-filed-{width}.png", full_page=True)
                wide = page.evaluate("document.documentElement.scrollWidth")
                if wide > width:
                    errors.append(f"the DMP section is {wide} px wide at {width}")
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
