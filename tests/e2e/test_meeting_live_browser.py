"""The live meeting screen in real browsers: the chair opens the session and puts the first
patient on screen; a physician following the same meeting in another browser sees both
without reloading (meeting_live.js over Socket.IO), with no CSP violation."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import CSP_LISTENER, PageProblems, login

COORDINATOR = "coordination@demo.ptap.test"
PHYSICIAN = "medecin@demo.ptap.test"
UPCOMING = "Concertation pluriprofessionnelle de la semaine prochaine"


def test_a_second_participant_follows_the_chair_live(
    page: Page, browser: Browser, base_url: str, problems: PageProblems
):
    login(page, base_url, COORDINATOR)
    page.goto(f"{base_url}/meetings")
    page.get_by_role("link", name=UPCOMING).first.click()
    page.get_by_role("link", name="Écran de séance").click()
    expect(page.locator("#live-connection")).to_have_attribute("data-state", "live")
    live_url = page.url

    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 800})
    context.add_init_script(CSP_LISTENER)
    other = context.new_page()
    other.set_default_timeout(10_000)
    other_problems = PageProblems(other)
    try:
        login(other, base_url, PHYSICIAN)
        other.goto(live_url)
        expect(other.locator("#live-connection")).to_have_attribute("data-state", "live")
        expect(other.locator("#current-title")).to_have_text("Séance pas encore ouverte")
        other.evaluate("window.__liveMarker = 'not reloaded'")

        page.get_by_role("button", name="Ouvrir la séance").click()
        expect(other.locator(".live-meeting-status .live-badge")).to_have_text(
            "En cours", timeout=15_000
        )
        page.get_by_role("button", name="Commencer par la première personne").click()
        first = page.locator(".live-agenda-current .live-agenda-who strong")
        name = first.inner_text()
        expect(other.locator("#current-title")).to_have_text(name, timeout=15_000)
        expect(other.locator(".live-agenda-current")).to_contain_text(name)
        assert other.evaluate("window.__liveMarker") == "not reloaded"
        assert other_problems.all() == []
    finally:
        context.close()
    assert problems.all() == []
