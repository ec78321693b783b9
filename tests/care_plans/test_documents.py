"""The printable PPCS: context, PDF/A-1b text and markers, identity on every page, endpoint.

`build_plan` is shared with test_fhir.py: a qualified patient, a team of three, a published
version with every action status, and the GP's validation.
"""

from __future__ import annotations

import gc
import re
import zlib
from dataclasses import dataclass
from datetime import date
from io import BytesIO

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from ptap.accounts import services as account_services
from ptap.accounts.models import User
from ptap.audit.context import request_context
from ptap.audit.models import AuditEvent
from ptap.audit.services import SYSTEM
from ptap.care_plans import services
from ptap.care_plans.content import (
    Action,
    ActionStatus,
    Objective,
    PlanContent,
    Problem,
    UnmetObjective,
)
from ptap.care_plans.documents import (
    load_sources,
    render_version_pdf,
    version_document,
)
from ptap.care_plans.models import CarePlan, CarePlanVersion
from ptap.care_teams.models import Enrolment, Patient, PatientContact
from ptap.core.pdf import gc_paused
from ptap.extensions import db as _db
from tests.factories import add_member, make_patient, make_team, make_user, valid_rpps

SECTIONS = (
    "1. Informations générales",
    "2. Synthèse",
    "Problèmes et besoins, par dimension",
    "Attentes et préférences de la personne",
    "3. Plan d'action",
    "4. Objectifs partagés non atteints",
    "Validation et accord",
)


@dataclass
class PlanWorld:
    """A published plan and the people around it."""

    coord: User
    gp: User
    kine: User
    outsider: User
    patient: Patient
    plan: CarePlan
    version: CarePlanVersion


def sample_content(coord: User, gp: User, kine: User, extra_actions: int = 0) -> PlanContent:
    """A plan with a problem per dimension but one, every action status and an unmet goal."""
    falls = Problem(dimension="medical", description="Chutes répétées à domicile", priority="high")
    mood = Problem(dimension="psychological", description="Humeur triste depuis un deuil")
    alone = Problem(dimension="social", description="Isolement, vit seule", priority="low")
    actions = [
        Action(what="Bilan de kinésithérapie", assignee_user_id=kine.id, due_on=date(2026, 2, 1)),
        Action(
            what="Adapter le traitement diurétique",
            action_type="assessment",
            assignee_user_id=gp.id,
            status="in_progress",
        ),
        Action(
            what="Installer une téléassistance",
            action_type="equipment",
            assignee_label="CCAS de Lyon",
            status="done",
        ),
        Action(what="Atelier équilibre", action_type="education", status="cancelled"),
        Action(
            what="Portage des repas",
            action_type="social_support",
            status="not_achieved",
            not_achieved_reason="Refus de la personne",
        ),
    ]
    actions += [
        Action(
            what=f"Séance de rééducation numéro {n}",
            assignee_user_id=kine.id,
            due_on=date(2026, 3, 1 + n % 28),
        )
        for n in range(1, extra_actions + 1)
    ]
    return PlanContent(
        lead_user_id=coord.id,
        problems=[falls, mood, alone],
        expectations="Rester chez elle.",
        preferences="Visites le matin.",
        objectives=[
            Objective(title="Prévenir les chutes", problem_keys=[falls.key], actions=actions[:4]),
            Objective(title="Rompre l'isolement", problem_keys=[alone.key], actions=actions[4:]),
        ],
        unmet_objectives=[
            UnmetObjective(objective="Reprendre la marche au parc", reason="Douleurs de hanche")
        ],
        next_review_on=date(2027, 6, 1),
    )


def build_plan(extra_actions: int = 0, **patient: object) -> PlanWorld:
    """Publish version 1 of a plan, validated by the GP; the patient has not agreed yet."""
    team = make_team("Croix-Rousse")
    coord = make_user(role="coordinator", profession="nurse", first_name="Claire")
    gp = make_user(profession="physician", rpps=valid_rpps(71), first_name="Paul")
    kine = make_user(profession="physiotherapist", rpps=valid_rpps(72), first_name="Lucie")
    add_member(team, coord, "coordinator")
    add_member(team, gp)
    add_member(team, kine)
    other_team = make_team("Vaise")
    outsider = make_user()
    add_member(other_team, outsider)
    traits = {
        "birth_name": "DUPONT",
        "search_birth_name": "DUPONT",
        "used_name": "MARTIN",
        "first_names": "Jeanne Marie",
        "gp_user_id": gp.id,
    }
    person = make_patient(team, coord, **(traits | patient))
    _db.session.add(
        PatientContact(patient_id=person.id, kind="caregiver", name="Pierre Dupont", phone="0612")
    )
    enrolment = _db.session.scalars(
        sa.select(Enrolment).where(Enrolment.patient_id == person.id)
    ).one()
    plan = services.create_plan(coord, enrolment, SYSTEM)
    content = sample_content(coord, gp, kine, extra_actions)
    services.save_draft(coord, plan, content, plan.draft_revision, SYSTEM)
    version = services.publish_version(coord, plan, "Première version", SYSTEM)
    assert version is not None
    services.record_approval(gp, plan, "gp_validation", "in_person", "", SYSTEM)
    _db.session.flush()
    return PlanWorld(coord, gp, kine, outsider, person, plan, version)


