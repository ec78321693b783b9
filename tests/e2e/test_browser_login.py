"""End-to-end: the login journey in headless Chromium against a real `ptap` server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DEMO_PASSWORD, SCREENSHOTS, PageProblems, login, totp_code

pytestmark = pytest.mark.browser

COORDINATOR = "coordination@demo.ptap.test"
PROFESSIONAL = "medecin@demo.ptap.test"
ADMIN = "admin@demo.ptap.test"
ARS = "ars@demo.ptap.test"


def test_login_journey_reaches_home(page: Page, base_url: str, problems: PageProblems) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{base_url}/login")
    expect(page).to_have_title(re.compile(r"^Connexion · PTAP$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion")
    page.screenshot(path=SCREENSHOTS / "login.png", full_page=True)

    page.get_by_label("Adresse e-mail").fill(COORDINATOR)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url("**/login/second-factor")
    expect(page.get_by_role("heading", level=1)).to_have_text("Code de vérification")

    page.get_by_label("Code à 6 chiffres ou code de secours").fill(totp_code(COORDINATOR))
    page.get_by_role("button", name="Se connecter").click()
    # A coordinator lands on the dashboard of their team (or the team picker).
    page.wait_for_url(re.compile(rf"^{re.escape(base_url)}/(teams/\d+/)?dashboard$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tableau de bord")
    expect(page.get_by_role("navigation", name="Navigation principale")).to_be_visible()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "home.png", full_page=True)
    assert problems.all() == []


def test_wrong_password_shows_error_and_keeps_email(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Adresse e-mail").fill(COORDINATOR)
    page.get_by_label("Mot de passe").fill("pas-le-bon-mot-de-passe")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Continuer").click()
    assert answer.value.status == 401

    card = page.get_by_role("region", name="Connexion")
    expect(card.get_by_role("alert")).to_contain_text("Adresse e-mail ou mot de passe incorrect.")
    expect(card.locator("form")).to_be_visible()
    expect(page.get_by_label("Adresse e-mail")).to_have_value(COORDINATOR)
    expect(page.get_by_label("Mot de passe")).to_have_value("")
    assert page.url == f"{base_url}/login"


def test_login_page_accessibility_basics(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("main")).to_have_count(1)

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Aller au contenu principal")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    viewport = page.viewport_size
    assert box is not None and viewport is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], box

    inputs = page.locator("input:not([type=hidden])")
    assert inputs.count() >= 2
    for i in range(inputs.count()):
        input_id = inputs.nth(i).get_attribute("id")
        assert input_id, f"input #{i} has no id"
        label = page.locator(f"label[for='{input_id}']")
        expect(label).to_have_count(1)
        expect(label).to_be_visible()
        assert label.inner_text().strip(), f"the label of #{input_id} is empty"

    for _ in range(10):  # keyboard only: Tab until the e-mail field has the focus
        if page.evaluate("document.activeElement.id") == "email":
            break
        page.keyboard.press("Tab")
    email = page.get_by_label("Adresse e-mail")
    expect(email).to_be_focused()
    outline = email.evaluate(
        "el => { const s = getComputedStyle(el);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert outline[0] != "none" and outline[1] >= 2, outline


def test_no_csp_violation_or_console_error(
    page: Page, base_url: str, problems: PageProblems
) -> None:
    page.goto(f"{base_url}/login")
    page.wait_for_load_state("load")
    assert problems.all() == [], "on /login"
    login(page, base_url, PROFESSIONAL)
    expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour Marc")
    page.wait_for_load_state("load")
    assert problems.all() == [], "on the home page"
    assert not [m for m in problems.console_errors if "Content Security Policy" in m]


def test_admin_sees_accounts(page: Page, base_url: str) -> None:
    login(page, base_url, ADMIN)
    nav = page.get_by_role("navigation", name="Navigation principale")
    nav.get_by_role("link", name="Comptes").click()
    page.wait_for_url(f"{base_url}/admin/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("Comptes")
    expect(page.get_by_role("cell", name=ARS)).to_be_visible()


def test_ars_analyst_is_refused_admin(page: Page, base_url: str) -> None:
    login(page, base_url, ARS)
    nav = page.get_by_role("navigation", name="Navigation principale")
    expect(nav.get_by_role("link", name="Comptes")).to_have_count(0)
    response = page.goto(f"{base_url}/admin/users")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_contain_text("Accès refusé")
    expect(page.get_by_role("cell", name=ADMIN)).to_have_count(0)
