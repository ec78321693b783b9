"""End-to-end: a coordinator finds a patient by first name then name, in lower case, and an
unknown INS offers the emergency access with its rules."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PageProblems, login
from tests.factories import valid_nir

pytestmark = pytest.mark.browser

COORDINATOR = "coordination@demo.ptap.test"


def test_patient_is_found_by_first_name_and_name_in_any_order(
    page: Page, base_url: str, problems: PageProblems
) -> None:
    login(page, base_url, COORDINATOR)
    page.goto(f"{base_url}/patients")
    first_row = page.locator("table.patient-table tbody tr").first
    name = first_row.locator("td a").first.inner_text()  # "CROQUETIN Odette Marie"
    birth_name, first_name = name.split(" ")[0], name.split(" ")[1]
    box = page.get_by_label("Nom, prénom, INS ou date de naissance")
    box.fill(f"{first_name.lower()} {birth_name.lower()}")
    page.get_by_role("button", name="Rechercher").click()
    rows = page.locator("table.patient-table tbody tr")
    expect(rows.first.locator("td a").first).to_contain_text(birth_name)
    for row in rows.all():
        text = row.locator("td a").first.inner_text().upper()
        assert birth_name in text and first_name.upper() in text
    expect(page.locator("table.patient-table thead")).to_contain_text("Plan de coordination")
    expect(page.locator("table.patient-table thead")).to_contain_text("Prochaine réévaluation")

    box = page.get_by_label("Nom, prénom, INS ou date de naissance")
    box.fill(valid_nir("M", 1931, 1))
    page.get_by_role("button", name="Rechercher").click()
    offer = page.locator("section.break-glass-offer")
    expect(offer).to_contain_text("accès en urgence")
    expect(offer).to_contain_text("tracé")
    expect(offer.get_by_role("button", name="Accès en urgence")).to_be_visible()
    assert problems.all() == []
