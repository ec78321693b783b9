"""Letters pages and API: tabs and links, editor, sign, PDF in the job, 422s, access."""

from __future__ import annotations

import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.core import pdf as core_pdf
from ptap.letters.models import Letter, LetterTemplate, LetterTemplateVersion
from ptap.letters.tasks import process_letters
from tests.filings.conftest import api_headers


def test_patient_record_and_team_page_link_to_letters(client, auth, world):
    auth.login(world.physician)
    record = client.get(f"/patients/{world.patient.id}").get_data(as_text=True)
    assert f'href="/patients/{world.patient.id}/letters"' in record
    team = client.get(f"/teams/{world.team.id}").get_data(as_text=True)
    assert f'href="/teams/{world.team.id}/letters"' in team
    assert f'href="/teams/{world.team.id}/letter-templates"' in team


def test_write_edit_sign_and_the_pdf_comes_from_the_job(client, auth, db, world, monkeypatch):
    auth.login(world.physician)
    pid = world.patient.id
    page = client.get(f"/patients/{pid}/letters").get_data(as_text=True)
    assert "Adressage (Lettre d&#39;adressage)" in page
    created = auth.post(
        f"/patients/{pid}/letters",
        {"template_id": str(world.template.id), "addressee": "Dr Martin"},
    )
    assert created.status_code == 302
    letter = db.session.scalars(sa.select(Letter)).one()
    assert created.headers["Location"].endswith(f"/letters/{letter.id}")
    show = client.get(f"/letters/{letter.id}").get_data(as_text=True)
    assert "Aperçu" in show and "Signer la lettre" in show and "Dr Martin" in show
    empty = auth.post(f"/letters/{letter.id}", {"subject": "Objet", "body": "", "addressee": ""})
    assert empty.status_code == 422
    assert "Le texte de la lettre est vide." in empty.get_data(as_text=True)
    edited = auth.post(
        f"/letters/{letter.id}",
        {"subject": "Objet relu", "body": "Premier.\n\nSecond <b>gras</b>.", "addressee": "Dr M"},
    )
    assert edited.status_code == 302
    show = client.get(f"/letters/{letter.id}").get_data(as_text=True)
    assert "Second &lt;b&gt;gras&lt;/b&gt;." in show  # plain text, escaped

    def no_pdf_in_requests(*args, **kwargs):
        raise AssertionError("a PDF was rendered in a request")

    monkeypatch.setattr(core_pdf, "render_pdf", no_pdf_in_requests)
    monkeypatch.setattr("ptap.letters.documents.render_pdf", no_pdf_in_requests)
    signed = auth.post(f"/letters/{letter.id}/sign")
    assert signed.status_code == 302
    show = client.get(f"/letters/{letter.id}").get_data(as_text=True)
    assert "PDF en préparation" in show and "Modifier la lettre" not in show
    assert client.get(f"/letters/{letter.id}/pdf").status_code == 409
    refused = auth.post(f"/letters/{letter.id}", {"subject": "X", "body": "Y", "addressee": ""})
    assert refused.status_code == 422
    assert "elle ne peut plus être modifiée" in refused.get_data(as_text=True)
    monkeypatch.undo()
    process_letters()
    show = client.get(f"/letters/{letter.id}").get_data(as_text=True)
    assert "PDF prêt" in show
    pdf = client.get(f"/letters/{letter.id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    db.session.refresh(letter)
    assert letter.body == "Premier.\n\nSecond <b>gras</b>."


def test_sending_page_shows_status_and_refuses_a_bad_address(client, auth, db, world, outbox):
    auth.login(world.physician)
    created = auth.post(
        f"/patients/{world.patient.id}/letters", {"template_id": str(world.template.id)}
    )
    letter_id = int(created.headers["Location"].rsplit("/", 1)[1])
    auth.post(f"/letters/{letter_id}/sign")
    bad = auth.post(f"/letters/{letter_id}/send", {"to": "martin@gmail.com"})
    assert bad.status_code == 422
    assert "Adresse de messagerie sécurisée de santé (MSSanté) invalide." in bad.get_data(
        as_text=True
    )
    ok = auth.post(f"/letters/{letter_id}/send", {"to": "dr.martin@medecin.mssante.fr"})
    assert ok.status_code == 302
    page = client.get(f"/letters/{letter_id}").get_data(as_text=True)
    assert "dr.martin@medecin.mssante.fr" in page and "En attente du PDF" in page
    process_letters()
    page = client.get(f"/letters/{letter_id}").get_data(as_text=True)
    assert "En file" in page and "@" in page.split("Message-ID")[1]


def test_template_management_with_preview_and_syntax_errors(client, auth, db, world):
    auth.login(world.coord)
    tid = world.team.id
    page = client.get(f"/teams/{tid}/letter-templates").get_data(as_text=True)
    assert "Nouveau modèle" in page and "medecin_traitant" in page
    preview = auth.post(
        f"/teams/{tid}/letter-templates",
        {
            "kind": "home_assessment",
            "name": "Évaluation",
            "subject": "",
            "action": "preview",
            "body": "Visite chez {{ patient.prenom }} {{ patient.nom }}.",
        },
    )
    assert preview.status_code == 200
    assert "Visite chez Jeanne DUPONT." in preview.get_data(as_text=True)
    broken = auth.post(
        f"/teams/{tid}/letter-templates",
        {
            "kind": "home_assessment",
            "name": "Cassé",
            "subject": "",
            "action": "save",
            "body": "Ligne 1\nLigne 2\n{% for x in cercle %}\n",
        },
    )
    assert broken.status_code == 422
    assert "Erreur de syntaxe à la ligne" in broken.get_data(as_text=True)
    escape = auth.post(
        f"/teams/{tid}/letter-templates",
        {
            "kind": "referral",
            "name": "Évasion",
            "subject": "",
            "action": "save",
            "body": "{{ ''.__class__.__mro__ }}",
        },
    )
    assert escape.status_code == 422
    assert "accès interdit" in escape.get_data(as_text=True)
    names = db.session.scalars(sa.select(LetterTemplate.name)).all()
    assert names == ["Adressage"]
    saved = auth.post(
        f"/letter-templates/{world.template.id}",
        {"name": "Adressage", "subject": "Objet", "body": "Texte v2", "action": "save"},
    )
    assert saved.status_code == 302
    numbers = db.session.scalars(sa.select(LetterTemplateVersion.number)).all()
    assert sorted(numbers) == [1, 2]


def test_members_see_templates_but_only_coordinators_change_them(client, auth, db, world):
    auth.login(world.physician)
    page = client.get(f"/teams/{world.team.id}/letter-templates").get_data(as_text=True)
    assert "Adressage" in page and "Nouveau modèle" not in page
    refused = auth.post(
        f"/teams/{world.team.id}/letter-templates",
        {"kind": "referral", "name": "X", "body": "Y", "action": "save"},
    )
    assert refused.status_code == 404
    assert client.get(f"/letter-templates/{world.template.id}").status_code == 200


def test_outsiders_see_nothing(client, auth, db, world):
    letter = _api_letter(client, world)
    headers = api_headers(world.outsider)
    assert client.get(f"/api/v1/letters/{letter}", headers=headers).status_code == 404
    assert client.post(f"/api/v1/letters/{letter}/sign", headers=headers).status_code == 404
    auth.login(world.outsider)
    assert client.get(f"/letters/{letter}").status_code == 404
    assert client.get(f"/patients/{world.patient.id}/letters").status_code == 404
    assert client.get(f"/teams/{world.team.id}/letters").status_code == 404
    assert client.get(f"/teams/{world.team.id}/letter-templates").status_code == 404


def _api_letter(client, world) -> int:
    response = client.post(
        "/api/v1/letters",
        json={"patient_id": world.patient.id, "template_id": world.template.id},
        headers=api_headers(world.physician),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_team_letters_list_is_audited(client, auth, db, world):
    _api_letter(client, world)
    auth.login(world.coord)
    page = client.get(f"/teams/{world.team.id}/letters")
    assert page.status_code == 200 and world.patient.display_name in page.get_data(as_text=True)
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "patient.list")
    ).all()
    assert any(str(world.patient.id) in e.reason for e in events)


