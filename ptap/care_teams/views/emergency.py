"""Break-the-glass (emergency access and its review) and possible duplicates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    url_for,
)
from itsdangerous import BadSignature, URLSafeSerializer

from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.care_teams import circle, queries, services
from ptap.care_teams.access import access_basis
from ptap.care_teams.forms_circle import (
    BreakGlassForm,
    BreakGlassSearchForm,
    ButtonForm,
    DuplicateForm,
    ReviewForm,
)
from ptap.care_teams.merges import UNMERGE_DAYS
from ptap.care_teams.models import (
    IDENTITY_STATUS_LABELS,
    SEX_LABELS,
    BreakGlassAccess,
    DuplicateFlag,
    Patient,
)
from ptap.care_teams.views import bp
from ptap.care_teams.views.helpers import (
    acting_user,
    ins_format,
    label,
    local_date,
    local_datetime,
    record_url,
)
from ptap.core import clock
from ptap.core.actions import run_action
from ptap.core.errors import Conflict, InvalidInput, NotFound
from ptap.core.forms import attach_error
from ptap.core.policy import requires
from ptap.extensions import db

# --- break-the-glass --------------------------------------------------------------------------
# The flow never takes a record id from the URL: a search by INS, or by name and birth date
# (exact), then a signed, short-lived ticket naming the record for this user only.

_TICKET_SALT = "ptap-break-glass-ticket"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(str(current_app.config["SECRET_KEY"]), salt=_TICKET_SALT)


def _ticket(patient_id: int) -> str:
    stamp = int(clock.now().timestamp())
    return _serializer().dumps({"p": patient_id, "u": acting_user().id, "t": stamp})


def _ticket_patient(ticket: str) -> Patient | None:
    """Return the record a ticket names, if the ticket is genuine, this user's, and fresh."""
    try:
        data = _serializer().loads(ticket)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("u") != acting_user().id:
        return None
    age = clock.now().timestamp() - float(data.get("t", 0))
    if not 0 <= age <= 60 * int(current_app.config["BREAK_GLASS_TICKET_MINUTES"]):
        return None
    patient = db.session.get(Patient, int(data.get("p", 0)))
    if patient is not None:
        note_patients_shown([patient.id])  # the reason page names them: audited after the view
    return patient


def _who(patient: Patient) -> str:
    """Name the person found, so that the clinician checks it is the right one."""
    return f"{patient.birth_name} {patient.first_names}, née ou né le {patient.birth_date_label}"


def _render_search(form: BreakGlassSearchForm, status: int = 200) -> Any:
    return render_template(
        "care_teams/break_glass_search.html",
        form=form,
        limit=current_app.config["BREAK_GLASS_MAX_PER_DAY"],
    ), status


def _render_reason(form: BreakGlassForm, who: str, status: int = 200) -> Any:
    return render_template(
        "care_teams/break_glass.html",
        form=form,
        who=who,
        hours=current_app.config["BREAK_GLASS_HOURS"],
        min_reason=current_app.config["BREAK_GLASS_MIN_REASON"],
        limit=current_app.config["BREAK_GLASS_MAX_PER_DAY"],
    ), status


@bp.route("/break-glass", methods=["GET", "POST"])
@requires("break_glass.open")
def break_glass():
    form = BreakGlassSearchForm()
    if not form.validate_on_submit():
        return _render_search(form, 422 if form.errors else 200)
    try:
        patient = circle.find_for_break_glass(
            acting_user(),
            form.ins_matricule.data or "",
            form.birth_name.data or "",
            form.birth_date.data,
            request_context(),
        )
    except (InvalidInput, NotFound) as exc:
        db.session.commit()  # the refused search stays in the audit trail
        attach_error(form, exc if exc.field else InvalidInput(exc.message, field="birth_name"))
        return _render_search(form, exc.status)
    db.session.commit()
    if access_basis(acting_user().id, patient):
        return redirect(record_url(patient.id))
    return _render_reason(BreakGlassForm(formdata=None, ticket=_ticket(patient.id)), _who(patient))


@bp.post("/break-glass/open")
@requires("break_glass.open")
def open_break_glass():
    form = BreakGlassForm()
    patient = _ticket_patient(form.ticket.data or "")
    if patient is None:
        flash("La recherche a expiré ou n'est pas valide : recommencez-la.", "error")
        return redirect(url_for(".break_glass"))
    if not form.validate_on_submit():
        return _render_reason(form, _who(patient), 422)
    outcome = run_action(
        lambda: circle.open_break_glass(
            acting_user(), patient, form.reason.data, request_context()
        ),
        catch=(InvalidInput,),
    )
    if not outcome.ok:
        attach_error(form, outcome.failure)
        return _render_reason(form, _who(patient), outcome.failure.status)
    until = local_datetime(outcome.value.expires_at)
    flash(f"Accès en urgence ouvert jusqu'au {until}. Il est tracé et sera examiné.", "info")
    return redirect(record_url(patient.id))


