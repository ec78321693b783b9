"""Account administration: list, create, reset password, (de)activate. No clinical content."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ptap.accounts import activation, queries, services
from ptap.accounts.forms import EmptyForm, ResetPasswordForm, UserForm
from ptap.accounts.models import User
from ptap.audit.context import request_context
from ptap.audit.queries import list_security_events_query
from ptap.core.actions import run_action
from ptap.core.forms import attach_error
from ptap.core.policy import requires
from ptap.extensions import db

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/users")
@requires("accounts.manage")
def list_users():
    page = db.paginate(queries.list_users_query(), per_page=50, error_out=False)
    return render_template("admin/users.html", page=page)


@bp.route("/users/new", methods=["GET", "POST"])
@requires("accounts.manage")
def create_user():
    form = UserForm()
    if form.validate_on_submit():
        data = services.NewUser(
            email=form.email.data,
            first_name=form.first_name.data,
            last_name=form.last_name.data,
            profession=form.profession.data,
            role=form.role.data,
            rpps=form.rpps.data or None,
        )

        def create() -> tuple[User, str]:
            user = services.create_user(data, request_context())
            # No password: the user sets one through a one-time link sent by e-mail.
            return user, activation.issue_activation_link(user, request_context())

        outcome = run_action(create)
        if not outcome.ok:
            attach_error(form, outcome.failure)
        else:
            user, token = outcome.value
            flash(f"Compte de {user.full_name} créé : lien d'activation envoyé.", "success")
            return _show_user(user, token)
    return render_template("admin/user_form.html", form=form), 422 if form.errors else 200


def _show_user(user, token: str | None = None):
    # The link is shown once, and only where no e-mail can carry it (development).
    link = activation.activation_url(token) if token and activation.show_link_to_admin() else None
    return render_template(
        "admin/user.html",
        user=user,
        reset_form=ResetPasswordForm(),
        form=EmptyForm(),
        activation_link=link,
    )


@bp.get("/users/<int:user_id>")
@requires("accounts.manage")
def show_user(user_id: int):
    return _show_user(queries.get_user(user_id))


@bp.post("/users/<int:user_id>/reset-password")
@requires("accounts.manage")
def reset_password(user_id: int):
    user = queries.get_user(user_id)
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        return redirect(url_for("admin.show_user", user_id=user.id))
    services.reset_password(
        current_user, user, request_context(), reset_second_factor=form.reset_second_factor.data
    )
    token = activation.issue_activation_link(user, request_context())
    db.session.commit()
    flash("Mot de passe réinitialisé : lien envoyé à la personne.", "success")
    return _show_user(user, token)


@bp.post("/users/<int:user_id>/active")
@requires("accounts.manage")
def set_active(user_id: int):
    user = queries.get_user(user_id)
    if EmptyForm().validate_on_submit():
        active = request.form.get("active") == "1"
        outcome = run_action(
            lambda: services.set_account_active(current_user, user, active, request_context()),
            success="Compte réactivé." if active else "Compte désactivé.",
        )
        if not outcome.ok:
            flash(outcome.failure.message, "error")
    return redirect(url_for("admin.show_user", user_id=user.id))


@bp.get("/security-log")
@requires("audit.view_security")
def security_log():
    page = db.paginate(list_security_events_query(), per_page=100, error_out=False)
    return render_template("admin/security_log.html", page=page)
