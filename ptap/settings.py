"""Load settings in order (defaults, environment file, PTAP_* variables, overrides) and validate."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from ptap.audit.keys import DEFAULT_KEY_ID, MIN_KEY_LENGTH, KeyRingError, parse_keyring
from ptap.core.smtp import check_tls_files
from ptap.resources import resource_dir

DEFAULT_SECRET_KEY = "dev-insecure-change-me"  # noqa: S105 - refused in production
ENVIRONMENTS = ("development", "testing", "production")


class SettingsError(RuntimeError):
    """Raised at startup when the configuration is unsafe or invalid."""


def config_dir() -> Path:
    """Return the folder holding the TOML files (PTAP_CONFIG_DIR overrides the bundled one)."""
    override = os.environ.get("PTAP_CONFIG_DIR")
    return Path(override) if override else resource_dir("config")


def load_settings(
    app: Flask, overrides: Mapping[str, Any] | None = None, *, strict: bool = True
) -> None:
    """Fill app.config from config/default.toml, config/$PTAP_ENV.toml, PTAP_* and overrides.

    With strict (the default) unsafe settings raise SettingsError; `ptap check-config` loads
    without it and lists every problem instead.
    """
    folder = config_dir()
    app.config.from_file(str(folder / "default.toml"), load=tomllib.load, text=False)
    env = (overrides or {}).get("ENV") or os.environ.get("PTAP_ENV", "development")
    if env not in ENVIRONMENTS:
        raise SettingsError(f"PTAP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}.")
    app.config.from_file(str(folder / f"{env}.toml"), load=tomllib.load, text=False)
    app.config.from_prefixed_env("PTAP")
    if overrides:
        app.config.update(overrides)
    app.config["ENV"] = env
    _derive(app)
    if strict:
        validate(app.config)


def _derive(app: Flask) -> None:
    """Set the Flask and extension keys that follow from PTAP's own keys."""
    cfg = app.config
    if cfg.get("INSTANCE_PATH"):
        # Uploads, keys and the embedded database go there, not into the checkout.
        app.instance_path = str(Path(cfg["INSTANCE_PATH"]).expanduser().resolve())
    cfg["INSTANCE_PATH"] = app.instance_path
    url = cfg.get("DATABASE_URL") or ""
    if not url:
        instance = Path(app.instance_path)
        instance.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{instance / 'ptap.sqlite3'}"
        cfg["DATABASE_URL"] = url
    if url.startswith("postgresql://"):
        # psycopg 3 is the driver we install; SQLAlchemy's bare scheme would look for psycopg2.
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        cfg["DATABASE_URL"] = url
    cfg["SQLALCHEMY_DATABASE_URI"] = url
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": not url.startswith("sqlite")}
    if not cfg.get("UPLOAD_FOLDER"):
        cfg["UPLOAD_FOLDER"] = str(Path(app.instance_path) / "uploads")
    if not cfg.get("MESSAGING_ATTACHMENT_KEY_FILE"):
        cfg["MESSAGING_ATTACHMENT_KEY_FILE"] = str(Path(app.instance_path) / "attachments.key")
    cfg["MAX_CONTENT_LENGTH"] = int(cfg["MAX_UPLOAD_MB"]) * 1024 * 1024
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["REMEMBER_COOKIE_HTTPONLY"] = True
    cfg["REMEMBER_COOKIE_SECURE"] = cfg["SESSION_COOKIE_SECURE"]
    cfg["PERMANENT_SESSION_LIFETIME"] = int(cfg["SESSION_MAX_HOURS"]) * 3600
    cfg["RATELIMIT_STORAGE_URI"] = cfg.get("RATELIMIT_STORAGE_URI") or "memory://"
    cfg["RATELIMIT_HEADERS_ENABLED"] = True
    # Flask-WTF tokens live as long as the session; the idle timeout ends them sooner.
    cfg["WTF_CSRF_TIME_LIMIT"] = None
    _derive_audit_material(app)


