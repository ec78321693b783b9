"""Load settings in order (defaults, environment file, PTAP_* variables, overrides) and validate."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

DEFAULT_SECRET_KEY = "dev-insecure-change-me"  # noqa: S105 - refused in production
ENVIRONMENTS = ("development", "testing", "production")


class SettingsError(RuntimeError):
    """Raised at startup when the configuration is unsafe or invalid."""


def config_dir() -> Path:
    """Return the folder holding the TOML files (PTAP_CONFIG_DIR overrides the repository's)."""
    override = os.environ.get("PTAP_CONFIG_DIR")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "config"


def load_settings(app: Flask, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill app.config from config/default.toml, config/$PTAP_ENV.toml, PTAP_* and overrides."""
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
    cfg["MAX_CONTENT_LENGTH"] = int(cfg["MAX_UPLOAD_MB"]) * 1024 * 1024
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["REMEMBER_COOKIE_HTTPONLY"] = True
    cfg["REMEMBER_COOKIE_SECURE"] = cfg["SESSION_COOKIE_SECURE"]
    cfg["PERMANENT_SESSION_LIFETIME"] = int(cfg["SESSION_MAX_HOURS"]) * 3600
    cfg["RATELIMIT_STORAGE_URI"] = cfg.get("RATELIMIT_STORAGE_URI") or "memory://"
    cfg["RATELIMIT_HEADERS_ENABLED"] = True
    # Flask-WTF tokens live as long as the session; the idle timeout ends them sooner.
    cfg["WTF_CSRF_TIME_LIMIT"] = None


PLACEHOLDER_OID_ROOT = "1.2.250.1.999.1.1"
PLACEHOLDER_HOMOLOGATION_ID = "PTAP-NON-HOMOLOGUE"


def validate(cfg: Mapping[str, Any]) -> None:
    """Refuse unsafe or inconsistent settings, saying why (production is strict)."""
    problems: list[str] = []
    if int(cfg["SESSION_IDLE_MINUTES"]) <= 0:
        problems.append("SESSION_IDLE_MINUTES must be a positive number of minutes.")
    if cfg["SESSION_COOKIE_SAMESITE"] not in ("Lax", "Strict"):
        problems.append("SESSION_COOKIE_SAMESITE must be Lax or Strict.")
    if cfg.get("PSC_ENABLED") and not (cfg.get("PSC_ISSUER") and cfg.get("PSC_CLIENT_ID")):
        problems.append("PSC_ENABLED needs PSC_ISSUER and PSC_CLIENT_ID.")
    if cfg.get("PSC_ENABLED") and cfg["SESSION_COOKIE_SAMESITE"] == "Strict":
        problems.append(
            "SESSION_COOKIE_SAMESITE=Strict drops the session on Pro Santé Connect's redirect "
            "back: use Lax with PSC_ENABLED."
        )
    if cfg["ENV"] == "production":
        secret = str(cfg.get("SECRET_KEY") or "")
        if secret == DEFAULT_SECRET_KEY or len(secret) < 32:
            problems.append(
                "PTAP_SECRET_KEY must be set to a random value of at least 32 characters "
                "(the default key is refused in production)."
            )
        if not cfg.get("SESSION_COOKIE_SECURE"):
            problems.append(
                "SESSION_COOKIE_SECURE must be true in production (HTTPS-only cookies)."
            )
        if str(cfg["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite") and not cfg.get(
            "ALLOW_SQLITE_IN_PRODUCTION"
        ):
            problems.append(
                "SQLite is refused in production: set PTAP_DATABASE_URL to PostgreSQL "
                "(or PTAP_ALLOW_SQLITE_IN_PRODUCTION=true for a single-host trial)."
            )
        if cfg.get("DEMO_PRINT_CREDENTIALS"):
            problems.append("DEMO_PRINT_CREDENTIALS must be false in production.")
        if cfg.get("DMP_ENABLED") and cfg.get("DMP_TRANSPORT") == "soap":
            if cfg.get("DMP_OID_ROOT") == PLACEHOLDER_OID_ROOT:
                problems.append(
                    "DMP_OID_ROOT must be this installation's own OID branch in production "
                    "(the example branch is refused: document ids must be unique nationally)."
                )
            if cfg.get("DMP_LPS_HOMOLOGATION_ID") in ("", PLACEHOLDER_HOMOLOGATION_ID):
                problems.append(
                    "DMP_LPS_HOMOLOGATION_ID must be the DMP homologation number of this "
                    "installation (given by the CNDA) in production."
                )
            if not (cfg.get("DMP_SIGNING_CERT") and cfg.get("DMP_SIGNING_KEY")):
                problems.append(
                    "DMP_SIGNING_CERT and DMP_SIGNING_KEY (the structure's seal certificate) "
                    "are required in production to sign the VIHF and the submission sets."
                )
    if cfg.get("DMP_TRANSPORT") not in ("soap", "fake"):
        problems.append('DMP_TRANSPORT must be "soap" or "fake".')
    if int(cfg.get("DMP_MAX_ATTEMPTS", 1)) < 1:
        problems.append("DMP_MAX_ATTEMPTS must be at least 1.")
    if problems:
        raise SettingsError("Unsafe PTAP configuration:\n- " + "\n- ".join(problems))
