"""Screenshots of the live meeting screen (1366 px and 390 px), for a human to look at.

Run: .venv/bin/python bench/screenshots_meeting_live.py
Starts a throwaway PTAP server with the demo data, adds a meeting of the demo coordinator's
team in session (six patients on the agenda, one already discussed, attendance with the
quorum reached), logs in as the coordinator who chairs it, drives the system Chromium
headless and writes PNGs to artifacts/screenshots/ (copy the ones worth keeping to
docs/screenshots/). Prints any CSP violation or console error.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import Page, ViewportSize, sync_playwright  # noqa: E402

from tests.e2e.conftest import (  # noqa: E402
    BIN,
    CHROMIUM,
    CSP_LISTENER,
    ROOT,
    SCREENSHOTS,
    launch_chromium,
    login,
    server_env,
    start_server,
    stop_server,
)

COORDINATOR = "coordination@demo.ptap.test"


def seed_meeting() -> int:
    """Add a meeting in session to the demo coordinator's team; return its id (run inside
    the app, on the served database)."""
    import sqlalchemy as sa

    from ptap.accounts.queries import find_user_by_email
    from ptap.audit.services import SYSTEM
    from ptap.care_plans.content import load_content
    from ptap.care_plans.models import CarePlan, CarePlanVersion, PlanStatus
    from ptap.care_teams import queries as team_queries
    from ptap.care_teams.models import Enrolment, Patient
    from ptap.core import clock
    from ptap.extensions import db
    from ptap.meetings import queries, services
    from ptap.meetings.decisions import DecisionInput

    coord = find_user_by_email(COORDINATOR)
    assert coord is not None
    team = team_queries.coordinated_teams(coord.id)[0]
    members = [u for m, u in team_queries.list_team_memberships(team.id) if u.id != coord.id]
    nurse = next((u for u in members if u.profession == "nurse"), members[0])
    data = services.MeetingData(
        title="Concertation pluriprofessionnelle mensuelle",
        starts_at=(clock.now() - timedelta(minutes=20)).replace(second=0, microsecond=0),
        duration_minutes=120,
        place="Salle de réunion du DAC, 2e étage",
        video_url="https://visio.example.test/dac-croix-rousse",
        chair_id=coord.id,
        secretary_id=nurse.id,
    )
    meeting = services.schedule_meeting(coord, team, data, SYSTEM)
    services.invite_members(coord, meeting, [u.id for u in members[:7]], SYSTEM)
    plans = db.session.execute(
        sa.select(CarePlan, CarePlanVersion)
        .join(Enrolment, Enrolment.id == CarePlan.enrolment_id)
        .join(CarePlanVersion, CarePlanVersion.id == CarePlan.current_version_id)
        .where(Enrolment.team_id == team.id, Enrolment.ended_at.is_(None))
        .where(CarePlan.status.in_([PlanStatus.DRAFT, PlanStatus.UNDER_REVISION]))
        .order_by(CarePlan.id)
    ).all()
    ready = [
        (p, v)
        for p, v in plans
        if load_content(p.draft).digest() == v.content_hash
        and any(o.actions for o in load_content(v.content).objectives)
    ][:6]
    items = [
        services.add_agenda_item(coord, meeting, db.session.get_one(Patient, p.patient_id), SYSTEM)
        for p, _ in ready
    ]
    present = {coord.id}
    professions = {coord.profession}
    for person in members:
        if len(present) >= 4:
            break
        if person.profession not in professions or len(professions) >= 3:
            present.add(person.id)
            professions.add(person.profession)
    for participant in queries.list_participants(meeting.id):
        if participant.user_id in present:
            attendance = "present"
        elif participant.user_id == members[-1].id:
            attendance = "excused"
        else:
            continue
        services.record_attendance(coord, meeting, participant, attendance, SYSTEM)
    services.start_meeting(coord, meeting, SYSTEM)
    _, first_version = ready[0]
    review = clock.paris_day(meeting.starts_at) + timedelta(days=90)
    services.record_decisions(
        coord,
        items[0],
        "Situation stable, aidante épuisée : relais à organiser avant l'été.",
        [DecisionInput("set_review_date", {"next_review_on": review.isoformat()})],
        first_version.id,
        SYSTEM,
    )
    services.set_current_item(coord, meeting, items[1], SYSTEM)
    db.session.commit()
    return meeting.id


def _seed(database_url: str) -> int:
    code = (
        "from ptap import create_app\n"
        "import bench.screenshots_meeting_live as s\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    print(s.seed_meeting())\n"
    )
    done = subprocess.run(
        [str(BIN / "python"), "-c", code],
        env=server_env(database_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout + done.stderr)
    return int(done.stdout.strip().splitlines()[-1])


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
        meeting_id = _seed(f"sqlite:///{Path(server.workdir.name) / 'ptap.sqlite3'}")
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
                page.goto(f"{server.url}/meetings/{meeting_id}/live")
                page.wait_for_selector("#live-connection[data-state='live']")
                shoot(page, f"meeting-live{suffix}", full_page=False)
                shoot(page, f"meeting-live-full{suffix}")
                problems.extend(page.evaluate("window.__cspViolations || []"))
                context.close()
            browser.close()
    finally:
        stop_server(server)
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
