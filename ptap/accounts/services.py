"""Account rules: creation, password and second-factor login, lockout, sessions, API tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from ptap.accounts import permissions, throttle, token_throttle, token_usage
from ptap.accounts.models import ApiToken, Profession, RecoveryCode, TokenScope, User, UserSession
from ptap.accounts.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from ptap.accounts.session_store import cut_off_account, recently_reauthenticated
from ptap.audit.models import Outcome
from ptap.audit.services import AuditContext, record_event
from ptap.core import clock
from ptap.core.aftercommit import on_commit
from ptap.core.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
)
from ptap.core.identifiers import is_valid_rpps
from ptap.core.metrics import LOGIN_FAILURES
from ptap.core.models import utcnow
from ptap.core.policy import PlatformRole
from ptap.core.realtime import disconnect_room
from ptap.extensions import db

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "ptap_"  # noqa: S105 - a public prefix, not a secret
TOTP_PERIOD = 30
#: The one answer to every failed password step (wrong password, unknown e-mail, inactive
#: account, any lock): it reveals neither which accounts exist nor which are locked.
BAD_CREDENTIALS = (
    "Adresse e-mail ou mot de passe incorrect. Après plusieurs échecs, les tentatives sont "
    "suspendues quelques minutes : patientez avant de réessayer."
)
REAUTH_REQUIRED = (
    "Confirmez votre identité (mot de passe et code à usage unique) avant de créer un jeton."
)
BAD_CODE = "Code incorrect ou déjà utilisé."


class AccountLocked(AuthenticationFailed):
    """Too many failures: the account is locked until `until`."""

    def __init__(self, until: datetime) -> None:
        minutes = max(1, round((until - utcnow()).total_seconds() / 60))
        super().__init__(
            "Compte temporairement verrouillé après plusieurs échecs. "
            f"Réessayez dans {minutes} min."
        )
        self.until = until


@dataclass(frozen=True)
class NewUser:
    """What is needed to create an account."""

    email: str
    first_name: str
    last_name: str
    profession: str
    role: str
    #: None for accounts created by an admin: the user sets it through an activation link.
    password: str | None = None
    rpps: str | None = None


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalise_email(email: str) -> str:
    """Return the e-mail trimmed and lower-cased."""
    return email.strip().lower()


def validate_new_user(data: NewUser) -> None:
    """Raise InvalidInput naming the first invalid field of `data`."""
    if not EMAIL_RE.match(normalise_email(data.email)):
        raise InvalidInput("Adresse e-mail invalide.", field="email")
    if not data.first_name.strip():
        raise InvalidInput("Le prénom est obligatoire.", field="first_name")
    if not data.last_name.strip():
        raise InvalidInput("Le nom est obligatoire.", field="last_name")
    if data.profession not in Profession.__members__.values():
        raise InvalidInput("Profession inconnue.", field="profession")
    if data.role not in PlatformRole.__members__.values():
        raise InvalidInput("Rôle inconnu.", field="role")
    if data.rpps and not is_valid_rpps(data.rpps):
        raise InvalidInput(
            "Numéro RPPS invalide : 11 chiffres dont une clé de contrôle (Luhn).", field="rpps"
        )
    if data.password is not None:
        check_password_policy(data.password)


def unusable_password_hash() -> str:
    """Return the hash of a random secret nobody knows (account waiting for activation)."""
    return hash_password(secrets.token_urlsafe(32))


def create_user(data: NewUser, ctx: AuditContext) -> User:
    """Create an account after validating it; e-mail and RPPS must be unique."""
    validate_new_user(data)
    email = normalise_email(data.email)
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise Conflict("Un compte existe déjà avec cette adresse e-mail.", field="email")
    rpps = data.rpps or None
    if rpps and db.session.scalar(sa.select(User.id).where(User.rpps == rpps)):
        raise Conflict("Un compte existe déjà avec ce numéro RPPS.", field="rpps")
    user = User(
        email=email,
        first_name=data.first_name.strip(),
        last_name=data.last_name.strip(),
        profession=data.profession,
        role=data.role,
        rpps=rpps,
        password_hash=(
            hash_password(data.password) if data.password is not None else unusable_password_hash()
        ),
        password_changed_at=utcnow() if data.password is not None else None,
    )
    db.session.add(user)
    db.session.flush()
    record_event(ctx, "account.create", object_type="user", object_id=user.id)
    return user


# --- Login: password, lockout, second factor -----------------------------------------------


def _register_failure(user: User, ctx: AuditContext, action: str, reason: str) -> None:
    cfg = current_app.config
    user.failed_logins += 1
    over = user.failed_logins - int(cfg["LOGIN_MAX_FAILURES"])
    if over >= 0:
        seconds = min(int(cfg["LOGIN_LOCK_SECONDS"]) * 2**over, int(cfg["LOGIN_LOCK_MAX_SECONDS"]))
        user.locked_until = utcnow() + timedelta(seconds=seconds)
        reason = f"{reason}; locked for {seconds} s"
    record_event(
        ctx, action, outcome=Outcome.FAILURE, object_type="user", object_id=user.id, reason=reason
    )


def _refuse_if_locked(user: User, ctx: AuditContext, action: str) -> None:
    if user.locked_until and user.locked_until > utcnow():
        record_event(
            ctx,
            action,
            outcome=Outcome.DENIED,
            object_type="user",
            object_id=user.id,
            reason="account locked",
        )
        raise AccountLocked(user.locked_until)


def authenticate_password(email: str, password: str, ctx: AuditContext) -> User:
    """Check the first factor behind the login throttle; every failure gets the same answer.

    Failures count per (e-mail, address), per address and per e-mail (see `throttle`), never
    on the account's own lock: a stranger's wrong passwords cannot keep the user out.
    """
    keys = throttle.login_keys(email, ctx.ip_address)
    user = db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))
    if not throttle.login_allowed(keys):
        verify_password(None, password)  # the same time as a real check
        reason = "throttled"
    elif user is None or not user.active:
        verify_password(None, password)
        reason = "unknown account" if user is None else "inactive account"
    elif not verify_password(user.password_hash, password):
        reason = "wrong password"
    else:
        reason = ""
    if reason or user is None:
        LOGIN_FAILURES.labels("throttled" if reason == "throttled" else "password").inc()
        if reason != "throttled":
            seconds = throttle.record_login_failure(keys)
            reason += f"; locked for {seconds} s" if seconds else ""
        record_event(
            ctx,
            "auth.password",
            outcome=Outcome.DENIED if reason == "throttled" else Outcome.FAILURE,
            reason=reason,
            object_type="user",
            object_id=user.id if user else "",
        )
        raise AuthenticationFailed(BAD_CREDENTIALS)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    record_event(ctx, "auth.password", object_type="user", object_id=user.id)
    return user


def _match_totp_step(secret: str, code: str, now: float | None = None) -> int | None:
    """Return the time step (now ± 1) whose code equals `code`, or None."""
    totp = pyotp.TOTP(secret)
    current = int((now if now is not None else clock.now().timestamp()) // TOTP_PERIOD)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * TOTP_PERIOD), code):
            return step
    return None


def _normalise_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def claim_totp_step(user: User, step: int) -> bool:
    """Record `step` as the last TOTP step used, atomically: only if it is later than the one
    stored. Of N concurrent submissions of one code exactly one wins (conditional UPDATE)."""
    result = db.session.execute(
        sa.update(User)
        .where(User.id == user.id, User.totp_last_step < step)
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def _check_totp(user: User, clean: str) -> str:
    """Return "" when the TOTP code is accepted (and its step claimed), else why not."""
    step = _match_totp_step(user.totp_secret or "", clean)
    if step is None:
        return "wrong TOTP code"
    if step <= user.totp_last_step or not claim_totp_step(user, step):
        return "replayed TOTP code"
    return ""


def verify_second_factor(user: User, code: str, ctx: AuditContext) -> str:
    """Accept a fresh TOTP code or an unused recovery code; returns "totp" or "recovery".

    Failures lock the account itself (only someone who knew the password can cause them)
    and count on the (e-mail, address) and address throttles.
    """
    _refuse_if_locked(user, ctx, "auth.second_factor")
    keys = throttle.login_keys(user.email, ctx.ip_address)
    clean = _normalise_code(code)
    if user.totp_secret and clean.isdecimal() and len(clean) == 6:
        reason = _check_totp(user, clean)
        if not reason:
            throttle.record_login_success(keys)
            return _second_factor_ok(user, ctx, "totp")
    else:
        recovery = next(
            (r for r in user.recovery_codes if r.used_at is None and r.code_hash == _sha256(clean)),
            None,
        )
        if recovery is not None:
            recovery.used_at = utcnow()
            throttle.record_login_success(keys)
            return _second_factor_ok(user, ctx, "recovery")
        reason = "wrong recovery code"
    throttle.record_login_failure(keys, account=False)
    LOGIN_FAILURES.labels("second_factor").inc()
    _register_failure(user, ctx, "auth.second_factor", reason)
    raise AuthenticationFailed(BAD_CODE)


def _second_factor_ok(user: User, ctx: AuditContext, method: str) -> str:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    record_event(ctx, "auth.login", object_type="user", object_id=user.id, reason=method)
    return method


def new_totp_secret() -> str:
    """Return a fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def totp_provisioning_uri(user: User, secret: str) -> str:
    """Return the otpauth:// URI an authenticator app scans."""
    issuer = current_app.config["TOTP_ISSUER"]
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def _new_recovery_codes(user: User) -> list[str]:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    codes = [
        "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))
        for _ in range(int(current_app.config["RECOVERY_CODES_COUNT"]))
    ]
    user.recovery_codes.clear()
    user.recovery_codes.extend(RecoveryCode(code_hash=_sha256(_normalise_code(c))) for c in codes)
    return codes


