"""Pages of the patient space (/espace): sign-in by e-mailed code, then the person's own record.

What a caregiver sees is only what the person granted: the circle (who follows the person,
their professions) needs "see the plan", the documents need "download", and the access log
(which carries free-text break-glass reasons) is for the person and a legal representative
only. A refusal is audited and answered in French (403).

Every view here is marked `patient_side`: the central guard (ptap.core.web) lets patient-side
accounts reach these and public pages only, and keeps professionals out of them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ptap.accounts.sessions import PATIENT_SIDE_LOADER, start_patient_side_session
from ptap.audit.context import request_context
from ptap.audit.models import Outcome
from ptap.audit.services import record_event
from ptap.care_plans import queries as plan_queries
from ptap.care_teams import queries as team_queries
from ptap.care_teams.models import Patient
from ptap.core import clock
from ptap.core.errors import DomainError, InvalidInput, NotFound, RuleDenied, TooManyAttempts
from ptap.core.formatting import PARIS
from ptap.core.policy import Actor, patient_side, public, require, requires
from ptap.extensions import db, limiter
from ptap.patient_space import auth, queries, services
from ptap.patient_space.forms import (
    AcceptForm,
    AnswerForm,
    CodeForm,
    EmailForm,
    SharingForm,
    app_code_form,
)
from ptap.patient_space.models import PatientAccount, Relationship, Right
from ptap.patient_space.permissions import has_right

bp = Blueprint("patient_space", __name__)
PATIENT_SIDE_LOADER[:] = [auth.load_account]


def _rate() -> str:
    """The per-address request limit of the sign-in forms (LOGIN_RATE_LIMIT, as for login)."""
    return str(current_app.config["LOGIN_RATE_LIMIT"])


_MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]


@bp.app_template_filter("long_date")
def long_date(value: date | datetime | None) -> str:
    """Write a date in words ("28 novembre 2026"), easier to read than 28/11/2026."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(PARIS).date()
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {_MONTHS[value.month - 1]} {value.year}"


def _account() -> PatientAccount:
    account = current_user._get_current_object()
    if not isinstance(account, PatientAccount):  # the guard lets no one else in
        raise NotFound("Page introuvable.")
    return account


def _patient(account: PatientAccount, what: str) -> Patient:
    """Load the account's own person, and audit the read (who, what)."""
    patient = db.session.get(Patient, account.patient_id)
    if patient is None or patient.merged_into_id is not None:
        raise NotFound("Dossier introuvable.")
    require(cast(Actor, account), "patient_space.read", patient)
    record_event(
        request_context(),
        "patient_space.read",
        object_type="patient",
        object_id=patient.id,
        patient_id=patient.id,
        reason=what,
    )
    db.session.commit()
    return patient


def _require_grant(account: PatientAccount, allowed: bool, action: str, what: str) -> None:
    """Refuse a caregiver a page the person did not grant (the refusal audited, committed)."""
    if allowed:
        return
    record_event(
        request_context(),
        action,
        outcome=Outcome.DENIED,
        patient_id=account.patient_id,
        reason="right not granted",
    )
    db.session.commit()
    raise RuleDenied(
        f"La personne ne vous a pas donné le droit de {what}. Elle peut le demander à "
        "son coordinateur ou sa coordinatrice de parcours."
    )


def _require(refusal: str | None) -> None:
    """Refuse with the rule's French message, keeping its audit event (committed first)."""
    if refusal:
        db.session.commit()
        raise RuleDenied(refusal)


def _page(template: str, account: PatientAccount, patient: Patient, **context: Any) -> Any:
    return render_template(
        f"patient_space/{template}",
        account=account,
        patient_name=patient.display_name,
        can_see_plan=has_right(account, Right.SEE_PLAN),
        can_download=has_right(account, Right.DOWNLOAD),
        can_see_accesses=account.relationship != Relationship.CAREGIVER,
        is_self=account.relationship == Relationship.SELF,
        **context,
    )


# --- sign-in ---------------------------------------------------------------------------------