def pages_text(pdf: bytes) -> list[str]:
    """The text of each page, whitespace collapsed."""
    return [" ".join(page.extract_text().split()) for page in PdfReader(BytesIO(pdf)).pages]


def inflated(pdf: bytes) -> bytes:
    """The PDF with every Flate stream decompressed."""
    parts = [pdf]
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        try:
            parts.append(zlib.decompress(raw))
        except zlib.error:
            continue
    return b"\n".join(parts)


def headers(user: User) -> dict[str, str]:
    _, plaintext = account_services.create_api_token(
        user, "t", ["api:read"], 30, request_context(user)
    )
    return {"Authorization": f"Bearer {plaintext}"}


@pytest.fixture
def world(db) -> PlanWorld:
    return build_plan()


# --- context -----------------------------------------------------------------------------------


def test_context_holds_identity_labels_and_names(world):
    doc = version_document(load_sources(world.version))
    patient = doc["patient"]
    assert patient["birth_name"] == "DUPONT"
    assert patient["used_name"] == "MARTIN"
    assert patient["qualified"] is True
    assert re.fullmatch(r"\d \d{2} \d{2} \d{2} \d{3} \d{3} \d{2}", patient["ins"])
    assert patient["ins_nature"] == "NIR de test"
    assert doc["version"]["number"] == 1
    assert doc["general"]["gp"] == world.gp.full_name
    assert doc["general"]["lead"].startswith(world.coord.full_name)
    assert [d.label for d in doc["dimensions"]] == [
        "Médical",
        "Psychologique",
        "Social",
        "Environnemental",
    ]
    assert doc["dimensions"][3].problems == []
    actions = doc["objectives"][0].actions
    assert actions[0].who == f"{world.kine.full_name} (Masseur-kinésithérapeute)"
    assert actions[0].when == "01/02/2026"
    assert actions[1].when == "Sans échéance"
    assert actions[2].who == "CCAS de Lyon"
    assert actions[3].who == "Non attribuée"
    assert [a.status for a in actions] == ["Prévue", "En cours", "Réalisée", "Annulée"]
    assert doc["objectives"][1].actions[0].reason == "Refus de la personne"
    assert doc["objectives"][0].problems == ["Chutes répétées à domicile"]
    approvals = {a["label"]: a for a in doc["approvals"]}
    assert approvals["Validation par le médecin"]["by"] == world.gp.full_name
    assert approvals["Accord de la personne"]["recorded"] is False


def test_context_hides_the_ins_of_an_identity_not_qualified(db):
    world = build_plan(status="provisional", identity_check_method="")
    patient = version_document(load_sources(world.version))["patient"]
    assert patient["qualified"] is False
    assert patient["ins"] == ""
    assert patient["identity_status"] == "Identité provisoire"


def test_context_of_a_replaced_version_says_so(world):
    content = load_sources(world.version).content
    content.objectives[0].actions[0].status = ActionStatus.DONE
    services.save_draft(world.coord, world.plan, content, world.plan.draft_revision, SYSTEM)
    assert services.publish_version(world.coord, world.plan, "Suivi", SYSTEM) is not None
    doc = version_document(load_sources(world.version))
    assert doc["version"]["is_current"] is False
    assert doc["plan_status"] == "Version remplacée par une plus récente"
    text = " ".join(pages_text(render_version_pdf(world.version)))
    assert "Cette version a été remplacée par une version plus récente du plan." in text


# --- PDF -----------------------------------------------------------------------------------------


