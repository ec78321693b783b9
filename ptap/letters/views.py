"""Letters pages: per patient and per team, the editor with its preview, sign, file, send;
the team's template management (coordinators), with a sandboxed preview."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ptap.accounts.forms import EmptyForm
from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.care_teams import access
from ptap.care_teams import queries as team_queries
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import CareTeam, Patient
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ptap.core.formatting import label
from ptap.core.forms import attach_error
from ptap.core.policy import can, requires
from ptap.extensions import db
from ptap.letters import present, queries, services
from ptap.letters.api import pdf_response
from ptap.letters.documents import letter_context
from ptap.letters.forms import LetterEditForm, NewLetterForm, SendForm, TemplateForm
from ptap.letters.models import LETTER_KIND_LABELS, LETTER_STATUS_LABELS, PDF_STATUS_LABELS, Letter
from ptap.letters.placeholders import PLACEHOLDERS

bp = Blueprint("letters", __name__)
PAGE_SIZE = 50
WRITE_ERRORS = (InvalidInput, Conflict, PermissionDenied)


# --- a patient's letters ----------------------------------------------------------------------


def _templates_for(patient: Patient) -> list:
    """The templates of the user's teams that follow the patient."""
    following = set(access.active_enrolment_team_ids(patient.id))
    teams = [t.id for t in team_queries.my_teams(current_user.id) if t.id in following]
    return queries.list_templates(teams)


def _render_patient(patient: Patient, form: NewLetterForm | None = None, status: int = 200):
    may_create = can(current_user, "letters.create", patient)
    if may_create and form is None:
        form = NewLetterForm(templates=_templates_for(patient))
    page = db.paginate(
        queries.patient_letters_query(patient.id), per_page=PAGE_SIZE, error_out=False
    )
    return render_template(
        "letters/patient_letters.html",
        patient=patient,
        active_tab="letters",
        form=form if may_create else None,
        rows=present.letter_rows(list(page.items)),
        page=page,
    ), status


@bp.get("/patients/<int:patient_id>/letters")
@requires("letters.list")
def patient_letters(patient_id: int):
    patient = load_patient(patient_id, what="letters")
    db.session.commit()  # keep the audited read
    return _render_patient(patient)


@bp.post("/patients/<int:patient_id>/letters")
@requires("letters.list")
def create_letter(patient_id: int):
    patient = load_patient(patient_id, "letters.create")
    templates = _templates_for(patient)
    form = NewLetterForm(templates=templates)
    if form.validate_on_submit():
        template = next((t for t in templates if t.id == form.chosen_template_id()), None)
        if template is None:
            form.template_id.errors = ["Choisissez un modèle."]
        else:
            outcome = run_action(
                lambda: services.create_letter(
                    current_user, patient, template, form.addressee.data or "", request_context()
                ),
                catch=(InvalidInput,),
                success="Lettre rédigée à partir du modèle : relisez-la, puis signez-la.",
            )
            if outcome.ok:
                return redirect(url_for("letters.show_letter", letter_id=outcome.value.id))
            attach_error(form, outcome.failure)
    db.session.rollback()
    patient = load_patient(patient_id, what="letters")
    db.session.commit()
    return _render_patient(patient, form, status=422)


# --- one letter -------------------------------------------------------------------------------


def _load_letter(letter_id: int) -> Letter:
    letter = queries.get_letter(current_user, letter_id)
    load_patient(letter.patient_id, what="letters")
    return letter


def _render_letter(letter: Letter, edit_form=None, send_form=None, status: int = 200):
    patient = db.session.get_one(Patient, letter.patient_id)
    allowed = present.actions(current_user, letter)
    if allowed["edit"] and edit_form is None:
        edit_form = LetterEditForm(
            data={"subject": letter.subject, "body": letter.body, "addressee": letter.addressee}
        )
    return render_template(
        "letters/letter.html",
        letter=letter,
        patient=patient,
        active_tab="letters",
        kind=label(LETTER_KIND_LABELS, letter.kind),
        status_label=label(LETTER_STATUS_LABELS, letter.status),
        pdf_label=label(PDF_STATUS_LABELS, letter.pdf_status),
        preview=letter_context(letter),
        allowed=allowed,
        edit_form=edit_form if allowed["edit"] else None,
        send_form=(send_form or SendForm()) if allowed["send"] else None,
        action_form=EmptyForm(),
        sendings=present.sending_lines(queries.sendings(letter.id)),
        dmp=present.dmp_line(letter),
    ), status


