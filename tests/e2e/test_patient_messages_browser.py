"""End-to-end: the patient record's Messages tab. A professional of the circle opens the tab
of a patient without a conversation, starts it, sends a text with a Word document from the one
composer; it appears at once, and a colleague sees the unread badge on the record's tab."""

from __future__ import annotations

import io
import os
import re
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import CSP_LISTENER, SCREENSHOTS, PageProblems, login

pytestmark = pytest.mark.browser

PHARMACIST = "pharmacien@demo.ptap.test"
PHYSIO = "kine@demo.ptap.test"
#: Where the 1366 px and 390 px screenshots go (artifacts/screenshots unless said).
SHOTS = Path(os.environ.get("PTAP_SHOTS_DIR") or SCREENSHOTS)
API_GET = """async (url) => {
  const response = await fetch(
    url, {credentials: "same-origin", headers: {Accept: "application/json"}}
  );
  return {status: response.status, body: await response.json()};
}"""


def _docx() -> bytes:
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org'
            f'/package/2006/content-types"><Override PartName="/word/document.xml" '
            f'ContentType="{main}"/></Types>',
        )
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def _get(page: Page, url: str) -> Any:
    answer = page.evaluate(API_GET, url)
    assert answer["status"] == 200, answer
    return answer["body"]


def _patient_without_conversation(page: Page) -> int:
    taken: set[int] = set()
    cursor = ""
    while True:
        listed = _get(page, f"/api/v1/conversations?limit=100{cursor}")
        taken |= {c["patient_id"] for c in listed["items"]}
        if not listed["page"]["next_cursor"]:
            break
        cursor = f"&cursor={listed['page']['next_cursor']}"
    patients = _get(page, "/api/v1/patients?limit=100")["items"]
    return next(p["id"] for p in patients if p["id"] not in taken)


def _new_page(browser: Browser, width: int = 1366) -> Page:
    context = browser.new_context(locale="fr-FR", viewport={"width": width, "height": 900})
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def test_messages_tab_starts_the_conversation_and_sends_text_with_a_file(
    browser: Browser, base_url: str
) -> None:
    paul, karim = _new_page(browser), _new_page(browser)
    problems = [PageProblems(paul), PageProblems(karim)]
    try:
        login(paul, base_url, PHARMACIST)
        login(karim, base_url, PHYSIO)
        patient_id = _patient_without_conversation(paul)

        paul.goto(f"{base_url}/patients/{patient_id}")
        tabs = paul.get_by_role("navigation", name="Rubriques du dossier")
        tabs.get_by_role("link", name="Messages").click()
        paul.wait_for_url(f"**/patients/{patient_id}/messages")
        expect(tabs.get_by_role("link", name="Messages")).to_have_attribute("aria-current", "page")
        paul.get_by_role("button", name="Démarrer la conversation du patient").click()
        paul.wait_for_url(re.compile(rf"/patients/{patient_id}/messages#nouveau-message$"))
        expect(paul.locator("#thread")).to_have_attribute("data-live", "joined")

        text = f"Compte rendu de la visite à domicile {uuid.uuid4().hex[:6]}"
        name = f"synthese-{uuid.uuid4().hex[:6]}.docx"
        paul.get_by_label("Message", exact=True).fill(text)
        paul.get_by_label("Pièces jointes (facultatif)").set_input_files(
            files=[{"name": name, "mimeType": "application/msword", "buffer": _docx()}]
        )
        paul.get_by_role("button", name="Envoyer").click()
        sent = paul.locator("#message-list li.message[data-seq]").filter(has_text=text)
        expect(sent).to_have_count(1)
        expect(sent.get_by_role("link", name=name)).to_have_attribute(
            "href", re.compile(r"^/api/v1/attachments/\d+$")
        )
        expect(paul.get_by_label("Message", exact=True)).to_have_value("")
        assert paul.url.endswith("#nouveau-message")  # sent live, no page load

        # A colleague of the circle sees the unread badge on the record, then the message.
        karim.goto(f"{base_url}/patients/{patient_id}")
        karim_tab = karim.get_by_role("navigation", name="Rubriques du dossier").get_by_role(
            "link", name=re.compile(r"^Messages")
        )
        expect(karim_tab.locator("[data-tab-badge]")).to_have_text("1 non lu")
        karim_tab.click()
        expect(karim.locator("#message-list li.message").filter(has_text=text)).to_be_visible()
        expect(karim.get_by_role("link", name=name)).to_be_visible()

        SHOTS.mkdir(parents=True, exist_ok=True)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        paul.get_by_label("Message", exact=True).fill("Je passe demain matin.")
        paul.screenshot(path=SHOTS / "patient-messages-1366.png", full_page=True)
        paul.set_viewport_size({"width": 390, "height": 844})
        paul.screenshot(path=SHOTS / "patient-messages-390.png", full_page=True)
        assert [p.all() for p in problems] == [[], []]
    finally:
        paul.context.close()
        karim.context.close()