def test_api_letters_lifecycle_and_422s(client, db, world, app):
    app.config["DMP_ENABLED"] = True
    headers = api_headers(world.physician)
    letter = _api_letter(client, world)
    edited = client.patch(
        f"/api/v1/letters/{letter}",
        json={"subject": "Objet", "body": "Texte", "addressee": "Dr M"},
        headers=headers,
    )
    assert edited.status_code == 200 and edited.get_json()["status"] == "edited"
    signed = client.post(f"/api/v1/letters/{letter}/sign", headers=headers)
    assert signed.status_code == 200 and signed.get_json()["pdf_status"] == "pending"
    assert client.get(f"/api/v1/letters/{letter}/pdf", headers=headers).status_code == 409
    bad = client.post(f"/api/v1/letters/{letter}/send", json={"to": "x@y.fr"}, headers=headers)
    assert bad.status_code == 422 and bad.get_json()["field"] == "to"
    filed = client.post(f"/api/v1/letters/{letter}/file", headers=headers)
    assert filed.status_code == 200 and filed.get_json()["dmp_filing_requested"]
    again = client.post(f"/api/v1/letters/{letter}/file", headers=headers)
    assert again.status_code == 409
    late = client.patch(
        f"/api/v1/letters/{letter}", json={"subject": "A", "body": "B"}, headers=headers
    )
    assert late.status_code == 409
    process_letters()
    out = client.get(f"/api/v1/letters/{letter}", headers=headers).get_json()
    assert out["pdf_status"] == "ready" and out["dmp_submission_id"]
    pdf = client.get(f"/api/v1/letters/{letter}/pdf", headers=headers)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    listed = client.get(f"/api/v1/letters?patient_id={world.patient.id}", headers=headers)
    assert [item["id"] for item in listed.get_json()["items"]] == [letter]