@bp.get("/letters/<int:letter_id>")
@requires("letters.list")
def show_letter(letter_id: int):
    letter = _load_letter(letter_id)
    db.session.commit()
    return _render_letter(letter)


@bp.post("/letters/<int:letter_id>")
@requires("letters.list")
def edit_letter(letter_id: int):
    letter = _load_letter(letter_id)
    form = LetterEditForm()
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.edit_letter(
                current_user,
                letter,
                subject=form.subject.data or "",
                body=form.body.data or "",
                addressee=form.addressee.data or "",
                ctx=request_context(),
            ),
            catch=WRITE_ERRORS,
            success="Lettre enregistrée.",
        )
        if outcome.ok:
            return redirect(url_for("letters.show_letter", letter_id=letter_id))
        attach_error(form, outcome.failure)
    db.session.rollback()
    letter = _load_letter(letter_id)
    db.session.commit()
    return _render_letter(letter, edit_form=form, status=422)


def _simple_action(letter_id: int, action, success: str):
    letter = _load_letter(letter_id)
    if EmptyForm().validate_on_submit():
        outcome = run_action(lambda: action(letter), catch=WRITE_ERRORS, success=success)
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    return redirect(url_for("letters.show_letter", letter_id=letter_id))


@bp.post("/letters/<int:letter_id>/sign")
@requires("letters.list")
def sign_letter(letter_id: int):
    return _simple_action(
        letter_id,
        lambda letter: services.sign_letter(current_user, letter, request_context()),
        "Lettre signée : son PDF/A est en préparation.",
    )


@bp.post("/letters/<int:letter_id>/file")
@requires("letters.list")
def file_letter(letter_id: int):
    return _simple_action(
        letter_id,
        lambda letter: services.request_letter_filing(current_user, letter, request_context()),
        "Dépôt au DMP demandé : il partira dès que le PDF sera prêt.",
    )


@bp.post("/letters/<int:letter_id>/pdf/retry")
@requires("letters.list")
def retry_letter_pdf(letter_id: int):
    return _simple_action(
        letter_id,
        lambda letter: services.retry_letter_pdf(current_user, letter, request_context()),
        "Préparation du PDF relancée.",
    )


@bp.post("/letters/<int:letter_id>/send")
@requires("letters.list")
def send_letter(letter_id: int):
    letter = _load_letter(letter_id)
    form = SendForm()
    if form.validate_on_submit():
        outcome = run_action(
            lambda: services.send_letter(
                current_user, letter, form.to.data or "", request_context()
            ),
            catch=WRITE_ERRORS,
            success="Envoi MSSanté demandé : la lettre est mise en file dès que le PDF est prêt.",
        )
        if outcome.ok:
            return redirect(url_for("letters.show_letter", letter_id=letter_id))
        attach_error(form, outcome.failure)
    db.session.rollback()
    letter = _load_letter(letter_id)
    db.session.commit()
    return _render_letter(letter, send_form=form, status=422)


@bp.get("/letters/<int:letter_id>/pdf")
@requires("letters.list")
def letter_pdf(letter_id: int):
    letter = _load_letter(letter_id)
    db.session.commit()
    return pdf_response(letter)


# --- a team's letters and templates ----------------------------------------------------------


def _team(team_id: int, action: str) -> CareTeam:
    team = db.session.get(CareTeam, team_id)
    if team is None or not can(current_user, action, team):
        raise NotFound("Équipe introuvable.")
    return team


@bp.get("/teams/<int:team_id>/letters")
@shows_patients("team letters")
@requires("letters.list")
def team_letters(team_id: int):
    team = _team(team_id, "letter_templates.list")
    page = db.paginate(
        queries.team_letters_query(team.id, current_user.id), per_page=PAGE_SIZE, error_out=False
    )
    letters = list(page.items)
    note_patients_shown(letter.patient_id for letter in letters)
    names = {
        p.id: p.display_name
        for p in db.session.scalars(
            db.select(Patient).where(Patient.id.in_({letter.patient_id for letter in letters}))
        )
    }
    return render_template(
        "letters/team_letters.html",
        team=team,
        rows=present.letter_rows(letters, names),
        page=page,
        manage=can(current_user, "letter_templates.manage", team),
    )


