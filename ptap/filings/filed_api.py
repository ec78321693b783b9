"""JSON API of the DMP documents filed into the coordination file: file one (from the
patient's DMP, same rules as consulting it), list the copies, read one, remove one.

The patient is loaded through need-to-know (an outsider gets the audited 404); the services
check the rules again and audit every filing, read and removal.
"""

from __future__ import annotations

from flask import url_for
from flask_login import current_user

from ptap.accounts.sessions import authenticated_with_psc, psc_waived
from ptap.audit.context import request_context
from ptap.care_teams.loaders import load_patient
from ptap.core.api import Page, api_route, problem
from ptap.core.errors import NotFound, RuleDenied
from ptap.core.policy import require
from ptap.extensions import db
from ptap.filings import consultation, filed, queries
from ptap.filings.api import DMP_DOCS, FILINGS
from ptap.filings.filed_views import load_filed
from ptap.filings.responses import document_response
from ptap.filings.schemas import FiledDmpDocumentOut, FiledRemoval

FILED = "/patients/<int:patient_id>/dmp/filed-documents"


def _user():
    return current_user._get_current_object()


@api_route(
    f"{DMP_DOCS}/<unique_id>/file",
    "POST",
    summary="Verser un document du DMP au dossier de coordination (copie chiffrée, avec sa "
    "provenance) ; mêmes règles que la consultation du DMP ; 409 avec existing_id et "
    "existing_url s'il y est déjà ; 403 pour un document masqué aux professionnels",
    access="patients.list",
    response=FiledDmpDocumentOut,
    status=201,
    tags=FILINGS,
)
def file_patient_dmp_document(patient_id: int, unique_id: str):
    patient = load_patient(patient_id, what="dmp")
    db.session.commit()
    try:
        doc = filed.file_dmp_document(
            _user(),
            patient,
            unique_id[:128],
            request_context(),
            psc=authenticated_with_psc() or psc_waived(),
        )
    except filed.AlreadyFiled as exc:
        db.session.commit()
        extra = {}
        if exc.existing_id is not None:
            extra = {
                "existing_id": exc.existing_id,
                "existing_url": url_for(
                    "api.filings_get_filed_dmp_document_content",
                    patient_id=patient.id,
                    filed_id=exc.existing_id,
                ),
            }
        return problem(409, exc.title, exc.message, extra=extra)
    except (RuleDenied, NotFound, consultation.DmpConsultationFailed):
        db.session.commit()  # keep the audited refusal or failure
        raise
    db.session.commit()
    return FiledDmpDocumentOut.of(doc)


@api_route(
    FILED,
    summary="Les documents versés depuis le DMP au dossier de coordination de la personne "
    "(sans leur contenu), du plus récent au plus ancien",
    access="patients.list",
    response=FiledDmpDocumentOut,
    paginated=True,
    tags=FILINGS,
)
def list_filed_dmp_documents(patient_id: int):
    patient = load_patient(patient_id, what="dmp")
    require(_user(), "dmp_filed.view", patient)
    items = [FiledDmpDocumentOut.of(r.document) for r in queries.list_filed_documents(patient.id)]
    return Page(items, None, len(items))


@api_route(
    f"{FILED}/<int:filed_id>",
    summary="Le contenu d'une copie versée (PDF, CDA en application/xml ou autre format), en "
    "pièce jointe ; lecture tracée",
    access="patients.list",
    tags=FILINGS,
)
def get_filed_dmp_document_content(patient_id: int, filed_id: int):
    patient = load_patient(patient_id, what="dmp")
    doc = load_filed(patient, filed_id)
    content = filed.read_filed_document(_user(), patient, doc, request_context())
    db.session.commit()
    return document_response(doc.title, content.view, download=True)


@api_route(
    f"{FILED}/<int:filed_id>/remove",
    "POST",
    summary="Retirer une copie du dossier de coordination (coordinateurs de la personne), "
    "avec un motif ; la copie est supprimée, le retrait tracé",
    access="patients.list",
    body=FiledRemoval,
    response=FiledDmpDocumentOut,
    tags=FILINGS,
)
def remove_filed_dmp_document(patient_id: int, filed_id: int, body: FiledRemoval):
    patient = load_patient(patient_id, what="dmp")
    doc = load_filed(patient, filed_id)
    filed.remove_filed_document(_user(), patient, doc, body.reason, request_context())
    db.session.commit()
    return FiledDmpDocumentOut.of(doc)