def _derive_audit_material(app: Flask) -> None:
    """Find the audit chain key (variable, else key file; generated outside production)."""
    cfg = app.config
    instance = Path(app.instance_path)
    if not cfg.get("AUDIT_ANCHOR_FILE"):
        cfg["AUDIT_ANCHOR_FILE"] = str(instance / "audit-anchors.jsonl")
    if cfg.get("AUDIT_CHAIN_KEY") or _current_key_listed(cfg):
        return
    key_file = Path(cfg.get("AUDIT_CHAIN_KEY_FILE") or instance / "audit-chain.key")
    cfg["AUDIT_CHAIN_KEY_FILE"] = str(key_file)
    if key_file.exists():
        cfg["AUDIT_CHAIN_KEY"] = key_file.read_text().strip()
    elif cfg["ENV"] != "production":
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        cfg["AUDIT_CHAIN_KEY"] = key


def _current_key_listed(cfg: Mapping[str, Any]) -> bool:
    """Tell whether AUDIT_CHAIN_KEYS holds the key of AUDIT_CHAIN_KEY_ID (no key file then)."""
    current = str(cfg.get("AUDIT_CHAIN_KEY_ID") or DEFAULT_KEY_ID)
    entries = str(cfg.get("AUDIT_CHAIN_KEYS") or "").replace(",", " ").split()
    return any(entry.partition(":")[0] == current for entry in entries)


def _audit_key_problems(cfg: Mapping[str, Any], production: bool) -> list[str]:
    """Check the audit key ring: consistent ids everywhere, long keys in production."""
    if not production and not cfg.get("AUDIT_CHAIN_KEY") and not cfg.get("AUDIT_CHAIN_KEYS"):
        return []  # generated in the instance folder at start
    try:
        ring = parse_keyring(
            str(cfg.get("AUDIT_CHAIN_KEYS") or ""),
            str(cfg.get("AUDIT_CHAIN_KEY") or ""),
            str(cfg.get("AUDIT_CHAIN_KEY_ID") or DEFAULT_KEY_ID),
        )
    except KeyRingError as exc:
        if production and not cfg.get("AUDIT_CHAIN_KEY") and not cfg.get("AUDIT_CHAIN_KEYS"):
            return [
                "PTAP_AUDIT_CHAIN_KEY (or the key file PTAP_AUDIT_CHAIN_KEY_FILE) must hold a "
                "random key of at least 32 characters in production: it keys the audit chain "
                "and must be kept outside the database."
            ]
        return [f"Audit chain keys: {exc}."]
    short = [kid for kid, key in ring.keys.items() if len(key) < MIN_KEY_LENGTH]
    if production and short:
        return [
            "PTAP_AUDIT_CHAIN_KEY (or the key file PTAP_AUDIT_CHAIN_KEY_FILE) and every key of "
            f"PTAP_AUDIT_CHAIN_KEYS must hold a random key of at least {MIN_KEY_LENGTH} "
            f"characters in production (too short: key id {', '.join(short)})."
        ]
    return []


def _is_aes256_key(text: str) -> bool:
    """Tell whether `text` is 32 bytes in URL-safe base64 (padding optional)."""
    text = text.strip()
    try:
        return len(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))) == 32
    except (binascii.Error, ValueError):
        return False


PLACEHOLDER_OID_ROOT = "1.2.250.1.999.1.1"
PLACEHOLDER_HOMOLOGATION_ID = "PTAP-NON-HOMOLOGUE"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"
PLACEHOLDER_MAIL_DOMAIN = ".invalid"

#: The groups `ptap check-config` and README's production section list settings under.
GROUPS = {
    "core": "Core",
    "dmp": "DMP",
    "mail": "Mail",
    "psc": "Pro Santé Connect",
    "ops": "Operations",
}


@dataclass(frozen=True)
class Problem:
    """One missing or invalid setting, in one of GROUPS."""

    group: str
    message: str