@bp.route("/espace/connexion", methods=["GET", "POST"])
@public
@limiter.limit(_rate, methods=["POST"])
def sign_in():
    if getattr(current_user, "is_patient_side", False):
        return redirect(url_for("patient_space.home"))
    form = EmailForm()
    if not form.validate_on_submit():
        return render_template("patient_space/sign_in.html", form=form), (
            422 if form.errors else 200
        )
    try:
        sent = auth.request_code(
            form.email.data or "", request.remote_addr or "", request_context()
        )
    except TooManyAttempts as exc:
        db.session.commit()  # keep the audited refusal
        return render_template("patient_space/sign_in.html", form=form, problem=exc.message), 429
    db.session.commit()
    code_form = CodeForm(formdata=None, email=form.email.data)
    return render_template(
        "patient_space/sign_in_code.html", form=code_form, code_for_tests=sent.code_for_tests
    )


@bp.post("/espace/connexion/code")
@public
@limiter.limit(_rate)
def verify_code():
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("patient_space/sign_in_code.html", form=form), 422
    try:
        account = auth.verify_code(
            form.email.data or "",
            form.code.data or "",
            request.remote_addr or "",
            request_context(),
        )
    except (InvalidInput, TooManyAttempts) as exc:
        db.session.commit()  # keep the failure count and its audit event
        form.code.data = ""
        status = 429 if isinstance(exc, TooManyAttempts) else 422
        return render_template(
            "patient_space/sign_in_code.html", form=form, problem=exc.message
        ), status
    if account.totp_secret:
        # The e-mailed code passed; the application's code is asked next (5 minutes).
        from flask import session

        session[_PENDING_KEY] = [account.id, int(clock.now().timestamp()) + 300]
        db.session.commit()
        return render_template("patient_space/sign_in_totp.html", form=app_code_form(formdata=None))
    start_patient_side_session(account)
    db.session.commit()
    return redirect(url_for("patient_space.home"))


_PENDING_KEY = "p_totp_pending"


@bp.post("/espace/connexion/application")
@public
@limiter.limit(_rate)
def verify_totp():
    from flask import session

    pending = session.get(_PENDING_KEY)
    account = (
        db.session.get(PatientAccount, pending[0])
        if isinstance(pending, list) and pending[1] > clock.now().timestamp()
        else None
    )
    if account is None or not account.is_active or not account.totp_secret:
        flash("Recommencez la connexion : demandez un nouveau code par e-mail.", "error")
        return redirect(url_for("patient_space.sign_in"))
    form = app_code_form()
    try:
        auth.verify_totp(
            account, form.code.data or "", request.remote_addr or "", request_context()
        )
    except (InvalidInput, TooManyAttempts) as exc:
        db.session.commit()  # keep the failure count and its audit event
        status = 429 if isinstance(exc, TooManyAttempts) else 422
        return render_template(
            "patient_space/sign_in_totp.html", form=form, problem=exc.message
        ), status
    start_patient_side_session(account)
    db.session.commit()
    return redirect(url_for("patient_space.home"))


@bp.route("/espace/securite", methods=["GET", "POST"])
@requires("patient_space.use")
@patient_side
def security():
    from flask import session

    account = _account()
    patient = _patient(account, "security")
    form = app_code_form()
    secret = session.get("p_totp_secret") or auth.new_totp_secret()
    session["p_totp_secret"] = secret
    problem = ""
    if request.method == "POST" and form.validate_on_submit():
        try:
            auth.enrol_totp(account, secret, form.code.data or "", request_context())
        except InvalidInput as exc:
            db.session.rollback()
            problem = exc.message
        else:
            db.session.commit()
            session.pop("p_totp_secret", None)
            flash(
                "L'application est activée : elle vous sera demandée à chaque connexion.", "success"
            )
            return redirect(url_for("patient_space.home"))
    return _page(
        "security.html",
        account,
        patient,
        form=form,
        secret=secret,
        uri=auth.totp_uri(account, secret),
        problem=problem,
    ), (422 if problem else 200)


