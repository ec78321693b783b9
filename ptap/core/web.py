"""Web plumbing: deny-by-default access guard, security headers, French error pages."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from ptap.core.bounds import install_bounds
from ptap.core.errors import DomainError, PermissionDenied, RuleDenied
from ptap.core.logs import loggable_path
from ptap.core.policy import (
    PUBLIC,
    declared_access,
    is_patient_side_actor,
    is_patient_side_view,
    require,
)
from ptap.extensions import login_manager

log = logging.getLogger(__name__)

ERROR_MESSAGES = {
    400: ("Requête invalide", "La requête n'a pas pu être traitée. Vérifiez le formulaire."),
    401: ("Authentification requise", "Connectez-vous pour accéder à cette page."),
    403: ("Accès refusé", "Vous n'avez pas accès à cette page ou à ces informations."),
    404: ("Page introuvable", "La page demandée n'existe pas ou n'est pas accessible."),
    405: ("Méthode non autorisée", "Cette action n'est pas possible sur cette page."),
    413: ("Fichier trop volumineux", "Le fichier envoyé dépasse la taille autorisée."),
    409: ("Conflit", "L'opération entre en conflit avec l'état actuel des données."),
    422: ("Donnée invalide", "Une donnée envoyée est invalide."),
    429: ("Trop de tentatives", "Trop de requêtes en peu de temps. Patientez avant de réessayer."),
    500: ("Erreur interne", "Une erreur inattendue est survenue. L'équipe technique est prévenue."),
    503: ("Service momentanément indisponible", "Réessayez dans quelques minutes."),
}

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


#: Main navigation entries registered by domains: (label, endpoint, policy action, group).
NAV_ITEMS: list[tuple[str, str, str, str]] = []

#: The groups of the main navigation, in display order: (key, French label).
NAV_GROUPS: list[tuple[str, str]] = [
    ("patients", "Patients"),
    ("coordination", "Coordination"),
    ("territoire", "Territoire"),
    ("administration", "Administration"),
    ("compte", "Mon compte"),
]


def register_nav(label: str, endpoint: str, action: str, group: str = "coordination") -> None:
    """Add a main-navigation link in `group` (a NAV_GROUPS key), shown to users the policy
    allows to perform `action`."""
    if group not in dict(NAV_GROUPS):
        raise ValueError(f"unknown navigation group: {group}")
    if not any(item[1] == endpoint for item in NAV_ITEMS):
        NAV_ITEMS.append((label, endpoint, action, group))


#: Landing pages registered by domains: (endpoint, policy action). The home page sends a user
#: to the first one the policy allows (coordinators land on their dashboard).
HOME_PAGES: list[tuple[str, str]] = []


def register_home(endpoint: str, action: str) -> None:
    """Make `endpoint` the landing page of the users the policy allows to perform `action`."""
    if (endpoint, action) not in HOME_PAGES:
        HOME_PAGES.append((endpoint, action))


def home_page_for(user: Any) -> str | None:
    """Return the endpoint a user lands on instead of the generic home page, if any."""
    from ptap.core.policy import can

    return next((endpoint for endpoint, action in HOME_PAGES if can(user, action)), None)


def nav_links() -> dict[str, Any]:
    """Template context: the navigation links the current user may follow, flat (`nav_links`)
    and grouped (`nav_groups`: (key, label, [(label, endpoint)]) for the non-empty groups)."""
    if not current_user.is_authenticated or is_patient_side_actor(current_user):
        return {"nav_links": [], "nav_groups": []}
    from ptap.core.policy import can

    allowed = [item for item in NAV_ITEMS if can(current_user, item[2])]
    groups = [
        (key, title, [(lbl, ep) for lbl, ep, _, grp in allowed if grp == key])
        for key, title in NAV_GROUPS
    ]
    return {
        "nav_links": [(lbl, ep) for lbl, ep, _, _ in allowed],
        "nav_groups": [group for group in groups if group[2]],
    }


#: Where the home page sends a patient-side account (the patient space's home).
PATIENT_SIDE_HOME = "patient_space.home"


def is_api_request() -> bool:
    """Tell whether the current request targets the JSON API."""
    return request.path.startswith("/api/")


def guard_endpoint() -> Any:
    """Refuse any endpoint that declared no access rule, and enforce the declared one."""
    if request.endpoint is None:  # routing failed: the 404/405 handler answers
        return None
    if request.endpoint == "static":
        return None
    view = current_app.view_functions.get(request.endpoint)
    access = declared_access(view)
    if access is None:
        log.error("endpoint %s declares no access rule: refused", request.endpoint)
        raise PermissionDenied()
    # Patient-side accounts reach the patient space and public pages, nothing else; professional
    # accounts never reach the patient space. Decided here, once, not in each view.
    patient_actor = is_patient_side_actor(current_user)
    patient_view = is_patient_side_view(view)
    if patient_actor and request.endpoint == "core.home":
        from flask import redirect, url_for

        return redirect(url_for(PATIENT_SIDE_HOME))
    if patient_actor and not (patient_view or access == PUBLIC):
        log.warning("patient-side account refused %s", request.endpoint)
        raise PermissionDenied()
    if access == PUBLIC:
        return None
    if not current_user.is_authenticated:
        if patient_view:
            from flask import redirect, url_for

            return redirect(url_for("patient_space.sign_in"))
        return login_manager.unauthorized()
    if patient_view and not patient_actor:
        raise PermissionDenied()
    require(current_user, access)
    return None


def set_security_headers(response: Response) -> Response:
    """Add CSP, framing, sniffing, referrer and caching headers to every response."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    # same-origin keeps the Referer Flask-WTF checks over HTTPS and sends none elsewhere.
    headers["Referrer-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if current_app.config["SESSION_COOKIE_SECURE"]:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if request.endpoint != "static":
        # Pages may hold health data: never stored by browsers or proxies.
        headers["Cache-Control"] = "no-store"
    return response


def render_error(status: int, detail: str | None = None, field: str | None = None) -> Any:
    """Answer an error as French HTML, or as application/problem+json for the API."""
    title, default_detail = ERROR_MESSAGES.get(status, ERROR_MESSAGES[500])
    g.error_page = True  # shows no record: the audit safety net writes nothing for it
    if is_api_request():
        from ptap.core.api import problem

        return problem(
            status,
            title,
            detail or default_detail,
            field=field,
            errors=g.pop("problem_errors", None),
        )
    return render_template(
        "errors/error.html", status=status, title=title, detail=detail or default_detail
    ), status


def _handle_domain_error(error: DomainError) -> Any:
    from ptap.extensions import db

    db.session.rollback()
    # A denial says nothing about the object: no data in the body.
    hidden = isinstance(error, PermissionDenied) and not isinstance(error, RuleDenied)
    detail = None if hidden else error.message
    return render_error(error.status, detail, error.field)


def _handle_http_error(error: HTTPException) -> Any:
    status = error.code or 500
    return render_error(status, None if status in ERROR_MESSAGES else error.description)


def _handle_csrf_error(error: CSRFError) -> Any:
    return render_error(
        400,
        "Le formulaire a expiré ou n'est pas valide (jeton CSRF). Rechargez la page et réessayez.",
    )


def _handle_integrity_error(error: sa_exc.IntegrityError) -> Any:
    """A uniqueness rule the checks missed under concurrency (two requests at once): 409."""
    from ptap.extensions import db

    log.warning(
        "integrity error on %s %s: %s", request.method, loggable_path(request.path), error.orig
    )
    db.session.rollback()
    return render_error(
        409,
        "Une autre opération vient de modifier ces données en même temps. "
        "Rechargez la page pour voir l'état actuel, puis réessayez si besoin.",
    )


def _handle_out_of_range(error: Exception) -> Any:
    """A number the database cannot hold (a bound missed somewhere): 422, never a 500."""
    from ptap.extensions import db

    log.warning(
        "out-of-range value on %s %s: %s", request.method, loggable_path(request.path), error
    )
    db.session.rollback()
    return render_error(422, "Une valeur numérique envoyée est hors limites.")


def _handle_unexpected(error: Exception) -> Any:
    from ptap.extensions import db

    log.exception("unhandled error on %s %s", request.method, loggable_path(request.path))
    db.session.rollback()
    return render_error(500)


def init_web(app: Flask) -> None:
    """Install the access guard, headers and error handlers."""
    app.before_request(guard_endpoint)
    install_bounds(app)  # after the guard: strangers get 401, not a body check
    app.after_request(set_security_headers)
    app.register_error_handler(DomainError, _handle_domain_error)
    app.register_error_handler(CSRFError, _handle_csrf_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(sa_exc.IntegrityError, _handle_integrity_error)
    app.register_error_handler(sa_exc.DataError, _handle_out_of_range)
    app.register_error_handler(OverflowError, _handle_out_of_range)
    app.register_error_handler(Exception, _handle_unexpected)
    app.context_processor(nav_links)