def confirm_totp_enrolment(user: User, secret: str, code: str, ctx: AuditContext) -> list[str]:
    """Store the secret once the user proves they hold it; return fresh recovery codes."""
    step = _match_totp_step(secret, _normalise_code(code))
    if step is None:
        _register_failure(user, ctx, "auth.totp_enrol", "wrong TOTP code at enrolment")
        raise InvalidInput(BAD_CODE, field="code")
    user.totp_secret = secret
    user.totp_last_step = step
    user.totp_confirmed_at = utcnow()
    codes = _new_recovery_codes(user)
    record_event(ctx, "auth.totp_enrol", object_type="user", object_id=user.id)
    _second_factor_ok(user, ctx, "totp-enrolment")
    return codes


def regenerate_recovery_codes(user: User, ctx: AuditContext) -> list[str]:
    """Replace the user's recovery codes; the old ones stop working."""
    codes = _new_recovery_codes(user)
    record_event(ctx, "auth.recovery_codes", object_type="user", object_id=user.id)
    return codes


def login_with_rpps(rpps: str, provider: str, ctx: AuditContext) -> User:
    """Log in through an external identity provider (Pro Santé Connect) mapped by RPPS."""
    user = db.session.scalar(sa.select(User).where(User.rpps == rpps)) if rpps else None
    if user is None or not user.active:
        record_event(
            ctx,
            "auth.login",
            outcome=Outcome.FAILURE,
            reason=f"{provider}: no active account",
            object_type="rpps",
            object_id=rpps,
        )
        raise AuthenticationFailed(
            "Aucun compte PTAP actif n'est associé à cette identité professionnelle."
        )
    _refuse_if_locked(user, ctx, "auth.login")
    _second_factor_ok(user, ctx, provider)
    return user


