"""Identity vigilance buttons: "Interroger INSi", "Contrôle de la pièce d'identité", unmerge.

Each posts one button or choice and redirects with a French message: they re-render no page.
The INSi call is synchronous; the connector's timeout (INSI_TIMEOUT_SECONDS) bounds it.
"""

from __future__ import annotations

from flask import flash, redirect, url_for

from ptap.audit.context import request_context
from ptap.care_teams import qualification
from ptap.care_teams.forms import DocumentCheckForm, InsiForm
from ptap.care_teams.forms_circle import ButtonForm
from ptap.care_teams.insi import InsiCode, InsiError, identity_service
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.merges import unmerge_records
from ptap.care_teams.models import PatientMerge
from ptap.care_teams.views import bp
from ptap.care_teams.views.helpers import acting_user
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, InvalidInput
from ptap.core.policy import requires
from ptap.extensions import db


def _to_identity_page(patient_id: int):
    return redirect(url_for("care_teams.edit_identity", patient_id=patient_id))


@bp.post("/patients/<int:patient_id>/identity/insi")
@requires("patients.list")
def query_insi(patient_id: int):
    patient = load_patient(patient_id, "patient.manage")
    form = InsiForm()
    if not form.validate_on_submit():
        flash("Opération INSi inconnue : recherche ou vérification.", "error")
        return _to_identity_page(patient.id)
    outcome = run_action(
        lambda: qualification.query_insi(
            acting_user(), patient, identity_service(), form.op.data, request_context()
        ),
        catch=(InsiError, InvalidInput, Conflict),
    )
    if not outcome.ok:
        flash(outcome.failure.message, "error")
    else:
        result = outcome.value
        found = result.answer.code == InsiCode.FOUND
        flash(result.message, "success" if found else "warning")
    return _to_identity_page(patient.id)


@bp.post("/patients/<int:patient_id>/identity/document-check")
@requires("patients.list")
def check_identity_document(patient_id: int):
    patient = load_patient(patient_id, "patient.manage")
    form = DocumentCheckForm()
    if not form.validate_on_submit():
        flash("Choisissez la pièce d'identité vérifiée.", "error")
        return _to_identity_page(patient.id)
    outcome = run_action(
        lambda: qualification.record_document_check(
            acting_user(), patient, form.document_type.data or "", request_context()
        ),
        catch=(InvalidInput,),
        success="Contrôle de la pièce d'identité enregistré.",
    )
    if not outcome.ok:
        flash(outcome.failure.message, "error")
    return _to_identity_page(patient.id)


@bp.post("/duplicates/merges/<int:merge_id>/undo")
@requires("duplicates.review")
def unmerge(merge_id: int):
    merge = db.get_or_404(PatientMerge, merge_id)
    if ButtonForm().validate_on_submit():
        outcome = run_action(
            lambda: unmerge_records(acting_user(), merge, request_context()),
            catch=(Conflict,),
            success="Fusion annulée : les deux fiches et leurs liens sont rétablis.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    return redirect(url_for("care_teams.list_duplicates"))
