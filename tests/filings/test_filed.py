"""Filing a DMP document into the coordination file: who may, the provenance kept, the
encryption at rest, one live copy per document (the unique index, even under a race), the
pages and API reading copies (audited), the timeline, removal by coordinators, search rows."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ptap import dmp_bridge
from ptap.audit.context import request_context
from ptap.care_teams import circle
from ptap.care_teams.timeline import patient_timeline
from ptap.core.sealed_files import MAGIC
from ptap.dmp_bridge.fake import FakeDmpTransport
from ptap.dmp_bridge.ports import DmpUnavailable
from ptap.extensions import db
from ptap.filings import filed, queries
from ptap.filings.models import FiledDmpDocument
from tests.conftest import AuthActions, csrf_token
from tests.factories import make_user, valid_rpps
from tests.filings.conftest import Org, api_headers
from tests.filings.test_consultation import PDF, SCRIPTED, as_psc, events

WAIT = 20.0


@pytest.fixture(autouse=True)
def _fresh_cache_and_folder(app, tmp_path: Path):
    dmp_bridge.clear_cache()
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    yield
    dmp_bridge.clear_cache()


@pytest.fixture
def docs(org: Org, dmp: FakeDmpTransport) -> dict[str, str]:
    """Documents of org.patient's DMP: a CDA (with a script in a narrative block), a PDF,
    a binary lab file hidden from the patient, a document masked to professionals."""
    ins = org.patient.ins_matricule
    org.gp.rpps = valid_rpps(11)
    org.coord.rpps = valid_rpps(12)
    org.nurse.rpps = None
    db.session.commit()
    return {
        "ldl": dmp.add_document(
            ins,
            title="Lettre de liaison",
            content=SCRIPTED,
            mime_type="text/xml",
            author="Dr Laennec",
            creation_time="20261120083000",
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


def doc_url(org: Org, uid: str) -> str:
    return f"/patients/{org.patient.id}/dmp/documents/{uid}"


def post_file(client, org: Org, uid: str):  # noqa: ANN001, ANN201
    token = csrf_token(client, doc_url(org, uid))
    return client.post(f"{doc_url(org, uid)}/file", data={"csrf_token": token})


def live_copies(org: Org) -> list[FiledDmpDocument]:
    return list(
        db.session.scalars(
            sa.select(FiledDmpDocument).where(
                FiledDmpDocument.patient_id == org.patient.id,
                FiledDmpDocument.removed_at.is_(None),
            )
        )
    )


def stored_files(app) -> list[Path]:  # noqa: ANN001
    folder = Path(app.config["UPLOAD_FOLDER"]) / queries.FILED_FOLDER
    return sorted(folder.iterdir()) if folder.is_dir() else []


# --- filing from the page --------------------------------------------------------------------


def test_gp_files_a_cda_with_its_provenance_encrypted_at_rest(
    app, client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    as_psc(auth, org.gp)
    page = client.get(doc_url(org, docs["ldl"])).get_data(as_text=True)
    assert "Verser au dossier de coordination" in page
    assert "lisible par tout le cercle de soins" in page  # the confirmation says what it does
    response = post_file(client, org, docs["ldl"])
    assert response.status_code == 302
    [doc] = live_copies(org)
    assert response.headers["Location"].endswith(f"/patients/{org.patient.id}/dmp/filed/{doc.id}")
    assert doc.dmp_unique_id == docs["ldl"]
    assert doc.repository_unique_id == "1.2.250.1.213.1.1.1.1"
    assert doc.author == "Dr Laennec"
    assert doc.document_created_at is not None and doc.document_created_at.day == 20
    assert (doc.filed_by_id, doc.access_mode, doc.view_kind) == (org.gp.id, "normal", "cda")
    # Encrypted at rest, with the attachments' format; decrypts to the DMP's exact bytes.
    [path] = stored_files(app)
    raw = path.read_bytes()
    assert raw.startswith(MAGIC) and b"Lettre" not in raw and SCRIPTED not in raw
    assert queries.read_filed_content(doc) == SCRIPTED
    [event] = events(org.patient.id, filed.FILE_ACTION)
    assert event.outcome == "success" and "accès normal" in event.reason
    # The copy's page: provenance, the narrative rendered, its injected script inert.
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    for fact in ("Dr Laennec", docs["ldl"], "1.2.250.1.213.1.1.1.1", "Accès normal"):
        assert fact in page
    assert org.gp.full_name in page
    assert "<script>alert" not in page and "Episode psychotique" in page


def test_pdf_copy_is_served_with_the_consultation_headers(
    client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    as_psc(auth, org.gp)
    location = post_file(client, org, docs["pdf"]).headers["Location"]
    response = client.get(f"{location}/content")
    assert response.data == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_other_format_copy_is_an_attachment_and_its_title_stays_out_of_the_access_log(
    client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    as_psc(auth, org.gp)
    location = post_file(client, org, docs["lab"]).headers["Location"]
    page = client.get(location).get_data(as_text=True)
    assert "Télécharger le document" in page and "ne voyait pas encore" in page
    response = client.get(f"{location}/content")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    for action in (filed.FILE_ACTION, filed.READ_ACTION):
        assert all("Bilan biologique" not in e.reason for e in events(org.patient.id, action))


def test_filing_twice_answers_with_the_existing_copy(
    client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    as_psc(auth, org.gp)
    first = post_file(client, org, docs["pdf"]).headers["Location"]
    page = client.get(doc_url(org, docs["pdf"])).get_data(as_text=True)
    assert "déjà été versé" in page and first.split("localhost")[-1] in page
    # Posted anyway (a second tab): one copy, the answer leads to it with a French message.
    again = post_file(client, org, docs["pdf"])
    assert again.headers["Location"] == first
    assert "déjà été versé au dossier de coordination" in client.get(first).get_data(as_text=True)
    assert len(live_copies(org)) == 1


def test_the_unique_index_decides_not_a_check(app, org: Org, docs, dmp) -> None:
    """A live copy found first spares the DMP a retrieval, but the database decides: the
    second filing is refused, answered with the existing copy, and leaves no orphan file."""
    ctx = request_context(org.gp)
    first = filed.file_dmp_document(org.gp, org.patient, docs["pdf"], ctx, psc=True)
    db.session.commit()
    with pytest.raises(filed.AlreadyFiled) as caught:
        filed.file_dmp_document(org.coord, org.patient, docs["pdf"], ctx, psc=True)
    db.session.commit()
    assert caught.value.existing_id == first.id
    assert len(live_copies(org)) == 1
    assert len(stored_files(app)) == 1


def test_a_refused_second_filing_is_traced_both_ways(monkeypatch, org: Org, docs, dmp) -> None:
    """Whether the live copy is seen first or only by the unique index (a colleague filing
    the same second: the DMP was consulted all the same), the attempt is in the audit trail."""
    ctx = request_context(org.gp)
    first = filed.file_dmp_document(org.gp, org.patient, docs["pdf"], ctx, psc=True)
    db.session.commit()
    with pytest.raises(filed.AlreadyFiled):
        filed.file_dmp_document(org.coord, org.patient, docs["pdf"], ctx, psc=True)
    db.session.commit()
    # The race: the copy is not seen before the retrieval, the index refuses the insert.
    calls: list[int] = []
    real = filed.find_live_filed

    def unseen_first(*args):  # noqa: ANN002, ANN202
        calls.append(1)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(filed, "find_live_filed", unseen_first)
    with pytest.raises(filed.AlreadyFiled) as caught:
        filed.file_dmp_document(org.coord, org.patient, docs["pdf"], ctx, psc=True)
    db.session.commit()
    assert caught.value.existing_id == first.id
    assert len(calls) == 2  # looked before the retrieval, then after the index refused
    refused = [
        e for e in events(org.patient.id, filed.FILE_ACTION) if "déjà versé" in (e.reason or "")
    ]
    assert len(refused) == 2
    assert all(str(e.outcome) in ("denied", "Outcome.DENIED") for e in refused)
    assert all(f"copie n° {first.id}" in e.reason for e in refused)


def _waiting_on_a_lock() -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def test_two_sessions_filing_at_once_keep_one_copy(app, org: Org, docs, dmp) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: the race needs PostgreSQL")
    ids = (org.gp.id, org.coord.id, org.patient.id)
    first_flushed, first_may_commit = threading.Event(), threading.Event()
    results: dict[str, object] = {}
    errors: list[BaseException] = []

    def file(name: str, user_id: int, before_commit: threading.Event | None) -> None:
        from ptap.accounts.models import User
        from ptap.care_teams.models import Patient

        try:
            with app.app_context():
                user = db.session.get(User, user_id)
                patient = db.session.get(Patient, ids[2])
                try:
                    doc = filed.file_dmp_document(
                        user, patient, docs["pdf"], request_context(user), psc=True
                    )
                    results[name] = doc.id
                except filed.AlreadyFiled as exc:
                    results[name] = ("already", exc.existing_id)
                if before_commit is not None:
                    first_flushed.set()
                    assert before_commit.wait(WAIT)
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            first_flushed.set()

    first = threading.Thread(target=file, args=("first", ids[0], first_may_commit))
    second = threading.Thread(target=file, args=("second", ids[1], None))
    first.start()
    assert first_flushed.wait(WAIT)
    second.start()  # inserts too, then waits on the first one's uncommitted row
    deadline = time.monotonic() + WAIT
    while _waiting_on_a_lock() == 0 and time.monotonic() < deadline and not errors:
        time.sleep(0.05)
    first_may_commit.set()
    first.join(WAIT)
    second.join(WAIT)
    assert not errors, errors
    assert results["second"] == ("already", results["first"])
    db.session.expire_all()
    assert len(live_copies(org)) == 1
    assert len(stored_files(app)) == 1


# --- who may file ------------------------------------------------------------------------------


def test_outsider_is_answered_an_audited_404(client, auth: AuthActions, org: Org, docs, dmp):
    outsider = make_user(profession="physician", rpps=valid_rpps(21))
    db.session.commit()
    as_psc(auth, outsider)
    token = csrf_token(client, "/account")
    response = client.post(f"{doc_url(org, docs['pdf'])}/file", data={"csrf_token": token})
    assert response.status_code == 404
    assert live_copies(org) == []
    denied = [e for e in events(org.patient.id, "patient.read") if e.outcome == "denied"]
    assert denied and denied[-1].actor_id == outsider.id


def test_admin_is_answered_404(client, auth: AuthActions, org: Org, docs, dmp) -> None:
    auth.login(org.admin)
    token = csrf_token(client, "/account")
    response = client.post(f"{doc_url(org, docs['pdf'])}/file", data={"csrf_token": token})
    assert response.status_code in (403, 404)
    assert live_copies(org) == []


def test_nurse_without_rpps_is_refused_with_the_rule(
    client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    as_psc(auth, org.nurse)
    token = csrf_token(client, f"/patients/{org.patient.id}/dmp")
    response = client.post(f"{doc_url(org, docs['pdf'])}/file", data={"csrf_token": token})
    assert response.status_code == 302
    assert live_copies(org) == []
    [event] = events(org.patient.id, filed.FILE_ACTION)
    assert event.outcome == "denied" and "RPPS" in event.reason


def test_password_login_may_not_file(client, auth: AuthActions, org: Org, docs, dmp) -> None:
    auth.login(org.gp)
    token = csrf_token(client, f"/patients/{org.patient.id}/dmp")
    client.post(f"{doc_url(org, docs['pdf'])}/file", data={"csrf_token": token})
    assert live_copies(org) == []
    assert dmp.consultations == []
    assert events(org.patient.id, filed.FILE_ACTION)[-1].outcome == "denied"


def test_without_csrf_nothing_is_filed(client, auth: AuthActions, org: Org, docs, dmp) -> None:
    as_psc(auth, org.gp)
    response = client.post(f"{doc_url(org, docs['pdf'])}/file", data={})
    assert response.status_code in (302, 400)
    assert live_copies(org) == []


def test_masked_document_seen_in_bris_de_glace_is_not_filed(
    client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    """The DMP masks it to professionals; bris de glace shows it to one, but the shared
    coordination file would show it to the whole circle."""
    outsider = make_user(profession="physician", rpps=valid_rpps(31))
    db.session.commit()
    circle.open_break_glass(
        outsider, org.patient, "Malaise au domicile, appel du SAMU", request_context(outsider)
    )
    db.session.commit()
    as_psc(auth, outsider)
    page = client.get(doc_url(org, docs["masked"])).get_data(as_text=True)
    assert "Verser au dossier de coordination" not in page
    response = post_file(client, org, docs["masked"])
    assert response.status_code == 302
    assert live_copies(org) == []
    assert events(org.patient.id, filed.FILE_ACTION)[-1].outcome == "denied"
    # A document the DMP does not mask may be filed in bris de glace, and the mode is kept.
    post_file(client, org, docs["pdf"])
    [doc] = live_copies(org)
    assert doc.access_mode == "bris_de_glace"
    assert "bris de glace" in events(org.patient.id, filed.FILE_ACTION)[-1].reason


def test_unreachable_dmp_files_nothing(client, auth: AuthActions, org: Org, docs, dmp) -> None:
    as_psc(auth, org.gp)
    token = csrf_token(client, f"/patients/{org.patient.id}/dmp")
    dmp.fail_next(DmpUnavailable("Le DMP ne répond pas (délai dépassé).", code="timeout"))
    response = client.post(f"{doc_url(org, docs['pdf'])}/file", data={"csrf_token": token})
    assert response.status_code == 302
    assert live_copies(org) == []
    assert events(org.patient.id, filed.FILE_ACTION)[-1].outcome == "failure"


# --- the section, the timeline, reads ----------------------------------------------------------


def test_section_lists_filed_copies_and_reads_are_audited(
    app, client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    as_psc(auth, org.gp)
    location = post_file(client, org, docs["pdf"]).headers["Location"]
    reader = app.test_client()
    AuthActions(reader).login(org.nurse)  # need-to-know is enough to read a copy
    section = reader.get(f"/patients/{org.patient.id}/dmp").get_data(as_text=True)
    assert "Documents versés depuis le DMP" in section and "CR de consultation" in section
    assert location.split("localhost")[-1] in section
    before = len(events(org.patient.id, filed.READ_ACTION))
    assert reader.get(location).status_code == 200
    assert reader.get(f"{location}/content").status_code == 200
    reads = events(org.patient.id, filed.READ_ACTION)
    assert len(reads) == before + 2 and reads[-1].actor_id == org.nurse.id
    outsider = make_user(profession="physician")
    db.session.commit()
    stranger = app.test_client()
    AuthActions(stranger).login(outsider)
    assert stranger.get(location).status_code == 404
    assert stranger.get(f"{location}/content").status_code == 404


def test_filing_and_removal_are_in_the_timeline(
    client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    ctx = request_context(org.gp)
    doc = filed.file_dmp_document(org.gp, org.patient, docs["pdf"], ctx, psc=True)
    db.session.commit()
    titles = [e.title for e in patient_timeline(org.patient.id)]
    assert "Versé au dossier depuis le DMP : CR de consultation" in titles
    filed.remove_filed_document(
        org.coord, org.patient, doc, "Doublon du courrier reçu", request_context(org.coord)
    )
    db.session.commit()
    entries = patient_timeline(org.patient.id)
    [removal] = [e for e in entries if e.kind == "dmp_filed_removed"]
    assert removal.detail == "Doublon du courrier reçu" and removal.actor == org.coord.full_name


def test_lists_and_timeline_take_constant_queries(org: Org, docs, dmp, count_queries) -> None:
    ctx = request_context(org.gp)
    pid = org.patient.id
    filed.file_dmp_document(org.gp, org.patient, docs["pdf"], ctx, psc=True)
    db.session.commit()
    with count_queries() as one:
        queries.list_filed_documents(pid)
        filed_timeline(pid)
    filed.file_dmp_document(org.gp, org.patient, docs["ldl"], ctx, psc=True)
    filed.file_dmp_document(org.gp, org.patient, docs["lab"], ctx, psc=True)
    db.session.commit()
    with count_queries() as three:
        assert len(queries.list_filed_documents(pid)) == 3
        filed_timeline(pid)
    assert len(three) == len(one) == 2


def filed_timeline(patient_id: int):  # noqa: ANN201
    from ptap.filings.timeline import filed_dmp_documents

    return filed_dmp_documents(patient_id)


# --- removal ------------------------------------------------------------------------------------


def test_only_a_coordinator_removes_with_a_reason(
    app, client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    doc = filed.file_dmp_document(
        org.gp, org.patient, docs["pdf"], request_context(org.gp), psc=True
    )
    db.session.commit()
    url = f"/patients/{org.patient.id}/dmp/filed/{doc.id}"
    auth.login(org.gp)  # a GP of the circle, not a coordinator
    page = client.get(url).get_data(as_text=True)
    assert "Retirer du dossier de coordination" not in page
    token = csrf_token(client, url)
    client.post(f"{url}/remove", data={"csrf_token": token, "reason": "x"})
    assert len(live_copies(org)) == 1
    coordinator = app.test_client()
    AuthActions(coordinator).login(org.coord)
    token = csrf_token(coordinator, url)
    empty = coordinator.post(f"{url}/remove", data={"csrf_token": token, "reason": "  "})
    assert empty.status_code == 422
    assert "Indiquez le motif du retrait" in empty.get_data(as_text=True)
    assert len(live_copies(org)) == 1
    done = coordinator.post(
        f"{url}/remove", data={"csrf_token": token, "reason": "Versé par erreur"}
    )
    assert done.status_code == 302
    assert live_copies(org) == []
    assert stored_files(app) == []  # the encrypted copy is deleted once the removal commits
    [event] = events(org.patient.id, filed.REMOVE_ACTION)
    assert event.actor_id == org.coord.id and "Versé par erreur" in event.reason
    assert coordinator.get(url).status_code == 404
    # Removed, it may be filed again (the unique index covers live copies only).
    filed.file_dmp_document(org.gp, org.patient, docs["pdf"], request_context(org.gp), psc=True)
    db.session.commit()
    assert len(live_copies(org)) == 1


# --- API and search rows ------------------------------------------------------------------------


def test_api_files_lists_reads_and_refuses_a_second_copy(
    app, client, auth: AuthActions, org: Org, docs, dmp
) -> None:
    as_psc(auth, org.gp)
    base = f"/api/v1/patients/{org.patient.id}/dmp"
    token = csrf_token(client, "/account")
    headers = {"X-CSRFToken": token}
    created = client.post(f"{base}/documents/{docs['pdf']}/file", headers=headers)
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["dmp_unique_id"] == docs["pdf"] and body["author"] == "William Harvey"
    assert body["access_mode"] == "normal" and body["filed_by_id"] == org.gp.id
    again = client.post(f"{base}/documents/{docs['pdf']}/file", headers=headers)
    assert again.status_code == 409
    problem = again.get_json()
    assert problem["existing_id"] == body["id"] and problem["existing_url"] == body["url"]
    assert "déjà été versé" in problem["detail"]
    [item] = client.get(f"{base}/filed-documents").get_json()["items"]
    assert item["id"] == body["id"]
    content = client.get(body["url"])
    assert content.data == PDF and content.headers["X-Content-Type-Options"] == "nosniff"
    removal = client.post(
        f"{base}/filed-documents/{body['id']}/remove", json={"reason": "x"}, headers=headers
    )
    assert removal.status_code == 403  # the GP is not a coordinator
    coord = api_headers(org.coord)
    db.session.commit()
    bearer = app.test_client()
    bad = bearer.post(f"{base}/filed-documents/{body['id']}/remove", json={}, headers=coord)
    assert bad.status_code == 422
    ok = bearer.post(
        f"{base}/filed-documents/{body['id']}/remove", json={"reason": "Erreur"}, headers=coord
    )
    assert ok.status_code == 200
    assert client.get(f"{base}/filed-documents").get_json()["items"] == []


def test_api_token_may_not_file_but_reads_copies(client, org: Org, docs, dmp) -> None:
    doc = filed.file_dmp_document(
        org.gp, org.patient, docs["pdf"], request_context(org.gp), psc=True
    )
    headers = api_headers(org.gp)
    db.session.commit()
    base = f"/api/v1/patients/{org.patient.id}/dmp"
    refused = client.post(f"{base}/documents/{docs['ldl']}/file", headers=headers)
    assert refused.status_code == 403 and "Pro Santé Connect" in refused.get_json()["detail"]
    assert client.get(f"{base}/filed-documents/{doc.id}", headers=headers).data == PDF
    outsider = make_user(profession="physician")
    db.session.commit()
    other = api_headers(outsider)
    db.session.commit()
    assert client.get(f"{base}/filed-documents", headers=other).status_code == 404


def test_openapi_documents_the_filing(client) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    keys = " ".join(paths)
    assert "/dmp/documents/{unique_id}/file" in keys
    assert "/dmp/filed-documents" in keys


def test_search_rows_give_the_cda_narrative_and_nothing_for_a_pdf(org: Org, docs, dmp) -> None:
    ctx = request_context(org.gp)
    cda = filed.file_dmp_document(org.gp, org.patient, docs["ldl"], ctx, psc=True)
    pdf = filed.file_dmp_document(org.gp, org.patient, docs["pdf"], ctx, psc=True)
    db.session.commit()
    rows = {row[0]: row for row in queries.filed_document_search_rows(org.patient.id)}
    assert set(rows) == {cda.id, pdf.id}
    _, title, text, occurred_at = rows[cda.id]
    assert title == "Lettre de liaison" and "Episode psychotique" in text
    assert "<" not in text and occurred_at == cda.document_created_at
    assert rows[pdf.id][2] == ""


def test_demo_files_one_readable_lab_report_once(org: Org) -> None:
    from ptap.filings.demo import load_filed_dmp_demo

    assert load_filed_dmp_demo(org.gp, [org.team.id]) == 1
    assert load_filed_dmp_demo(org.gp, [org.team.id]) == 0  # idempotent
    [doc] = live_copies(org)
    content = filed.read_filed_document(org.gp, org.patient, doc, request_context(org.gp))
    assert content.view.kind == "cda" and "Créatinine" in content.view.html
    [row] = queries.filed_document_search_rows(org.patient.id)
    assert "Insuffisance rénale modérée" in row[2]


def test_a_filed_cda_is_found_by_the_coordination_file_search(app, org: Org, docs, dmp) -> None:
    """The narrative of a filed structured document is searched (decrypted for the search
    only); someone without need-to-know on the patient finds nothing."""
    from ptap.search.queries import search_patient

    ctx = request_context(org.gp)
    copy = filed.file_dmp_document(org.gp, org.patient, docs["ldl"], ctx, psc=True)
    db.session.commit()
    with app.test_request_context():
        found = search_patient(org.nurse, org.patient, "psychotique")
        assert [(h.document.kind, h.document.source_id) for h in found.hits] == [
            ("dmp_filed", str(copy.id))
        ]
        assert search_patient(org.other_coord, org.patient, "psychotique").total == 0
