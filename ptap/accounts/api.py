"""JSON API of accounts: the current user, personal tokens, and the admin's user list."""

from __future__ import annotations

from flask import g
from flask_login import current_user

from ptap.accounts import queries, services
from ptap.accounts.models import User
from ptap.accounts.schemas import TokenCreate, TokenCreated, TokenList, TokenOut, UserOut
from ptap.accounts.sessions import current_session_row
from ptap.audit.context import request_context
from ptap.core.api import api_route, paginate_by_id, problem
from ptap.core.errors import DomainError, PermissionDenied
from ptap.extensions import db


@api_route(
    "/me",
    summary="Le compte connecté",
    access="account.manage_own",
    response=UserOut,
    tags=("Comptes",),
)
def me():
    return current_user._get_current_object()


@api_route(
    "/tokens",
    summary="Mes jetons d'accès",
    access="account.manage_own",
    response=TokenList,
    tags=("Comptes",),
)
def list_tokens():
    return {"items": queries.list_tokens(current_user)}


@api_route(
    "/tokens",
    "POST",
    summary="Créer un jeton (affiché une seule fois)",
    access="account.manage_own",
    body=TokenCreate,
    response=TokenCreated,
    status=201,
    tags=("Comptes",),
)
def create_token(body: TokenCreate):
    if g.get("api_token") is not None:
        # A leaked token must not be able to mint longer-lived ones: sessions only.
        raise PermissionDenied("Un jeton ne peut pas créer d'autres jetons.")
    user, row = current_user._get_current_object(), current_session_row()
    if row is not None and body.password is not None and body.code is not None:
        try:
            services.reauthenticate(user, row, body.password, body.code, request_context())
        except DomainError:
            db.session.commit()  # failure counters and audit rows are kept
            raise
    try:
        token, plaintext = services.mint_api_token(
            user, row, body.name, [s.value for s in body.scopes], body.days, request_context()
        )
    except PermissionDenied as exc:
        db.session.commit()  # keep the audit row of the refusal
        # Not an access-control secret: say what to do (re-authenticate), as a problem.
        return problem(403, "Ré-authentification requise", exc.message, field="password")
    db.session.commit()
    return TokenCreated(**TokenOut.model_validate(token).model_dump(), token=plaintext)


@api_route(
    "/tokens/<int:token_id>",
    "DELETE",
    summary="Révoquer un jeton",
    access="account.manage_own",
    status=204,
    tags=("Comptes",),
)
def revoke_token(token_id: int):
    services.revoke_api_token(current_user, token_id, request_context())
    db.session.commit()


@api_route(
    "/users",
    summary="Comptes de la plateforme (administrateurs)",
    access="accounts.manage",
    response=UserOut,
    paginated=True,
    tags=("Administration",),
)
def list_users():
    return paginate_by_id(queries.list_users_query(), User.id)
