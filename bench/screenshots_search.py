"""Screenshots of the patient search (list, filters, break-the-glass offer) at 1366 and 390 px.

Run: .venv/bin/python bench/screenshots_search.py
Starts a throwaway PTAP server with the demo data (the e2e tests' logic), logs in as the demo
coordinator, drives the system Chromium headless and writes PNGs to docs/screenshots/.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import Page, ViewportSize, sync_playwright  # noqa: E402

from tests.e2e.conftest import (  # noqa: E402
    CHROMIUM,
    CSP_LISTENER,
    launch_chromium,
    login,
    start_server,
    stop_server,
)
from tests.factories import valid_nir  # noqa: E402

COORDINATOR = "coordination@demo.ptap.test"
OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
SIZES: dict[str, ViewportSize] = {
    "": {"width": 1366, "height": 900},
    "-390": {"width": 390, "height": 844},
}


def shoot(page: Page, name: str, full_page: bool = False) -> None:
    path = OUT / f"{name}.png"
    page.screenshot(path=path, full_page=full_page)
    print(path.relative_to(OUT.parents[1]))


def main() -> int:
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    server = start_server(timeout=120)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            for suffix, viewport in SIZES.items():
                context = browser.new_context(locale="fr-FR", viewport=viewport)
                context.add_init_script(CSP_LISTENER)
                page = context.new_page()
                page.set_default_timeout(20_000)
                base = server.url
                login(page, base, COORDINATOR)
                page.goto(f"{base}/patients?q=odette")
                shoot(page, f"patient-search{suffix}")
                page.goto(f"{base}/patients?review_due=y")
                shoot(page, f"patient-search-review-due{suffix}")
                page.goto(f"{base}/patients?q={valid_nir('M', 1931, 1)}")
                shoot(page, f"patient-search-break-glass{suffix}", full_page=True)
                context.close()
            browser.close()
    finally:
        stop_server(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
