"""Regressions found in review: identity for MSSanté, edit/sign race, control characters,
template errors named on the template, wording of the validation, placeholders in one query."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from flask import render_template

from ptap import dmp_bridge
from ptap.audit.services import SYSTEM
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import Action, Objective, PlanContent
from ptap.care_teams.models import Enrolment, Patient
from ptap.core.errors import Conflict, InvalidInput
from ptap.extensions import db as _db
from ptap.letters import placeholders, services
from ptap.letters.documents import letter_context
from ptap.letters.models import Letter, LetterSending, LetterStatus
from ptap.letters.services import TemplateData
from ptap.letters.tasks import process_letters
from tests.filings.conftest import api_headers
from tests.letters.conftest import ctx

MSS = "dr.martin@medecin.mssante.fr"


def signed_letter(w) -> Letter:
    letter = services.create_letter(w.physician, w.patient, w.template, "Dr M", ctx(w.physician))
    services.sign_letter(w.physician, letter, ctx(w.physician))
    return letter


def _unqualify(patient: Patient) -> None:
    patient.identity_status = "provisional"
    patient.ins_matricule = ""
    _db.session.flush()


# --- 2. INS ----------------------------------------------------------------------------------


def test_sending_is_refused_on_to_for_a_patient_without_a_qualified_ins(db, world, outbox):
    letter = signed_letter(world)
    _unqualify(world.patient)
    with pytest.raises(InvalidInput) as error:
        services.send_letter(world.physician, letter, MSS, ctx(world.physician))
    assert error.value.field == "to"
    assert "INS absente ou non qualifiée" in error.value.message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LetterSending)) == 0


def test_one_sending_that_cannot_be_built_does_not_block_the_next(db, world, outbox, monkeypatch):
    first, second = signed_letter(world), signed_letter(world)
    services.send_letter(world.physician, first, MSS, ctx(world.physician))
    services.send_letter(world.physician, second, MSS, ctx(world.physician))
    db.session.commit()
    real = dmp_bridge.build_xdm_zip
    calls: list[int] = []

    def fragile(document):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("patient 1 has no INS: the DMP requires one")
        return real(document)

    monkeypatch.setattr(dmp_bridge, "build_xdm_zip", fragile)
    process_letters()
    db.session.expire_all()
    bad, good = db.session.scalars(sa.select(LetterSending).order_by(LetterSending.id)).all()
    assert bad.mail_id is None and "n'a pas pu être préparé" in bad.error
    assert "DMP requires" not in bad.error  # the raw exception is logged, not shown
    assert good.mail_id is not None and good.error == ""
    assert len(outbox) == 1
    process_letters()
    assert len(outbox) == 1  # the failed sending is not retried blindly


def test_a_patient_losing_the_ins_after_the_request_fails_only_that_sending(db, world, outbox):
    letter = signed_letter(world)
    services.send_letter(world.physician, letter, MSS, ctx(world.physician))
    _unqualify(world.patient)
    db.session.commit()
    process_letters()
    (sending,) = db.session.scalars(sa.select(LetterSending)).all()
    assert sending.mail_id is None and "INS absente" in sending.error
    assert outbox == []


# --- 3. edit and sign race -------------------------------------------------------------------


def _signed_behind_its_back(letter: Letter) -> None:
    """Another request signs the letter: the database changes, this session's object does not."""
    _db.session.execute(
        sa.update(Letter)
        .where(Letter.id == letter.id)
        .values(status=LetterStatus.SIGNED, signed_rpps="10000000001")
        .execution_options(synchronize_session=False)
    )


def test_an_edit_racing_a_signature_is_refused(db, world):
    letter = services.create_letter(
        world.physician, world.patient, world.template, "Dr M", ctx(world.physician)
    )
    db.session.commit()
    original = letter.body
    _signed_behind_its_back(letter)
    assert letter.status == LetterStatus.DRAFT  # the stale copy the edit request holds
    with pytest.raises(Conflict) as error:
        services.edit_letter(
            world.physician,
            letter,
            subject="Autre",
            body="Texte changé après signature",
            addressee="",
            ctx=ctx(world.physician),
        )
    assert "vient d'être signée" in error.value.message
    body = db.session.scalar(sa.select(Letter.body).where(Letter.id == letter.id))
    assert body == original


