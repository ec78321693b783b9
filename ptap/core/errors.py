"""Domain errors raised by services; views and the API map them to responses."""

from __future__ import annotations


class DomainError(Exception):
    """Base of the errors services raise; carries an HTTP status and a French message."""

    status: int = 400
    title: str = "Requête invalide"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message or self.title)
        self.message = message or self.title
        self.field = field


class PermissionDenied(DomainError):
    """The acting user may not do this."""

    status = 403
    title = "Accès refusé"


class RuleDenied(PermissionDenied):
    """A denial whose French message only states the rule (who may do it), never data about
    the object: shown to the user, unlike a plain PermissionDenied."""


class NotFound(DomainError):
    """The object does not exist or must not be revealed to this user."""

    status = 404
    title = "Introuvable"


class Conflict(DomainError):
    """The request conflicts with the current state (duplicate, stale edit)."""

    status = 409
    title = "Conflit"


class InvalidInput(DomainError):
    """A value is invalid; `field` names it."""

    status = 422
    title = "Donnée invalide"


class AuthenticationFailed(DomainError):
    """Credentials were refused."""

    status = 401
    title = "Authentification requise"


class TooManyAttempts(DomainError):
    """Too many failed attempts from this client in a short time."""

    status = 429
    title = "Trop de tentatives"
