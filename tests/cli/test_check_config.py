"""`ptap check-config`: what production still needs, grouped, read from the environment."""

import os

import pytest
from click.testing import CliRunner

from ptap.cli import main

PRODUCTION = {
    "PTAP_ENV": "production",
    "PTAP_SECRET_KEY": "k" * 48,
    "PTAP_DATABASE_URL": "postgresql://ptap@db.example.test/ptap",
    "PTAP_SOCKETIO_MESSAGE_QUEUE": "redis://redis.example.test:6379/0",
    "PTAP_RATELIMIT_STORAGE_URI": "redis://redis.example.test:6379/1",
    "PTAP_PUBLIC_URL": "https://ptap.example.test",
    "PTAP_AUDIT_CHAIN_KEY": "a" * 64,
    "PTAP_MESSAGING_ATTACHMENT_KEY": "A" * 43,
    "PTAP_DMP_BASE_URL": "https://dmp.example.test/si-dmp-server/v2/services",
    "PTAP_DMP_OID_ROOT": "1.2.250.1.999.42.1",
    "PTAP_DMP_LPS_HOMOLOGATION_ID": "CNDA-TEST-0042",
    "PTAP_DMP_SIGNING_CERT": "/etc/ptap/dmp-seal.cert.pem",
    "PTAP_DMP_SIGNING_KEY": "/etc/ptap/dmp-seal.key.pem",
    "PTAP_MAIL_TRANSPORT": "smtp",
    "PTAP_MAIL_SMTP_HOST": "smtp.example.test",
    "PTAP_MAIL_FROM": "PTAP <ne-pas-repondre@ptap.example.test>",
    "PTAP_PSC_ENABLED": "true",
    "PTAP_PSC_ISSUER": "https://auth.esante.gouv.fr/auth/realms/esante-wallet",
    "PTAP_PSC_CLIENT_ID": "ptap",
    "PTAP_PSC_CLIENT_SECRET": "psc-secret",
}

GROUPS = {
    "Core": [
        "PTAP_SECRET_KEY",
        "PTAP_DATABASE_URL",
        "PTAP_SOCKETIO_MESSAGE_QUEUE",
        "PTAP_AUDIT_CHAIN_KEY",
        "PTAP_MESSAGING_ATTACHMENT_KEY",
    ],
    "DMP": ["PTAP_DMP_OID_ROOT", "PTAP_DMP_SIGNING_CERT", "PTAP_DMP_LPS_HOMOLOGATION_ID"],
    "Mail": ["PTAP_MAIL_TRANSPORT", "PTAP_MAIL_SMTP_HOST"],
    "Pro Santé Connect": ["PTAP_PSC_ISSUER", "PTAP_PSC_CLIENT_SECRET"],
}


@pytest.fixture
def check(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("PTAP_", "FLASK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PTAP_INSTANCE_PATH", str(tmp_path / "instance"))

    def run(env: dict[str, str]):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return CliRunner().invoke(main, ["check-config"])

    return run


def test_check_config_passes_a_complete_production_environment(check):
    result = check(PRODUCTION)
    assert result.exit_code == 0, result.output
    assert "PTAP_ENV=production" in result.output
    assert "Configuration OK." in result.output


@pytest.mark.parametrize("group", list(GROUPS))
def test_check_config_names_each_missing_group(check, group):
    env = {k: v for k, v in PRODUCTION.items() if k not in GROUPS[group]}
    result = check(env)
    assert result.exit_code == 1
    assert f"{group}: missing or invalid" in result.output
    for other in GROUPS:
        if other != group:
            assert f"{other}: OK" in result.output
    section = result.output.split(f"{group}: missing or invalid")[1]
    for name in GROUPS[group]:
        # Each absent setting is named (under its PTAP_ name or its bare key).
        assert name in section or name.removeprefix("PTAP_") in section, name


def test_check_config_accepts_production_without_dmp_when_disabled(check):
    env = {k: v for k, v in PRODUCTION.items() if not k.startswith("PTAP_DMP_")}
    assert check(env).exit_code == 1
    result = check({"PTAP_DMP_ENABLED": "false"})
    assert result.exit_code == 0, result.output


def test_check_config_in_development_needs_nothing(check):
    result = check({"PTAP_ENV": "development"})
    assert result.exit_code == 0, result.output


def test_check_config_reports_an_unknown_environment(check):
    result = check({"PTAP_ENV": "staging"})
    assert result.exit_code == 1
    assert "PTAP_ENV must be one of" in result.output


def test_check_config_loads_the_mail_client_certificate(check, tmp_path):
    env = {
        **PRODUCTION,
        "PTAP_MAIL_SMTP_CLIENT_CERT": str(tmp_path / "absent.crt"),
        "PTAP_MAIL_SMTP_CLIENT_KEY": str(tmp_path / "absent.key"),
    }
    result = check(env)
    assert result.exit_code == 1
    assert "Mail: missing or invalid" in result.output
    assert "MAIL_SMTP_CLIENT_CERT / KEY / CA_FILE cannot be loaded" in result.output


def test_check_config_refuses_a_short_metrics_token_in_production(check):
    result = check({**PRODUCTION, "PTAP_METRICS_TOKEN": "short"})
    assert result.exit_code == 1
    assert "Operations: missing or invalid" in result.output
    assert "METRICS_TOKEN" in result.output