def test_a_second_signature_racing_the_first_is_refused(db, world):
    letter = services.create_letter(
        world.physician, world.patient, world.template, "Dr M", ctx(world.physician)
    )
    db.session.commit()
    _signed_behind_its_back(letter)
    with pytest.raises(Conflict):
        services.sign_letter(world.physician, letter, ctx(world.physician))
    rpps = db.session.scalar(sa.select(Letter.signed_rpps).where(Letter.id == letter.id))
    assert rpps == "10000000001"


# --- 5. control characters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "subject", "addressee"),
    [
        ("subject", "Objet\r\nBcc: espion@example.test", "Dr M"),
        ("subject", "Objet\x00", "Dr M"),
        ("addressee", "Objet", "Dr M\nX-Header: 1"),
    ],
)
def test_control_characters_in_one_line_fields_are_refused(db, world, field, subject, addressee):
    letter = services.create_letter(
        world.physician, world.patient, world.template, "", ctx(world.physician)
    )
    with pytest.raises(InvalidInput) as error:
        services.edit_letter(
            world.physician,
            letter,
            subject=subject,
            body="Texte\nsur deux lignes",
            addressee=addressee,
            ctx=ctx(world.physician),
        )
    assert error.value.field == field and "retour à la ligne" in error.value.message


def test_control_characters_are_refused_at_creation_and_in_template_subjects(db, world, client):
    with pytest.raises(InvalidInput) as error:
        services.create_letter(
            world.physician, world.patient, world.template, "Dr M\r\nBcc: x", ctx(world.physician)
        )
    assert error.value.field == "addressee"
    with pytest.raises(InvalidInput) as error:
        services.create_template(
            world.coord, world.team, TemplateData("X", "A\nB", "Corps"), ctx(world.coord)
        )
    assert error.value.field == "subject"
    response = client.post(
        "/api/v1/letters",
        json={
            "patient_id": world.patient.id,
            "template_id": world.template.id,
            "addressee": "Dr\nM",
        },
        headers=api_headers(world.physician),
    )
    assert response.status_code == 422 and response.get_json()["field"] == "addressee"


# --- 8. a template failing for this patient is the template's fault --------------------------


def test_a_template_failing_for_the_patient_is_a_422_on_template_id(db, world, client):
    template = services.create_template(
        world.coord,
        world.team,
        TemplateData("Plan", "Objet", "Objectif : {{ plan.objectifs[0].intitule }}"),
        ctx(world.coord),
    )
    db.session.commit()  # the sample record has a plan; this patient has none
    response = client.post(
        "/api/v1/letters",
        json={"patient_id": world.patient.id, "template_id": template.id},
        headers=api_headers(world.physician),
    )
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["field"] == "template_id"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Letter)) == 0


# --- 9. wording ------------------------------------------------------------------------------


def test_the_pdf_says_validated_by_not_electronically_signed(db, world, app):
    letter = signed_letter(world)
    with app.test_request_context():
        html = render_template("pdf/letter.html", **letter_context(letter))
    assert "Signé électroniquement" not in html
    assert f"Validé par {world.physician.full_name} (RPPS {world.physician.rpps}) le" in html


# --- 7. placeholders in a fixed number of queries --------------------------------------------


def test_the_plan_placeholders_load_assignees_in_one_query(db, world, count_queries):
    enrolment = db.session.scalars(
        sa.select(Enrolment).where(Enrolment.patient_id == world.patient.id)
    ).one()
    plan = plan_services.create_plan(world.coord, enrolment, SYSTEM)
    assignees = [world.nurse, world.physician, world.coord]
    content = PlanContent(
        lead_user_id=world.coord.id,
        objectives=[
            Objective(
                key="o1",
                title="Rester à domicile",
                actions=[
                    Action(key=f"a{i}", what=f"Action {i}", assignee_user_id=u.id)
                    for i, u in enumerate(assignees)
                ],
            )
        ],
        next_review_on=date(2027, 3, 1),
    )
    plan_services.save_draft(world.coord, plan, content, plan.draft_revision, SYSTEM)
    plan_services.publish_version(world.coord, plan, "V1", SYSTEM)
    db.session.commit()
    patient_id = world.patient.id
    db.session.expunge_all()  # nothing in the identity map: every user is a query
    with count_queries() as queries:
        filled = placeholders._plan(patient_id)
    assert [a["qui"] for a in filled["objectifs"][0]["actions"]][0] != "Non attribuée"
    assert len([q for q in queries if "FROM users" in q]) == 1


