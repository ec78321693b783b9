"""Screenshots of the coordinator dashboard (1366 px and 390 px), for a human to look at.

Run: .venv/bin/python bench/screenshots_dashboard.py
Starts a throwaway PTAP server with the demo data, logs in as the demo coordinator (who lands
on the dashboard), drives the system Chromium headless and writes PNGs to
artifacts/screenshots/: the dashboard, a filtered view, the print view (print media), and the
phone width. Prints any CSP violation or console error.
"""

from __future__ import annotations

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


def shoot(page: Page, name: str, full_page: bool = True) -> None:
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=full_page)
    print(path.relative_to(SCREENSHOTS.parents[1]))


def main() -> int:
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    server = start_server(timeout=180)
    problems: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            for width, suffix in ((1366, ""), (390, "-mobile")):
                viewport: ViewportSize = {"width": width, "height": 900 if width > 500 else 844}
                context = browser.new_context(locale="fr-FR", viewport=viewport)
                context.add_init_script(CSP_LISTENER)
                page = context.new_page()
                page.set_default_timeout(30_000)
                page.on(
                    "console",
                    lambda m: problems.append(m.text) if m.type == "error" else None,
                )
                login(page, server.url, COORDINATOR)
                page.wait_for_selector("#dashboard-live[data-state='live']")
                shoot(page, f"dashboard{suffix}", full_page=False)
                shoot(page, f"dashboard-full{suffix}")
                url = page.url
                page.goto(url + "?alert=overdue_actions&sort=name")
                shoot(page, f"dashboard-filtered{suffix}", full_page=False)
                if not suffix:
                    page.goto(url + "?print=1")
                    page.emulate_media(media="print")
                    shoot(page, "dashboard-print")
                    page.emulate_media(media="screen")
                problems.extend(page.evaluate("window.__cspViolations || []"))
                context.close()
            browser.close()
    finally:
        stop_server(server)
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
