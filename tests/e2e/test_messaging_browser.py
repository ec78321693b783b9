"""End-to-end: two team members in the team conversation; a message arrives live."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import CSP_LISTENER, SCREENSHOTS, PageProblems, login

pytestmark = pytest.mark.browser

COORDINATOR = "coordination@demo.ptap.test"
NURSE = "infirmiere@demo.ptap.test"


@pytest.fixture
def second_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


def open_team_thread(page: Page) -> None:
    nav = page.get_by_role("navigation", name="Navigation principale")
    nav.get_by_role("link", name="Messagerie").click()
    page.get_by_role("button", name="Ouvrir la conversation d'équipe").click()
    page.wait_for_url("**/conversations/*")
    # messaging.js marks the thread once the socket has joined its room.
    expect(page.locator("#thread")).to_have_attribute("data-live", "joined")


def test_message_arrives_live_in_the_other_page(
    page: Page, second_page: Page, base_url: str, problems: PageProblems
) -> None:
    other_problems = PageProblems(second_page)
    login(page, base_url, COORDINATOR)
    login(second_page, base_url, NURSE)
    open_team_thread(page)
    open_team_thread(second_page)
    assert page.url == second_page.url

    page.get_by_label("Message", exact=True).fill(
        "Bonjour l'équipe, **réunion** à 14 h 07 (essai en direct)."
    )
    page.get_by_role("button", name="Envoyer").click()
    received = second_page.locator("#message-list li.message").filter(
        has_text="14 h 07 (essai en direct)"
    )
    expect(received).to_be_visible()
    expect(received.locator("strong")).to_have_text("réunion")
    expect(received.locator(".message-author")).to_have_text("Claire Coordo-Fictive")

    second_page.get_by_label("Message", exact=True).fill(
        "<b>Bien reçu</b>, j'y serai (essai en direct)."
    )
    second_page.keyboard.press("Enter")
    reply = page.locator("#message-list li.message").filter(has_text="j'y serai (essai en direct)")
    expect(reply).to_be_visible()
    expect(reply.locator(".message-body")).to_contain_text("<b>Bien reçu</b>")
    # The sender sees its own message once (the pending copy is replaced, not duplicated);
    # the demo's earlier messages of the thread are not counted.
    ours = "#message-list li.message:has-text('(essai en direct)')"
    expect(page.locator(ours)).to_have_count(2)
    expect(second_page.locator(ours)).to_have_count(2)

    second_page.reload()
    expect(second_page.locator("#thread")).to_have_attribute("data-live", "joined")
    expect(second_page.locator(ours)).to_have_count(2)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "messaging_thread.png", full_page=True)
    assert problems.all() == []
    assert other_problems.all() == []