def test_pdf_has_identity_sections_actions_and_version(world):
    pdf = render_version_pdf(world.version)
    text = " ".join(pages_text(pdf))
    ins = version_document(load_sources(world.version))["patient"]["ins"]
    for expected in ("DUPONT", "MARTIN", "Jeanne Marie", ins, "NIR de test", "12/05/1940"):
        assert expected in text, expected
    for title in SECTIONS:
        assert title in text, title
    for _, action in load_sources(world.version).content.actions():
        assert action.what in text, action.what
    assert "Motif : Refus de la personne" in text
    assert "Reprendre la marche au parc" in text
    assert "Douleurs de hanche" in text
    assert "version 1 du" in text
    assert "Non recueilli à ce jour" in text  # "l'accord" is masculine
    assert "Validée par le médecin, en attente de l'accord de la personne" in text


def test_pdf_repeats_the_identity_on_every_page_of_a_long_plan(db):
    world = build_plan(extra_actions=40)
    ins = version_document(load_sources(world.version))["patient"]["ins"]
    pages = pages_text(render_version_pdf(world.version))
    assert len(pages) >= 3
    for number, text in enumerate(pages, start=1):
        assert "DUPONT Jeanne Marie" in text, number
        assert f"INS {ins}" in text, number
        assert "Née le 12/05/1940" in text, number
        assert "PPCS · version 1 du" in text, number
        assert f"Page {number} / {len(pages)}" in text, number
    text = " ".join(pages)
    assert all(f"Séance de rééducation numéro {n}" in text for n in range(1, 41))


def test_pdf_is_pdfa_1b_with_embedded_fonts(world):
    pdf = render_version_pdf(world.version)
    assert pdf.startswith(b"%PDF-1.4")  # PDF/A-1 is PDF 1.4: no object streams
    content = inflated(pdf)
    assert b'pdfaid:part="1"' in content
    assert b'pdfaid:conformance="B"' in content
    assert b"/GTS_PDFA1" in content  # the output intent
    assert b"/FontFile" in content
    assert b"/ObjStm" not in content
    assert b"/SMask" not in content  # no transparency
    reader = PdfReader(BytesIO(pdf))
    fonts = {
        font.get_object()["/BaseFont"]
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert fonts and all("DejaVu" in str(name) for name in fonts)


def test_render_leaves_the_garbage_collector_as_it_found_it(world):
    assert gc.isenabled()
    render_version_pdf(world.version)
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_pdf_of_an_identity_not_qualified_shows_no_ins(db):
    world = build_plan(status="provisional", identity_check_method="")
    text = " ".join(pages_text(render_version_pdf(world.version)))
    assert world.patient.ins_matricule
    assert "INS non utilisable" in text
    assert "NIR de test" not in text


# --- endpoint ------------------------------------------------------------------------------------


def pdf_url(world: PlanWorld, number: int = 1) -> str:
    return f"/api/v1/patients/{world.patient.id}/care-plan/versions/{number}.pdf"


def test_member_downloads_the_pdf_and_the_read_is_audited(client, world):
    response = client.get(pdf_url(world), headers=headers(world.kine))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="ppcs-{world.patient.id}-v1.pdf"'
    assert response.data.startswith(b"%PDF-1.4")
    read = _db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "patient.read",
            AuditEvent.actor_id == world.kine.id,
            AuditEvent.patient_id == world.patient.id,
        )
    ).all()
    assert [e.reason for e in read] == ["member: care_plan"]


def test_pdf_download_works_with_the_web_session(client, auth, world):
    auth.login(world.gp)
    response = client.get(pdf_url(world))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"


def test_outsider_gets_404_without_patient_data(client, world):
    response = client.get(pdf_url(world), headers=headers(world.outsider))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert "DUPONT" not in response.get_data(as_text=True)


def test_unknown_version_is_404(client, world):
    response = client.get(pdf_url(world, 2), headers=headers(world.kine))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    ("role", "profession"), [("admin", "administrative"), ("ars_analyst", "public_health")]
)
def test_admin_and_analyst_are_refused(client, world, role, profession):
    user = make_user(role=role, profession=profession)
    response = client.get(pdf_url(world), headers=headers(user))
    assert response.status_code == 403
    assert "DUPONT" not in response.get_data(as_text=True)


def test_patient_without_a_plan_is_404(client, world):
    team = make_team("Sans plan")
    add_member(team, world.coord, "coordinator")
    other = make_patient(team, world.coord)
    response = client.get(
        f"/api/v1/patients/{other.id}/care-plan/versions/1.pdf", headers=headers(world.coord)
    )
    assert response.status_code == 404
    assert "Aucun plan personnalisé" in response.json["detail"]
