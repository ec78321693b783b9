"""The one authorisation policy: named actions, rules registered by domains, deny by default.

Every view, API endpoint and socket handler declares the action it performs (``requires``) or
that it is public (``public``); a request to an endpoint that declares neither is refused.
Domains register their rules in their ``permissions.py`` with ``@rule("domain.action")``;
an action nobody registered is denied.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from ptap.core.errors import PermissionDenied


class PlatformRole(StrEnum):
    """A user's platform-wide role; team roles come with care teams."""

    ADMIN = "admin"
    COORDINATOR = "coordinator"
    PROFESSIONAL = "professional"
    ARS_ANALYST = "ars_analyst"


ROLE_LABELS = {
    PlatformRole.ADMIN: "Administrateur",
    PlatformRole.COORDINATOR: "Coordinateur de parcours",
    PlatformRole.PROFESSIONAL: "Professionnel de santé",
    PlatformRole.ARS_ANALYST: "Analyste ARS",
}

#: Roles that may ever read clinical content (patients, plans, messages), subject to
#: need-to-know rules of the care-teams domain. Admins and ARS analysts never do.
CLINICAL_ROLES = frozenset({PlatformRole.COORDINATOR, PlatformRole.PROFESSIONAL})


class Actor(Protocol):
    """What the policy needs to know about the acting user."""

    id: int
    role: str
    is_authenticated: bool
    is_active: bool


Rule = Callable[[Actor, Any], bool]
_RULES: dict[str, Rule] = {}
F = TypeVar("F", bound=Callable[..., Any])


def rule(action: str) -> Callable[[Rule], Rule]:
    """Register the rule deciding `action`; one rule per action."""

    def register(fn: Rule) -> Rule:
        if action in _RULES and _RULES[action] is not fn:
            raise RuntimeError(f"policy rule {action!r} registered twice")
        _RULES[action] = fn
        return fn

    return register


def registered_actions() -> list[str]:
    """Return every action with a rule, sorted."""
    return sorted(_RULES)


def can(user: Actor | None, action: str, obj: Any = None) -> bool:
    """Tell whether `user` may perform `action` on `obj` (never for unknown actions/anonymous)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    check = _RULES.get(action)
    return bool(check and check(user, obj))


def require(user: Actor | None, action: str, obj: Any = None) -> None:
    """Raise PermissionDenied unless `user` may perform `action` on `obj`."""
    if not can(user, action, obj):
        raise PermissionDenied()


def has_role(user: Actor, *roles: PlatformRole) -> bool:
    """Tell whether the user holds one of `roles`."""
    return user.role in roles


def is_clinician(user: Actor) -> bool:
    """Tell whether the user's role may read clinical content at all."""
    return user.role in CLINICAL_ROLES


# Endpoint declarations, read by the deny-by-default guard in ptap.core.web.
ACCESS_ATTR = "_ptap_access"
PUBLIC = "public"


def requires(action: str) -> Callable[[F], F]:
    """Declare that a view needs a logged-in user allowed to perform `action`."""

    def mark(fn: F) -> F:
        setattr(fn, ACCESS_ATTR, action)
        return fn

    return mark


def public(fn: F) -> F:
    """Declare that a view is open to anonymous visitors (login, error pages, OpenAPI)."""
    setattr(fn, ACCESS_ATTR, PUBLIC)
    return fn


#: Marks the views of the patient space: the only ones a patient-side account may reach, and
#: ones no professional account reaches (the guard in ptap.core.web enforces both ways).
PATIENT_SIDE_ATTR = "_ptap_patient_side"


def patient_side(fn: F) -> F:
    """Declare a view of the patient space (reachable by patient-side accounts only)."""
    setattr(fn, PATIENT_SIDE_ATTR, True)
    return fn


def is_patient_side_view(fn: Callable[..., Any] | None) -> bool:
    """Tell whether a view belongs to the patient space."""
    return bool(getattr(fn, PATIENT_SIDE_ATTR, False)) if fn is not None else False


def is_patient_side_actor(user: Any) -> bool:
    """Tell whether the acting account is a patient-side one (person, caregiver, representative)."""
    return bool(getattr(user, "is_patient_side", False))


def declared_access(fn: Callable[..., Any] | None) -> str | None:
    """Return the action a view declared, PUBLIC, or None if it declared nothing."""
    return getattr(fn, ACCESS_ATTR, None) if fn is not None else None
