"""Consents, circle, break-the-glass, duplicates and access-log pages.

Patient pages declare `patients.list` (any clinician) to the endpoint guard; the object-level
rule is checked by `load_patient`, which answers 404 to anyone outside the circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    url_for,
)

from ptap.audit.context import request_context
from ptap.care_teams import circle, circle_structures, queries
from ptap.care_teams.forms_circle import (
    ButtonForm,
    CircleStructureForm,
    ConsentForm,
    InvitationForm,
)
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import (
    CIRCLE_STRUCTURE_KIND_LABELS,
    CONSENT_KIND_LABELS,
    CONSENT_METHOD_LABELS,
    ConsentKind,
    ConsentRecord,
    Patient,
)
from ptap.care_teams.views import bp
from ptap.care_teams.views.helpers import (
    PARIS,
    TEAM_ROLE_LABELS,
    acting_user,
    chosen_professional,
    label,
    local_date,
    local_datetime,
)
from ptap.core import blobs, clock
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, InvalidInput
from ptap.core.forms import attach_error
from ptap.core.policy import can, requires
from ptap.extensions import db

CHOICE_LABELS = {
    (ConsentKind.SHARING, True): "Accord donné",
    (ConsentKind.SHARING, False): "Accord retiré",
    (ConsentKind.DMP_OPPOSITION, True): "Opposition exprimée",
    (ConsentKind.DMP_OPPOSITION, False): "Opposition levée",
}
#: (state shown, tone, what it means) for each kind: (given, none or withdrawn).
STATE_TEXTS = {
    ConsentKind.SHARING: (
        ("Accord donné", "ok", "L'équipe qui suit la personne et les invités voient le dossier."),
        (
            "Pas d'accord en vigueur",
            "warn",
            "Seul le coordinateur qui a inscrit la personne voit le dossier.",
        ),
    ),
    ConsentKind.DMP_OPPOSITION: (
        ("Oui, la personne s'y oppose", "warn", "Aucun document n'est versé à son DMP."),
        ("Non", "neutral", "Les documents prévus sont versés à son DMP."),
    ),
}


# --- consents ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentState:
    label: str
    value: str
    tone: str
    effect: str
    since: str


@dataclass(frozen=True)
class LedgerRow:
    at: str
    kind: str
    choice: str
    method: str
    note: str
    recorded_by: str
    document_url: str


def _consent_states(patient: Patient) -> list[ConsentState]:
    states = []
    for kind in ConsentKind:
        record = circle.current_consent(patient.id, kind)
        given = bool(record and record.given)
        value, tone, effect = STATE_TEXTS[kind][0 if given else 1]
        since = f"Depuis le {local_date(record.recorded_at)}" if record else "Jamais recueilli"
        states.append(ConsentState(CONSENT_KIND_LABELS[kind], value, tone, effect, since))
    return states


def _ledger(patient: Patient) -> list[LedgerRow]:
    return [
        LedgerRow(
            at=local_datetime(r.recorded_at),
            kind=CONSENT_KIND_LABELS[ConsentKind(r.kind)],
            choice=CHOICE_LABELS[(ConsentKind(r.kind), r.given)],
            method=label(CONSENT_METHOD_LABELS, r.method),
            note=r.note,
            recorded_by=name,
            document_url=url_for(".consent_document", patient_id=patient.id, record_id=r.id)
            if r.document_path
            else "",
        )
        for r, name in queries.consent_history(patient.id)
    ]


def _render_consents(patient: Patient, form: ConsentForm, status: int = 200) -> Any:
    manage = can(acting_user(), "patient.consents.record", patient)
    page = render_template(
        "care_teams/consents.html",
        patient=patient,
        active_tab="consents",
        states=_consent_states(patient),
        ledger=_ledger(patient),
        form=form if manage else None,
    )
    return page, status


@bp.get("/patients/<int:patient_id>/consents")
@requires("patients.list")
def consents(patient_id: int):
    patient = load_patient(patient_id, "patient.consents.read", what="consents")
    db.session.commit()
    return _render_consents(patient, ConsentForm(formdata=None))


@bp.post("/patients/<int:patient_id>/consents")
@requires("patients.list")
def record_consent(patient_id: int):
    patient = load_patient(patient_id, "patient.consents.record")
    form = ConsentForm()
    if form.validate_on_submit():
        kind, given = form.parsed_choice()
        upload = form.document.data
        document = upload.read(circle.MAX_FORM_BYTES + 1) if upload else None
        outcome = run_action(
            lambda: circle.record_consent(
                acting_user(), patient, kind, given, form.method.data, form.note.data or "",
                request_context(), document=document,
            ),
            catch=(InvalidInput, Conflict),
            success="Le choix de la personne est enregistré ; il s'applique dès maintenant.",
        )  # fmt: skip
        if not outcome.ok:
            attach_error(form, outcome.failure)
        else:
            if not can(acting_user(), "patient.read", patient):  # withdrawn: the user lost access
                return redirect(url_for("core.home"))
            return redirect(url_for(".consents", patient_id=patient.id))
    return _render_consents(patient, form, 422)


@bp.get("/patients/<int:patient_id>/consents/<int:record_id>/document")
@requires("patients.list")
def consent_document(patient_id: int, record_id: int):
    patient = load_patient(patient_id, what=f"consent form {record_id}")
    db.session.commit()
    record = db.session.get(ConsentRecord, record_id)
    if record is None or record.patient_id != patient.id or not record.document_path:
        abort(404)
    try:
        return blobs.blob_response(
            blobs.check_key(record.document_path),
            "application/pdf",
            f"formulaire-consentement-{patient.id}-{record.id}.pdf",
        )
    except (blobs.InvalidBlobKey, blobs.BlobNotFound):
        abort(404)


# --- circle -----------------------------------------------------------------------------------


def _render_circle(
    patient: Patient,
    form: InvitationForm,
    status: int = 200,
    structure_form: CircleStructureForm | None = None,
) -> Any:
    user = acting_user()
    members = queries.circle(patient)
    manage = can(user, "patient.manage", patient)
    structures = circle_structures.list_circle_structures(patient.id)
    manage_structures = can(user, "patient.structures.manage", patient)
    if structure_form is None and manage_structures:
        structure_form = CircleStructureForm(formdata=None)
        structure_form.started_on.data = clock.paris_today()
    page = render_template(
        "care_teams/circle.html",
        patient=patient,
        active_tab="circle",
        # Coordinators first: the people to call about this patient.
        team_members=sorted(
            (m for m in members if m.invitation_id is None),
            key=lambda m: m.team_role != "coordinator",
        ),
        invited=[m for m in members if m.invitation_id is not None],
        role_labels=TEAM_ROLE_LABELS,
        form=form if manage else None,
        revoke_form=ButtonForm(),
        max_days=current_app.config["CIRCLE_INVITATION_MAX_DAYS"],
        structures=[s for s in structures if s.ended_on is None],
        ended_structures=[s for s in structures if s.ended_on is not None],
        structure_kinds=CIRCLE_STRUCTURE_KIND_LABELS,
        structure_form=structure_form if manage_structures else None,
    )
    return page, status


@bp.get("/patients/<int:patient_id>/circle")
@requires("patients.list")
def patient_circle(patient_id: int):
    patient = load_patient(patient_id, what="circle")
    db.session.commit()
    return _render_circle(patient, blank_invitation())


def blank_invitation() -> InvitationForm:
    """The invitation form as first shown: until 30 days from today."""
    form = InvitationForm(formdata=None)
    form.expires_on.data = clock.paris_today() + timedelta(days=30)
    return form


def _end_of_day(day: date) -> datetime:
    """The last second of `day` in Paris, in UTC: an invitation ends on the evening it names."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=PARIS).astimezone(UTC)