def _render_templates(team: CareTeam, form: TemplateForm | None = None, preview=None, status=200):
    manage = can(current_user, "letter_templates.manage", team)
    return render_template(
        "letters/templates.html",
        team=team,
        templates=queries.list_templates([team.id]),
        kinds=LETTER_KIND_LABELS,
        form=(form or TemplateForm()) if manage else None,
        preview=preview,
        placeholders=PLACEHOLDERS,
    ), status


@bp.get("/teams/<int:team_id>/letter-templates")
@requires("letter_templates.list")
def team_templates(team_id: int):
    return _render_templates(_team(team_id, "letter_templates.list"))


def _preview(form: TemplateForm, kind: str | None = None):
    """Fill the typed template with the sample record (sandboxed); errors go on the form."""
    try:
        return services.preview_template(form.data_value(kind))
    except InvalidInput as error:
        attach_error(form, error)
        return None


@bp.post("/teams/<int:team_id>/letter-templates")
@requires("letter_templates.list")
def create_template(team_id: int):
    team = _team(team_id, "letter_templates.manage")
    form = TemplateForm()
    if form.validate_on_submit():
        if request.form.get("action") == "preview":
            return _render_templates(team, form, _preview(form))
        outcome = run_action(
            lambda: services.create_template(
                current_user, team, form.data_value(), request_context()
            ),
            catch=WRITE_ERRORS,
            success="Modèle créé.",
        )
        if outcome.ok:
            return redirect(url_for("letters.edit_template", template_id=outcome.value.id))
        attach_error(form, outcome.failure)
    return _render_templates(team, form, status=422)


def _render_template_editor(template, form: TemplateForm | None = None, preview=None, status=200):
    team = db.session.get_one(CareTeam, template.team_id)
    manage = can(current_user, "letter_templates.manage", team)
    version = services.current_version(template)
    if form is None:
        form = TemplateForm(
            data={
                "kind": template.kind,
                "name": template.name,
                "subject": version.subject,
                "body": version.body,
            }
        )
    return render_template(
        "letters/template_edit.html",
        team=team,
        template=template,
        kind=label(LETTER_KIND_LABELS, template.kind),
        versions=queries.template_versions(template.id),
        form=form if manage and template.archived_at is None else None,
        view_version=version,
        preview=preview,
        placeholders=PLACEHOLDERS,
        archive_form=EmptyForm() if manage and template.archived_at is None else None,
    ), status


@bp.get("/letter-templates/<int:template_id>")
@requires("letter_templates.list")
def edit_template(template_id: int):
    return _render_template_editor(queries.get_template(current_user, template_id))


@bp.post("/letter-templates/<int:template_id>")
@requires("letter_templates.list")
def save_template(template_id: int):
    template = queries.get_template(current_user, template_id, "letter_templates.manage")
    form = TemplateForm()
    form.kind.data = template.kind
    if form.validate_on_submit():
        if request.form.get("action") == "preview":
            return _render_template_editor(template, form, _preview(form, template.kind))
        outcome = run_action(
            lambda: services.update_template(
                current_user, template, form.data_value(template.kind), request_context()
            ),
            catch=WRITE_ERRORS,
            success="Modèle enregistré.",
        )
        if outcome.ok:
            return redirect(url_for("letters.edit_template", template_id=template_id))
        attach_error(form, outcome.failure)
    db.session.rollback()
    template = queries.get_template(current_user, template_id, "letter_templates.manage")
    return _render_template_editor(template, form, status=422)


@bp.post("/letter-templates/<int:template_id>/archive")
@requires("letter_templates.list")
def archive_template(template_id: int):
    template = queries.get_template(current_user, template_id, "letter_templates.manage")
    if EmptyForm().validate_on_submit():
        outcome = run_action(
            lambda: services.archive_template(current_user, template, request_context()),
            catch=WRITE_ERRORS,
            success="Modèle retiré : les lettres déjà rédigées gardent leur version.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    return redirect(url_for("letters.team_templates", team_id=template.team_id))
