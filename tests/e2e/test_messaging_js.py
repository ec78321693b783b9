"""End-to-end: every live path of ptap/static/js/messaging.js, in two (or three) browsers.

Three demo professionals of the same care team ("Parcours complexes Lyon Centre"), each logged
in once per module (their cookies are then reused by fresh browser contexts), talk in direct
conversations and in the conversation of a patient of their circle. A disconnection is the
browser going offline (`context.set_offline`), which drops the socket at once, as a lost
network would; Socket.IO then reconnects by itself when the network comes back.

The server is shared with the other e2e modules: every check is relative to what was on the
page before (unique texts, counts taken first), never to an empty conversation.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, StorageState, WebSocketRoute, expect

from tests.e2e.conftest import CSP_LISTENER, ROOT, SCREENSHOTS, PageProblems, login

pytestmark = pytest.mark.browser

PHARMACIST = "pharmacien@demo.ptap.test"
PHYSIO = "kine@demo.ptap.test"
SOCIAL_WORKER = "social@demo.ptap.test"
NAMES = {
    PHARMACIST: "Paul Officine-Fictif",
    PHYSIO: "Karim Kiné-Exemple",
    SOCIAL_WORKER: "Sophie Social-Démo",
}
#: A live event (socket broadcast) on a loaded 2-core machine.
LIVE_MS = 10_000
#: Socket.IO waits up to 5 s between reconnection attempts, then connects, joins, catches up.
RECONNECT_MS = 20_000
#: Written when PTAP_DOCS_SCREENSHOTS=1 (the copy in docs/ is committed); always in artifacts/.
DOCS_SCREENSHOT = ROOT / "docs" / "screenshots" / "messaging-thread.png"
#: Chromium logs failed loads while offline; those are the point of the offline tests.
OFFLINE_NOISE = "net::ERR_INTERNET_DISCONNECTED"

MESSAGES = "#message-list li.message"
SENT = "#message-list li.message[data-seq]"

# JSON API calls from inside a page: its session cookie and CSRF token, like messaging.js.
API_JS = """async ([method, url, body]) => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const response = await fetch(url, {
    method, credentials: "same-origin",
    headers: {
      "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": token,
    },
    body: body === null ? undefined : JSON.stringify(body),
  });
  return {status: response.status, body: await response.json().catch(() => null)};
}"""
POST_MANY_JS = """async ([url, texts]) => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  for (const text of texts) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": token},
      body: JSON.stringify({client_id: crypto.randomUUID(), body: text}),
    });
    if (!response.ok) return response.status;
  }
  return 0;
}"""


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module", autouse=True)
def _live_expect_timeout() -> Iterator[None]:
    """Live events get LIVE_MS; the library default (5 s) is put back for the other modules."""
    expect.set_options(timeout=LIVE_MS)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")
def sessions(browser: Browser, base_url: str) -> dict[str, StorageState]:
    """Log each professional in once (password + TOTP); tests reuse the cookies."""
    states = {}
    for email in NAMES:
        context = browser.new_context(locale="fr-FR")
        try:
            login(context.new_page(), base_url, email)
            states[email] = context.storage_state()
        finally:
            context.close()
    return states


@pytest.fixture
def open_as(
    browser: Browser, base_url: str, sessions: dict[str, StorageState]
) -> Iterator[Callable[[str], Page]]:
    """Open a page in a new browser context logged in as a professional (closed afterwards)."""
    contexts = []

    def open_page(email: str) -> Page:
        context = browser.new_context(
            locale="fr-FR",
            viewport={"width": 1280, "height": 900},
            storage_state=sessions[email],
            base_url=base_url,
        )
        context.add_init_script(CSP_LISTENER)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(LIVE_MS)
        return page

    yield open_page
    for context in contexts:
        context.close()


def api(page: Page, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    answer = page.evaluate(API_JS, [method, url, body])
    assert answer["status"] < 300, answer
    return answer["body"]


def open_thread(page: Page, path: str) -> None:
    """Go to a thread and wait until messaging.js has joined its room."""
    page.goto(path)
    expect(page.locator("#thread")).to_have_attribute("data-live", "joined")


def open_direct(page: Page, other_email: str) -> str:
    """Open (or find) the direct conversation with a colleague through the list page's form."""
    page.goto("/conversations")
    page.get_by_label("Professionnel").select_option(label=NAMES[other_email])
    page.get_by_role("button", name="Ouvrir la conversation directe").click()
    page.wait_for_url(re.compile(r"/conversations/\d+$"))
    expect(page.locator("#thread")).to_have_attribute("data-live", "joined")
    return page.url.removeprefix(page.url.split("/conversations/")[0])


def conversation_id(page: Page) -> int:
    return int(page.locator("#thread").get_attribute("data-conversation-id") or 0)