@bp.route("/espace/invitation/<token>", methods=["GET", "POST"])
@public
@limiter.limit(_rate, methods=["POST"])
def accept_invitation(token: str):
    form = AcceptForm()
    invitation = auth.find_live_invitation(token)
    if request.method == "POST" and form.validate_on_submit():
        try:
            account = auth.accept_invitation(token, request_context())
        except DomainError as exc:
            db.session.commit()  # keep the audited refusal (the link stays usable if it was)
            status = 410 if isinstance(exc, InvalidInput) else exc.status
            return render_template("patient_space/invitation.html", problem=exc.message), status
        start_patient_side_session(account)
        db.session.commit()
        flash(
            "Votre espace est ouvert. La prochaine fois, connectez-vous avec votre adresse "
            "e-mail : un code vous sera envoyé.",
            "success",
        )
        return redirect(url_for("patient_space.home"))
    if invitation is None:
        record_event(
            request_context(),
            "patient_space.accept",
            outcome=Outcome.FAILURE,
            reason="invalid link (opened)",
        )
        db.session.commit()
        return render_template("patient_space/invitation.html", problem=auth.INVALID_LINK), 410
    return render_template("patient_space/invitation.html", form=form, invitation=invitation)


@bp.post("/espace/deconnexion")
@requires("patient_space.use")
@patient_side
def sign_out():
    from flask import session
    from flask_login import logout_user

    services.sign_out(_account(), request_context())
    db.session.commit()
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté·e.", "info")
    return redirect(url_for("patient_space.sign_in"))


# --- the person's record ---------------------------------------------------------------------


@bp.get("/espace")
@requires("patient_space.use")
@patient_side
def home():
    account = _account()
    patient = _patient(account, "home")
    plan = queries.plan_of(patient.id)
    view = None
    if plan is not None and plan.current_version is not None and has_right(account, Right.SEE_PLAN):
        view = queries.plan_view(plan, plan.current_version)
    circle = queries.circle_people(patient)
    return _page(
        "home.html",
        account,
        patient,
        plan=view,
        coordinators=[p for p in circle if p.is_coordinator],
        can_answer=account.relationship != Relationship.CAREGIVER,
    )


@bp.get("/espace/plan")
@requires("patient_space.use")
@patient_side
def plan():
    account = _account()
    patient = _patient(account, "plan")
    found = queries.plan_of(patient.id)
    if found is None or found.current_version is None:
        return _page("plan.html", account, patient, plan=None, versions=[])
    _require(services.plan_refusal(account, found, request_context()))
    return _page(
        "plan.html",
        account,
        patient,
        plan=queries.plan_view(found, found.current_version),
        versions=queries.earlier_versions(found),
        can_answer=account.relationship != Relationship.CAREGIVER,
    )


@bp.get("/espace/plan/versions/<int:number>")
@requires("patient_space.use")
@patient_side
def plan_version(number: int):
    account = _account()
    patient = _patient(account, f"plan version {number}")
    found = queries.plan_of(patient.id)
    if found is None:
        raise NotFound("Plan introuvable.")
    _require(services.plan_refusal(account, found, request_context()))
    version = plan_queries.get_version(found.id, number)
    return _page("plan_version.html", account, patient, plan=queries.plan_view(found, version))


def _answer_page(
    account: PatientAccount,
    patient: Patient,
    form: AnswerForm,
    status: int = 200,
    problems: tuple[str, ...] = (),
):
    found = queries.plan_of(patient.id)
    view = (
        queries.plan_view(found, found.current_version)
        if found is not None and found.current_version is not None
        else None
    )
    if view is not None and not form.version_id.data:
        form.version_id.data = str(view.version_id)
    return _page(
        "agreement.html", account, patient, plan=view, form=form, problems=problems
    ), status


