"""The one-page care-plan editor in a real browser, with the keyboard only: add a problem, an
objective and an action (each new row takes the focus), mark the action "à définir", publish;
then the progress bar and the coordinators' "Actions à définir" list say so."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    LiveServer,
    PageProblems,
    login,
    require_chromium,
    start_server,
    stop_server,
)

COORDINATOR = "coordination@demo.ptap.test"
SHOTS = Path(os.environ.get("PTAP_SHOTS", "/tmp/shots/editor"))  # noqa: S108 (COMMON.md)


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    """The shared server, given more time to start on a loaded machine."""
    require_chromium()
    server = start_server(timeout=180)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def base_url(live_server: LiveServer) -> str:
    return live_server.url


def _draft_plan_patient(server: LiveServer) -> int:
    """A patient of the demo coordinator's teams whose plan is a draft never published, with
    only complete actions (so that publishing depends on what the test adds)."""
    db = sqlite3.connect(Path(server.workdir.name) / "ptap.sqlite3")
    try:
        rows = db.execute(
            """
            SELECT p.patient_id, p.draft FROM care_plans p
            JOIN enrolments e ON e.id = p.enrolment_id AND e.ended_at IS NULL
            JOIN team_memberships m ON m.team_id = e.team_id AND m.role = 'coordinator'
            JOIN users u ON u.id = m.user_id AND u.email = ?
            JOIN patients pt ON pt.id = p.patient_id AND pt.sharing_consent = 1
            WHERE p.status = 'draft' AND p.current_version_id IS NULL
            ORDER BY p.id
            """,
            (COORDINATOR,),
        ).fetchall()
    finally:
        db.close()
    for patient_id, draft in rows:
        actions = [a for o in json.loads(draft)["objectives"] for a in o["actions"]]
        if all(
            (a.get("assignee_user_id") or a.get("assignee_label")) and a.get("due_on")
            for a in actions
        ):
            return int(patient_id)
    raise AssertionError("no draft plan to edit in the demo data")


def _focused_id(page: Page) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def test_one_page_editor_with_the_keyboard(
    page: Page, base_url: str, live_server: LiveServer, problems: PageProblems
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    patient_id = _draft_plan_patient(live_server)
    login(page, base_url, COORDINATOR)
    page.goto(f"{base_url}/patients/{patient_id}/care-plan/edit")
    bar = page.locator(".progress-steps [aria-current='step']")
    expect(bar).to_contain_text("Brouillon")
    revision = page.locator("#base_revision").input_value()

    # A problem: the new row takes the focus on its first field.
    page.get_by_role("button", name="Ajouter un problème ou un besoin").focus()
    page.keyboard.press("Enter")
    expect(page.locator("[id$='-dimension']:focus")).to_have_count(1)
    row_field = _focused_id(page)
    assert row_field.startswith("problems-") and row_field.endswith("-dimension")
    page.keyboard.press("ArrowDown")  # "Médical" (first dimension after "— Choisir —")
    page.keyboard.press("Tab")  # priority
    page.keyboard.press("Tab")  # description
    assert _focused_id(page).endswith("-description")
    page.keyboard.type("Marche difficile depuis la chute")

    # An objective, then an action of that objective.
    page.get_by_role("button", name="Ajouter un objectif partagé").focus()
    page.keyboard.press("Enter")
    expect(page.locator("[id^='objectives-'][id$='-title']:focus")).to_have_count(1)
    objective = _focused_id(page).removesuffix("-title")
    page.keyboard.type("Reprendre la marche dehors")
    page.locator(f"#add-{objective}-actions").focus()
    page.keyboard.press("Enter")
    expect(page.locator(f"[id^='{objective}-actions-'][id$='-what']:focus")).to_have_count(1)
    action = _focused_id(page).removesuffix("-what")
    page.keyboard.type("Accompagnement pour sortir")
    page.locator(f"#{action}-to_define").focus()
    page.keyboard.press("Space")
    expect(page.locator(f"#{action}-to_define")).to_be_checked()
    # Nothing was saved by adding rows: the draft revision is the same.
    assert page.locator("#base_revision").input_value() == revision

    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.locator(f"#row-{action}").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"editor-{width}.png"))
    page.set_viewport_size({"width": 1366, "height": 900})

    page.get_by_label("Résumé des changements (pour publier)").fill("Marche et sorties")
    page.get_by_role("button", name="Enregistrer et publier").click()
    page.wait_for_url(f"**/patients/{patient_id}/care-plan")
    expect(page.locator(".flash-success")).to_contain_text("version 1 publiée")
    expect(bar).to_contain_text("Publiée")
    expect(page.locator(".progress-next")).to_contain_text("Validation attendue")
    expect(page.locator("#part-actions-section")).to_contain_text("Accompagnement pour sortir")
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / f"plan-{width}.png"))
    page.set_viewport_size({"width": 1366, "height": 900})

    page.goto(f"{base_url}/tasks")
    page.get_by_role("link", name="Actions à définir des personnes que vous coordonnez").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Actions à définir")
    expect(page.locator("table")).to_contain_text("Accompagnement pour sortir")
    page.screenshot(path=str(SHOTS / "to-define-1366.png"))
    assert problems.all() == []
