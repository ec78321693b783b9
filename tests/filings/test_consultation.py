"""Consulting the patient's DMP from PTAP: the rules (Pro Santé Connect, RPPS, circle,
consent, opposition), bris de glace, the pages, the API, the audit and the access log."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ptap import dmp_bridge
from ptap.accounts.models import UserSession
from ptap.audit.context import request_context
from ptap.audit.models import AuditEvent
from ptap.care_teams import circle
from ptap.dmp_bridge.fake import FakeDmpTransport
from ptap.dmp_bridge.ports import DmpUnavailable
from ptap.extensions import db
from ptap.filings import consultation
from tests.conftest import AuthActions
from tests.factories import make_user, valid_nir, valid_rpps
from tests.filings.conftest import Org, api_headers

LDL = (
    __import__("pathlib").Path(__file__).parents[2]
    / "ptap/devtools/dmp_simulator/samples/LDL-SES_2022.01.xml"
).read_bytes()
PDF = b"%PDF-1.4\n% test\n"
SCRIPTED = LDL.replace(
    b"<td>Episode psychotique",
    b'<td><script>alert("dmp")</script>Episode psychotique',
    1,
)


@pytest.fixture(autouse=True)
def _fresh_cache():
    dmp_bridge.clear_cache()
    yield
    dmp_bridge.clear_cache()


@pytest.fixture
def docs(org: Org, dmp: FakeDmpTransport) -> dict[str, str]:
    """Documents other professionals filed in the DMP of org.patient."""
    ins = org.patient.ins_matricule
    org.gp.rpps = valid_rpps(11)
    org.coord.rpps = valid_rpps(12)
    db.session.commit()
    return {
        "ldl": dmp.add_document(
            ins, title="Lettre de liaison", content=SCRIPTED, mime_type="text/xml"
        ),
        "pdf": dmp.add_document(
            ins,
            title="CR de consultation",
            content=PDF,
            mime_type="application/pdf",
            type_code="11488-4",
            type_display="Compte rendu de consultation",
            creation_time="20261115101500",
            author="William Harvey",
        ),
        "lab": dmp.add_document(
            ins,
            title="Bilan biologique",
            content=b"\x00\x01binary",
            mime_type="application/octet-stream",
            type_code="11502-2",
            type_display="CR d'examens biologiques",
            confidentiality=("N", "INVISIBLE_PATIENT"),
        ),
        "masked": dmp.add_document(
            ins,
            title="CR de psychiatrie",
            content=PDF,
            mime_type="application/pdf",
            confidentiality=("N", "MASQUE_PS"),
        ),
    }


def as_psc(auth: AuthActions, user) -> None:  # noqa: ANN001
    """Log in, then mark the session as opened with Pro Santé Connect (as psc.callback does)."""
    auth.login(user)
    db.session.execute(
        sa.update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(auth_method="psc")
    )
    db.session.commit()


def events(patient_id: int, action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.patient_id == patient_id, AuditEvent.action == action)
            .order_by(AuditEvent.id)
        )
    )


def list_url(org: Org, query: str = "") -> str:
    return f"/patients/{org.patient.id}/dmp/documents{query}"


# --- rules -----------------------------------------------------------------------------------


def test_password_login_gets_an_explanation_not_the_dmp(
    client, auth: AuthActions, org: Org, docs, dmp: FakeDmpTransport
) -> None:
    auth.login(org.gp)
    response = client.get(list_url(org))
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Pro Santé Connect" in page
    assert "Les informations de PTAP restent" in page
    assert dmp.consultations == []
    [event] = events(org.patient.id, consultation.LIST_ACTION)
    assert event.outcome == "denied"
    # PTAP's own record is still there.
    assert client.get(f"/patients/{org.patient.id}").status_code == 200


def test_account_without_rpps_is_refused(client, auth: AuthActions, org: Org, docs, dmp) -> None:
    as_psc(auth, org.nurse)  # no RPPS
    response = client.get(list_url(org))
    assert response.status_code == 403
    assert "RPPS" in response.get_data(as_text=True)
    assert dmp.consultations == []


def test_professional_outside_the_circle_is_refused(
    client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    outsider = make_user(profession="physician", rpps=valid_rpps(21))
    db.session.commit()
    as_psc(auth, outsider)
    assert client.get(list_url(org)).status_code == 404
    assert dmp.consultations == []


def test_refused_without_consent(client, auth: AuthActions, org: Org, docs, dmp) -> None:
    org.patient.sharing_consent = False
    db.session.commit()
    as_psc(auth, org.coord)  # the enrolling coordinator still sees the record
    response = client.get(list_url(org))
    assert response.status_code == 403
    assert "consentement" in response.get_data(as_text=True)
    assert dmp.consultations == []
    assert events(org.patient.id, consultation.LIST_ACTION)[-1].outcome == "denied"


def test_refused_after_dmp_opposition(client, auth: AuthActions, org: Org, docs, dmp) -> None:
    org.patient.dmp_opposition = True
    db.session.commit()
    as_psc(auth, org.gp)
    response = client.get(list_url(org))
    assert response.status_code == 403
    assert "opposé" in response.get_data(as_text=True)
    assert dmp.consultations == []


# --- listing and opening -------------------------------------------------------------------------


def test_gp_lists_grouped_documents_with_the_real_professional_in_the_vihf(
    client, auth: AuthActions, org: Org, docs, dmp: FakeDmpTransport
) -> None:
    as_psc(auth, org.gp)
    page = client.get(f"/patients/{org.patient.id}/dmp").get_data(as_text=True)
    assert "Consulter les documents du DMP" in page  # reachable from the patient's DMP section
    response = client.get(list_url(org))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Lettre de liaison" in page and "CR de consultation" in page
    assert "Compte rendu de consultation" in page  # a group heading
    assert "Non visible par la personne" in page
    assert "CR de psychiatrie" not in page  # masked to professionals
    [context] = dmp.consultations
    assert context.subject.id_nat == "8" + org.gp.rpps
    assert context.access_mode == "normal"
    [event] = events(org.patient.id, consultation.LIST_ACTION)
    assert event.outcome == "success"
    assert "accès normal" in event.reason


def test_filters_reach_the_dmp_and_bad_dates_are_refused(
    client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    as_psc(auth, org.gp)
    page = client.get(list_url(org, "?type=11488-4")).get_data(as_text=True)
    assert "CR de consultation" in page and "<strong>Lettre de liaison</strong>" not in page
    page = client.get(list_url(org, "?author=harvey&from=2026-11-01&to=2026-11-30"))
    assert "CR de consultation" in page.get_data(as_text=True)
    bad = client.get(list_url(org, "?from=31/12/2026"))
    assert bad.status_code == 422
    assert "AAAA-MM-JJ" in bad.get_data(as_text=True)


def test_cda_opens_in_the_page_with_its_script_inert(
    client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    as_psc(auth, org.gp)
    response = client.get(f"{list_url(org)}/{docs['ldl']}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Motif de l&#39;hospitalisation" in page or "Motif de l'hospitalisation" in page
    assert 'alert("dmp")' in page or "alert(&#34;dmp&#34;)" in page
    assert "<script>alert" not in page
    [event] = events(org.patient.id, consultation.OPEN_ACTION)
    assert "Lettre de liaison" in event.reason
    download = client.get(f"{list_url(org)}/{docs['ldl']}/content?download=1")
    assert download.headers["Content-Type"].startswith("application/xml")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_pdf_is_served_strictly(client, auth: AuthActions, org: Org, docs, dmp) -> None:
    as_psc(auth, org.gp)
    page = client.get(f"{list_url(org)}/{docs['pdf']}").get_data(as_text=True)
    assert "Ouvrir le PDF" in page
    response = client.get(f"{list_url(org)}/{docs['pdf']}/content")
    assert response.status_code == 200
    assert response.data == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_unknown_format_is_offered_as_a_download(
    client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    as_psc(auth, org.gp)
    page = client.get(f"{list_url(org)}/{docs['lab']}").get_data(as_text=True)
    assert "Télécharger le document" in page
    assert "ne voit pas encore ce document" in page
    response = client.get(f"{list_url(org)}/{docs['lab']}/content")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_a_document_not_listed_for_the_professional_is_not_retrieved(
    client, auth: AuthActions, org: Org, docs, dmp: FakeDmpTransport
) -> None:
    as_psc(auth, org.gp)
    response = client.get(f"{list_url(org)}/{docs['masked']}")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "ne figure pas" in page and "CR de psychiatrie" not in page
    assert not [op for op in dmp.operations if op[0] == "retrieve"]
    assert events(org.patient.id, consultation.OPEN_ACTION)[-1].outcome == "failure"


def test_the_access_log_does_not_name_a_document_hidden_from_the_patient(
    client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    as_psc(auth, org.gp)
    assert client.get(f"{list_url(org)}/{docs['lab']}").status_code == 200
    [event] = events(org.patient.id, consultation.OPEN_ACTION)
    assert "Bilan biologique" not in event.reason


def test_unreachable_dmp_says_what_to_do_and_caches_nothing(
    client, auth: AuthActions, org: Org, docs, dmp: FakeDmpTransport
) -> None:
    as_psc(auth, org.gp)
    dmp.fail_next(DmpUnavailable("Le DMP ne répond pas (délai dépassé).", code="timeout"))
    response = client.get(list_url(org))
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "Le DMP ne répond pas" in page and "Réessayez dans quelques minutes" in page
    assert events(org.patient.id, consultation.LIST_ACTION)[-1].outcome == "failure"
    # The next attempt asks the DMP again (the failure was not cached) and succeeds.
    assert client.get(list_url(org)).status_code == 200
    assert len(dmp.consultations) == 2


def test_answers_are_cached_per_user_a_short_while(
    client, auth: AuthActions, org: Org, docs, dmp: FakeDmpTransport
) -> None:
    as_psc(auth, org.gp)
    client.get(list_url(org))
    client.get(list_url(org))
    assert len(dmp.consultations) == 1
    # Every consultation is audited, cached or not.
    assert len(events(org.patient.id, consultation.LIST_ACTION)) == 2


# --- bris de glace ---------------------------------------------------------------------------


def test_bris_de_glace_carries_mode_and_reason_to_the_dmp_and_the_audit(
    client, auth: AuthActions, org: Org, docs, dmp: FakeDmpTransport
) -> None:
    outsider = make_user(profession="physician", rpps=valid_rpps(31))
    db.session.commit()
    reason = "Appel du SAMU : malaise au domicile, traitement à connaître"
    circle.open_break_glass(outsider, org.patient, reason, request_context(outsider))
    db.session.commit()
    as_psc(auth, outsider)
    response = client.get(list_url(org))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "bris de glace" in page
    assert "CR de psychiatrie" in page  # the DMP shows masked documents in bris de glace
    context = dmp.consultations[-1]
    assert context.access_mode == "bris_de_glace"
    assert context.access_reason == reason
    event = events(org.patient.id, consultation.LIST_ACTION)[-1]
    assert "bris de glace" in event.reason and reason in event.reason
    log = client.get(f"/patients/{org.patient.id}/access-log")
    # The outsider may not read the access log; the coordinator may, and sees the consultation.
    assert log.status_code in (403, 404)


def test_consultations_appear_in_who_accessed_my_file(
    app, client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    as_psc(auth, org.gp)
    client.get(list_url(org))
    client.get(f"{list_url(org)}/{docs['pdf']}")
    coordinator = app.test_client()
    AuthActions(coordinator).login(org.coord)
    page = coordinator.get(f"/patients/{org.patient.id}/access-log").get_data(as_text=True)
    assert "Consultation du DMP (liste des documents)" in page
    assert "Ouverture d&#39;un document du DMP" in page or "Ouverture d'un document du DMP" in page
    assert "CR de consultation" in page


# --- API -------------------------------------------------------------------------------------


def test_api_lists_and_retrieves_with_a_psc_session(
    client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    as_psc(auth, org.gp)
    response = client.get(f"/api/v1/patients/{org.patient.id}/dmp/documents?type=11488-4")
    assert response.status_code == 200
    [item] = response.get_json()["items"]
    assert item["title"] == "CR de consultation"
    assert item["access_mode"] == "normal"
    got = client.get(item["url"])
    assert got.status_code == 200
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    bad = client.get(f"/api/v1/patients/{org.patient.id}/dmp/documents?to=demain")
    assert bad.status_code == 422


def test_api_token_is_not_a_psc_session(client, org: Org, docs, dmp) -> None:
    headers = api_headers(org.gp)
    db.session.commit()
    response = client.get(f"/api/v1/patients/{org.patient.id}/dmp/documents", headers=headers)
    assert response.status_code == 403
    assert "Pro Santé Connect" in response.get_json()["detail"]
    assert dmp.consultations == []


def test_api_unreachable_dmp_is_503(client, auth: AuthActions, org: Org, docs, dmp) -> None:
    as_psc(auth, org.gp)
    dmp.fail_next(DmpUnavailable("Le DMP est injoignable.", code="connection"))
    response = client.get(f"/api/v1/patients/{org.patient.id}/dmp/documents")
    assert response.status_code == 503
    assert "Réessayez" in response.get_json()["detail"]


def test_openapi_documents_the_dmp_consultation(client) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert "/api/v1/patients/{patient_id}/dmp/documents" in paths or (
        "/patients/{patient_id}/dmp/documents" in paths
    )


def test_a_title_outside_latin_1_gives_a_header_a_server_can_send(
    client, auth: AuthActions, org: Org, docs, dmp: FakeDmpTransport
) -> None:
    """WSGI servers encode headers in ISO-8859-1: « cœur » (œ is not in it) must not make the
    download a 500; the UTF-8 name travels in filename* (RFC 6266), nothing else is copied."""
    uid = dmp.add_document(
        org.patient.ins_matricule,
        title='Écho du cœur ✓ "x"\r\nSet-Cookie: a=b',
        content=PDF,
        mime_type="application/pdf",
    )
    as_psc(auth, org.gp)
    response = client.get(f"{list_url(org)}/{uid}/content?download=1")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    disposition.encode("latin-1")  # what gunicorn does with every header
    assert disposition.startswith('attachment; filename="Echo-du-coeur')
    assert "filename*=UTF-8''%C3%89cho-du-c%C5%93ur" in disposition
    assert "\r" not in disposition and "\n" not in disposition
    assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith("a=")]


def test_a_corrected_ins_is_not_answered_from_the_previous_identity_cache(
    client, auth: AuthActions, org: Org, docs, dmp: FakeDmpTransport
) -> None:
    """Identity vigilance: after the INS is corrected, the list comes from the DMP of the
    right person, never from the cached DMP of the wrong one."""
    as_psc(auth, org.gp)
    assert "<strong>Lettre de liaison</strong>" in client.get(list_url(org)).get_data(as_text=True)
    right_ins = valid_nir("M", 1951)
    dmp.add_document(
        right_ins, title="Bilan de la bonne personne", content=PDF, mime_type="application/pdf"
    )
    org.patient.ins_matricule = right_ins
    db.session.commit()
    page = client.get(list_url(org)).get_data(as_text=True)
    assert "Bilan de la bonne personne" in page and "<strong>Lettre de liaison</strong>" not in page


def test_a_failed_retrieve_says_what_to_do_and_is_not_cached(
    client, auth: AuthActions, org: Org, docs, dmp: FakeDmpTransport
) -> None:
    """ITI-43 failing (the list itself answered): a French message with what to do, the
    failure audited, and the next attempt asks the DMP again."""
    as_psc(auth, org.gp)
    assert client.get(list_url(org)).status_code == 200
    dmp.fail_next(DmpUnavailable("L'entrepôt du DMP ne répond pas.", code="timeout"))
    response = client.get(f"{list_url(org)}/{docs['pdf']}")
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "L&#39;entrepôt du DMP ne répond pas" in page or "L'entrepôt" in page
    assert "Réessayez dans quelques minutes" in page
    assert events(org.patient.id, consultation.OPEN_ACTION)[-1].outcome == "failure"
    again = client.get(f"{list_url(org)}/{docs['pdf']}/content")
    assert again.status_code == 200 and again.data == PDF


def test_openapi_documents_the_retrieve_too(client) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert any(p.endswith("/dmp/documents/{unique_id}") for p in paths)
