"""The version page links its exports (PDF/A and FHIR); the links work for the circle."""

from __future__ import annotations

from ptap.audit.services import SYSTEM
from ptap.care_plans import services
from tests.care_plans.test_views import make_plan, org, plan_url, text  # noqa: F401 - fixture


def test_version_page_links_the_pdf_and_the_fhir_export(db, client, auth, org):  # noqa: F811
    plan = make_plan(db, org)
    services.publish_version(org.coord, plan, "Première version", SYSTEM)
    db.session.commit()
    auth.login(org.nurse)
    body = text(client.get(plan_url(org, "/versions/1")))
    pdf = f"/api/v1/patients/{org.patient.id}/care-plan/versions/1.pdf"
    fhir = f"/api/v1/patients/{org.patient.id}/care-plan/versions/1/fhir"
    assert f'href="{pdf}"' in body and "Télécharger le PDF/A (version 1)" in body
    assert f'href="{fhir}"' in body and "Export FHIR R4" in body
    assert client.get(fhir).status_code == 200
    assert client.get(pdf).headers["Content-Type"] == "application/pdf"


def test_access_log_keeps_its_pdf_link(db, client, auth, org):  # noqa: F811
    auth.login(org.coord)
    body = text(client.get(f"/patients/{org.patient.id}/access-log"))
    assert "Télécharger le PDF à remettre à la personne" in body