# --- Sessions and passwords ----------------------------------------------------------------


def record_logout(user: User, ctx: AuditContext, reason: str = "") -> None:
    """Audit the end of a session (logout, idle timeout)."""
    record_event(ctx, "auth.logout", object_type="user", object_id=user.id, reason=reason)


def logout_everywhere(user: User, ctx: AuditContext) -> None:
    """End every session and revoke every API token of the user; sockets close after commit."""
    cut_off_account(user, ctx, "logout_everywhere")
    record_event(ctx, "auth.logout_everywhere", object_type="user", object_id=user.id)


def change_password(user: User, current: str, new: str, ctx: AuditContext) -> None:
    """Change one's own password; other sessions end."""
    if not verify_password(user.password_hash, current):
        record_event(
            ctx,
            "account.password_change",
            outcome=Outcome.FAILURE,
            object_type="user",
            object_id=user.id,
            reason="wrong current password",
        )
        raise InvalidInput("Mot de passe actuel incorrect.", field="current_password")
    check_password_policy(new, field="new_password")
    if verify_password(user.password_hash, new):
        raise InvalidInput(
            "Choisissez un mot de passe différent de l'actuel.", field="new_password"
        )
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    cut_off_account(user, ctx, "password_change")
    record_event(ctx, "account.password_change", object_type="user", object_id=user.id)


