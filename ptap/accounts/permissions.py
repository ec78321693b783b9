"""Who may do what with accounts; rules registered in the core policy."""

from __future__ import annotations

from typing import Any

from ptap.core.policy import Actor, PlatformRole, has_role, require, rule


@rule("home.view")
def _view_home(user: Actor, _obj: Any) -> bool:
    return True


@rule("account.manage_own")
def _manage_own(user: Actor, _obj: Any) -> bool:
    return True


@rule("accounts.manage")
def _manage_accounts(user: Actor, _obj: Any) -> bool:
    # Admins manage accounts; they never get clinical actions (those rules exclude them).
    return has_role(user, PlatformRole.ADMIN)


@rule("audit.view_security")
def _view_security_log(user: Actor, _obj: Any) -> bool:
    return has_role(user, PlatformRole.ADMIN)


def require_manage_accounts(user: Actor) -> None:
    """Raise unless the user may manage other people's accounts."""
    require(user, "accounts.manage")


def require_manage_own_account(user: Actor) -> None:
    """Raise unless the user may manage their own account (tokens, sessions)."""
    require(user, "account.manage_own")
