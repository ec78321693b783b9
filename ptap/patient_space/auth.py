"""Invitations and sign-in of patient-side accounts: single-use links, one-time e-mailed codes.

Secrets are stored hashed. A link and a code are each consumed by ONE conditional UPDATE
(`used_at IS NULL`): two requests racing with the same secret cannot both succeed. The code
is compared in constant time. E-mails carry no health data.

Nothing tells a visitor whether an address has an account: code requests are capped per
e-mail (hashed) whether or not it has one, and a capped request gets the usual neutral page
(nothing sent); a wrong code answers the same for any address. Each code allows MAX_ATTEMPTS
comparisons, each reserved by a conditional UPDATE before comparing (parallel guesses cannot
exceed it). Wrong codes count on the (e-mail, address) pair and the address, never on the
account: a stranger cannot lock the person out. With an application (TOTP), the sign-in is
recorded only after its code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import sqlalchemy as sa
from flask import current_app

from ptap.accounts import throttle
from ptap.audit.models import Outcome
from ptap.audit.services import AuditContext, record_event
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, TooManyAttempts
from ptap.core.mail import queue_mail
from ptap.core.models import utcnow
from ptap.extensions import db
from ptap.patient_space.models import PatientAccount, PatientInvitation, SignInCode

INVITATION_DAYS = 7
CODE_MINUTES = 10
#: Codes an account may be sent in CODE_WINDOW_MINUTES (more: "wait a little").
CODES_PER_WINDOW = 3
CODE_WINDOW_MINUTES = 15
#: Attempts one code allows (reserved before each comparison); then it is dead.
MAX_ATTEMPTS = 5

INVALID_LINK = (
    "Ce lien d'invitation n'est plus valable : il a déjà servi, il a expiré (7 jours) ou il a été "
    "annulé. Demandez une nouvelle invitation au coordinateur ou à la coordinatrice de parcours."
)
ADDRESS_IN_USE = (
    "Cette adresse e-mail a déjà un espace ouvert. Connectez-vous avec elle, ou demandez "
    "au coordinateur une invitation à une autre adresse."
)
WRONG_CODE = (
    "Ce code n'est pas le bon, ou il n'est plus valable (10 minutes, un seul usage). "
    "Vérifiez le dernier e-mail reçu ou demandez un nouveau code."
)
LOCKED = (
    "Trop d'essais de code depuis cette connexion : par sécurité, patientez quelques minutes, "
    "puis réessayez avec le dernier code reçu ou un nouveau code."
)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _code_hash(account_id: int, code: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"{account_id}:{code}".encode(), hashlib.sha256).hexdigest()


def public_url(path: str) -> str:
    """Return an absolute URL of the platform (PUBLIC_URL based)."""
    return str(current_app.config["PUBLIC_URL"]).rstrip("/") + path


# --- invitations ---------------------------------------------------------------------------


def issue_invitation_token(invitation: PatientInvitation) -> str:
    """Give the invitation a fresh secret (stored hashed) and return it once."""
    token = secrets.token_urlsafe(32)
    invitation.token_hash = _token_hash(token)
    invitation.expires_at = utcnow() + timedelta(days=INVITATION_DAYS)
    return token


def mail_invitation(invitation: PatientInvitation, token: str) -> None:
    """Queue the invitation e-mail (outbox): a link, no health data."""
    queue_mail(
        invitation.email,
        "PTAP : une invitation à ouvrir votre espace",
        f"Bonjour {invitation.display_name},\n\n"
        "L'équipe qui coordonne un parcours de soins vous invite à ouvrir votre espace en ligne.\n"
        f"Pour l'ouvrir, suivez ce lien :\n\n{public_url('/espace/invitation/' + token)}\n\n"
        f"Ce lien ne sert qu'une fois et n'est valable que {INVITATION_DAYS} jours. "
        "Si vous n'attendiez pas ce message, ignorez-le.\n",
    )


def find_live_invitation(token: str) -> PatientInvitation | None:
    """Return the invitation of a live (unused, unrevoked, unexpired) link, or None."""
    return db.session.scalar(
        sa.select(PatientInvitation).where(
            PatientInvitation.token_hash == _token_hash(token),
            PatientInvitation.used_at.is_(None),
            PatientInvitation.revoked_at.is_(None),
            PatientInvitation.expires_at > utcnow(),
        )
    )


def _account_at(email: str) -> PatientAccount | None:
    """The account (live or ended) at `email`, if any."""
    return db.session.scalar(sa.select(PatientAccount).where(PatientAccount.email == email))


def accept_invitation(token: str, ctx: AuditContext) -> PatientAccount:
    """Consume the link (one conditional UPDATE: one use only) and open the account."""
    now = utcnow()
    invitation_id = db.session.execute(
        sa.update(PatientInvitation)
        .where(
            PatientInvitation.token_hash == _token_hash(token),
            PatientInvitation.used_at.is_(None),
            PatientInvitation.revoked_at.is_(None),
            PatientInvitation.expires_at > now,
        )
        .values(used_at=now)
        .returning(PatientInvitation.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    invitation = db.session.get(PatientInvitation, invitation_id) if invitation_id else None
    if invitation is None:
        record_event(ctx, "patient_space.accept", outcome=Outcome.FAILURE, reason="invalid link")
        raise InvalidInput(INVALID_LINK, field="token")
    db.session.refresh(invitation)
    existing = _account_at(invitation.email)
    if existing is not None and existing.ended_at is None:
        invitation.used_at = None  # refused: the link stays usable (nothing changed)
        record_event(ctx, "patient_space.accept", outcome=Outcome.FAILURE, reason="address in use")
        raise InvalidInput(ADDRESS_IN_USE, field="token")
    if existing is not None:  # an ended account at this address is reopened for this grant
        account = existing
        account.ended_at = None
        account.ended_by_id = None
        account.session_version += 1
    else:
        account = PatientAccount(email=invitation.email)
    account.patient_id = invitation.patient_id
    account.display_name = invitation.display_name
    account.relationship = invitation.relationship
    account.rights = invitation.rights
    account.legal_basis = invitation.legal_basis
    account.invitation_id = invitation.id
    try:
        # Two links to one address accepted at once: the unique e-mail decides, no 500.
        with db.session.begin_nested():
            db.session.add(account)
    except sa.exc.IntegrityError as exc:
        invitation.used_at = None  # refused: the link stays usable (nothing changed)
        record_event(ctx, "patient_space.accept", outcome=Outcome.FAILURE, reason="address in use")
        raise Conflict(ADDRESS_IN_USE, field="token") from exc
    record_event(
        ctx,
        "patient_space.accept",
        object_type="patient_account",
        object_id=account.id,
        patient_id=account.patient_id,
        reason=account.relationship,
    )
    return account


# --- one-time codes ------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeRequest:
    """What the sign-in page tells whoever asked: the same answer whether the account exists."""

    account: PatientAccount | None
    #: Only in development and tests (no mail transport): the code, to sign in without mail.
    code_for_tests: str = ""


def _find_account(email: str) -> PatientAccount | None:
    return db.session.scalar(
        sa.select(PatientAccount).where(
            PatientAccount.email == email.strip().lower(), PatientAccount.ended_at.is_(None)
        )
    )


def _keys(email: str, address: str) -> throttle.LoginKeys:
    return throttle.login_keys("patient-space:" + email.strip().lower(), address)


def _request_key(email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return f"pscode:{digest}"


def six_digits(code: str) -> bool:
    """Tell whether `code` is exactly six ASCII digits ("١٢٣٤٥٦" is not: isdigit() says yes)."""
    return code.isascii() and code.isdecimal() and len(code) == 6


def request_code(email: str, address: str, ctx: AuditContext) -> CodeRequest:
    """Send a 6-digit code to the account's address (outbox), unless rate-limited.

    Requests are counted per e-mail (hashed) whether or not an account exists, and a refused
    request gets the same neutral answer as a granted one (nothing is sent): the page tells
    no one which addresses have an account.
    """
    keys = _keys(email, address)
    allowed = throttle.login_allowed(keys)
    count = throttle.count_in_window(_request_key(email), timedelta(minutes=CODE_WINDOW_MINUTES))
    if not allowed or count > CODES_PER_WINDOW:
        record_event(
            ctx,
            "patient_space.code_request",
            outcome=Outcome.DENIED,
            reason="locked" if not allowed else "rate limited",
        )
        return CodeRequest(None)
    account = _find_account(email)
    if account is None:
        record_event(ctx, "patient_space.code_request", outcome=Outcome.FAILURE, reason="unknown")
        return CodeRequest(None)
    now = utcnow()
    # A new code replaces the older ones: only the latest e-mail works.
    db.session.execute(
        sa.update(SignInCode)
        .where(SignInCode.account_id == account.id, SignInCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    code = f"{secrets.randbelow(1_000_000):06d}"
    db.session.add(
        SignInCode(
            account_id=account.id,
            code_hash=_code_hash(account.id, code),
            created_at=now,
            expires_at=now + timedelta(minutes=CODE_MINUTES),
        )
    )
    queue_mail(
        account.email,
        "PTAP : votre code de connexion",
        f"Bonjour,\n\nVotre code de connexion à votre espace : {code}\n\n"
        f"Il est valable {CODE_MINUTES} minutes et ne sert qu'une fois. Ne le donnez à personne : "
        "l'équipe ne vous le demandera jamais.\n",
    )
    record_event(
        ctx,
        "patient_space.code_request",
        object_type="patient_account",
        object_id=account.id,
    )
    return CodeRequest(account, code if show_link_to_coordinator() else "")


def _fail(keys: throttle.LoginKeys, ctx: AuditContext) -> None:
    """Count a wrong code on the (e-mail, address) pair and the address, never on the account:
    a stranger's wrong codes lock out their own address, not the person. The same writes
    happen whether or not the address has an account."""
    throttle.record_login_failure(keys, account=False)
    record_event(
        ctx,
        "patient_space.sign_in",
        outcome=Outcome.FAILURE,
        reason="wrong or expired code",
    )
    db.session.flush()


def _reserve_attempt(code_id: int) -> bool:
    """Count one attempt on the code BEFORE comparing it (one conditional UPDATE): parallel
    guesses cannot exceed MAX_ATTEMPTS, and the code dies at its MAX_ATTEMPTS-th attempt."""
    reserved = db.session.execute(
        sa.update(SignInCode)
        .where(
            SignInCode.id == code_id,
            SignInCode.used_at.is_(None),
            SignInCode.attempts < MAX_ATTEMPTS,
        )
        .values(attempts=SignInCode.attempts + 1)
        .returning(SignInCode.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    return reserved is not None


def _record_full_sign_in(
    account: PatientAccount, keys: throttle.LoginKeys, ctx: AuditContext, reason: str = ""
) -> None:
    account.last_login_at = utcnow()
    throttle.record_login_success(keys)
    record_event(
        ctx,
        "patient_space.sign_in",
        object_type="patient_account",
        object_id=account.id,
        patient_id=account.patient_id,
        reason=reason,
    )


def verify_code(email: str, code: str, address: str, ctx: AuditContext) -> PatientAccount:
    """Return the account if `code` is its live code; consume the code (single use).

    Without an application, this is the sign-in (recorded). With one, only the first step
    passed: the sign-in is recorded by verify_totp.

    :raises TooManyAttempts: the (e-mail, address) pair or the address is locked (the same
        whether or not the account exists).
    :raises InvalidInput: wrong, expired or used code (the same message for each).
    """
    keys = _keys(email, address)
    if not throttle.login_allowed(keys):
        record_event(ctx, "patient_space.sign_in", outcome=Outcome.DENIED, reason="locked")
        raise TooManyAttempts(LOCKED)
    account = _find_account(email)
    now = utcnow()
    code = code.strip().replace(" ", "")
    live = (
        db.session.scalar(
            sa.select(SignInCode)
            .where(
                SignInCode.account_id == account.id,
                SignInCode.used_at.is_(None),
                SignInCode.expires_at > now,
            )
            .order_by(SignInCode.id.desc())
            .limit(1)
        )
        if account is not None
        else None
    )
    matches = (
        live is not None
        and account is not None
        and six_digits(code)
        and _reserve_attempt(live.id)
        and hmac.compare_digest(live.code_hash, _code_hash(account.id, code))
    )
    if not matches or live is None or account is None:
        _fail(keys, ctx)
        raise InvalidInput(WRONG_CODE, field="code")
    consumed = db.session.execute(
        sa.update(SignInCode)
        .where(SignInCode.id == live.id, SignInCode.used_at.is_(None), SignInCode.expires_at > now)
        .values(used_at=now)
        .returning(SignInCode.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if consumed is None:  # another request used it first
        _fail(keys, ctx)
        raise InvalidInput(WRONG_CODE, field="code")
    if account.totp_secret:
        record_event(
            ctx,
            "patient_space.sign_in_step",
            object_type="patient_account",
            object_id=account.id,
            reason="e-mailed code passed; application code pending",
        )
        return account
    _record_full_sign_in(account, keys, ctx)
    return account


def load_account(session_id: str) -> PatientAccount | None:
    """Flask-Login loader for "p:<id>:<version>": a live account whose version matches."""
    _, _, rest = session_id.partition(":")
    account_id, _, version = rest.partition(":")
    if not (account_id.isascii() and account_id.isdigit()) or not (
        version.isascii() and version.isdigit()
    ):
        return None
    account = db.session.get(PatientAccount, int(account_id))
    if account is None or account.ended_at is not None:
        return None
    return account if account.session_version == int(version) else None


def show_link_to_coordinator() -> bool:
    """Tell whether the page may show the invitation link: only without mail, outside
    production (development, tests, the demo). In production it only goes by e-mail."""
    cfg = current_app.config
    return cfg.get("MAIL_TRANSPORT", "none") == "none" and cfg.get("ENV") != "production"


# --- optional second factor: a TOTP application -------------------------------------------

TOTP_PERIOD = 30
WRONG_TOTP = "Ce code d'application n'est pas le bon. Recopiez le code affiché en ce moment."


def _totp_step(secret: str, code: str) -> int | None:
    """Return the time step (now ± 1) whose code equals `code`, compared in constant time."""
    totp = pyotp.TOTP(secret)
    current = int(clock.now().timestamp() // TOTP_PERIOD)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * TOTP_PERIOD), code):
            return step
    return None


def _claim_step(account: PatientAccount, step: int) -> bool:
    """Record `step` as used, atomically (a replayed or concurrent code loses)."""
    claimed = db.session.execute(
        sa.update(PatientAccount)
        .where(PatientAccount.id == account.id, PatientAccount.totp_last_step < step)
        .values(totp_last_step=step)
        .returning(PatientAccount.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    return claimed is not None


def new_totp_secret() -> str:
    """Return a fresh Base32 secret for an application."""
    return pyotp.random_base32(32)


def totp_uri(account: PatientAccount, secret: str) -> str:
    """Return the otpauth:// URI an application reads."""
    return pyotp.TOTP(secret).provisioning_uri(name=account.email, issuer_name="PTAP Mon espace")


