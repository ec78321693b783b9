"""The professionals' side: on the patient's record, the "Espace patient" tab (accounts,
pending invitations, last sign-in; invite, revoke, end access)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from ptap.accounts.forms import EmptyForm
from ptap.audit.context import request_context
from ptap.audit.models import Outcome
from ptap.audit.services import record_event
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import Patient
from ptap.core.errors import DomainError, NotFound
from ptap.core.forms import attach_error
from ptap.core.models import utcnow
from ptap.core.policy import requires
from ptap.extensions import db
from ptap.patient_space import auth, queries, services
from ptap.patient_space.forms import InvitationForm
from ptap.patient_space.models import PatientAccount, PatientInvitation
from ptap.patient_space.views import bp


def _render(patient: Patient, form: InvitationForm, status: int = 200, link: str = "") -> Any:
    return render_template(
        "patient_space/pro_accounts.html",
        patient=patient,
        active_tab="patient_space",
        form=form,
        accounts=queries.list_accounts(patient.id),
        invitations=queries.list_pending_invitations(patient.id, utcnow()),
        action_form=EmptyForm(),
        link_for_tests=link,
    ), status


@bp.get("/patients/<int:patient_id>/patient-space")
@requires("patients.list")
def patient_accounts(patient_id: int):
    patient = load_patient(patient_id, "patient_space.manage", what="patient space")
    db.session.commit()  # keep the audited read
    return _render(patient, InvitationForm(formdata=None))


@bp.post("/patients/<int:patient_id>/patient-space/invitations")
@requires("patients.list")
def invite(patient_id: int):
    patient = load_patient(patient_id, "patient_space.manage")
    form = InvitationForm()
    if not form.validate_on_submit():
        return _render(patient, form, 422)
    data = services.InvitationIn(
        email=form.email.data or "",
        display_name=form.display_name.data or "",
        relationship=form.relationship.data or "",
        rights=frozenset(form.rights.data or ()),
        legal_basis=form.legal_basis.data or "",
    )
    try:
        _, token = services.invite(
            current_user._get_current_object(), patient, data, request_context()
        )
    except DomainError as exc:
        db.session.rollback()
        # Bad input is audited too (nothing else is kept).
        record_event(
            request_context(),
            "patient_space.invite",
            outcome=Outcome.FAILURE,
            patient_id=patient.id,
            reason=f"refused: {exc.field or 'input'}",
        )
        db.session.commit()
        attach_error(form, exc)
        return _render(patient, form, exc.status)
    db.session.commit()
    flash(f"Invitation envoyée à {data.email.strip().lower()} (valable 7 jours).", "success")
    if auth.show_link_to_coordinator():
        return _render(
            patient,
            InvitationForm(formdata=None),
            link=auth.public_url(url_for("patient_space.accept_invitation", token=token)),
        )
    return redirect(url_for("patient_space.patient_accounts", patient_id=patient.id))


@bp.post("/patients/<int:patient_id>/patient-space/invitations/<int:invitation_id>/revoke")
@requires("patients.list")
def revoke_invitation(patient_id: int, invitation_id: int):
    patient = load_patient(patient_id, "patient_space.manage")
    invitation = db.session.get(PatientInvitation, invitation_id)
    if invitation is None or invitation.patient_id != patient.id:
        raise NotFound("Invitation introuvable.")
    if EmptyForm().validate_on_submit():
        try:
            services.revoke_invitation(
                current_user._get_current_object(), patient, invitation, request_context()
            )
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash("Invitation annulée : le lien ne fonctionne plus.", "success")
    return redirect(url_for("patient_space.patient_accounts", patient_id=patient.id))


@bp.post("/patients/<int:patient_id>/patient-space/accounts/<int:account_id>/end")
@requires("patients.list")
def end_access(patient_id: int, account_id: int):
    patient = load_patient(patient_id, "patient_space.manage")
    account = db.session.get(PatientAccount, account_id)
    if account is None or account.patient_id != patient.id:
        raise NotFound("Compte introuvable.")
    if EmptyForm().validate_on_submit():
        services.end_access(current_user._get_current_object(), patient, account, request_context())
        db.session.commit()
        flash(f"L'accès de {account.display_name} est terminé, dès maintenant.", "success")
    return redirect(url_for("patient_space.patient_accounts", patient_id=patient.id))
