"""Screenshots of the pages the daily-work fixes touched (issue 14), at 1366 px and 390 px.

Run: .venv/bin/python bench/screenshots_daily.py
Starts a throwaway PTAP server with the demo data (the e2e tests' logic), logs in as the demo
coordinator and shoots: the plan page (status badge, approvals, action table with the overdue
badge), version 1, the patient list (consent to collect), a team page, the patient record
(timeline) and the DMP section. Writes PNGs to artifacts/screenshots/daily-*.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from ptap import create_app  # noqa: E402
from ptap.accounts.queries import find_user_by_email  # noqa: E402
from ptap.care_plans.models import CarePlan  # noqa: E402
from ptap.care_teams import access  # noqa: E402
from ptap.care_teams.models import TeamMembership  # noqa: E402
from ptap.extensions import db  # noqa: E402
from tests.e2e.conftest import (  # noqa: E402
    SCREENSHOTS,
    launch_chromium,
    login,
    start_server,
    stop_server,
)

COORDINATOR = "coordination@demo.ptap.test"
WIDTHS = {"": {"width": 1366, "height": 900}, "-mobile": {"width": 390, "height": 844}}


def targets(workdir: str) -> tuple[int, int]:
    """The patient of the demo coordinator's first plan, and their first team."""
    url = f"sqlite:///{Path(workdir) / 'ptap.sqlite3'}"
    with create_app({"ENV": "development", "DATABASE_URL": url}).app_context():
        coord = find_user_by_email(COORDINATOR)
        assert coord is not None
        patient_id = db.session.scalar(
            sa.select(CarePlan.patient_id)
            .where(CarePlan.patient_id.in_(access.visible_patient_ids(coord.id, circle_only=True)))
            .order_by(CarePlan.id)
        )
        team_id = db.session.scalar(
            sa.select(TeamMembership.team_id).where(TeamMembership.user_id == coord.id)
        )
        assert patient_id is not None
        assert team_id is not None
        return patient_id, team_id


def main() -> int:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    server = start_server(timeout=120)
    try:
        patient_id, team_id = targets(server.workdir.name)
        pages = {
            "plan": f"/patients/{patient_id}/care-plan",
            "version": f"/patients/{patient_id}/care-plan/versions/1",
            "patients": "/patients",
            "team": f"/teams/{team_id}",
            "record": f"/patients/{patient_id}",
            "dmp": f"/patients/{patient_id}/dmp",
            "tasks": "/tasks",
        }
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            for suffix, viewport in WIDTHS.items():
                context = browser.new_context(locale="fr-FR", viewport=viewport)
                page = context.new_page()
                login(page, server.url, COORDINATOR)
                for name, path in pages.items():
                    page.goto(server.url + path)
                    target = SCREENSHOTS / f"daily-{name}{suffix}.png"
                    page.screenshot(path=target, full_page=True)
                    print(target)
                context.close()
            browser.close()
    finally:
        stop_server(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