# --- 4. consent withdrawn while the e-mail is queued -----------------------------------------


def test_a_queued_letter_is_not_sent_after_consent_is_withdrawn(db, world, outbox):
    from datetime import timedelta

    from ptap.care_teams import circle
    from ptap.core import clock, mail
    from ptap.letters import queries

    mail.MEMORY_RELAY.sent.clear()
    mail.MEMORY_RELAY.down = False
    letter = signed_letter(world)
    services.send_letter(world.physician, letter, MSS, ctx(world.physician))
    db.session.commit()
    process_letters()
    assert len(outbox) == 1  # queued in the mail outbox, not sent yet
    with clock.frozen(clock.now() + timedelta(hours=1)):
        circle.record_consent(world.coord, world.patient, "sharing", False, "oral", "", SYSTEM)
    db.session.commit()
    assert mail.send_queued_mail() == {"failed": 1}
    assert mail.MEMORY_RELAY.sent == []
    (row,) = queries.sendings(letter.id)
    assert row.mail_status == "failed" and "Envoi annulé" in row.last_error
    assert "consentement" in row.last_error


# --- 6. a failed PDF is retried, then can be asked again ----------------------------------------


def test_a_failed_pdf_is_retried_with_backoff_then_relaunched(db, world, client, monkeypatch):
    from datetime import timedelta

    from ptap.core import clock
    from ptap.letters import tasks
    from ptap.letters.models import PdfStatus

    letter = signed_letter(world)
    db.session.commit()

    def broken(_letter):
        raise RuntimeError("weasyprint: /secret/path/font.ttf unreadable")

    monkeypatch.setattr(tasks, "render_letter_pdf", broken)
    process_letters()
    db.session.refresh(letter)
    assert letter.pdf_status == PdfStatus.PENDING and letter.pdf_attempts == 1
    assert letter.pdf_next_attempt_at is not None
    assert process_letters() == 0  # not before the backoff
    for attempt in range(2, services.PDF_MAX_ATTEMPTS + 1):
        with clock.frozen(clock.now() + timedelta(hours=2 * attempt)):
            assert process_letters() == 1
        db.session.refresh(letter)
        assert letter.pdf_attempts == attempt
    assert letter.pdf_status == PdfStatus.FAILED
    assert "secret" not in letter.pdf_error and "RuntimeError" not in letter.pdf_error
    assert letter.pdf_error == services.PDF_FAILED
    with clock.frozen(clock.now() + timedelta(days=2)):
        assert process_letters() == 0  # failed for good until asked again

    headers = api_headers(world.nurse)  # neither its author nor a coordinator
    refused = client.post(f"/api/v1/letters/{letter.id}/pdf/retry", headers=headers)
    assert refused.status_code == 403
    page = client.get(f"/api/v1/letters/{letter.id}", headers=api_headers(world.coord))
    assert "secret" not in page.get_data(as_text=True)
    again = client.post(f"/api/v1/letters/{letter.id}/pdf/retry", headers=api_headers(world.coord))
    assert again.status_code == 202 and again.get_json()["pdf_status"] == "pending"
    monkeypatch.undo()
    assert process_letters() == 1
    db.session.refresh(letter)
    assert letter.pdf_status == PdfStatus.READY and letter.pdf_error == ""
    twice = client.post(f"/api/v1/letters/{letter.id}/pdf/retry", headers=api_headers(world.coord))
    assert twice.status_code == 409


def test_the_letter_page_offers_relancer_to_the_author(db, world, auth):
    from ptap.letters.models import PdfStatus

    letter = signed_letter(world)
    letter.pdf_status = PdfStatus.FAILED
    letter.pdf_error = services.PDF_FAILED
    db.session.commit()
    auth.login(world.physician)
    page = auth.client.get(f"/letters/{letter.id}").get_data(as_text=True)
    assert "Relancer la préparation du PDF" in page
    response = auth.post(f"/letters/{letter.id}/pdf/retry", {})
    assert response.status_code == 302
    db.session.refresh(letter)
    assert letter.pdf_status == PdfStatus.PENDING