def shown_seqs(page: Page) -> list[int]:
    return [int(s) for s in page.locator(SENT).evaluate_all("ns => ns.map(n => n.dataset.seq)")]


def send(page: Page, text: str, *, urgent: bool = False) -> Any:
    """Type and send a message in the page's thread; wait until the server has numbered it."""
    page.get_by_label("Message", exact=True).fill(text)
    if urgent:
        page.get_by_label("Urgent (accusé de réception demandé)").check()
    page.get_by_role("button", name="Envoyer").click()
    sent = page.locator(SENT).filter(has_text=text.replace("**", ""))  # as rendered
    expect(sent).to_have_count(1)
    return sent


def server_messages(page: Page, conversation: int, after: int = 0) -> list[dict[str, Any]]:
    """Every message after `after`, read through the API (all pages)."""
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        url = f"/api/v1/conversations/{conversation}/messages?after={after}&limit=100{cursor}"
        data = api(page, "GET", url)
        items += data["items"]
        if not data["page"]["next_cursor"]:
            return items
        cursor = f"&cursor={data['page']['next_cursor']}"


def problems_but_offline(problems: PageProblems) -> list[str]:
    return [p for p in problems.all() if OFFLINE_NOISE not in p]


def wait_until(page: Page, condition: Callable[[], bool], what: str) -> None:
    """Let Playwright dispatch events (route handlers) until `condition` holds."""
    for _ in range(LIVE_MS // 50):
        if condition():
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"timed out waiting for {what}")


def open_new_patient_conversation(page: Page) -> str:
    """Open the conversation of a patient of the circle that has none yet; return its path."""
    page.goto("/conversations")
    taken: set[int] = set()
    cursor = ""
    while True:  # every page: the demo may hold more conversations than one page
        listed = api(page, "GET", f"/api/v1/conversations?limit=100{cursor}")
        taken |= {c["patient_id"] for c in listed["items"]}
        if not listed["page"]["next_cursor"]:
            break
        cursor = f"&cursor={listed['page']['next_cursor']}"
    patients = api(page, "GET", "/api/v1/patients?limit=100")["items"]
    patient = next(p for p in patients if p["id"] not in taken)
    opened = api(
        page, "POST", "/api/v1/conversations", {"kind": "patient", "patient_id": patient["id"]}
    )
    return f"/conversations/{opened['id']}"


# --- Re-send after a reconnect -------------------------------------------------------------------


def test_message_typed_offline_is_sent_once_with_its_client_id_after_reconnect(
    open_as: Callable[[str], Page],
) -> None:
    paul, karim = open_as(PHARMACIST), open_as(PHYSIO)
    paul_problems, karim_problems = PageProblems(paul), PageProblems(karim)
    path = open_direct(paul, PHYSIO)
    open_thread(karim, path)
    before = karim.locator(MESSAGES).count()

    paul.context.set_offline(True)
    expect(paul.locator("#thread")).not_to_have_attribute("data-live", "joined")
    expect(paul.locator("#connection-state")).to_contain_text("Connexion perdue")
    text = unique("Tapé hors ligne : rappel INR demain")
    paul.get_by_label("Message", exact=True).fill(text)
    paul.keyboard.press("Enter")
    pending = paul.locator(f"{MESSAGES}.message-pending").filter(has_text=text)
    expect(pending).to_contain_text("Envoi en cours…")
    expect(paul.get_by_label("Message", exact=True)).to_have_value("")
    client_id = pending.get_attribute("data-client-id")
    assert client_id

    paul.context.set_offline(False)
    mine = paul.locator(f'{SENT}[data-client-id="{client_id}"]')
    expect(mine).to_have_count(1, timeout=RECONNECT_MS)
    expect(mine).to_contain_text(NAMES[PHARMACIST])
    expect(paul.locator(f"{MESSAGES}.message-pending")).to_have_count(0)
    expect(paul.locator(MESSAGES).filter(has_text=text)).to_have_count(1)
    expect(paul.locator("#connection-state")).to_be_hidden()
    theirs = karim.locator(MESSAGES).filter(has_text=text)
    expect(theirs).to_have_count(1)
    expect(theirs).to_have_attribute("data-client-id", client_id)
    expect(karim.locator(MESSAGES)).to_have_count(before + 1)
    seq = int(mine.get_attribute("data-seq") or 0)
    stored = server_messages(karim, conversation_id(karim), after=seq - 1)
    assert [m["client_id"] for m in stored if m["body"] == text] == [client_id]

    # Another disconnection: nothing is left waiting, so nothing is sent again.
    paul.context.set_offline(True)
    expect(paul.locator("#thread")).not_to_have_attribute("data-live", "joined")
    paul.context.set_offline(False)
    expect(paul.locator("#thread")).to_have_attribute("data-live", "joined", timeout=RECONNECT_MS)
    paul.reload()
    expect(paul.locator(MESSAGES).filter(has_text=text)).to_have_count(1)
    stored = server_messages(karim, conversation_id(karim), after=seq - 1)
    assert [m["body"] for m in stored].count(text) == 1
    assert problems_but_offline(paul_problems) == []
    assert karim_problems.all() == []


