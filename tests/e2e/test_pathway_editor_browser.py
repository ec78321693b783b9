"""The pathway template editor in a real browser: reorder steps with the ↑/↓ buttons (a
round trip, no JavaScript needed) and by drag and drop (pathway_steps.js renames the fields
and the buttons, so the order posted is the order shown)."""

from __future__ import annotations

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


def _template_id(server: LiveServer) -> int:
    db = sqlite3.connect(Path(server.workdir.name) / "ptap.sqlite3")
    try:
        row = db.execute(
            "SELECT id FROM pathway_templates WHERE title = 'Personne âgée fragile à domicile'"
        ).fetchone()
    finally:
        db.close()
    assert row is not None, "the demo's frail-elderly template"
    return int(row[0])


def _titles(page: Page) -> list[str]:
    return [
        page.locator(f"#steps-{i}-title").input_value()
        for i in range(page.locator("li.pathway-step").count())
    ]


def test_reorder_steps_with_buttons_and_by_drag(
    page: Page, base_url: str, live_server: LiveServer, problems: PageProblems
):
    template_id = _template_id(live_server)
    login(page, base_url, COORDINATOR)
    page.goto(f"{base_url}/pathway-templates/{template_id}")
    first, second, *rest = _titles(page)

    # ↓ on the first step: the server answers with the two steps swapped (nothing saved).
    page.get_by_role("button", name="Descendre l'étape 1").click()
    expect(page.locator("#steps-0-title")).to_have_value(second)
    assert _titles(page) == [second, first, *rest]
    page.get_by_role("button", name="Monter l'étape 2").click()
    expect(page.locator("#steps-0-title")).to_have_value(first)

    # Drag the second step above the first: fields and buttons follow the new order.
    steps = page.locator("li.pathway-step")
    # Grab the card by its edge (not a field, where a drag selects text).
    steps.nth(1).drag_to(
        steps.nth(0), source_position={"x": 4, "y": 4}, target_position={"x": 4, "y": 4}
    )
    expect(page.locator("#steps-0-title")).to_have_value(second)
    assert _titles(page) == [second, first, *rest]
    top = steps.nth(0)
    expect(top.locator("button[value='up-0']")).to_be_disabled()
    expect(top.locator("legend")).to_contain_text("Étape 1")
    # The buttons act on the order shown: ↓ on the dragged step puts it back second.
    top.get_by_role("button", name="Descendre l'étape 1").click()
    expect(page.locator("#steps-0-title")).to_have_value(first)
    assert _titles(page) == [first, second, *rest]
    assert problems.all() == []
