"""End-to-end: "Mes sessions" in headless Chromium: end one other session, then all others.

Three browser contexts log in to the same account (three sessions). The first closes one of
the others from its sessions page, then every other one; each closed browser is sent back
to the login page on its next request, and the first stays signed in.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import CSP_LISTENER, login

pytestmark = pytest.mark.browser

#: Other browser tests sign in with this account too: the test first closes their sessions.
USER = "pharmacien@demo.ptap.test"


@pytest.fixture
def three_pages(browser: Browser, base_url: str) -> Iterator[list[Page]]:
    contexts = [
        browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 800})
        for _ in range(3)
    ]
    pages = []
    for context in contexts:
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        page.set_default_timeout(15_000)
        pages.append(page)
    try:
        yield pages
    finally:
        for context in contexts:
            context.close()


def _signed_out(page: Page, base_url: str) -> bool:
    page.goto(f"{base_url}/account/sessions")
    return "/login" in page.url


def test_end_one_session_then_all_others(three_pages: list[Page], base_url: str) -> None:
    mine, *others = three_pages
    login(mine, base_url, USER)
    mine.goto(f"{base_url}/account/sessions")
    close_others = mine.get_by_role("button", name="Fermer toutes les autres sessions")
    if close_others.count():  # sessions left by other browser tests of this account
        close_others.click()
        expect(mine.get_by_text("Aucune autre session ouverte.")).to_be_visible()
    for page in others:
        login(page, base_url, USER)
    mine.goto(f"{base_url}/account/sessions")
    expect(mine.get_by_role("heading", level=1)).to_have_text("Mes sessions")
    rows = mine.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(mine.locator("tr[aria-current='true']")).to_have_count(1)

    mine.get_by_role("button", name="Fermer cette session").first.click()
    expect(mine.get_by_text("La session a été fermée sur cet appareil.")).to_be_visible()
    expect(rows).to_have_count(2)
    closed = [p for p in others if _signed_out(p, base_url)]
    assert len(closed) == 1  # exactly the one closed, the other still works
    [remaining] = [p for p in others if p is not closed[0]]

    mine.get_by_role("button", name="Fermer toutes les autres sessions").click()
    expect(mine.get_by_text("1 autre(s) session(s) fermée(s).")).to_be_visible()
    expect(rows).to_have_count(1)
    expect(mine.get_by_text("Aucune autre session ouverte.")).to_be_visible()
    assert _signed_out(remaining, base_url)
    assert not _signed_out(mine, base_url)
