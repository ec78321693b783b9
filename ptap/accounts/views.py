"""Login (password, then TOTP), enrolment, logout, own account and API tokens."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import segno
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from ptap.accounts import activation, queries, services
from ptap.accounts.forms import (
    ActivationForm,
    ChangePasswordForm,
    EmptyForm,
    EnrolForm,
    LoginForm,
    SecondFactorForm,
    TokenForm,
)
from ptap.accounts.models import User
from ptap.accounts.notifications import list_notifications, mark_all_read
from ptap.accounts.sessions import current_session_row, end_session, start_session
from ptap.audit.context import request_context
from ptap.core import clock
from ptap.core.errors import AuthenticationFailed, DomainError
from ptap.core.formatting import PARIS
from ptap.core.forms import attach_error
from ptap.core.policy import public, requires
from ptap.core.web import register_nav
from ptap.extensions import db, limiter

bp = Blueprint("accounts", __name__)
register_nav("Notifications", "accounts.notifications", "account.manage_own", "compte")
register_nav("Mon compte", "accounts.account", "account.manage_own", "compte")
register_nav("Mes sessions", "accounts.list_sessions", "account.manage_own", "compte")
PENDING = "pending_login"
ENROL_SECRET = "enrol_secret"  # noqa: S105 - a session key name


def _login_rate() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _has_control_or_backslash(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 or c == "\\" for c in text)


def safe_next_path(target: str | None) -> str | None:
    """Return `target` if it is a same-site path, else None.

    Browsers drop tabs and newlines and read a backslash as a slash, so `/\t/evil.example`
    or `/\\evil.example` would leave the site: refuse control characters and backslashes
    (also once percent-decoded), any scheme or host, and anything but one leading `/`.
    """
    if not target or len(target) > 2000:
        return None
    decoded = unquote(target)
    if _has_control_or_backslash(target) or _has_control_or_backslash(decoded):
        return None
    if not target.startswith("/") or target.startswith("//") or decoded.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _safe_next(target: str | None) -> str:
    return safe_next_path(target) or url_for("core.home")


def _pending_user() -> User | None:
    pending = session.get(PENDING)
    if not pending:
        return None
    timeout = int(current_app.config["TOTP_STEP_TIMEOUT_SECONDS"])
    if clock.now().timestamp() - pending["at"] > timeout:
        session.pop(PENDING, None)
        return None
    user = db.session.get(User, pending["user_id"])
    return user if user is not None and user.active else None


def _finish_login(user: User):
    next_url = session.get(PENDING, {}).get("next")
    start_session(user)
    db.session.commit()
    if user.must_change_password:
        flash("Choisissez un nouveau mot de passe avant de continuer.", "info")
        return redirect(url_for("accounts.change_password"))
    return redirect(_safe_next(next_url))


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_login_rate, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate_password(
                form.email.data, form.password.data, request_context(user=None)
            )
        except AuthenticationFailed as exc:
            db.session.commit()  # failure counters and audit rows are kept
            attach_error(form, exc)
            return render_template("accounts/login.html", form=form), 401
        db.session.commit()
        session.clear()
        session[PENDING] = {
            "user_id": user.id,
            "at": clock.now().timestamp(),
            "next": request.args.get("next"),
        }
        if user.totp_confirmed_at is None:
            return redirect(url_for("accounts.enrol"))
        return redirect(url_for("accounts.second_factor"))
    return render_template(
        "accounts/login.html", form=form, psc_enabled=current_app.config["PSC_ENABLED"]
    )


@bp.route("/login/second-factor", methods=["GET", "POST"])
@public
@limiter.limit(_login_rate, methods=["POST"])
def second_factor():
    user = _pending_user()
    if user is None or user.totp_confirmed_at is None:
        flash("Recommencez la connexion.", "info")
        return redirect(url_for("accounts.login"))
    form = SecondFactorForm()
    if form.validate_on_submit():
        try:
            method = services.verify_second_factor(user, form.code.data, request_context(user))
        except AuthenticationFailed as exc:
            db.session.commit()
            attach_error(form, exc)
            return render_template("accounts/second_factor.html", form=form), 401
        if method == "recovery":
            flash("Code de secours utilisé : pensez à en générer de nouveaux.", "info")
        return _finish_login(user)
    return render_template("accounts/second_factor.html", form=form)


@bp.route("/login/enrol", methods=["GET", "POST"])
@public
@limiter.limit(_login_rate, methods=["POST"])
def enrol():
    user = _pending_user()
    if user is None or user.totp_confirmed_at is not None:
        return redirect(url_for("accounts.login"))
    secret = session.get(ENROL_SECRET) or services.new_totp_secret()
    session[ENROL_SECRET] = secret
    form = EnrolForm()
    if form.validate_on_submit():
        try:
            codes = services.confirm_totp_enrolment(
                user, secret, form.code.data, request_context(user)
            )
        except DomainError as exc:
            db.session.commit()
            attach_error(form, exc)
        else:
            session.pop(ENROL_SECRET, None)
            start_session(user)
            db.session.commit()
            return render_template("accounts/recovery_codes.html", codes=codes, first_time=True)
    uri = services.totp_provisioning_uri(user, secret)
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
    return render_template("accounts/enrol.html", form=form, qr=qr, secret=secret)


@bp.post("/logout")
@requires("account.manage_own")
def logout():
    services.record_logout(current_user, request_context())
    end_session("logout")  # ends the server-side row: a copy of the cookie stops working
    db.session.commit()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("accounts.login"))


@bp.get("/account")
@requires("account.manage_own")
def account():
    return render_template(
        "accounts/account.html",
        tokens=queries.list_tokens(current_user),
        token_form=TokenForm(),
        form=EmptyForm(),
    )


@bp.post("/account/logout-everywhere")
@requires("account.manage_own")
def logout_everywhere():
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("accounts.account"))
    services.logout_everywhere(current_user, request_context())
    end_session("logout_everywhere")
    db.session.commit()
    flash("Toutes vos sessions ont été fermées.", "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires("account.manage_own")
def change_password():
    form = ChangePasswordForm()
    user = current_user._get_current_object()
    if form.validate_on_submit():
        try:
            services.change_password(
                user, form.current_password.data, form.new_password.data, request_context()
            )
        except DomainError as exc:
            db.session.commit()
            attach_error(form, exc)
        else:
            start_session(user)  # every session ended: this browser gets a new one
            db.session.commit()
            flash("Mot de passe modifié. Vos autres sessions ont été fermées.", "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/change_password.html", form=form)


@bp.post("/account/recovery-codes")
@requires("account.manage_own")
def regenerate_recovery_codes():
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("accounts.account"))
    codes = services.regenerate_recovery_codes(current_user, request_context())
    db.session.commit()
    return render_template("accounts/recovery_codes.html", codes=codes, first_time=False)


@bp.post("/account/tokens")
@requires("account.manage_own")
def create_token():
    form = TokenForm()
    plaintext = None
    if form.validate_on_submit():
        user, row = current_user._get_current_object(), current_session_row()
        try:
            if row is not None:
                services.reauthenticate(
                    user, row, form.password.data, form.code.data, request_context()
                )
            _, plaintext = services.mint_api_token(
                user, row, form.name.data, form.scopes.data, form.days.data, request_context()
            )
        except DomainError as exc:
            db.session.commit()  # failure counters and audit rows are kept
            attach_error(form, exc)
        else:
            db.session.commit()
    status = 200 if plaintext or not form.errors else 422
    return render_template(
        "accounts/account.html",
        tokens=queries.list_tokens(current_user),
        token_form=form,
        form=EmptyForm(),
        new_token=plaintext,
    ), status


@bp.post("/account/tokens/<int:token_id>/revoke")
@requires("account.manage_own")
def revoke_token(token_id: int):
    if EmptyForm().validate_on_submit():
        services.revoke_api_token(current_user, token_id, request_context())
        db.session.commit()
        flash("Jeton révoqué.", "success")
    return redirect(url_for("accounts.account"))


@bp.get("/notifications")
@requires("account.manage_own")
def notifications():
    notes = list_notifications(current_user.id)
    rows = [
        {
            "title": n.title,
            # Links are local paths written by PTAP; anything else is shown without a link.
            "link": n.link if n.link.startswith("/") and not n.link.startswith("//") else "",
            "at": n.created_at.isoformat(),
            "when": n.created_at.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M"),
            "unread": n.read_at is None,
        }
        for n in notes
    ]
    return render_template(
        "accounts/notifications.html",
        notifications=rows,
        unread=sum(row["unread"] for row in rows),
        form=EmptyForm(),
    )


@bp.post("/notifications/read")
@requires("account.manage_own")
def mark_notifications_read():
    if EmptyForm().validate_on_submit():
        mark_all_read(current_user.id)
        db.session.commit()
        flash("Toutes les notifications sont marquées comme lues.", "success")
    return redirect(url_for("accounts.notifications"))


@bp.route("/activate/<token>", methods=["GET", "POST"])
@public
@limiter.limit(_login_rate, methods=["POST"])
def activate(token: str):
    if activation.find_activation_user(token) is None:
        flash(activation.INVALID_LINK, "error")
        return redirect(url_for("accounts.login"))
    form = ActivationForm()
    if form.validate_on_submit():
        if form.password.data != form.confirm.data:
            form.confirm.errors = ["Les deux mots de passe diffèrent."]
        else:
            try:
                user = activation.activate_account(
                    token, form.password.data, request_context(user=None)
                )
            except DomainError as exc:
                db.session.commit()
                attach_error(form, exc)
            else:
                db.session.commit()
                # The second factor comes next, as after a password: enrolment or TOTP.
                session.clear()
                session[PENDING] = {"user_id": user.id, "at": clock.now().timestamp()}
                flash("Mot de passe enregistré.", "success")
                if user.totp_confirmed_at is None:
                    return redirect(url_for("accounts.enrol"))
                return redirect(url_for("accounts.second_factor"))
    return render_template("accounts/activate.html", form=form), 422 if form.errors else 200
