"""Letters: filled from the record, consent, edit, sign (author with RPPS), read-only once
signed, PDF/A in the job, one DMP filing whose CDA passes the CI-SIS validators, MSSanté."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM
from ptap.care_plans import services as plan_services
from ptap.care_plans.content import Action, Objective, PlanContent
from ptap.care_teams import circle
from ptap.care_teams.models import Enrolment
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from ptap.dmp_bridge import DmpSubmission, DocumentKind
from ptap.dmp_bridge.cda import build_cda
from ptap.dmp_bridge.conformance import validate_cda
from ptap.dmp_bridge.ports import FilingIds
from ptap.letters import queries, services
from ptap.letters.documents import letter_document
from ptap.letters.models import Letter, LetterSending, LetterStatus, PdfStatus
from ptap.letters.services import TemplateData
from ptap.letters.tasks import process_letters
from tests.factories import make_user
from tests.letters.conftest import ctx


def publish_plan(db, w) -> None:
    enrolment = db.session.scalars(
        sa.select(Enrolment).where(Enrolment.patient_id == w.patient.id)
    ).one()
    plan = plan_services.create_plan(w.coord, enrolment, SYSTEM)
    content = PlanContent(
        lead_user_id=w.coord.id,
        objectives=[
            Objective(
                key="o1",
                title="Prévenir les chutes",
                actions=[Action(key="a1", what="Bilan kiné", assignee_label="Cabinet Kiné Lyon")],
            )
        ],
        next_review_on=date(2027, 3, 1),
    )
    plan_services.save_draft(w.coord, plan, content, plan.draft_revision, SYSTEM)
    plan_services.publish_version(w.coord, plan, "Première version", SYSTEM)


def write(w, user=None) -> Letter:
    user = user or w.physician
    return services.create_letter(user, w.patient, w.template, "Dr Martin", ctx(user))


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_letter_is_filled_from_the_patient_record(db, world):
    publish_plan(db, world)
    letter = write(world)
    assert letter.status == LetterStatus.DRAFT
    assert letter.subject == f"Adressage de {world.patient.birth_name}"
    assert f"Jeanne {world.patient.birth_name}, née le 12/05/1940" in letter.body
    assert "Médecin traitant : Paul Durand." in letter.body
    assert "Plan en vigueur (version 1)" in letter.body
    assert "- Prévenir les chutes / Bilan kiné (Cabinet Kiné Lyon)" in letter.body
    assert world.nurse.full_name in letter.body
    assert letter.body.rstrip().endswith(world.physician.full_name)
    audit = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.object_type == "letter")
    ).all()
    assert audit == ["letter.create"]


def test_a_letter_is_refused_when_consent_forbids_sharing(db, world):
    # The factory's consent is stamped with the clock's time: the withdrawal comes after it.
    with clock.frozen(clock.now() + timedelta(hours=1)):
        circle.record_consent(world.coord, world.patient, "sharing", False, "oral", "", SYSTEM)
    assert not world.patient.sharing_consent
    with pytest.raises(InvalidInput) as error:
        write(world, world.coord)
    assert error.value.field == "patient_id"
    assert "refusé ou retiré son consentement" in error.value.message
    assert count(db, Letter) == 0


def test_only_members_of_a_team_following_the_patient_write_letters(db, world):
    analyst = make_user(role="ars_analyst", profession="public_health")
    for user in (world.outsider, analyst):
        with pytest.raises(PermissionDenied):
            write(world, user)
    assert count(db, Letter) == 0


def test_only_the_author_edits_and_a_signed_letter_is_read_only(db, world):
    letter = write(world)
    with pytest.raises(PermissionDenied):
        services.edit_letter(
            world.nurse, letter, subject="X", body="Y", addressee="", ctx=ctx(world.nurse)
        )
    services.edit_letter(
        world.physician,
        letter,
        subject="Adressage",
        body="Texte relu.",
        addressee="Dr Martin",
        ctx=ctx(world.physician),
    )
    assert letter.status == LetterStatus.EDITED and letter.body == "Texte relu."
    with pytest.raises(InvalidInput) as error:
        services.edit_letter(
            world.physician, letter, subject="", body="x", addressee="", ctx=ctx(world.physician)
        )
    assert error.value.field == "subject"
    services.sign_letter(world.physician, letter, ctx(world.physician))
    with pytest.raises(Conflict):
        services.edit_letter(
            world.physician, letter, subject="A", body="B", addressee="", ctx=ctx(world.physician)
        )
    with pytest.raises(Conflict):
        services.sign_letter(world.physician, letter, ctx(world.physician))
    assert letter.body == "Texte relu."


def test_only_its_author_with_an_rpps_signs(db, world):
    by_nurse = write(world, world.nurse)  # a nurse without RPPS
    with pytest.raises(InvalidInput) as error:
        services.sign_letter(world.nurse, by_nurse, ctx(world.nurse))
    assert error.value.field == "rpps"
    by_physician = write(world)
    with pytest.raises(PermissionDenied):
        services.sign_letter(world.nurse, by_physician, ctx(world.nurse))
    with pytest.raises(PermissionDenied):
        services.sign_letter(world.outsider, by_physician, ctx(world.outsider))
    assert by_nurse.status == by_physician.status == LetterStatus.DRAFT
    assert by_nurse.signed_at is None


def test_the_pdf_is_rendered_by_the_job_not_at_signature(db, world):
    letter = write(world)
    services.sign_letter(world.physician, letter, ctx(world.physician))
    db.session.commit()
    assert letter.pdf is None and letter.pdf_status == PdfStatus.PENDING
    assert process_letters() == 1
    db.session.refresh(letter)
    assert letter.pdf_status == PdfStatus.READY
    assert letter.pdf is not None and letter.pdf.startswith(b"%PDF-")
    assert process_letters() == 0


def test_a_signed_letter_is_filed_once_and_its_cda_is_valid(db, world, app):
    app.config["DMP_ENABLED"] = True
    letter = write(world)
    with pytest.raises(Conflict):  # not signed yet
        services.request_letter_filing(world.physician, letter, ctx(world.physician))
    services.sign_letter(world.physician, letter, ctx(world.physician))
    services.request_letter_filing(world.physician, letter, ctx(world.physician))
    db.session.commit()
    assert count(db, DmpSubmission) == 0  # nothing before the PDF exists
    with pytest.raises(Conflict):
        services.request_letter_filing(world.coord, letter, ctx(world.coord))
    db.session.rollback()
    process_letters()
    process_letters()
    rows = db.session.scalars(sa.select(DmpSubmission)).all()
    assert len(rows) == 1
    assert (
        rows[0].kind == DocumentKind.REFERRAL_LETTER and rows[0].source_ref == f"letter:{letter.id}"
    )
    db.session.refresh(letter)
    assert letter.dmp_submission_id == rows[0].id
    document = letter_document(letter.id, True)
    assert document.pdf == letter.pdf
    ids = FilingIds(
        document_oid="1.2.250.1.999.1.1.1", set_oid="1.2.250.1.999.1.1.2", version_number=1
    )
    report = validate_cda(build_cda(document, ids))
    assert report.ok, [getattr(e, "message", e) for e in report.errors]


def test_a_home_assessment_is_filed_as_a_visit_report(db, world, app):
    app.config["DMP_ENABLED"] = True
    template = services.create_template(
        world.coord,
        world.team,
        TemplateData(
            "Évaluation", "Évaluation", "Évaluation de {{ patient.nom }}.", "home_assessment"
        ),
        ctx(world.coord),
    )
    letter = services.create_letter(
        world.physician, world.patient, template, "", ctx(world.physician)
    )
    services.sign_letter(world.physician, letter, ctx(world.physician))
    db.session.commit()
    process_letters()
    document = letter_document(letter.id, True)
    assert document.kind == DocumentKind.VISIT_REPORT
    ids = FilingIds(
        document_oid="1.2.250.1.999.1.2.1", set_oid="1.2.250.1.999.1.2.2", version_number=1
    )
    report = validate_cda(build_cda(document, ids))
    assert report.ok, [getattr(e, "message", e) for e in report.errors]


def test_sending_by_mssante_queues_the_pdf_and_the_xdm_once_the_pdf_is_ready(db, world, outbox):
    letter = write(world)
    services.sign_letter(world.physician, letter, ctx(world.physician))
    with pytest.raises(InvalidInput) as error:
        services.send_letter(world.physician, letter, "pas-une-adresse", ctx(world.physician))
    assert error.value.field == "to"
    services.send_letter(
        world.physician, letter, "dr.martin@medecin.mssante.fr", ctx(world.physician)
    )
    with pytest.raises(Conflict):
        services.send_letter(
            world.physician, letter, "dr.martin@medecin.mssante.fr", ctx(world.physician)
        )
    db.session.commit()
    assert outbox == []
    (row,) = queries.sendings(letter.id)
    assert not row.queued
    process_letters()
    assert len(outbox) == 1
    sent = outbox[0]
    assert sent["to"] == "dr.martin@medecin.mssante.fr" and sent["kind"] == "mssante"
    names = [a.filename for a in sent["attachments"]]
    assert names == [f"lettre-{letter.id}.pdf", "IHE_XDM.ZIP"]
    assert sent["attachments"][0].data.startswith(b"%PDF-")
    (row,) = queries.sendings(letter.id)
    assert row.queued and row.mail_status == "pending"
    process_letters()
    assert len(outbox) == 1
    assert count(db, LetterSending) == 1


def test_an_unsigned_letter_is_neither_sent_nor_filed(db, world, outbox, app):
    app.config["DMP_ENABLED"] = True
    letter = write(world)
    with pytest.raises(Conflict):
        services.send_letter(
            world.physician, letter, "dr.martin@medecin.mssante.fr", ctx(world.physician)
        )
    with pytest.raises(Conflict):
        services.request_letter_filing(world.physician, letter, ctx(world.physician))


def test_the_last_concertation_decisions_fill_the_letter(db, world):
    from ptap.meetings.models import Meeting, MeetingAgendaItem, MeetingDecision

    meeting = Meeting(
        team_id=world.team.id,
        title="Concertation de novembre",
        starts_at=datetime(2026, 11, 20, 13, 0, tzinfo=UTC),
        chair_id=world.coord.id,
        secretary_id=world.coord.id,
        status="closed",
        created_by_id=world.coord.id,
    )
    db.session.add(meeting)
    db.session.flush()
    item = MeetingAgendaItem(
        meeting_id=meeting.id, patient_id=world.patient.id, summary="Stable.", status="discussed"
    )
    db.session.add(item)
    db.session.flush()
    db.session.add(
        MeetingDecision(
            item_id=item.id,
            position=0,
            kind="add_objective",
            payload={"title": "Soutenir l'aidant"},
            recorded_by_id=world.coord.id,
        )
    )
    db.session.flush()
    letter = write(world)
    assert "Concertation du 20/11/2026 :" in letter.body
    assert "* " in letter.body and "Soutenir l'aidant" in letter.body