def verify_totp(account: PatientAccount, code: str, address: str, ctx: AuditContext) -> None:
    """Accept the application code of an account that chose one (after the e-mailed code);
    only then is the sign-in recorded.

    :raises TooManyAttempts: locked; :raises InvalidInput: wrong or replayed code (counted).
    """
    keys = _keys(account.email, address)
    if not throttle.login_allowed(keys):
        record_event(ctx, "patient_space.sign_in", outcome=Outcome.DENIED, reason="locked")
        raise TooManyAttempts(LOCKED)
    clean = code.strip().replace(" ", "")
    step = _totp_step(account.totp_secret or "", clean) if six_digits(clean) else None
    if step is None or not _claim_step(account, step):
        _fail(keys, ctx)
        raise InvalidInput(WRONG_TOTP, field="code")
    _record_full_sign_in(account, keys, ctx, reason="with application")


def enrol_totp(account: PatientAccount, secret: str, code: str, ctx: AuditContext) -> None:
    """Turn the application on once it shows a right code for `secret`."""
    clean = code.strip().replace(" ", "")
    step = _totp_step(secret, clean) if six_digits(clean) and secret else None
    if step is None:
        raise InvalidInput(WRONG_TOTP, field="code")
    account.totp_secret = secret
    account.totp_last_step = step
    record_event(
        ctx,
        "patient_space.totp_enrol",
        object_type="patient_account",
        object_id=account.id,
        patient_id=account.patient_id,
    )
    db.session.flush()
