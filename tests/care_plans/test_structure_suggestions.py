"""The plan editor suggests the circle's outside services for an action's "structure" field."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from ptap.audit.services import SYSTEM, AuditContext
from ptap.care_plans import services
from ptap.care_plans.content import Objective, PlanContent, Problem
from ptap.care_teams import circle_structures as cs
from ptap.care_teams.models import Enrolment


def test_plan_editor_offers_the_circles_structures_as_suggestions(db, client, auth, org):
    enrolment = db.session.scalars(sa.select(Enrolment).filter_by(patient_id=org.patient.id)).one()
    plan = services.create_plan(org.coord, enrolment, SYSTEM)
    content = PlanContent(
        lead_user_id=org.coord.id,
        problems=[Problem(key="pb1", dimension="medical", description="Chutes")],
        objectives=[Objective(key="obj1", title="Rester à domicile", problem_keys=["pb1"])],
        next_review_on=date(2030, 6, 1),
    )
    services.save_draft(org.coord, plan, content, plan.draft_revision, SYSTEM)
    audit = AuditContext(actor_id=org.coord.id, actor_label="t")
    for kind, name in (("ssiad", "SSIAD Croix-Rousse"), ("ccas", "CCAS de Lyon 4e")):
        cs.add_circle_structure(
            org.coord, org.patient, cs.StructureData(kind=kind, name=name), audit
        )
    ended = cs.add_circle_structure(
        org.coord, org.patient, cs.StructureData(kind="saad", name="Ancien SAAD"), audit
    )
    cs.end_circle_structure(org.coord, org.patient, ended, ended.started_on, audit)
    db.session.commit()
    auth.login(org.nurse)
    body = client.get(f"/patients/{org.patient.id}/care-plan").get_data(as_text=True)
    assert 'list="circle-structures"' in body
    datalist = body[body.index('<datalist id="circle-structures">') :]
    datalist = datalist[: datalist.index("</datalist>")]
    assert '<option value="CCAS de Lyon 4e">' in datalist
    assert '<option value="SSIAD Croix-Rousse">' in datalist
    assert "Ancien SAAD" not in datalist
    # The one-page editor, where actions are edited, offers them as well.
    response = client.get(f"/patients/{org.patient.id}/care-plan/edit")
    edit = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<datalist id="circle-structures">' in edit
    assert '<option value="SSIAD Croix-Rousse">' in edit and "Ancien SAAD" not in edit
