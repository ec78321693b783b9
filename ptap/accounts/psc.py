"""Login through Pro Santé Connect (OpenID Connect, e-CPS), mapped to accounts by RPPS.

PSC is a strong authentication (the e-CPS is itself two-factor): no TOTP step follows it.
The routes exist only when PSC_ENABLED is true.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, current_app, flash, redirect, url_for
from flask_login import current_user
from joserfc.errors import JoseError
from requests import RequestException
from werkzeug.wrappers import Response

from ptap.accounts import services
from ptap.accounts.sessions import AUTH_PSC, start_session
from ptap.audit.context import request_context
from ptap.audit.models import Outcome
from ptap.audit.services import record_event
from ptap.core.errors import AuthenticationFailed
from ptap.core.identifiers import is_valid_rpps
from ptap.core.policy import public
from ptap.extensions import db

log = logging.getLogger(__name__)

bp = Blueprint("psc", __name__)
CLIENT_NAME = "psc"
EXTENSION_KEY = "ptap.psc_client"
PSC_FAILED = (
    "La connexion Pro Santé Connect a échoué. Réessayez ou connectez-vous avec votre mot de passe."
)
NO_RPPS = (
    "Votre identité Pro Santé Connect ne comporte pas de numéro RPPS : "
    "connectez-vous avec votre mot de passe."
)
# What a provider or network failure can raise while the code is exchanged and checked.
OIDC_ERRORS = (AuthlibBaseError, JoseError, RequestException, ValueError, KeyError)


class PscLoginError(Exception):
    """The PSC answer cannot log anybody in; `reason` goes to the audit trail."""

    def __init__(self, reason: str, message: str = PSC_FAILED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


def init_psc(app: Flask) -> None:
    """Register the PSC OpenID client and the routes, only when PSC_ENABLED."""
    cfg = app.config
    if not cfg["PSC_ENABLED"]:
        return
    # One registry per app: Authlib caches clients (and provider metadata) per registry, and
    # tests build several apps in one process.
    oauth = OAuth(app)
    metadata_url = str(cfg["PSC_ISSUER"]).rstrip("/") + "/.well-known/openid-configuration"
    app.extensions[EXTENSION_KEY] = oauth.register(
        CLIENT_NAME,
        server_metadata_url=metadata_url,
        client_id=cfg["PSC_CLIENT_ID"],
        client_secret=cfg["PSC_CLIENT_SECRET"],
        client_kwargs={"scope": cfg["PSC_SCOPES"], "code_challenge_method": "S256"},
    )
    app.register_blueprint(bp)


def _client() -> Any:
    return current_app.extensions[EXTENSION_KEY]


def rpps_from_subject(subject_name_id: object) -> str | None:
    """Return the RPPS carried by a PSC SubjectNameID ("8" + 11-digit RPPS), or None."""
    value = str(subject_name_id or "").strip()
    if len(value) == 12 and value.startswith("8"):
        value = value[1:]
    return value if is_valid_rpps(value) else None


def _claims_options(client: Any) -> dict[str, dict[str, Any]]:
    # Authlib checks iss and nonce by default but not that aud names us: ask for it, and for
    # the level of assurance requested (eidas1 = e-CPS).
    options: dict[str, dict[str, Any]] = {
        "iss": {"essential": True, "value": client.load_server_metadata()["issuer"]},
        "aud": {"essential": True, "value": client.client_id},
    }
    acr = current_app.config["PSC_ACR_VALUES"]
    if acr:
        options["acr"] = {"essential": True, "value": acr}
    return options


def _describe(exc: Exception) -> str:
    error = getattr(exc, "error", "") or type(exc).__name__
    description = getattr(exc, "description", "") or ""
    return f"{error}: {description}"[:200] if description else str(error)[:200]


def _authenticated_rpps() -> str:
    """Exchange the code, check state, id_token and userinfo; return the RPPS."""
    client = _client()
    try:
        token = client.authorize_access_token(claims_options=_claims_options(client))
        id_claims = token.get("userinfo")
        if not id_claims:  # Authlib checks the id_token only when there is one
            raise PscLoginError("no id_token")
        userinfo = client.userinfo()
    except OIDC_ERRORS as exc:
        raise PscLoginError(_describe(exc)) from exc
    if userinfo.get("sub") != id_claims.get("sub"):
        raise PscLoginError("userinfo sub differs from id_token sub")
    rpps = rpps_from_subject(userinfo.get("SubjectNameID"))
    if rpps is None:
        raise PscLoginError("no RPPS in SubjectNameID", NO_RPPS)
    return rpps


def _refuse(exc: PscLoginError) -> Response:
    db.session.rollback()
    record_event(
        request_context(user=None),
        "auth.login",
        outcome=Outcome.FAILURE,
        reason=f"psc: {exc.reason}",
    )
    db.session.commit()
    flash(exc.message, "error")
    return redirect(url_for("accounts.login"))


@bp.get("/login/psc")
@public
def login() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    redirect_uri = url_for("psc.callback", _external=True)
    try:
        return _client().authorize_redirect(
            redirect_uri,
            nonce=secrets.token_urlsafe(24),
            acr_values=current_app.config["PSC_ACR_VALUES"],
        )
    except OIDC_ERRORS:
        log.warning("Pro Santé Connect unreachable", exc_info=True)
        flash(PSC_FAILED, "error")
        return redirect(url_for("accounts.login"))


@bp.get("/login/psc/callback")
@public
def callback() -> Response:
    try:
        rpps = _authenticated_rpps()
    except PscLoginError as exc:
        return _refuse(exc)
    try:
        user = services.login_with_rpps(rpps, CLIENT_NAME, request_context(user=None))
    except AuthenticationFailed as exc:
        db.session.commit()  # keep the audit row of the refusal
        flash(exc.message, "error")
        return redirect(url_for("accounts.login"))
    start_session(user, AUTH_PSC)
    db.session.commit()
    return redirect(url_for("core.home"))