@dataclass(frozen=True)
class ReviewRow:
    grant_id: int
    who: str
    profession: str
    opened_at: str
    until: str
    running: bool
    reason: str
    patient_name: str
    patient_url: str
    form: ReviewForm


def _render_reviews(posted: ReviewForm | None = None, posted_id: int = 0) -> Any:
    now = clock.now()
    reviews = queries.list_break_glass_reviews(acting_user().id)
    note_patients_shown(grant.patient_id for grant, _ in reviews)
    rows = [
        ReviewRow(
            grant.id,
            user.full_name,
            user.profession_label,
            local_datetime(grant.created_at),
            local_datetime(grant.expires_at),
            grant.expires_at > now,
            grant.reason,
            grant.patient.display_name,
            record_url(grant.patient_id),
            posted
            if posted and grant.id == posted_id
            else ReviewForm(formdata=None, prefix=f"grant-{grant.id}"),
        )
        for grant, user in reviews
    ]
    return render_template("care_teams/break_glass_reviews.html", rows=rows), (
        422 if posted else 200
    )


@bp.get("/break-glass/reviews")
@shows_patients("break-glass reviews")
@requires("break_glass.review")
def break_glass_reviews():
    return _render_reviews()


@bp.post("/break-glass/<int:grant_id>/review")
@requires("break_glass.review")
def review_break_glass(grant_id: int):
    grant = db.get_or_404(BreakGlassAccess, grant_id)
    form = ReviewForm(prefix=f"grant-{grant_id}")
    if form.validate_on_submit():
        outcome = run_action(
            lambda: circle.review_break_glass(
                acting_user(), grant, form.review_note.data, request_context()
            ),
            catch=(InvalidInput, Conflict),
            success="Examen enregistré.",
        )
        if not outcome.ok:
            attach_error(form, outcome.failure)
        else:
            return redirect(url_for(".break_glass_reviews"))
    return _render_reviews(form, grant_id)


# --- duplicates -------------------------------------------------------------------------------


#: The traits shown side by side; those that differ are marked.
COMPARED = ("birth_name", "used_name", "first_names", "birth_date", "sex", "birthplace", "ins")


def _identity(patient: Patient) -> dict[str, str]:
    return {
        "number": str(patient.id),
        "birth_name": patient.birth_name,
        "used_name": patient.used_name or "—",
        "first_names": patient.first_names,
        "birth_date": patient.birth_date_label,
        "sex": label(SEX_LABELS, patient.sex),
        "birthplace": patient.birthplace_code or "—",
        "ins": ins_format(patient.ins_matricule) or "—",
        "status": label(IDENTITY_STATUS_LABELS, patient.identity_status),
        "created": local_date(patient.created_at),
        "url": record_url(patient.id),
    }


@bp.get("/duplicates")
@shows_patients("duplicates")
@requires("duplicates.review")
def list_duplicates():
    pairs = []
    for flag in queries.open_duplicates(acting_user().id):
        note_patients_shown([flag.other_patient.id, flag.patient.id])
        older, newer = _identity(flag.other_patient), _identity(flag.patient)
        differs = {key for key in COMPARED if older[key] != newer[key]}
        pairs.append({"id": flag.id, "older": older, "newer": newer, "differs": differs})
    since = clock.now() - timedelta(days=UNMERGE_DAYS)
    merges = []
    for merge, survivor, duplicate in queries.undoable_merges(acting_user().id, since):
        note_patients_shown([survivor.id, duplicate.id])
        merges.append(
            {
                "id": merge.id,
                "survivor": f"{survivor.display_name} (fiche n° {survivor.id})",
                "duplicate": f"{duplicate.display_name} (fiche n° {duplicate.id})",
                "merged_at": local_datetime(merge.merged_at),
                "until": local_date(merge.merged_at + timedelta(days=UNMERGE_DAYS)),
            }
        )
    return render_template(
        "care_teams/duplicates.html",
        pairs=pairs,
        form=DuplicateForm(),
        merges=merges,
        undo_form=ButtonForm(),
    )


@bp.post("/duplicates/<int:flag_id>")
@requires("duplicates.review")
def resolve_duplicate(flag_id: int):
    flag = db.get_or_404(DuplicateFlag, flag_id)
    form = DuplicateForm()
    if not form.validate_on_submit():
        flash("Action inconnue : fusionner ou écarter.", "error")
        return redirect(url_for(".list_duplicates"))
    done = {"merge": "Fiches fusionnées.", "dismiss": "Doublon écarté : les deux fiches restent."}
    outcome = run_action(
        lambda: services.resolve_duplicate(
            acting_user(), flag, form.action.data, request_context()
        ),
        catch=(InvalidInput, Conflict),
        success=done[form.action.data],
    )
    if not outcome.ok:
        flash(outcome.failure.message, "error")
    return redirect(url_for(".list_duplicates"))
