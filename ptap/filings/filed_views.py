"""Pages of the DMP documents filed into the coordination file: file one (from a DMP
document's page), read a copy (its provenance, its content), remove one (coordinators).

Routes live on the filings blueprint. Each view loads the patient through need-to-know
(an outsider gets the audited 404), calls one service, commits, then renders or redirects.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from ptap.accounts.sessions import authenticated_with_psc, psc_waived
from ptap.audit.context import request_context
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import Patient
from ptap.core.errors import Conflict, InvalidInput, NotFound, RuleDenied
from ptap.core.policy import can, requires
from ptap.extensions import db
from ptap.filings import consultation, filed, present, queries
from ptap.filings.forms import FileDmpDocumentForm, RemoveFiledForm
from ptap.filings.models import FiledDmpDocument
from ptap.filings.views import bp

NOT_FOUND = "Document introuvable dans le dossier de coordination (ou retiré)."


def _user() -> Any:
    return current_user._get_current_object()


def load_filed(patient: Patient, filed_id: int) -> FiledDmpDocument:
    """A live filed copy of this patient, or NotFound."""
    doc = queries.find_filed(patient.id, filed_id)
    if doc is None or doc.removed_at is not None:
        raise NotFound(NOT_FOUND)
    return doc


def filed_url(patient_id: int, filed_id: int) -> str:
    return url_for("filings.filed_document", patient_id=patient_id, filed_id=filed_id)


@bp.post("/patients/<int:patient_id>/dmp/documents/<unique_id>/file")
@requires("patients.list")
def file_dmp_document(patient_id: int, unique_id: str):
    patient = load_patient(patient_id, what="dmp")
    db.session.commit()
    back = url_for("filings.dmp_document", patient_id=patient.id, unique_id=unique_id)
    if not FileDmpDocumentForm().validate_on_submit():
        flash("Le formulaire a expiré : réessayez.", "error")
        return redirect(back)
    try:
        doc = filed.file_dmp_document(
            _user(),
            patient,
            unique_id[:128],
            request_context(),
            psc=authenticated_with_psc() or psc_waived(),
        )
    except filed.AlreadyFiled as exc:
        db.session.commit()  # keep the audited consultation
        flash(exc.message, "warning")
        if exc.existing_id is not None:
            return redirect(filed_url(patient.id, exc.existing_id))
        return redirect(back)
    except (RuleDenied, NotFound, consultation.DmpConsultationFailed) as exc:
        db.session.commit()  # keep the audited refusal or failure
        flash(exc.message, "error")
        return redirect(back)
    db.session.commit()
    flash(f"« {doc.title} » est versé au dossier de coordination, avec sa provenance.", "success")
    return redirect(filed_url(patient.id, doc.id))


def _render_filed(patient: Patient, doc: FiledDmpDocument, form: RemoveFiledForm | None = None):
    content = filed.read_filed_document(_user(), patient, doc, request_context())
    db.session.commit()  # the audited read
    page = present.filed_page(_user(), patient, content, form)
    return render_template(
        "filings/filed_document.html",
        patient=patient,
        active_tab="record",
        page=page,
        # The stylesheet copies only narrative text, lists and tables, escaped (consult.py).
        narrative=Markup(content.view.html) if content.view.html else "",  # noqa: S704
    ), (422 if form is not None and form.errors else 200)


@bp.get("/patients/<int:patient_id>/dmp/filed/<int:filed_id>")
@requires("patients.list")
def filed_document(patient_id: int, filed_id: int):
    patient = load_patient(patient_id, what="dmp")
    doc = load_filed(patient, filed_id)
    return _render_filed(patient, doc)


@bp.get("/patients/<int:patient_id>/dmp/filed/<int:filed_id>/content")
@requires("patients.list")
def filed_document_content(patient_id: int, filed_id: int):
    patient = load_patient(patient_id, what="dmp")
    doc = load_filed(patient, filed_id)
    content = filed.read_filed_document(_user(), patient, doc, request_context())
    db.session.commit()
    return present.filed_response(content, download=request.args.get("download") == "1")


@bp.post("/patients/<int:patient_id>/dmp/filed/<int:filed_id>/remove")
@requires("patients.list")
def remove_filed_document(patient_id: int, filed_id: int):
    patient = load_patient(patient_id, what="dmp")
    doc = load_filed(patient, filed_id)
    form = RemoveFiledForm()
    if form.validate_on_submit():
        try:
            filed.remove_filed_document(
                _user(), patient, doc, form.reason.data or "", request_context()
            )
        except (RuleDenied, Conflict) as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return redirect(filed_url(patient.id, doc.id))
        except InvalidInput as exc:
            db.session.rollback()
            form.reason.errors = [*form.reason.errors, exc.message]
        else:
            db.session.commit()
            flash(f"« {doc.title} » est retiré du dossier de coordination.", "success")
            return redirect(url_for("filings.patient_filings", patient_id=patient.id))
    if not can(_user(), "dmp_filed.remove", patient):
        flash(filed.REMOVE_REFUSED, "error")
        return redirect(filed_url(patient.id, doc.id))
    db.session.rollback()
    patient = load_patient(patient_id, what="dmp")
    return _render_filed(patient, load_filed(patient, filed_id), form)
