"""Small screens and keyboard: the collapsed main menu (with and without JavaScript), the
focused error summary, the patient name as H1. Screenshots at 1366 and 390 px."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import CSP_LISTENER, DEMO_PASSWORD, PageProblems, login, totp_code

pytestmark = pytest.mark.browser

NURSE = "infirmiere@demo.ptap.test"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
SHOTS = Path(os.environ.get("PTAP_A11Y_SHOTS", "/tmp/shots/a11y"))  # noqa: S108 - look at them


def new_page(browser: Browser, viewport: dict[str, int], javascript: bool = True) -> Page:
    context = browser.new_context(locale="fr-FR", viewport=viewport, java_script_enabled=javascript)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    page = new_page(browser, PHONE)
    yield page
    page.context.close()


@pytest.fixture
def phone_without_js(browser: Browser) -> Iterator[Page]:
    page = new_page(browser, PHONE, javascript=False)
    yield page
    page.context.close()


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Page]:
    page = new_page(browser, DESKTOP)
    yield page
    page.context.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / name, full_page=False)


def menu_link(page: Page, name: str):
    nav = page.get_by_role("navigation", name="Navigation principale")
    return nav.get_by_role("link", name=re.compile(rf"^{re.escape(name)}(\s|$)"))


def first_patient_record(page: Page, base_url: str) -> str:
    page.goto(f"{base_url}/patients")
    link = page.locator("main a[href^='/patients/']").filter(has_not_text="Inscrire").first
    href = link.get_attribute("href")
    assert href and re.fullmatch(r"/patients/\d+", href), href
    return href


def test_phone_menu_is_collapsed_and_opens_with_the_button(phone: Page, base_url: str) -> None:
    problems = PageProblems(phone)
    login(phone, base_url, NURSE)
    toggle = phone.locator("summary.nav-toggle")
    expect(toggle).to_be_visible()
    expect(toggle).to_contain_text("Menu")
    expect(menu_link(phone, "Mes patients")).to_be_hidden()
    shot(phone, "home-390.png")

    toggle.click()
    expect(menu_link(phone, "Mes patients")).to_be_visible()
    expect(phone.get_by_role("button", name="Se déconnecter")).to_be_visible()
    shot(phone, "home-390-menu-open.png")
    # The menu lies over the page and is usable: follow a link.
    menu_link(phone, "Mes patients").click()
    phone.wait_for_url("**/patients")
    expect(menu_link(phone, "Mes patients")).to_be_hidden()  # a new page: collapsed again

    # Keyboard: Enter on the focused summary opens it too.
    toggle.focus()
    phone.keyboard.press("Enter")
    expect(menu_link(phone, "Messagerie")).to_be_visible()
    assert problems.all() == []


def test_phone_menu_opens_without_javascript(phone_without_js: Page, base_url: str) -> None:
    page = phone_without_js
    page.goto(f"{base_url}/login")
    # The login forms need no script.
    page.get_by_label("Adresse e-mail").fill(NURSE)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url("**/login/second-factor")
    page.get_by_label("Code à 6 chiffres ou code de secours").fill(totp_code(NURSE))
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(lambda url: "/login" not in url)
    expect(menu_link(page, "Mes patients")).to_be_hidden()
    page.locator("summary.nav-toggle").click()
    expect(menu_link(page, "Mes patients")).to_be_visible()
    shot(page, "home-390-nojs-menu-open.png")


def test_desktop_shows_the_grouped_menu_without_a_button(desktop: Page, base_url: str) -> None:
    problems = PageProblems(desktop)
    login(desktop, base_url, NURSE)
    expect(desktop.locator("summary.nav-toggle")).to_be_hidden()
    for name in ("Mes patients", "Messagerie", "Notifications"):
        expect(menu_link(desktop, name)).to_be_visible()
    expect(desktop.locator(".nav-group-title", has_text="Coordination")).to_be_visible()
    shot(desktop, "home-1366.png")
    assert problems.all() == []


def test_desktop_menu_is_shown_without_javascript(browser: Browser, base_url: str) -> None:
    page = new_page(browser, DESKTOP, javascript=False)
    try:
        page.goto(f"{base_url}/login")
        page.get_by_label("Adresse e-mail").fill(NURSE)
        page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Continuer").click()
        page.wait_for_url("**/login/second-factor")
        page.get_by_label("Code à 6 chiffres ou code de secours").fill(totp_code(NURSE))
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(lambda url: "/login" not in url)
        expect(menu_link(page, "Mes patients")).to_be_visible()
    finally:
        page.context.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1366"])
def test_a_failed_login_focuses_the_error_summary(
    browser: Browser, base_url: str, viewport: dict[str, int]
) -> None:
    page = new_page(browser, viewport)
    try:
        page.goto(f"{base_url}/login")
        page.get_by_label("Adresse e-mail").fill(NURSE)
        page.get_by_label("Mot de passe").fill("pas-le-bon-mot-de-passe")
        page.get_by_role("button", name="Continuer").click()
        summary = page.locator(".error-summary")
        expect(summary).to_contain_text("Adresse e-mail ou mot de passe incorrect.")
        expect(summary).to_be_focused()
        assert page.evaluate("document.activeElement.className") == "error-summary"
        shot(page, f"login-error-{viewport['width']}.png")
    finally:
        page.context.close()


def test_a_failed_login_focuses_the_summary_without_javascript(
    phone_without_js: Page, base_url: str
) -> None:
    page = phone_without_js
    page.goto(f"{base_url}/login")
    page.get_by_label("Adresse e-mail").fill(NURSE)
    page.get_by_label("Mot de passe").fill("pas-le-bon-mot-de-passe")
    page.get_by_role("button", name="Continuer").click()
    expect(page.locator(".error-summary")).to_be_focused()  # the autofocus attribute


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1366"])
def test_the_patient_record_is_titled_with_the_name(
    browser: Browser, base_url: str, viewport: dict[str, int]
) -> None:
    page = new_page(browser, viewport)
    try:
        problems = PageProblems(page)
        login(page, base_url, NURSE)
        record = first_patient_record(page, base_url)
        page.goto(f"{base_url}{record}")
        h1 = page.get_by_role("heading", level=1)
        expect(h1).to_have_count(1)
        expect(h1).to_have_class("patient-header-name")
        expect(page.get_by_role("heading", level=2, name="Dossier de coordination")).to_be_visible()
        name = h1.inner_text()
        assert name.strip()
        shot(page, f"record-{viewport['width']}.png")
        page.goto(f"{base_url}{record}/care-plan")
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        shot(page, f"plan-{viewport['width']}.png")
        # Nothing wider than the screen on a phone.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], width
        assert problems.all() == []
    finally:
        page.context.close()
