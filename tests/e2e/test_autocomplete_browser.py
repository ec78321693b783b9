"""End-to-end: a coordinator adds a team member by typing a name (accessible autocompletion)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PageProblems, login

pytestmark = pytest.mark.browser

COORDINATOR = "coordination@demo.ptap.test"


PREFIXES = ("Ma", "Be", "Du", "Le", "Ro", "Mo", "Ga", "Pe", "La", "Fa", "Ch", "Gi")


def test_member_is_chosen_by_name_and_added(
    page: Page, base_url: str, problems: PageProblems
) -> None:
    login(page, base_url, COORDINATOR)
    page.goto(f"{base_url}/teams")
    page.locator("main table a").first.click()
    members = page.locator("main table").first.inner_text()
    page.get_by_text("Ajouter un membre").click()
    box = page.get_by_role("combobox", name="Professionnel")
    status = page.locator("#person-status")
    chosen = None
    for prefix in PREFIXES:
        box.fill("")
        box.press_sequentially(prefix, delay=30)
        expect(status).not_to_have_text("")
        for option in page.get_by_role("option").all():
            name = (option.text_content() or "").split(" · ")[0]
            if name and name not in members:
                chosen = (option, name)
                break
        if chosen:
            break
    assert chosen is not None, "no professional outside the team to add"
    option, name = chosen
    option.click()
    expect(box).to_have_value(re.compile(rf"^{re.escape(name)} · "))
    assert page.locator("input[name=user_id]").input_value() != ""
    page.get_by_role("button", name="Ajouter à l'équipe").click()
    expect(page.locator("main")).to_contain_text("fait partie de l'équipe")
    expect(page.locator("main table").first).to_contain_text(name)
    assert problems.all() == []


def test_combobox_keyboard_choice(page: Page, base_url: str) -> None:
    login(page, base_url, COORDINATOR)
    page.goto(f"{base_url}/teams")
    page.locator("main table a").first.click()
    page.get_by_text("Ajouter un membre").click()
    box = page.get_by_role("combobox", name="Professionnel")
    box.press_sequentially("Social", delay=50)
    expect(page.get_by_role("option", name="Social-Démo Sophie")).to_be_visible()
    box.press("ArrowDown")
    expect(page.get_by_role("option", name="Social-Démo Sophie")).to_have_attribute(
        "aria-selected", "true"
    )
    box.press("Enter")
    expect(box).to_have_value(re.compile(r"^Social-Démo Sophie · "))
    assert page.locator("input[name=user_id]").input_value() != ""
    box.press_sequentially("x")  # typing again forgets the choice
    assert page.locator("input[name=user_id]").input_value() == ""
