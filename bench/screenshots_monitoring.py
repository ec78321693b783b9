"""Screenshots of the monitoring pages as an ARS analyst and a coordinator (1366 px wide).

Run: .venv/bin/python bench/screenshots_monitoring.py [--days 330 --per-day 60]
(--days 0: the demo data only, as `ptap demo` leaves it)
Starts a throwaway PTAP server with the demo data, adds months of random regional activity
(tests/monitoring/conftest.py's World) to its database, refreshes the aggregates, then drives
the system Chromium headless and writes PNGs to artifacts/screenshots/ (git-ignored). Also
checks that the charts drew (a canvas with pixels) and that no CSP violation occurred.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.e2e.conftest import (  # noqa: E402
    CSP_LISTENER,
    SCREENSHOTS,
    launch_chromium,
    login,
    start_server,
    stop_server,
)

ARS = "ars@demo.ptap.test"


def fill(database: Path, days: int, per_day: int) -> None:
    """Add random activity ending today to the server's database and refresh the aggregates."""
    from ptap import create_app
    from ptap.core import clock
    from ptap.extensions import db
    from ptap.monitoring.tasks import refresh_monitoring_aggregates
    from tests.monitoring.conftest import World, simulate

    app = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{database}"})
    with app.app_context():
        world = World(seed=7)
        start = datetime.now(UTC) - timedelta(days=days)
        end = simulate(world, days, start=start, per_day=per_day)
        with clock.frozen(end):
            refresh_monitoring_aggregates()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=330)
    parser.add_argument("--per-day", type=int, default=40)
    args = parser.parse_args()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    server = start_server()
    violations: list[str] = []
    try:
        if args.days:  # --days 0: the demo's own activity only, as a newcomer sees it
            fill(Path(server.workdir.name) / "ptap.sqlite3", args.days, args.per_day)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context(locale="fr-FR", viewport={"width": 1366, "height": 900})
            context.add_init_script(CSP_LISTENER)
            page = context.new_page()
            base = server.url
            login(page, base, ARS)
            page.wait_for_selector("canvas")
            page.wait_for_timeout(500)
            drawn = page.evaluate(
                "Array.from(document.querySelectorAll('canvas')).filter(c => c.width > 0"
                " && c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
                ".some(v => v !== 0)).length"
            )
            print("charts drawn:", drawn)
            for name, path in (
                ("monitoring-ars", "/monitoring"),
                ("monitoring-ars-team", "/monitoring?team=2"),
                ("monitoring-reports", "/monitoring/reports"),
            ):
                page.goto(f"{base}{path}")
                page.wait_for_timeout(400)
                target = SCREENSHOTS / f"{name}.png"
                page.screenshot(path=target, full_page=True)
                print(target.relative_to(SCREENSHOTS.parents[1]))
                violations += page.evaluate("window.__cspViolations || []")
            page.goto(f"{base}/monitoring")
            page.set_viewport_size({"width": 1366, "height": 900})
            top = SCREENSHOTS / "monitoring-ars-top.png"
            page.screenshot(path=top)
            print(top.relative_to(SCREENSHOTS.parents[1]))
            context.close()
            browser.close()
    finally:
        stop_server(server)
    for violation in violations:
        print("CSP violation:", violation, file=sys.stderr)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