def reset_password(
    admin: User, user: User, ctx: AuditContext, *, reset_second_factor: bool = False
) -> None:
    """Make the password unusable and cut the account off (sessions, tokens, sockets); the
    caller issues an activation link so the user, and only they, sets a new password."""
    permissions.require_manage_accounts(admin)
    user.password_hash = unusable_password_hash()
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    cut_off_account(user, ctx, "admin_reset")
    if reset_second_factor:
        user.totp_secret = None
        user.totp_confirmed_at = None
        user.recovery_codes.clear()
    record_event(
        ctx,
        "account.password_reset",
        object_type="user",
        object_id=user.id,
        reason="second factor reset too" if reset_second_factor else "",
    )


def set_account_active(admin: User, user: User, active: bool, ctx: AuditContext) -> None:
    """Activate or deactivate an account; deactivation ends its sessions."""
    permissions.require_manage_accounts(admin)
    if user.id == admin.id and not active:
        raise InvalidInput("Vous ne pouvez pas désactiver votre propre compte.", field="active")
    user.active = active
    if not active:
        cut_off_account(user, ctx, "deactivated")
    record_event(
        ctx,
        "account.activate" if active else "account.deactivate",
        object_type="user",
        object_id=user.id,
    )


# --- API tokens ----------------------------------------------------------------------------


def mint_api_token(
    user: User,
    user_session: UserSession | None,
    name: str,
    scopes: list[str],
    days: int | None,
    ctx: AuditContext,
) -> tuple[ApiToken, str]:
    """Create a personal token from the web (pages or API): only from a login session that
    re-authenticated (password and TOTP) within the last REAUTH_MINUTES, so neither a stolen
    session cookie nor a token can mint tokens."""
    permissions.require_manage_own_account(user)
    if not recently_reauthenticated(user_session):
        record_event(
            ctx,
            "auth.token_create",
            outcome=Outcome.DENIED,
            object_type="user",
            object_id=user.id,
            reason="no recent re-authentication",
        )
        raise PermissionDenied(REAUTH_REQUIRED)
    return create_api_token(user, name, scopes, days, ctx)


def create_api_token(
    user: User, name: str, scopes: list[str], days: int | None, ctx: AuditContext
) -> tuple[ApiToken, str]:
    """Create a personal token; returns it with its plaintext, which is never stored.

    No re-authentication here: for an operator on the host (`ptap tokens create`) and for
    `mint_api_token`, which web callers must use.
    """
    permissions.require_manage_own_account(user)
    cfg = current_app.config
    name = name.strip()
    if not name or len(name) > 80:
        raise InvalidInput("Donnez un nom au jeton (80 caractères au plus).", field="name")
    valid = set(TokenScope.__members__.values())
    if not scopes or any(s not in valid for s in scopes):
        raise InvalidInput("Choisissez au moins une portée valide.", field="scopes")
    days = days if days is not None else int(cfg["API_TOKEN_DEFAULT_DAYS"])
    if not 1 <= days <= int(cfg["API_TOKEN_MAX_DAYS"]):
        raise InvalidInput(
            f"La durée doit être comprise entre 1 et {cfg['API_TOKEN_MAX_DAYS']} jours.",
            field="days",
        )
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name,
        prefix=plaintext[:12],
        token_hash=_sha256(plaintext),
        scopes=" ".join(sorted(set(scopes))),
        expires_at=utcnow() + timedelta(days=days),
    )
    db.session.add(token)
    db.session.flush()
    record_event(ctx, "auth.token_create", object_type="api_token", object_id=token.id)
    return token, plaintext