def validate(cfg: Mapping[str, Any]) -> None:
    """Refuse unsafe or inconsistent settings, saying why (production is strict)."""
    problems = check(cfg)
    if problems:
        raise SettingsError(
            "Unsafe PTAP configuration:\n- " + "\n- ".join(p.message for p in problems)
        )


def check(cfg: Mapping[str, Any]) -> list[Problem]:
    """Return every missing or invalid setting for the configured environment, grouped."""
    production = cfg["ENV"] == "production"
    return [
        *(Problem("core", m) for m in _core(cfg, production)),
        *(Problem("core", m) for m in _insi(cfg, production)),
        *(Problem("dmp", m) for m in _dmp(cfg, production)),
        *(Problem("mail", m) for m in _mail(cfg, production)),
        *(Problem("psc", m) for m in _psc(cfg, production)),
        *(Problem("ops", m) for m in _ops(cfg, production)),
    ]


def _storage_problems(cfg: Mapping[str, Any], production: bool) -> list[str]:
    """Check the blob storage settings (ptap.core.blobs)."""
    backend = cfg.get("STORAGE_BACKEND")
    if backend not in ("database", "filesystem"):
        return ['STORAGE_BACKEND must be "database" or "filesystem".']
    if float(cfg.get("STORAGE_MAX_MB") or 0) <= 0:
        return ["STORAGE_MAX_MB must be a positive number of megabytes."]
    instance = Path(str(cfg.get("INSTANCE_PATH") or ".")).resolve()
    path = Path(str(cfg.get("STORAGE_PATH") or cfg.get("UPLOAD_FOLDER") or instance)).resolve()
    if production and backend == "filesystem" and (path == instance or instance in path.parents):
        return [
            "PTAP_STORAGE_PATH must name a folder every host shares (outside the instance "
            'folder) when STORAGE_BACKEND is "filesystem" in production; or use "database".'
        ]
    return []


def _ops(cfg: Mapping[str, Any], production: bool) -> list[str]:
    problems: list[str] = []
    lease = float(cfg.get("SCHEDULER_LEASE_SECONDS", 20))
    renew = float(cfg.get("SCHEDULER_LEASE_RENEW_SECONDS", 5))
    if renew <= 0 or lease < 2 * renew:
        problems.append(
            "SCHEDULER_LEASE_SECONDS must be at least twice SCHEDULER_LEASE_RENEW_SECONDS "
            "(a holder must be able to miss one renewal)."
        )
    token = str(cfg.get("METRICS_TOKEN") or "")
    if production and token and len(token) < 32:
        problems.append("METRICS_TOKEN must be at least 32 characters (or empty: /metrics off).")
    return problems