@bp.post("/patients/<int:patient_id>/circle/invitations")
@requires("patients.list")
def invite_to_circle(patient_id: int):
    patient = load_patient(patient_id, "patient.manage")
    form = InvitationForm()
    if form.validate_on_submit():
        invitee = chosen_professional(form)
        if invitee is None:
            return _render_circle(patient, form, 422)
        outcome = run_action(
            lambda: circle.invite_to_circle(
                acting_user(), patient, invitee, _end_of_day(form.expires_on.data),
                form.reason.data or "", request_context(),
            ),
            catch=(InvalidInput, Conflict),
        )  # fmt: skip
        if not outcome.ok:
            attach_error(form, outcome.failure)
        else:
            flash(f"{invitee.full_name} fait partie du cercle de soins.", "success")
            return redirect(url_for(".patient_circle", patient_id=patient.id))
    return _render_circle(patient, form, 422)


@bp.post("/patients/<int:patient_id>/circle/invitations/<int:invitation_id>/revoke")
@requires("patients.list")
def revoke_invitation(patient_id: int, invitation_id: int):
    patient = load_patient(patient_id, "patient.manage")
    if ButtonForm().validate_on_submit():
        circle.revoke_invitation(acting_user(), patient, invitation_id, request_context())
        db.session.commit()
        flash("Invitation terminée : ce professionnel n'a plus accès au dossier.", "success")
    return redirect(url_for(".patient_circle", patient_id=patient.id))
