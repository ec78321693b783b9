"""The main menu (grouped, a <details> disclosure, role-dependent) and the focused error summary."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import csrf_token
from tests.factories import add_member, make_team, make_user


def nav_html(body: str) -> str:
    match = re.search(
        r'<nav class="main-nav" aria-label="Navigation principale">.*?</nav>', body, re.S
    )
    assert match, "no main navigation"
    return match.group(0)


def group_titles(nav: str) -> list[str]:
    return re.findall(r'<span class="nav-group-title" id="nav-group-\w+">([^<]+)</span>', nav)


def group_links(nav: str, key: str) -> list[str]:
    match = re.search(
        rf'<ul class="nav-group-links" aria-labelledby="nav-group-{key}">(.*?)</ul>', nav, re.S
    )
    assert match, f"no group {key}"
    return [
        re.sub(r"<[^>]+>.*", "", a).strip()
        for a in re.findall(r"<a [^>]*>(.*?)</a>", match.group(1), re.S)
    ]


def test_a_nurse_sees_the_menu_grouped_in_a_disclosure(client, auth, db):
    team = make_team()
    nurse = make_user(profession="nurse")
    add_member(team, nurse)
    auth.login(nurse)
    body = client.get("/account").get_data(as_text=True)
    nav = nav_html(body)
    # A <details> disclosure: collapsed by default (small screens), no JavaScript needed.
    assert '<details class="nav-menu" id="nav-menu">' in nav
    assert re.search(r'<summary class="nav-toggle">.*?Menu', nav, re.S)
    assert group_titles(nav) == ["Patients", "Coordination", "Territoire", "Mon compte"]
    assert "Mes patients" in group_links(nav, "patients")
    assert "Messagerie" in group_links(nav, "coordination")
    assert group_links(nav, "compte") == ["Notifications", "Mon compte", "Mes sessions"]
    # The current page is marked, once; logging out sits in "Mon compte".
    assert nav.count('aria-current="page"') == 1
    assert re.search(r'<a href="/account" aria-current="page">Mon compte', nav)
    assert nav.count(">Se déconnecter</button>") == 1
    # The badges keep their ids (notifications.js updates them live).
    assert 'id="unread-badge"' in nav and 'id="unread-count"' in nav
    assert 'id="messages-unread-badge"' in nav


def test_the_menu_follows_the_role(client, auth, db):
    admin = make_user(role="admin")
    auth.login(admin)
    nav = nav_html(client.get("/account").get_data(as_text=True))
    titles = group_titles(nav)
    assert "Administration" in titles
    assert "Comptes" in group_links(nav, "administration")
    assert "Messagerie" not in nav  # not a clinician: no messaging

    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    team = make_team()
    nurse = make_user(profession="nurse")
    add_member(team, nurse)
    auth.login(nurse)
    nav = nav_html(client.get("/account").get_data(as_text=True))
    assert "Administration" not in group_titles(nav) and "Comptes" not in nav


def test_no_menu_for_visitors(client):
    body = client.get("/login").get_data(as_text=True)
    assert "Navigation principale" not in body and "nav-menu" not in body


def test_a_failed_login_puts_the_error_in_a_focused_summary(client, db):
    user = make_user()
    db.session.commit()
    response = client.post(
        "/login",
        data={"email": user.email, "password": "pas-le-bon", "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 401
    body = response.get_data(as_text=True)
    summary = re.search(r'<div class="error-summary"[^>]*>(.*?)</div>', body, re.S)
    assert summary, "no error summary"
    tag = summary.group(0).split(">", 1)[0]
    assert 'tabindex="-1"' in tag and "autofocus" in tag and 'role="alert"' in tag
    assert "Adresse e-mail ou mot de passe incorrect." in summary.group(1)
    # The error is said once, and ptap.js (no inline script: the CSP) moves the focus there too.
    assert body.count("Adresse e-mail ou mot de passe incorrect.") == 1
    assert "/static/js/ptap.js" in body


def test_field_errors_are_summarised_with_focus(client, db):
    response = client.post(
        "/login", data={"email": "", "password": "", "csrf_token": csrf_token(client)}
    )
    body = response.get_data(as_text=True)
    assert re.search(r'<div class="error-summary" role="alert" tabindex="-1" autofocus>', body)
    assert '<a href="#email">' in body


def test_the_page_script_focuses_the_summary_and_opens_the_menu_on_wide_screens(app):
    text = (Path(app.static_folder) / "js" / "ptap.js").read_text(encoding="utf-8")
    assert 'querySelector(".error-summary")' in text and "summary.focus()" in text
    assert 'getElementById("nav-menu")' in text
