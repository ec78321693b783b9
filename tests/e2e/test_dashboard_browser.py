"""The coordinator's dashboard in a real browser: it goes live over Socket.IO, and an alert
fixed in another tab leaves the page without a reload (dashboard.js), with no CSP violation."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import PageProblems, login

COORDINATOR = "coordination@demo.ptap.test"


def test_an_alert_fixed_elsewhere_clears_live(page: Page, base_url: str, problems: PageProblems):
    login(page, base_url, COORDINATOR)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tableau de bord")
    expect(page.locator("#dashboard-live")).to_have_attribute("data-state", "live")
    count = page.locator("#count-break_glass")
    expect(count).to_have_text("1")
    row = page.locator("tr:has([data-kind='break_glass'])")
    expect(row).to_have_count(1)
    page.evaluate("window.__dashboardMarker = 'not reloaded'")

    other = page.context.new_page()
    other.goto(f"{base_url}/break-glass/reviews")
    other.get_by_label("Conclusion de l'examen").first.fill("Urgence confirmée par le SAMU.")
    other.get_by_role("button", name="Enregistrer l'examen").first.click()
    other.wait_for_load_state("load")
    other.close()

    expect(count).to_have_text("0", timeout=15_000)
    expect(page.locator("[data-kind='break_glass']")).to_have_count(0)
    assert page.evaluate("window.__dashboardMarker") == "not reloaded"
    expect(page.locator("#dashboard-live")).to_contain_text("mises à jour")
    assert problems.all() == []
