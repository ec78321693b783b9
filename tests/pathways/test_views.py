"""Pathway pages: library search, the no-JavaScript editor, preview, start, stop, timeline."""

from __future__ import annotations

import sqlalchemy as sa

from ptap.pathways import services
from ptap.pathways.models import PathwayTemplate, PatientPathway
from tests.care_plans.test_services import build_world, open_plan
from tests.conftest import csrf_token
from tests.pathways.helpers import heart_failure


def _world(db):
    w = build_world()
    open_plan(w)
    template = services.create_template(w.coord, heart_failure(), team=w.team)
    services.publish_template(w.coord, template)
    db.session.commit()
    return w, template


def _editor_form(client, template_id):
    page = client.get(f"/pathway-templates/{template_id}")
    assert page.status_code == 200
    return page


def test_library_search_and_editor_reorders_and_saves(client, auth, db):
    w, template = _world(db)
    auth.login(w.coord)
    page = client.get("/pathway-templates?q=cardiaque")
    assert "Insuffisance cardiaque : retour à domicile" in page.text
    assert "Insuffisance" not in client.get("/pathway-templates?q=palliatif").text.split("<h2")[2]
    page = _editor_form(client, template.id)
    assert "↓ Descendre" in page.text
    assert "pathway_steps.js" in page.text
    form = {
        "csrf_token": csrf_token(client, f"/pathway-templates/{template.id}"),
        "step_count": "2",
        "title": "IC retour à domicile",
        "theme": "Insuffisance cardiaque",
        "steps-0-key": "s1",
        "steps-0-title": "Consultation de sortie",
        "steps-0-offset_days": "7",
        "steps-0-offset_from": "start",
        "steps-0-actions": "Stabiliser | Consultation | Médecin",
        "steps-1-key": "s2",
        "steps-1-title": "Surveillance",
        "steps-1-offset_days": "14",
        "steps-1-offset_from": "previous",
        "steps-1-actions": "Surveiller | Pesée | infirmier",
        "op": "down-0",
    }
    moved = client.post(f"/pathway-templates/{template.id}", data=form)
    assert moved.text.index('value="Surveillance"') < moved.text.index(
        'value="Consultation de sortie"'
    )
    form["op"] = "publish"
    saved = client.post(f"/pathway-templates/{template.id}", data=form)
    assert saved.status_code == 302
    db.session.expire_all()
    stored = db.session.get(PathwayTemplate, template.id)
    assert stored.title == "IC retour à domicile"
    assert stored.current_version.number == 2
    assert stored.draft["steps"][1]["objectives"][0]["actions"][0]["profession"] == "nurse"


def test_editor_refuses_negative_offset_with_the_field_named(client, auth, db):
    w, template = _world(db)
    auth.login(w.coord)
    _editor_form(client, template.id)
    answer = client.post(
        f"/pathway-templates/{template.id}",
        data={
            "csrf_token": csrf_token(client, f"/pathway-templates/{template.id}"),
            "step_count": "1",
            "title": "X",
            "steps-0-title": "Étape",
            "steps-0-offset_days": "-4",
            "steps-0-actions": "Objectif | Action | plombier",
            "op": "save",
        },
    )
    assert answer.status_code == 422
    assert "ne peut pas être négatif" in answer.text
    assert 'href="#steps-0-offset_days"' in answer.text
    assert 'value="-4"' in answer.text  # the input is kept
    db.session.expire_all()
    assert db.session.get(PathwayTemplate, template.id).title != "X"


def test_member_sees_template_read_only(client, auth, db):
    w, template = _world(db)
    auth.login(w.nurse)
    page = _editor_form(client, template.id)
    assert "Enregistrer le brouillon" not in page.text
    answer = client.post(
        f"/pathway-templates/{template.id}",
        data={
            "csrf_token": csrf_token(client, f"/pathway-templates/{template.id}"),
            "step_count": "0",
            "title": "Y",
            "op": "save",
        },
    )
    assert answer.status_code == 422
    db.session.expire_all()
    assert db.session.get(PathwayTemplate, template.id).title != "Y"


def test_patient_page_preview_start_and_stop(client, auth, db):
    w, template = _world(db)
    auth.login(w.nurse)
    page = client.get(f"/patients/{w.patient.id}/pathways")
    assert page.status_code == 200
    assert "aucun parcours type" in page.text
    token = csrf_token(client, f"/patients/{w.patient.id}/pathways")
    url = f"/patients/{w.patient.id}/pathways"
    data = {"csrf_token": token, "template_id": str(template.id), "started_on": "2026-03-02"}
    preview = client.post(url, data=data | {"op": "preview"})
    assert "Ce que le parcours ajoutera" in preview.text
    assert "À choisir" in preview.text
    assert db.session.scalar(sa.select(sa.func.count(PatientPathway.id))) == 0
    started = client.post(url, data=data | {"op": "start"})
    assert started.status_code == 302
    page = client.get(url)
    assert "Consultation de sortie" in page.text
    assert "prévue le 09/03/2026" in page.text
    pathway = db.session.scalar(sa.select(PatientPathway))
    refused = client.post(f"{url}/{pathway.id}/stop", data={"csrf_token": token})
    assert refused.status_code == 422
    assert "conservées ou annulées" in refused.text
    stopped = client.post(
        f"{url}/{pathway.id}/stop", data={"csrf_token": token, "open_actions": "keep"}
    )
    assert stopped.status_code == 302
    db.session.expire_all()
    assert db.session.get(PatientPathway, pathway.id).stopped_at is not None


def test_outsider_gets_404_on_patient_pathways(client, auth, db):
    w, _ = _world(db)
    auth.login(w.outsider)
    assert client.get(f"/patients/{w.patient.id}/pathways").status_code == 404
