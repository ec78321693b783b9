"""The grid editor in Chromium: each question shows only the inputs of its type (points for
oui/non, options for a choice), and a row added by a round-trip keeps what was typed."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import PageProblems, login

COORDINATOR = "coordination@demo.ptap.test"


def test_inputs_follow_the_question_type(page: Page, base_url: str, problems: PageProblems):
    login(page, base_url, COORDINATOR)
    page.goto(f"{base_url}/grids")
    page.get_by_role("link", name="Nouvelle grille").first.click()
    options = page.locator("#sections-0-items-0-options")
    points = page.locator("#sections-0-items-0-points_yes")
    expect(points).to_be_visible()
    expect(options).to_be_hidden()
    page.select_option("#sections-0-items-0-type", "choice")
    expect(options).to_be_visible()
    expect(points).to_be_hidden()
    page.select_option("#sections-0-items-0-type", "date")
    expect(page.locator("#sections-0-items-0-scored")).to_be_hidden()
    page.fill("#title", "Grille d'essai")
    page.get_by_role("button", name="Ajouter une question à la section 1").click()
    expect(page.locator("#sections-0-items-1-label")).to_be_visible()
    expect(page.locator("#title")).to_have_value("Grille d'essai")
    expect(page.locator("#sections-0-items-0-type")).to_have_value("date")
    assert problems.all() == []
