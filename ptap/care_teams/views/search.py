"""The patient list: search box, filters, plan columns, and the break-the-glass offer.

Need-to-know comes first: only the patients the user may see are searched. A search that
names one person precisely (a whole INS, or a name and a full birth date) and finds nobody in
the user's circle offers the emergency access, whether or not such a record exists: the
offer reveals nothing, and the lookup itself is the audited break-the-glass search. A search
by name alone never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import render_template, request, url_for

from ptap.audit.context import note_patients_shown, shows_patients
from ptap.care_teams import queries, referents
from ptap.care_teams.forms import PatientSearchForm
from ptap.care_teams.forms_circle import BreakGlassSearchForm
from ptap.care_teams.models import Patient
from ptap.care_teams.search import (
    FollowUp,
    PatientSearch,
    Terms,
    follow_up_source,
    parse_terms,
    visible_patients_query,
)
from ptap.care_teams.views import bp
from ptap.care_teams.views.helpers import acting_user, record_url
from ptap.core.errors import InvalidInput
from ptap.core.forms import attach_error
from ptap.core.policy import can, requires
from ptap.extensions import db

PER_PAGE = 50
#: The older separate criteria (bookmarks, links from other pages) are still understood.
LEGACY_ARGS = ("name", "ins", "birth_date")


@dataclass(frozen=True)
class PatientRow:
    """One line of the patient list, ready to show."""

    url: str
    name: str
    notes: list[str]
    birth: str
    sex: str
    identity_status: str
    teams: list[queries.FollowingTeam]
    plan: FollowUp | None
    consent_to_collect: bool
    consents_url: str


def _row(
    patient: Patient,
    teams: list[queries.FollowingTeam],
    plan: FollowUp | None,
    to_collect: set[int],
    opened: set[int],
) -> Any:
    notes = []
    if patient.used_name and patient.used_name != patient.birth_name:
        notes.append(f"Nom utilisé : {patient.used_name}")
    if patient.used_first_name:
        notes.append(f"Prénom utilisé : {patient.used_first_name}")
    consents_url = url_for("care_teams.consents", patient_id=patient.id)
    return PatientRow(
        url=record_url(patient.id) if patient.id in opened else consents_url,
        name=f"{patient.birth_name} {patient.first_names}",
        notes=notes,
        birth=patient.birth_date_label,
        sex=patient.sex,
        identity_status=patient.identity_status,
        teams=teams,
        plan=plan,
        consent_to_collect=patient.id in to_collect,
        consents_url=consents_url,
    )


def _break_glass_form(terms: Terms) -> BreakGlassSearchForm:
    """Pre-fill the emergency-access search with what identified the person."""
    if len(terms.nir) == 15:
        return BreakGlassSearchForm(formdata=None, ins_matricule=terms.nir)
    return BreakGlassSearchForm(
        formdata=None, birth_name=" ".join(terms.words), birth_date=terms.full_birth_date
    )


def _search(form: PatientSearchForm) -> PatientSearch:
    legacy = {key: request.args.get(key, "") for key in LEGACY_ARGS}
    return PatientSearch(
        text=form.q.data or "",
        team_id=form.team_id() if not form.team.errors else None,
        plan_status=form.plan_status.data or "",
        review_due=bool(form.review_due.data),
        consent_to_collect=bool(form.consent.data),
        referent_id=form.referent_id(acting_user().id) if not form.referent.errors else None,
        **legacy,
    )


def _render(form: PatientSearchForm, status: int = 200, **page: Any) -> Any:
    criteria = {k: v for k, v in request.args.items() if k != "page" and v.strip()}
    return render_template(
        "care_teams/patient_list.html",
        form=form,
        criteria=criteria,
        filters=sum(
            1 for k in ("team", "referent", "plan_status", "review_due", "consent") if k in criteria
        ),
        can_create=can(acting_user(), "team.enrol"),
        plan_filters=follow_up_source() is not None,
        **{"page": None, "rows": [], "break_glass": None, **page},
    ), status


@bp.get("/patients")
@shows_patients("patient search")
@requires("patients.list")
def list_patients():
    user = acting_user()
    source = follow_up_source()
    form = PatientSearchForm(request.args)
    form.offer(queries.my_teams(user.id), source.status_choices() if source else [])
    form.offer_referents(user.id, referents.list_coordinators_of_my_teams(user.id))
    if not form.validate():
        return _render(form, 422)
    search = _search(form)
    try:
        terms = parse_terms(search)
        stmt = visible_patients_query(user.id, search)
    except InvalidInput as exc:
        attach_error(
            form, exc if hasattr(form, exc.field or "") else InvalidInput(exc.message, field="q")
        )
        return _render(form, 422)
    page = db.paginate(stmt, per_page=PER_PAGE, error_out=False)
    ids = [p.id for p in page.items]
    note_patients_shown(ids)
    teams = queries.following_teams_by_patient(ids)
    plans = source.follow_ups(ids) if source else {}
    to_collect = queries.consent_to_collect_ids(ids)
    opened = queries.record_visible_ids(user.id, ids)  # the others: the consent to collect only
    rows = [
        _row(p, teams[p.id], plans.get(p.id) if p.id in opened else None, to_collect, opened)
        for p in page.items
    ]
    offer = not rows and terms.identifies and can(user, "break_glass.open")
    return _render(
        form, page=page, rows=rows, break_glass=_break_glass_form(terms) if offer else None
    )