def revoke_api_token(user: User, token_id: int, ctx: AuditContext) -> ApiToken:
    """Revoke one of the user's own tokens."""
    permissions.require_manage_own_account(user)
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("Jeton introuvable.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record_event(ctx, "auth.token_revoke", object_type="api_token", object_id=token.id)
        room = f"token:{token.id}"
        on_commit(lambda: disconnect_room(room))  # the sockets opened with it close at once
    return token


def token_is_live(token_id: int) -> bool:
    """Tell whether a token (a socket was opened with) is still unrevoked and unexpired, and
    its account active and not waiting for a password change."""
    token = db.session.get(ApiToken, token_id)
    return (
        token is not None
        and token.revoked_at is None
        and token.expires_at > utcnow()
        and token.user.active
        and not token.user.must_change_password
    )


def reauthenticate(
    user: User, user_session: UserSession, password: str, code: str, ctx: AuditContext
) -> None:
    """Confirm the session's owner again with the password and a fresh TOTP code."""
    _refuse_if_locked(user, ctx, "auth.reauthenticate")
    clean = _normalise_code(code)
    if not verify_password(user.password_hash, password):
        reason = "wrong password"
    elif not user.totp_secret or not (clean.isdecimal() and len(clean) == 6):
        reason = "no TOTP code"
    else:
        reason = _check_totp(user, clean)
    if reason:
        _register_failure(user, ctx, "auth.reauthenticate", reason)
        raise InvalidInput(
            "Mot de passe ou code à usage unique incorrect (ou code déjà utilisé).",
            field="password",
        )
    user_session.reauthenticated_at = utcnow()
    record_event(ctx, "auth.reauthenticate", object_type="user", object_id=user.id)


def authenticate_token(plaintext: str, ctx: AuditContext) -> tuple[User, ApiToken]:
    """Return the user and token for a bearer token, or raise AuthenticationFailed (audited).

    An address that failed too often in the last minute gets TooManyAttempts, unaudited.
    """
    if token_throttle.is_flooding(ctx.ip_address):
        raise TooManyAttempts(
            "Trop de jetons d'accès refusés depuis cette adresse. Réessayez dans une minute."
        )
    token = None
    if plaintext.startswith(TOKEN_PREFIX):
        token = db.session.scalar(
            sa.select(ApiToken).where(ApiToken.token_hash == _sha256(plaintext))
        )
    now = utcnow()
    if token is None:
        reason = "unknown token"
    elif token.revoked_at is not None:
        reason = "revoked token"
    elif token.expires_at <= now:
        reason = "expired token"
    elif not token.user.active:
        reason = "inactive account"
    else:
        # Noted in memory and written in batches: authenticating writes nothing.
        token_usage.note_token_use(token, now)
        return token.user, token
    _audit_token_failure(ctx, reason, token.id if token else "")
    raise AuthenticationFailed("Jeton d'accès invalide, expiré ou révoqué.")


def _audit_token_failure(ctx: AuditContext, reason: str, token_id: int | str) -> None:
    """Count a refused token for its address; audit only the first and the limit-reaching one."""
    count = token_throttle.note_failure(ctx.ip_address)
    limit = token_throttle.failure_limit()
    if count == limit:
        reason = f"{reason}; {count} failures in a minute from this address, further refused"
    elif count != 1:
        return
    record_event(
        ctx,
        "auth.token",
        outcome=Outcome.FAILURE,
        reason=reason,
        object_type="api_token",
        object_id=token_id,
    )