def test_resend_after_a_lost_answer_is_not_duplicated(open_as: Callable[[str], Page]) -> None:
    """The server stores the message but the page hears nothing back (neither the broadcast nor
    the ack) before the connection dies, and its first catch-up fails: after the reconnect it
    sends the same client id again, the server answers with the stored message, and the page
    shows it once."""
    paul, karim = open_as(PHARMACIST), open_as(PHYSIO)
    text = unique("Réponse perdue : pansement refait")
    marker = text.split()[-1]  # ASCII: the server's JSON escapes accents
    link = {"upgraded": False, "armed": False, "dropped": [], "sent": []}

    def through_proxy(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def to_server(message: str | bytes) -> None:
            if message == "5":  # Engine.IO upgrade done: everything goes through here now
                link["upgraded"] = True
            if isinstance(message, str) and '"send_message"' in message:
                link["sent"].append(message)
            server.send(message)

        def to_page(message: str | bytes) -> None:
            if link["armed"] and isinstance(message, str) and marker in message:
                link["dropped"].append(message)  # `message_created` of the new message
                return
            if link["armed"] and isinstance(message, str) and '"duplicate"' in message:
                link["dropped"].append(message)  # the ack of `send_message`
                link["armed"] = False
                ws.close()
                server.close()
                return
            ws.send(message)

        ws.on_message(to_server)
        server.on_message(to_page)

    failed_catch_ups: list[str] = []

    def fail_first_catch_up(route: Route) -> None:
        if not failed_catch_ups:
            failed_catch_ups.append(route.request.url)
            route.fulfill(status=503, json={"title": "Service indisponible"})
        else:
            route.fallback()

    paul.route_web_socket(re.compile(r"/socket\.io/"), through_proxy)
    path = open_direct(paul, PHYSIO)
    open_thread(karim, path)
    wait_until(paul, lambda: bool(link["upgraded"]), "the websocket upgrade")
    paul.route(re.compile(r"/api/v1/conversations/\d+/messages\?after="), fail_first_catch_up)

    link["armed"] = True
    paul.get_by_label("Message", exact=True).fill(text)
    paul.get_by_role("button", name="Envoyer").click()
    expect(karim.locator(MESSAGES).filter(has_text=text)).to_have_count(1)
    wait_until(paul, lambda: len(link["dropped"]) == 2, "the lost answers")

    expect(paul.locator("#thread")).to_have_attribute("data-live", "joined", timeout=RECONNECT_MS)
    mine = paul.locator(MESSAGES).filter(has_text=text)
    expect(mine).to_have_count(1)
    expect(mine).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    expect(mine).not_to_have_class(re.compile("message-pending"))
    assert failed_catch_ups, "the page did not try to catch up after the reconnect"
    client_id = mine.get_attribute("data-client-id")
    sent_ids = [re.search(r'"client_id":"([^"]+)"', m) for m in link["sent"]]
    assert [m.group(1) for m in sent_ids if m] == [client_id, client_id]
    expect(karim.locator(MESSAGES).filter(has_text=text)).to_have_count(1)
    stored = server_messages(karim, conversation_id(karim))
    assert [m["client_id"] for m in stored if m["body"] == text] == [client_id]


# --- Catch-up after a disconnection --------------------------------------------------------------


def test_messages_missed_while_offline_appear_in_order_after_reconnect(
    open_as: Callable[[str], Page],
) -> None:
    """More than one API page is missed, and a live message arrives while the catch-up is still
    loading: every message shows once, in sequence order, with no hole."""
    paul, sophie = open_as(PHARMACIST), open_as(SOCIAL_WORKER)
    paul_problems = PageProblems(paul)
    path = open_direct(paul, SOCIAL_WORKER)
    open_thread(sophie, path)
    conversation = conversation_id(paul)
    last = max(shown_seqs(paul), default=0)
    page_size = api(sophie, "GET", f"/api/v1/conversations/{conversation}/messages?after=0")[
        "page"
    ]["limit"]
    marker = uuid.uuid4().hex[:6]
    missed = [f"Rattrapage {marker} n°{n:03d}" for n in range(1, page_size + 6)]
    held: list[Route] = []

    def hold_first_catch_up(route: Route) -> None:
        if held:
            route.fallback()
        else:
            held.append(route)  # answered below, once a live message has come in meanwhile

    paul.route(re.compile(r"/api/v1/conversations/\d+/messages\?after="), hold_first_catch_up)
    paul.context.set_offline(True)
    expect(paul.locator("#thread")).not_to_have_attribute("data-live", "joined")
    url = f"/api/v1/conversations/{conversation}/messages"
    assert sophie.evaluate(POST_MANY_JS, [url, missed]) == 0
    expect(sophie.locator(MESSAGES).filter(has_text=marker)).to_have_count(len(missed))
    expect(paul.locator(MESSAGES).filter(has_text=marker)).to_have_count(0)

    paul.context.set_offline(False)
    wait_until(paul, lambda: bool(held), "the catch-up request")
    assert re.search(rf"[?&]after={last}(&|$)", held[0].request.url), held[0].request.url
    expect(paul.locator("#thread")).to_have_attribute("data-live", "joined")
    live = f"En direct {marker} pendant le rattrapage"
    send(sophie, live)
    expect(paul.locator(MESSAGES).filter(has_text=live)).to_have_count(1)
    held[0].fallback()

    expected = [*missed, live]
    got = paul.locator(MESSAGES).filter(has_text=marker)
    expect(got).to_have_count(len(expected))
    expect(got.locator(".message-body")).to_have_text(expected)
    seqs = shown_seqs(paul)
    assert seqs == sorted(set(seqs)), "the thread is out of order or has a duplicate"
    assert seqs[-len(expected) :] == list(range(last + 1, last + 1 + len(expected)))
    expect(paul.locator(f"{MESSAGES}.message-pending")).to_have_count(0)
    assert problems_but_offline(paul_problems) == []


# --- Typing indicator and read markers -----------------------------------------------------------


def test_typing_indicator_names_who_types_and_clears(open_as: Callable[[str], Page]) -> None:
    karim, sophie = open_as(PHYSIO), open_as(SOCIAL_WORKER)
    path = open_direct(karim, SOCIAL_WORKER)
    open_thread(sophie, path)
    indicator = karim.locator("#typing-indicator")
    expect(indicator).to_have_text("")
    box = sophie.get_by_label("Message", exact=True)

    box.press_sequentially("Je regarde")
    expect(indicator).to_have_text(f"{NAMES[SOCIAL_WORKER]} écrit…")
    expect(sophie.locator("#typing-indicator")).to_have_text("")  # not to oneself
    # No key for 4 s: the typist's page says "stopped" (before the reader's own 8 s expiry).
    expect(indicator).to_have_text("", timeout=7_000)

    text = unique("Je regarde le dossier")
    box.press_sequentially(text.removeprefix("Je regarde"))
    expect(indicator).to_have_text(f"{NAMES[SOCIAL_WORKER]} écrit…")
    box.press("Enter")
    expect(karim.locator(MESSAGES).filter(has_text=text)).to_have_count(1)
    expect(indicator).to_have_text("")


def test_read_marker_never_names_the_messages_author(open_as: Callable[[str], Page]) -> None:
    """Bug: Karim, having read up to his own reply, was listed under it as "Lu par Karim"."""
    paul, karim = open_as(PHARMACIST), open_as(PHYSIO)
    path = open_direct(paul, PHYSIO)
    open_thread(karim, path)
    first = send(paul, unique("Ordonnance renouvelée"))
    expect(first.locator(".read-marker")).to_have_text(f"Lu par {NAMES[PHYSIO]}")
    reply = unique("Merci, je passe demain")
    send(karim, reply)
    seq = int(karim.locator(SENT).filter(has_text=reply).get_attribute("data-seq") or 0)
    # Karim's position is his own reply, for sure (the page marks it read too).
    api(karim, "POST", f"/api/v1/conversations/{conversation_id(karim)}/read", {"seq": seq})
    paul.reload()  # the join ack carries where Karim stands
    expect(paul.locator("#thread")).to_have_attribute("data-live", "joined")
    expect(paul.locator(SENT).filter(has_text=reply)).to_have_count(1)
    expect(paul.locator(".read-marker")).to_have_count(1)
    expect(paul.locator(SENT).filter(has_text=reply).locator(".read-marker")).to_have_count(0)
    expect(first.locator(".read-marker")).to_have_text(f"Lu par {NAMES[PHYSIO]}")


def test_read_markers_follow_the_other_members_reading(open_as: Callable[[str], Page]) -> None:
    paul, karim = open_as(PHARMACIST), open_as(PHYSIO)
    path = open_direct(paul, PHYSIO)
    open_thread(karim, path)
    hello = unique("Bonjour Paul")
    send(karim, hello)
    expect(paul.locator(MESSAGES).filter(has_text=hello)).to_have_count(1)

    first = send(paul, unique("Le pilulier est prêt"))
    # Karim's page is open: it reads the message at once and Paul sees it.
    expect(first.locator(".read-marker")).to_have_text(f"Lu par {NAMES[PHYSIO]}")
    expect(paul.locator(".read-marker").filter(has_text=NAMES[PHYSIO])).to_have_count(1)
    # One's own reading is not shown to oneself.
    expect(paul.locator(".read-marker").filter(has_text=NAMES[PHARMACIST])).to_have_count(0)

    karim.context.set_offline(True)
    expect(karim.locator("#thread")).not_to_have_attribute("data-live", "joined")
    second = send(paul, unique("Livraison prévue jeudi"))
    # Not read yet: the marker stays where Karim stopped.
    expect(second.locator(".read-marker")).to_have_count(0)
    expect(first.locator(".read-marker")).to_have_text(f"Lu par {NAMES[PHYSIO]}")

    karim.context.set_offline(False)
    expect(second.locator(".read-marker")).to_have_text(
        f"Lu par {NAMES[PHYSIO]}", timeout=RECONNECT_MS
    )
    expect(first.locator(".read-marker")).to_have_count(0)
    expect(paul.locator(".read-marker").filter(has_text=NAMES[PHYSIO])).to_have_count(1)

    # After a reload the marker is back where Karim stands (the join ack carries it).
    paul.reload()
    reloaded = paul.locator(MESSAGES).filter(has_text="Livraison prévue jeudi")
    expect(reloaded.locator(".read-marker")).to_have_text(
        f"Lu par {NAMES[PHYSIO]}", timeout=RECONNECT_MS
    )


# --- Unread badges on the conversation list ------------------------------------------------------


def unread_total(page: Page) -> int:
    """The unread total the summary sentence states ("…, 3 messages non lus.")."""
    found = re.search(
        r"(\d+) messages? non lus?", page.locator("#conversation-summary").inner_text()
    )
    return int(found.group(1)) if found else 0


def test_unread_badges_follow_reads_in_another_tab_and_reconnects(
    open_as: Callable[[str], Page],
) -> None:
    sophie, karim = open_as(SOCIAL_WORKER), open_as(PHYSIO)
    karim_problems = PageProblems(karim)
    path = open_direct(sophie, PHYSIO)
    conversation = conversation_id(sophie)
    karim.goto("/conversations")
    listing = karim.locator("#conversation-list")
    expect(listing).to_have_attribute("data-live", "connected")
    row = listing.locator(f'li[data-conversation-id="{conversation}"]')
    badge = row.locator("[data-conversation-unread]")
    before = int(row.get_attribute("data-unread") or 0)
    total = unread_total(karim)

    karim.context.set_offline(True)
    expect(listing).not_to_have_attribute("data-live", "connected")
    send(sophie, unique("Compte rendu de visite"))
    send(sophie, unique("Photos de la plaie à venir"))
    karim.context.set_offline(False)
    expect(listing).to_have_attribute("data-live", "connected", timeout=RECONNECT_MS)
    expect(badge).to_have_text(f"{before + 2} non lus")
    expect(row).to_have_class(re.compile(r"\bconversation-unread\b"))
    expect(karim.locator("#conversation-summary")).to_contain_text(f"{total + 2} messages non lus")

    # Reading the conversation in another tab clears its badge here at once.
    thread = karim.context.new_page()
    open_thread(thread, path)
    expect(badge).to_have_count(0)
    expect(row).not_to_have_class(re.compile(r"\bconversation-unread\b"))
    expect(row).to_have_attribute("data-unread", "0")
    assert unread_total(karim) == total - before  # the summary follows in the same step
    assert problems_but_offline(karim_problems) == []


def test_unread_badges_grow_live_when_others_post(open_as: Callable[[str], Page]) -> None:
    """Someone posts while the list is open: its badge grows; a conversation the page has never
    listed (a patient's, opened meanwhile) appears with its badge."""
    paul, karim = open_as(PHARMACIST), open_as(PHYSIO)
    karim_problems = PageProblems(karim)
    open_direct(paul, PHYSIO)
    conversation = conversation_id(paul)
    refreshes: list[str] = []
    karim.on(
        "request",
        lambda r: refreshes.append(r.url) if r.url.endswith("/api/v1/conversations") else None,
    )
    karim.goto("/conversations")
    listing = karim.locator("#conversation-list")
    expect(listing).to_have_attribute("data-live", "connected")
    row = listing.locator(f'li[data-conversation-id="{conversation}"]')
    badge = row.locator("[data-conversation-unread]")
    before = int(row.get_attribute("data-unread") or 0)
    total = unread_total(karim)

    send(paul, unique("Nouveau message pendant que la liste est ouverte"))
    expect(row).to_have_attribute("data-unread", str(before + 1))
    expect(badge).to_have_text(f"{before + 1} non lu" + ("s" if before else ""))
    send(paul, unique("Et un deuxième"))
    expect(badge).to_have_text(f"{before + 2} non lus")
    expect(karim.locator("#conversation-summary")).to_contain_text(f"{total + 2} messages non lus")
    # Counted from the pushes themselves: the list was fetched once, at connection.
    assert len(refreshes) == 1, refreshes

    path = open_new_patient_conversation(paul)
    open_thread(paul, path)
    send(paul, unique("Première note dans la conversation du patient"))
    new_row = listing.locator(f'li[data-conversation-id="{path.rsplit("/", 1)[1]}"]')
    expect(new_row.locator("[data-conversation-unread]")).to_have_text("1 non lu")
    expect(new_row.get_by_role("link")).to_have_attribute("href", path)
    expect(new_row.get_by_role("link")).to_contain_text("Patient ")
    expect(listing.locator("li").first).to_have_attribute(
        "data-conversation-id", path.rsplit("/", 1)[1]
    )
    expect(karim.locator("#conversation-summary")).to_contain_text(f"{total + 3} messages non lus")
    assert len(refreshes) == 2, refreshes  # an unknown conversation: the list is fetched
    assert karim_problems.all() == []


# --- Urgent acknowledgement, attachments, edits and retractions ----------------------------------


def test_urgent_message_is_acknowledged_live(open_as: Callable[[str], Page]) -> None:
    paul, karim = open_as(PHARMACIST), open_as(PHYSIO)
    karim_problems = PageProblems(karim)
    path = open_direct(paul, PHYSIO)
    open_thread(karim, path)
    text = unique("Interaction médicamenteuse : suspendre l'AINS")

    mine = send(paul, text, urgent=True)
    expect(paul.get_by_label("Urgent (accusé de réception demandé)")).not_to_be_checked()
    expect(mine).to_have_class(re.compile(r"\bmessage-urgent\b"))
    expect(mine.locator(".tag-urgent")).to_have_text("⚠ Urgent")
    expect(mine.get_by_role("button", name="Accuser réception")).to_have_count(0)  # the author

    theirs = karim.locator(SENT).filter(has_text=text)
    expect(theirs.locator(".tag-urgent")).to_be_visible()
    expect(mine.locator(".message-ack")).to_have_text("En attente de prise en compte.")
    theirs.get_by_role("button", name="Accuser réception").click()
    acknowledged = re.compile(
        rf"^✓ Pris en compte par {NAMES[PHYSIO]} le \d{{2}}/\d{{2}} à \d{{2}}:\d{{2}}$"
    )
    expect(theirs.locator(".ack-list li")).to_have_text(acknowledged)
    expect(theirs.get_by_role("button", name="Accuser réception")).to_have_count(0)
    expect(mine.locator(".ack-list li")).to_have_text(acknowledged)  # live, who and when
    # Through the socket: the page did not post the form (which redirects with a flash).
    assert karim.url.endswith(path)
    expect(karim.locator(".flash")).to_have_count(0)

    karim.reload()
    expect(karim.locator(SENT).filter(has_text=text).locator(".ack-list li")).to_have_text(
        acknowledged
    )
    assert karim_problems.all() == []


def test_attachment_upload_shows_progress_then_the_file_in_both_pages(
    open_as: Callable[[str], Page],
) -> None:
    paul, sophie = open_as(PHARMACIST), open_as(SOCIAL_WORKER)
    path = open_direct(paul, SOCIAL_WORKER)
    open_thread(sophie, path)
    name = f"ordonnance-{uuid.uuid4().hex[:6]}.pdf"
    content = b"%PDF-1.4\n" + b"% ordonnance fictive\n" * 20_000 + b"%%EOF\n"
    before = sophie.locator(MESSAGES).count()
    # Refused by the server (the type is read from the content): said, text kept.
    paul.get_by_label("Message", exact=True).fill("Voici la note")
    paul.get_by_label("Pièces jointes (facultatif)").set_input_files(
        files=[{"name": "notes.pdf", "mimeType": "application/pdf", "buffer": b"pas un PDF"}]
    )
    paul.get_by_role("button", name="Envoyer").click()
    expect(paul.locator("#compose-error")).to_have_text(
        re.compile(r"^Type de fichier refusé pour « notes.pdf »")
    )
    expect(paul.locator("#upload-progress")).to_be_hidden()
    expect(paul.get_by_label("Message", exact=True)).to_have_value("Voici la note")
    # Empty: said before anything is sent.
    paul.get_by_label("Message", exact=True).fill("")
    paul.get_by_label("Pièces jointes (facultatif)").set_input_files(files=[])
    paul.get_by_role("button", name="Envoyer").click()
    expect(paul.locator("#compose-error")).to_have_text("Écrivez un message ou joignez un fichier.")

    held: list[Route] = []
    paul.route(re.compile(r"/api/v1/conversations/\d+/attachments$"), lambda r: held.append(r))
    paul.get_by_label("Message", exact=True).fill("Ordonnance jointe")
    paul.get_by_label("Pièces jointes (facultatif)").set_input_files(
        files=[{"name": name, "mimeType": "application/pdf", "buffer": content}]
    )
    paul.get_by_role("button", name="Envoyer").click()
    progress = paul.locator("#upload-progress")
    expect(progress).to_be_visible()
    expect(paul.locator("#upload-state")).to_have_text("Envoi de la pièce jointe…")
    expect(paul.locator("#compose-error")).to_be_hidden()
    wait_until(paul, lambda: bool(held), "the upload request")
    held[0].fallback()

    expect(progress).to_be_hidden()
    expect(paul.locator("#upload-state")).to_have_text("Message envoyé.")
    assert progress.evaluate("bar => bar.value") == 100
    expect(paul.get_by_label("Pièces jointes (facultatif)")).to_have_value("")
    expect(paul.get_by_label("Message", exact=True)).to_have_value("")
    size = f"({-(-len(content) // 1024)} Ko)"
    for page in (paul, sophie):
        item = page.locator(SENT).filter(has=page.get_by_role("link", name=name))
        expect(item).to_have_count(1)
        expect(item.locator(".message-files")).to_contain_text(size)
        expect(item.locator(".message-body")).to_have_text("Ordonnance jointe")
    link = sophie.get_by_role("link", name=name)
    href = link.get_attribute("href") or ""
    assert re.fullmatch(r"/api/v1/attachments/\d+", href), href
    download = sophie.request.get(href)
    assert download.ok
    assert download.body() == content
    expect(sophie.locator(MESSAGES)).to_have_count(before + 1)


def test_upload_retried_after_a_lost_answer_is_stored_once(
    open_as: Callable[[str], Page],
) -> None:
    """The upload reached the server but its answer was lost (connection dropped): sending
    again carries the same client id, so the server hands back the stored message."""
    paul = open_as(PHARMACIST)
    open_direct(paul, SOCIAL_WORKER)
    conversation = conversation_id(paul)
    last = max([0, *shown_seqs(paul)])
    text = unique("Compte rendu joint")
    stored: list[int] = []

    def store_then_drop(route: Route) -> None:
        stored.append(route.fetch().status)  # the server stores it...
        route.abort("connectionreset")  # ...and the page never hears back

    pattern = re.compile(r"/api/v1/conversations/\d+/attachments$")
    paul.route(pattern, store_then_drop)
    paul.get_by_label("Message", exact=True).fill(text)
    paul.get_by_label("Pièces jointes (facultatif)").set_input_files(
        files=[{"name": "cr.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}]
    )
    paul.get_by_role("button", name="Envoyer").click()
    expect(paul.locator("#compose-error")).to_contain_text("connexion interrompue")
    assert stored == [201]
    paul.unroute(pattern)
    expect(paul.get_by_label("Message", exact=True)).to_have_value(text)
    paul.get_by_label("Pièces jointes (facultatif)").set_input_files(
        files=[{"name": "cr.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}]
    )
    paul.get_by_role("button", name="Envoyer").click()
    expect(paul.locator("#upload-state")).to_have_text("Message envoyé.")
    expect(paul.locator(SENT).filter(has_text=text)).to_have_count(1)
    bodies = [m["body"] for m in server_messages(paul, conversation, after=last)]
    assert bodies.count(text) == 1, bodies


def test_files_over_the_request_limit_together_are_refused_before_sending(
    open_as: Callable[[str], Page],
) -> None:
    """Each file is under the per-file limit but together they exceed the request limit (the
    server would answer a bare 413): said before the upload, the text kept."""
    paul = open_as(PHARMACIST)
    open_direct(paul, SOCIAL_WORKER)
    sent: list[str] = []
    pattern = re.compile(r"/api/v1/conversations/\d+/attachments$")
    paul.route(pattern, lambda route: (sent.append(route.request.url), route.abort()))
    expect(paul.locator("#files-hint")).to_contain_text("Mo en tout")
    part = b"%PDF-1.4\n" + b"0" * (7 * 1024 * 1024) + b"\n%%EOF\n"
    paul.get_by_label("Message", exact=True).fill("Deux comptes rendus")
    paul.get_by_label("Pièces jointes (facultatif)").set_input_files(
        files=[
            {"name": f"cr{i}.pdf", "mimeType": "application/pdf", "buffer": part} for i in (1, 2)
        ]
    )
    paul.get_by_role("button", name="Envoyer").click()
    expect(paul.locator("#compose-error")).to_contain_text("dépassent ensemble")
    expect(paul.get_by_label("Message", exact=True)).to_have_value("Deux comptes rendus")
    assert sent == []
    paul.unroute(pattern)


def test_edits_and_retractions_reach_the_other_page_live(open_as: Callable[[str], Page]) -> None:
    karim, sophie = open_as(PHYSIO), open_as(SOCIAL_WORKER)
    path = open_direct(karim, SOCIAL_WORKER)
    open_thread(sophie, path)
    text = unique("Séance de kiné mardi à 10 h")
    mine = send(karim, text)
    message_id = mine.get_attribute("data-message-id")
    seq = mine.get_attribute("data-seq")
    theirs = sophie.locator(f"#m{seq}")
    expect(theirs.locator(".message-body")).to_have_text(text)
    order = shown_seqs(sophie)

    edited = text.replace("mardi", "mercredi")
    api(karim, "PATCH", f"/api/v1/messages/{message_id}", {"body": f"{edited} **confirmée**"})
    expect(theirs.locator(".message-body")).to_have_text(f"{edited} confirmée")
    expect(theirs.locator(".message-body strong")).to_have_text("confirmée")
    expect(theirs.locator(".message-meta .tag")).to_have_text(
        re.compile(r"^Modifié le \d{2}/\d{2}/\d{4} à \d{2}:\d{2}$")
    )
    # The author's page too.
    expect(karim.locator(f"#m{seq} .message-body")).to_have_text(f"{edited} confirmée")

    api(karim, "POST", f"/api/v1/messages/{message_id}/retract")
    expect(theirs.locator(".message-body")).to_have_text("Ce message a été retiré par son auteur.")
    expect(theirs).to_have_class(re.compile(r"\bmessage-retracted\b"))
    expect(theirs.locator(".message-meta .tag")).to_have_text("Retiré")
    expect(theirs).not_to_contain_text("mercredi")
    expect(karim.locator(f"#m{seq} .message-body")).to_have_text(
        "Ce message a été retiré par son auteur."
    )
    assert shown_seqs(sophie) == order  # same place, nothing added or removed


# --- The whole thread, for the eye ---------------------------------------------------------------


def test_patient_thread_with_typing_read_markers_and_urgent_message(
    open_as: Callable[[str], Page],
) -> None:
    """The circle of a patient, three professionals: the screenshot of docs/screenshots."""
    paul, karim, sophie = open_as(PHARMACIST), open_as(PHYSIO), open_as(SOCIAL_WORKER)
    problems = [PageProblems(page) for page in (paul, karim, sophie)]
    path = open_new_patient_conversation(paul)
    for page in (paul, karim, sophie):
        open_thread(page, path)
    expect(paul.locator("h1")).to_contain_text("Patient")

    first = send(
        paul, "Bonjour à tous : retour à domicile aujourd'hui, premier passage infirmier ce soir."
    )
    # Read by two members who have not written here yet: the receipts carry their names.
    expect(first.locator(".read-marker")).to_have_text(
        f"Lu par {NAMES[PHYSIO]}, {NAMES[SOCIAL_WORKER]}"
    )
    send(karim, "Passage ce matin : tension 13/8, pansement du talon refait, plaie propre.")
    send(sophie, "Dossier d'APA déposé hier ; réponse attendue sous quinze jours.")
    urgent = send(
        paul,
        "Le **traitement anticoagulant** n'a pas été renouvelé : à revoir avec le médecin "
        "traitant avant demain midi.",
        urgent=True,
    )
    karim.locator(SENT).filter(has_text="anticoagulant").get_by_role(
        "button", name="Accuser réception"
    ).click()
    expect(urgent.locator(".ack-list li")).to_contain_text(f"Pris en compte par {NAMES[PHYSIO]}")
    expect(urgent.locator(".read-marker")).to_have_text(
        f"Lu par {NAMES[PHYSIO]}, {NAMES[SOCIAL_WORKER]}"
    )
    expect(paul.locator(".read-marker")).to_have_count(1)

    karim.get_by_label("Message", exact=True).press_sequentially("Je l'appelle")
    sophie.get_by_label("Message", exact=True).press_sequentially("Je préviens")
    expect(paul.locator("#typing-indicator")).to_have_text(
        f"{NAMES[PHYSIO]}, {NAMES[SOCIAL_WORKER]} écrivent…"
    )
    paul.get_by_label("Message", exact=True).blur()  # no focus ring in the picture
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    paul.screenshot(path=SCREENSHOTS / DOCS_SCREENSHOT.name, full_page=True)
    if os.environ.get("PTAP_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        paul.screenshot(path=DOCS_SCREENSHOT, full_page=True)
    assert [p.all() for p in problems] == [[], [], []]
