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
    page.wait_for_load_state("load")  # the re-rendered page's deferred script has run
    steps = page.locator("li.pathway-step")
    # Drag events as the browser fires them (a headless pointer drag is not reliable here):
    # dragstart on the second card, dragover the top of the first, dragend.
    page.evaluate(
        """() => {
          const steps = document.querySelectorAll("li.pathway-step");
          const data = new DataTransfer();
          const box = steps[0].getBoundingClientRect();
          const fire = (el, type, y) => el.dispatchEvent(new DragEvent(type, {
            bubbles: true, cancelable: true, dataTransfer: data, clientX: box.left + 4,
            clientY: y }));
          fire(steps[1], "dragstart", 0);
          fire(steps[0], "dragover", box.top + 4);
          fire(steps[1], "dragend", 0);
        }"""
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
