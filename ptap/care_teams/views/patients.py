"""Patient creation, record page, identity and enrolment pages; team pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from ptap.accounts.forms import EmptyForm
from ptap.accounts.models import User
from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.audit.models import Outcome
from ptap.audit.services import record_event
from ptap.care_teams import circle_structures, queries, referents, services
from ptap.care_teams.access import AccessBasis, access_basis
from ptap.care_teams.forms import (
    ContactForm,
    DetailsForm,
    DocumentCheckForm,
    EndEnrolmentForm,
    IdentityForm,
    InsiForm,
    PatientForm,
)
from ptap.care_teams.forms_referent import ReferentForm
from ptap.care_teams.identity import CHECK_METHODS
from ptap.care_teams.loaders import NOT_FOUND, load_patient
from ptap.care_teams.models import (
    CONTACT_KIND_LABELS,
    END_REASON_LABELS,
    PROBLEM_CATEGORY_LABELS,
    REQUESTER_KIND_LABELS,
    Enrolment,
    Patient,
)
from ptap.care_teams.qualification import INSI_OPERATIONS
from ptap.care_teams.timeline import patient_timeline
from ptap.care_teams.views import bp
from ptap.care_teams.views.helpers import chosen_professional, label
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, InvalidInput, NotFound
from ptap.core.formatting import local_datetime
from ptap.core.forms import attach_error
from ptap.core.policy import can, requires
from ptap.extensions import db

# --- presentation rows -------------------------------------------------------------------


@dataclass(frozen=True)
class EnrolmentRow:
    """One follow-up of the patient by a team, as the record page shows it."""

    id: int
    team: str
    requested_on: date
    requester: str
    motives: list[str]
    enrolled_at: datetime
    ended_at: datetime | None
    end_reason: str
    end_note: str
    end_form: EndEnrolmentForm | None
    #: The referent coordinator's name ("" if none), and the form to change it (coordinators).
    referent: str = ""
    referent_form: ReferentForm | None = None


@dataclass
class RecordForms:
    """The forms of the record page; a failed one is passed back with what was typed."""

    details: DetailsForm | None = None
    contact: ContactForm | None = None
    end: dict[int, EndEnrolmentForm] = field(default_factory=dict)


def _enrolment_row(
    enrolment: Enrolment,
    form: EndEnrolmentForm | None,
    referent: str = "",
    referent_form: ReferentForm | None = None,
) -> EnrolmentRow:
    requester = label(REQUESTER_KIND_LABELS, enrolment.requester_kind)
    if enrolment.requester_name:
        requester = f"{requester} : {enrolment.requester_name}"
    return EnrolmentRow(
        id=enrolment.id,
        team=enrolment.team.name,
        requested_on=enrolment.requested_on,
        requester=requester,
        motives=[label(PROBLEM_CATEGORY_LABELS, c) for c in enrolment.categories],
        enrolled_at=enrolment.enrolled_at,
        ended_at=enrolment.ended_at,
        end_reason=label(END_REASON_LABELS, enrolment.end_reason),
        end_note=enrolment.end_note,
        end_form=form,
        referent=referent,
        referent_form=referent_form,
    )


def _render_record(patient: Patient, forms: RecordForms | None = None, status: int = 200):
    """Render the record page; `forms` carries a failed form back with its errors."""
    forms = forms or RecordForms()
    user = current_user._get_current_object()
    manage = can(user, "patient.manage", patient)
    enrolments = []
    all_enrolments = queries.all_enrolments(patient.id)
    gp_id, checker_id = patient.gp_user_id or 0, patient.identity_checked_by_id or 0
    referent_ids = [e.referent_id for e in all_enrolments if e.referent_id]
    names = queries.user_names([i for i in (gp_id, checker_id, *referent_ids) if i])
    for enrolment in all_enrolments:
        form = referent_form = None
        if can(user, "enrolment.end", enrolment):
            form = forms.end.get(enrolment.id) or EndEnrolmentForm.for_enrolment(enrolment.id)
        if can(user, "enrolment.referent", enrolment):
            referent_form = ReferentForm.for_enrolment(
                enrolment.id,
                enrolment.referent_id,
                referents.list_team_coordinators(enrolment.team_id),
                formdata=None,
            )
        referent = names.get(enrolment.referent_id or 0, "")
        enrolments.append(_enrolment_row(enrolment, form, referent, referent_form))
    return render_template(
        "care_teams/patient_record.html",
        patient=patient,
        active_tab="record",
        break_glass=access_basis(user.id, patient) == AccessBasis.BREAK_GLASS,
        can_manage=manage,
        enrolments=enrolments,
        contacts=queries.list_patient_contacts(patient.id),
        structures=[
            s for s in circle_structures.list_circle_structures(patient.id) if s.ended_on is None
        ],
        timeline=patient_timeline(patient.id),
        gp_name=f"Dr {names[gp_id]}" if gp_id in names else patient.gp_name,
        checked_by=names.get(checker_id, ""),
        check_methods=CHECK_METHODS,
        contact_kinds=CONTACT_KIND_LABELS,
        details_form=forms.details
        or (
            DetailsForm.for_patient(patient, db.session.get(User, gp_id) if gp_id else None)
            if manage
            else None
        ),
        contact_form=forms.contact or (ContactForm() if manage else None),
        delete_form=EmptyForm(),
    ), status


def _rerender_record(patient_id: int, forms: RecordForms):
    """Show the record again with a failed form (an audited read, like any display of it)."""
    db.session.rollback()
    patient = load_patient(patient_id, what="record")
    db.session.commit()
    return _render_record(patient, forms, status=422)


def _load_enrolment(enrolment_id: int) -> Enrolment:
    """Return the enrolment if the user may end it or read its patient; 404 (audited) if not."""
    user = current_user._get_current_object()
    enrolment = db.session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise NotFound(NOT_FOUND)
    if not (can(user, "enrolment.end", enrolment) or can(user, "patient.read", enrolment.patient)):
        record_event(
            request_context(),
            "enrolment.end",
            outcome=Outcome.DENIED,
            object_type="enrolment",
            object_id=enrolment.id,
            patient_id=enrolment.patient_id,
        )
        db.session.commit()
        raise NotFound(NOT_FOUND)
    return enrolment


# --- patients ----------------------------------------------------------------------------
# The list and its search live in views/search.py.


@bp.route("/patients/new", methods=["GET", "POST"])
@requires("team.enrol")
def create_patient():
    form = PatientForm(teams=queries.coordinated_teams(current_user.id))
    existing_id, status = None, 200
    if form.validate_on_submit():

        def create() -> tuple[Patient, int]:
            patient = services.create_patient(
                current_user,
                form.team(),
                form.identity(),
                form.enrolment_request(),
                request_context(),
            )
            return patient, queries.count_open_duplicate_flags(patient.id)

        outcome = run_action(create, catch=(InvalidInput, Conflict))
        if not outcome.ok:
            exc = outcome.failure
            attach_error(form, exc)
            existing_id, status = getattr(exc, "existing_id", None), exc.status
        else:
            patient, duplicates = outcome.value
            flash(f"Dossier de {patient.display_name} créé.", "success")
            if duplicates:
                flash(
                    "Un doublon potentiel a été signalé : une autre fiche porte le même nom de "
                    "naissance, la même date de naissance et le même sexe. La coordination "
                    "vérifiera les deux fiches.",
                    "warning",
                )
            return redirect(url_for("care_teams.show_patient", patient_id=patient.id))
    status = status if status != 200 or not form.errors else 422
    return render_template(
        "care_teams/patient_new.html", form=form, existing_id=existing_id
    ), status


@bp.get("/patients/<int:patient_id>")
@requires("patients.list")
def show_patient(patient_id: int):
    patient = load_patient(patient_id, what="record")
    db.session.commit()  # keep the audited read
    return _render_record(patient)


@bp.route("/patients/<int:patient_id>/identity", methods=["GET", "POST"])
@shows_patients("identity page")
@requires("patients.list")
def edit_identity(patient_id: int):
    patient = load_patient(patient_id, "patient.manage")
    note_patients_shown([patient.id])
    form = IdentityForm.for_patient(patient)
    existing_id, status = None, 200
    if form.validate_on_submit():
        try:
            services.update_identity(current_user, patient, form.identity(), request_context())
        except (InvalidInput, Conflict) as exc:
            attach_error(form, exc)
            existing_id, status = getattr(exc, "existing_id", None), exc.status
        else:
            downgraded = patient.identity_status != form.identity_status.data
            db.session.commit()
            flash("Identité enregistrée.", "success")
            if downgraded:
                flash(
                    "Un trait strict a changé : l'identité repasse au statut « provisoire ». "
                    "Vérifiez-la de nouveau avec une pièce d'identité ou le téléservice INSi.",
                    "warning",
                )
            return redirect(url_for("care_teams.show_patient", patient_id=patient.id))
    status = status if status != 200 or not form.errors else 422
    return render_template(
        "care_teams/patient_identity.html",
        patient=patient,
        form=form,
        existing_id=existing_id,
        vigilance=_vigilance(patient),
        insi_form=InsiForm(),
        document_form=DocumentCheckForm(),
    ), status


def _vigilance(patient: Patient) -> dict[str, str]:
    """The RNIV facts of the identity page: INSi answer and document check, who and when."""
    ids = [i for i in (patient.insi_checked_by_id, patient.document_checked_by_id) if i]
    names = queries.user_names(ids)
    insi = document = ""
    if patient.insi_checked_at is not None:
        insi = (
            f"{INSI_OPERATIONS.get(patient.insi_operation, 'Interrogation')} : réponse 00, le "
            f"{local_datetime(patient.insi_checked_at)} par "
            f"{names.get(patient.insi_checked_by_id or 0, '—')}"
        )
    if patient.document_checked_at is not None:
        document = (
            f"{CHECK_METHODS.get(patient.document_type, patient.document_type)}, le "
            f"{local_datetime(patient.document_checked_at)} par "
            f"{names.get(patient.document_checked_by_id or 0, '—')}"
        )
    return {"insi": insi, "document": document, "can_verify": "1" if patient.ins_matricule else ""}


@bp.post("/patients/<int:patient_id>/details")
@requires("patients.list")
def update_details(patient_id: int):
    patient = load_patient(patient_id, "patient.manage")
    form = DetailsForm()
    if form.validate_on_submit():
        typed = (form.gp_person.data or "").strip()
        gp = chosen_professional(form, "gp_person", "gp_user_id", "physician") if typed else None
        if typed and gp is None:
            return _rerender_record(patient.id, RecordForms(details=form))
        outcome = run_action(
            lambda: services.update_contact_details(
                current_user, patient, **form.details(gp.id if gp else None),
                ctx=request_context(),
            ),
            catch=(InvalidInput,),
            success="Coordonnées enregistrées.",
        )  # fmt: skip
        if not outcome.ok:
            attach_error(form, outcome.failure)
        else:
            return redirect(url_for("care_teams.show_patient", patient_id=patient.id))
    return _rerender_record(patient.id, RecordForms(details=form))


@bp.post("/patients/<int:patient_id>/contacts")
@requires("patients.list")
def add_contact(patient_id: int):
    patient = load_patient(patient_id, "patient.manage")
    form = ContactForm()
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.add_contact(current_user, patient, form.contact(), request_context()),
            catch=(InvalidInput,),
            success="Contact ajouté.",
        )
        if not outcome.ok:
            attach_error(form, outcome.failure)
        else:
            return redirect(url_for("care_teams.show_patient", patient_id=patient.id))
    return _rerender_record(patient.id, RecordForms(contact=form))


@bp.post("/patients/<int:patient_id>/contacts/<int:contact_id>/delete")
@requires("patients.list")
def remove_contact(patient_id: int, contact_id: int):
    patient = load_patient(patient_id, "patient.manage")
    if EmptyForm().validate_on_submit():
        services.remove_contact(current_user, patient, contact_id, request_context())
        db.session.commit()
        flash("Contact supprimé.", "success")
    return redirect(url_for("care_teams.show_patient", patient_id=patient.id))


@bp.post("/enrolments/<int:enrolment_id>/end")
@requires("patients.list")
def end_enrolment(enrolment_id: int):
    enrolment = _load_enrolment(enrolment_id)
    form = EndEnrolmentForm.for_enrolment(enrolment.id)
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.end_enrolment(
                current_user,
                enrolment,
                form.end_reason.data or "",
                form.end_note.data or "",
                request_context(),
            ),
            catch=(InvalidInput,),
        )
        if not outcome.ok:
            attach_error(form, outcome.failure)
        else:
            flash(f"Fin du suivi par l'équipe {enrolment.team.name} enregistrée.", "success")
            if can(current_user, "patient.read", enrolment.patient):
                return redirect(url_for("care_teams.show_patient", patient_id=enrolment.patient_id))
            return redirect(url_for("care_teams.list_patients"))
    return _rerender_record(enrolment.patient_id, RecordForms(end={enrolment.id: form}))