def test_api_refuses_letters_without_consent_and_bad_templates(client, db, world):
    from datetime import timedelta

    from ptap.audit.services import SYSTEM
    from ptap.care_teams import circle
    from ptap.core.clock import frozen, now

    coord_headers = api_headers(world.coord)
    broken = client.post(
        "/api/v1/letter-templates",
        json={
            "team_id": world.team.id,
            "kind": "referral",
            "name": "Cassé",
            "body": "Bonjour\n{{ patient.nom ",
        },
        headers=coord_headers,
    )
    assert broken.status_code == 422
    body = broken.get_json()
    assert body["field"] == "body" and "ligne 2" in body["detail"]
    other = client.post(
        "/api/v1/letter-templates",
        json={"team_id": world.team.id, "kind": "memo", "name": "X", "body": "Y"},
        headers=coord_headers,
    )
    assert other.status_code == 422
    by_member = client.post(
        "/api/v1/letter-templates",
        json={"team_id": world.team.id, "kind": "referral", "name": "X", "body": "Y"},
        headers=api_headers(world.physician),
    )
    assert by_member.status_code == 403
    unknown = client.post(
        "/api/v1/letters",
        json={"patient_id": world.patient.id, "template_id": 999_999},
        headers=api_headers(world.physician),
    )
    assert unknown.status_code == 422 and unknown.get_json()["field"] == "template_id"
    with frozen(now() + timedelta(hours=1)):
        circle.record_consent(world.coord, world.patient, "sharing", False, "oral", "", SYSTEM)
    db.session.commit()
    refused = client.post(
        "/api/v1/letters",
        json={"patient_id": world.patient.id, "template_id": world.template.id},
        headers=coord_headers,
    )
    assert refused.status_code == 422
    assert refused.get_json()["field"] == "patient_id"
    assert "consentement" in refused.get_json()["detail"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Letter)) == 0
