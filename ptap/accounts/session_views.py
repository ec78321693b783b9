"""The "Mes sessions" page: one's own live login sessions, ending one or all the others.

Routes belong to the accounts blueprint; this module only adds them (imported before the
blueprint is registered).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for
from flask_login import current_user, logout_user

from ptap.accounts import my_sessions, queries
from ptap.accounts.forms import EmptyForm
from ptap.accounts.sessions import current_session_row
from ptap.accounts.views import bp
from ptap.audit.context import request_context
from ptap.core.actions import run_action
from ptap.core.formatting import PARIS
from ptap.core.policy import requires


def _when(moment) -> str:
    return moment.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")


@bp.get("/account/sessions")
@requires("account.manage_own")
def list_sessions():
    rows = my_sessions.list_own_sessions(current_user, current_session_row())
    return render_template(
        "accounts/sessions.html",
        sessions=[
            {
                "handle": r.handle,
                "created": _when(r.created_at),
                "seen": _when(r.last_seen_at),
                "device": r.device,
                "address": r.ip_address or "non enregistrée",
                "current": r.current,
            }
            for r in rows
        ],
        tokens=queries.list_live_tokens(current_user),
        form=EmptyForm(),
    )


@bp.post("/account/sessions/<handle>/end")
@requires("account.manage_own")
def end_own_session(handle: str):
    if not EmptyForm().validate_on_submit():
        flash("Le formulaire a expiré : réessayez.", "error")
        return redirect(url_for("accounts.list_sessions"))
    current = current_session_row()
    # A handle naming no live session of this user (another user's one) raises NotFound: 404.
    outcome = run_action(
        lambda: my_sessions.end_own_session(current_user, handle, request_context()), catch=()
    )
    if current is not None and outcome.value.id == current.id:
        logout_user()
        session.clear()
        flash("Cette session est fermée.", "info")
        return redirect(url_for("accounts.login"))
    flash("La session a été fermée sur cet appareil.", "success")
    return redirect(url_for("accounts.list_sessions"))


@bp.post("/account/sessions/end-others")
@requires("account.manage_own")
def end_other_sessions():
    if EmptyForm().validate_on_submit():
        outcome = run_action(
            lambda: my_sessions.end_other_sessions(
                current_user, current_session_row(), request_context()
            ),
            catch=(),
        )
        count = outcome.value
        flash(
            f"{count} autre(s) session(s) fermée(s)." if count else "Aucune autre session ouverte.",
            "success",
        )
    return redirect(url_for("accounts.list_sessions"))