def _core(cfg: Mapping[str, Any], production: bool) -> list[str]:
    problems: list[str] = []
    if int(cfg["SESSION_IDLE_MINUTES"]) <= 0:
        problems.append("SESSION_IDLE_MINUTES must be a positive number of minutes.")
    if cfg["SESSION_COOKIE_SAMESITE"] not in ("Lax", "Strict"):
        problems.append("SESSION_COOKIE_SAMESITE must be Lax or Strict.")
    if cfg.get("MESSAGING_ATTACHMENT_KEY") and not _is_aes256_key(
        str(cfg["MESSAGING_ATTACHMENT_KEY"])
    ):
        problems.append("MESSAGING_ATTACHMENT_KEY must be 32 bytes in URL-safe base64.")
    problems.extend(_audit_key_problems(cfg, production))
    problems.extend(_storage_problems(cfg, production))
    if not production:
        return problems
    secret = str(cfg.get("SECRET_KEY") or "")
    if secret == DEFAULT_SECRET_KEY or len(secret) < 32:
        problems.append(
            "PTAP_SECRET_KEY must be set to a random value of at least 32 characters "
            "(the default key is refused in production)."
        )
    if not cfg.get("SESSION_COOKIE_SECURE"):
        problems.append("SESSION_COOKIE_SECURE must be true in production (HTTPS-only cookies).")
    if str(cfg["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite") and not cfg.get(
        "ALLOW_SQLITE_IN_PRODUCTION"
    ):
        problems.append(
            "SQLite is refused in production: set PTAP_DATABASE_URL to PostgreSQL "
            "(or PTAP_ALLOW_SQLITE_IN_PRODUCTION=true for a single-host trial)."
        )
    if not str(cfg.get("SOCKETIO_MESSAGE_QUEUE") or "").startswith(("redis://", "rediss://")):
        problems.append(
            "PTAP_SOCKETIO_MESSAGE_QUEUE must be a redis:// URL in production: the scheduler "
            "process and every web process emit to the browsers through it."
        )
    if str(cfg.get("RATELIMIT_STORAGE_URI") or "memory://").startswith("memory"):
        problems.append(
            "PTAP_RATELIMIT_STORAGE_URI must be a redis:// URL in production (login "
            "throttling must hold across processes)."
        )
    public_url = str(cfg.get("PUBLIC_URL") or "")
    if not public_url.startswith("https://") or public_url == DEFAULT_PUBLIC_URL:
        problems.append(
            "PTAP_PUBLIC_URL must be the https:// address users reach PTAP at (links in "
            "e-mails and the Pro Santé Connect redirect are built from it)."
        )
    if cfg.get("DEMO_PRINT_CREDENTIALS") or cfg.get("DEMO_SEED"):
        problems.append("DEMO_PRINT_CREDENTIALS and DEMO_SEED are refused in production.")
    if (
        not cfg.get("MESSAGING_ATTACHMENT_KEY")
        and not Path(str(cfg.get("MESSAGING_ATTACHMENT_KEY_FILE") or "")).is_file()
    ):
        problems.append(
            "PTAP_MESSAGING_ATTACHMENT_KEY (32 random bytes, URL-safe base64) or the key "
            "file MESSAGING_ATTACHMENT_KEY_FILE is required in production (attachments "
            "are encrypted at rest with it)."
        )
    return problems


def _insi(cfg: Mapping[str, Any], production: bool) -> list[str]:
    """Check the INSi connector: the simulator invents identities, so production refuses it."""
    problems: list[str] = []
    setting = str(cfg.get("INSI_CONNECTOR") or "")
    if float(cfg.get("INSI_TIMEOUT_SECONDS") or 0) <= 0:
        problems.append("INSI_TIMEOUT_SECONDS must be a positive number of seconds.")
    if setting not in ("simulator", "none") and not ("." in setting or ":" in setting):
        problems.append(
            'INSI_CONNECTOR must be "simulator", "none" or the dotted path of a certified '
            "INSi connector class (package.module:Class)."
        )
    elif production and setting != "none" and _names_the_simulator(setting):
        problems.append(
            "INSI_CONNECTOR must name a certified INSi connector in production (the simulator "
            'invents identities); "none" runs without INSi and refuses every qualification.'
        )
    return problems


def _names_the_simulator(setting: str) -> bool:
    """Load the connector class the setting names and compare the class itself with the
    simulator's, so that no other spelling of its path passes (an unloadable path is left to
    the call, which fails)."""
    from ptap.care_teams.insi import connector_path, is_simulator, load_class

    path = connector_path(setting)
    try:
        return path is not None and is_simulator(load_class(path))
    except (ImportError, AttributeError, ValueError):
        return False


def _dmp(cfg: Mapping[str, Any], production: bool) -> list[str]:
    problems: list[str] = []
    if cfg.get("DMP_TRANSPORT") not in ("soap", "fake"):
        problems.append('DMP_TRANSPORT must be "soap" or "fake".')
    if int(cfg.get("DMP_MAX_ATTEMPTS", 1)) < 1:
        problems.append("DMP_MAX_ATTEMPTS must be at least 1.")
    if production and not cfg.get("DMP_CONSULT_REQUIRE_PSC", True):
        problems.append(
            "DMP_CONSULT_REQUIRE_PSC must be true in production: only a Pro Santé Connect "
            "session may consult a patient's DMP."
        )
    if not 0 <= float(cfg.get("DMP_CONSULT_CACHE_SECONDS", 0)) <= 300:
        problems.append("DMP_CONSULT_CACHE_SECONDS must be between 0 and 300.")
    if not (production and cfg.get("DMP_ENABLED")):
        return problems
    hint = " (or PTAP_DMP_ENABLED=false until the installation is homologated)"
    if cfg.get("DMP_TRANSPORT") != "soap":
        problems.append("DMP_TRANSPORT must be soap in production (fake is for tests)" + hint + ".")
        return problems
    if cfg.get("DMP_OID_ROOT") == PLACEHOLDER_OID_ROOT:
        problems.append(
            "DMP_OID_ROOT must be this installation's own OID branch in production "
            "(the example branch is refused: document ids must be unique nationally)" + hint + "."
        )
    if cfg.get("DMP_LPS_HOMOLOGATION_ID") in ("", PLACEHOLDER_HOMOLOGATION_ID):
        problems.append(
            "DMP_LPS_HOMOLOGATION_ID must be the DMP homologation number of this "
            "installation (given by the CNDA) in production" + hint + "."
        )
    if not (cfg.get("DMP_SIGNING_CERT") and cfg.get("DMP_SIGNING_KEY")):
        problems.append(
            "DMP_SIGNING_CERT and DMP_SIGNING_KEY (the structure's seal certificate) "
            "are required in production to sign the VIHF and the submission sets" + hint + "."
        )
    if not str(cfg.get("DMP_BASE_URL") or "").startswith("https://"):
        problems.append(
            "DMP_BASE_URL must be the DMP's https:// address in production (the default "
            "points at the local simulator)" + hint + "."
        )
    return problems


def _mail(cfg: Mapping[str, Any], production: bool) -> list[str]:
    problems: list[str] = []
    transport = cfg.get("MAIL_TRANSPORT")
    if transport not in ("none", "smtp", "memory"):
        problems.append('MAIL_TRANSPORT must be "none", "smtp" or "memory".')
        return problems
    if production and transport != "smtp":
        problems.append(
            "PTAP_MAIL_TRANSPORT must be smtp in production (notifications and urgent-message "
            "alerts are e-mailed; none and memory send nothing)."
        )
    if (production or transport == "smtp") and not cfg.get("MAIL_SMTP_HOST"):
        problems.append(
            "PTAP_MAIL_SMTP_HOST (the SMTP relay) is required with MAIL_TRANSPORT=smtp."
        )
    if int(cfg.get("MAIL_MAX_ATTEMPTS", 1)) < 1:
        problems.append("MAIL_MAX_ATTEMPTS must be at least 1.")
    problems.extend(check_tls_files(cfg))
    if production and PLACEHOLDER_MAIL_DOMAIN in str(cfg.get("MAIL_FROM") or ""):
        problems.append(
            "PTAP_MAIL_FROM must be a real sender address in production "
            "(the .invalid placeholder is refused)."
        )
    return problems


def _psc(cfg: Mapping[str, Any], production: bool) -> list[str]:
    problems: list[str] = []
    if not cfg.get("PSC_ENABLED"):
        return problems
    if not (cfg.get("PSC_ISSUER") and cfg.get("PSC_CLIENT_ID")):
        problems.append("PSC_ENABLED needs PSC_ISSUER and PSC_CLIENT_ID.")
    if cfg["SESSION_COOKIE_SAMESITE"] == "Strict":
        problems.append(
            "SESSION_COOKIE_SAMESITE=Strict drops the session on Pro Santé Connect's redirect "
            "back: use Lax with PSC_ENABLED."
        )
    if production and not cfg.get("PSC_CLIENT_SECRET"):
        problems.append("PTAP_PSC_CLIENT_SECRET is required in production with PSC_ENABLED.")
    return problems