@bp.route("/espace/plan/accord", methods=["GET", "POST"])
@requires("patient_space.use")
@patient_side
def agreement():
    account = _account()
    patient = _patient(account, "plan agreement")
    found = queries.plan_of(patient.id)
    if found is None or found.current_version is None:
        raise NotFound("Aucun plan n'attend votre accord.")
    _require(services.answer_refusal(account, found, request_context()))
    form = AnswerForm()
    if not form.validate_on_submit():
        return _answer_page(account, patient, form, 422 if form.errors else 200)
    version = found.current_version
    if str(version.id) != (form.version_id.data or ""):
        form.version_id.data = str(version.id)
        stale = (
            "Le plan a changé pendant votre lecture : relisez la nouvelle version avant "
            "de répondre."
        )
        return _answer_page(account, patient, form, 409, (stale,))
    try:
        services.answer_plan(
            account,
            found,
            version,
            form.kind.data or "",
            form.comment.data or "",
            request_context(),
        )
    except RuleDenied:
        db.session.commit()  # keep the audited refusal; nothing else was written
        raise
    except DomainError as exc:
        db.session.rollback()
        if exc.field and exc.field in form:
            form[exc.field].errors = [exc.message]
            return _answer_page(account, patient, form, exc.status)
        return _answer_page(account, patient, form, exc.status, (exc.message,))
    db.session.commit()
    if form.kind.data == "agree":
        flash("Merci : votre accord est enregistré. L'équipe en est prévenue.", "success")
    else:
        flash(
            "Votre demande de changement est envoyée à l'équipe, qui vous recontactera.", "success"
        )
    return redirect(url_for("patient_space.plan"))


@bp.get("/espace/cercle")
@requires("patient_space.use")
@patient_side
def circle():
    account = _account()
    _require_grant(
        account,
        has_right(account, Right.SEE_PLAN),
        "patient_space.read_circle",
        "voir qui la suit",
    )
    patient = _patient(account, "circle")
    return _page("circle.html", account, patient, people=queries.circle_people(patient))


@bp.get("/espace/documents")
@requires("patient_space.use")
@patient_side
def documents():
    account = _account()
    _require_grant(
        account,
        has_right(account, Right.DOWNLOAD),
        "patient_space.read_documents",
        "voir ses documents",
    )
    patient = _patient(account, "documents")
    return _page(
        "documents.html",
        account,
        patient,
        documents=queries.filed_documents(patient.id),
        mon_espace_sante=queries.MON_ESPACE_SANTE_URL,
    )


@bp.route("/espace/partage", methods=["GET", "POST"])
@requires("patient_space.use")
@patient_side
def sharing():
    account = _account()
    patient = _patient(account, "consents")
    form = SharingForm()
    can_change = account.relationship != Relationship.CAREGIVER
    confirm = False
    if request.method == "POST" and form.validate_on_submit():
        given = form.given.data == "1"
        if not given and form.confirmed.data != "1":
            confirm = True  # say what a withdrawal does, then ask again
        else:
            try:
                services.change_sharing(account, patient, given, request_context())
            except RuleDenied:
                db.session.commit()  # keep the audited refusal; nothing else was written
                raise
            except DomainError as exc:
                db.session.rollback()
                flash(exc.message, "error")
                return redirect(url_for("patient_space.sharing"))
            db.session.commit()
            flash(
                "Votre choix est enregistré et s'applique dès maintenant."
                if given
                else "Le partage est retiré : seule l'équipe qui vous suit a encore accès à votre "
                "dossier, dès maintenant.",
                "success",
            )
            return redirect(url_for("patient_space.sharing"))
    return _page(
        "sharing.html",
        account,
        patient,
        consent=queries.consent_view(patient),
        form=form,
        confirm=confirm,
        can_change=can_change,
    )


@bp.get("/espace/acces")
@requires("patient_space.use")
@patient_side
def accesses():
    account = _account()
    _require_grant(
        account,
        account.relationship != Relationship.CAREGIVER,
        "patient_space.read_access_log",
        "voir qui a consulté son dossier",
    )
    patient = _patient(account, "access log")
    return _page(
        "accesses.html",
        account,
        patient,
        entries=team_queries.access_log(patient.id, limit=200),
    )
