import pytest

from ptap import create_app
from ptap.settings import SettingsError

GOOD = {
    "ENV": "production",
    "SECRET_KEY": "k" * 48,
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/ptap",
    "DMP_OID_ROOT": "1.2.250.1.999.42.1",
    "DMP_SIGNING_CERT": "/etc/ptap/dmp-seal.cert.pem",
    "DMP_SIGNING_KEY": "/etc/ptap/dmp-seal.key.pem",
    "DMP_LPS_HOMOLOGATION_ID": "CNDA-TEST-0042",
    "DMP_BASE_URL": "https://dmp.example.test/si-dmp-server/v2/services",
    "SOCKETIO_MESSAGE_QUEUE": "redis://127.0.0.1:6379/9",
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/10",
    "PUBLIC_URL": "https://ptap.example.test",
    "MAIL_TRANSPORT": "smtp",
    "MAIL_SMTP_HOST": "smtp.example.test",
    "MAIL_FROM": "PTAP <ne-pas-repondre@ptap.example.test>",
    "MESSAGING_ATTACHMENT_KEY": "A" * 43,
    "MESSAGING_ATTACHMENT_KEY_FILE": "/nonexistent/ptap/attachments.key",
    "AUDIT_CHAIN_KEY": "a" * 64,
}


def test_safe_production_settings_start():
    app = create_app(GOOD)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SECRET_KEY": "dev-insecure-change-me"}, "PTAP_SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "PTAP_SECRET_KEY"),
        ({"SESSION_COOKIE_SECURE": False}, "SESSION_COOKIE_SECURE"),
        ({"DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, "SQLite is refused"),
        ({"DATABASE_URL": ""}, "SQLite is refused"),
        ({"DMP_OID_ROOT": "1.2.250.1.999.1.1"}, "DMP_OID_ROOT"),
        ({"DMP_SIGNING_CERT": ""}, "DMP_SIGNING_CERT"),
        ({"DMP_TRANSPORT": "carrier-pigeon"}, "DMP_TRANSPORT"),
        ({"DMP_LPS_HOMOLOGATION_ID": "PTAP-NON-HOMOLOGUE"}, "DMP_LPS_HOMOLOGATION_ID"),
        ({"DMP_BASE_URL": "http://127.0.0.1:5900/si-dmp-server/v2/services"}, "DMP_BASE_URL"),
        ({"DMP_TRANSPORT": "fake"}, "PTAP_DMP_ENABLED=false"),
        ({"SOCKETIO_MESSAGE_QUEUE": ""}, "PTAP_SOCKETIO_MESSAGE_QUEUE"),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "PTAP_RATELIMIT_STORAGE_URI"),
        ({"PUBLIC_URL": "http://127.0.0.1:5000"}, "PTAP_PUBLIC_URL"),
        ({"MAIL_TRANSPORT": "none"}, "PTAP_MAIL_TRANSPORT"),
        ({"MAIL_SMTP_HOST": ""}, "PTAP_MAIL_SMTP_HOST"),
        ({"MAIL_FROM": "PTAP <ne-pas-repondre@ptap.invalid>"}, "PTAP_MAIL_FROM"),
        ({"MAIL_SMTP_CLIENT_CERT": "/etc/ptap/mail.pem"}, "MAIL_SMTP_CLIENT_KEY go together"),
        (
            {
                "MAIL_SMTP_CLIENT_CERT": "/nonexistent/c.pem",
                "MAIL_SMTP_CLIENT_KEY": "/nonexistent/k",
            },
            "MAIL_SMTP_CLIENT_CERT / KEY / CA_FILE cannot be loaded",
        ),
        ({"DEMO_SEED": "graine"}, "DEMO_SEED"),
        (
            {"PSC_ENABLED": True, "PSC_ISSUER": "https://op.example", "PSC_CLIENT_ID": "ptap"},
            "PTAP_PSC_CLIENT_SECRET",
        ),
        ({"MESSAGING_ATTACHMENT_KEY": ""}, "PTAP_MESSAGING_ATTACHMENT_KEY"),
        ({"MESSAGING_ATTACHMENT_KEY": "c2hvcnQ"}, "MESSAGING_ATTACHMENT_KEY must be 32 bytes"),
        (
            {"AUDIT_CHAIN_KEY": "", "AUDIT_CHAIN_KEY_FILE": "/nonexistent/ptap-audit.key"},
            "PTAP_AUDIT_CHAIN_KEY",
        ),
        ({"AUDIT_CHAIN_KEY": "short"}, "PTAP_AUDIT_CHAIN_KEY"),
        ({"STORAGE_BACKEND": "filesystem"}, "PTAP_STORAGE_PATH must name a folder every host"),
        ({"STORAGE_BACKEND": "s3"}, 'STORAGE_BACKEND must be "database" or "filesystem"'),
        ({"STORAGE_MAX_MB": 0}, "STORAGE_MAX_MB must be a positive"),
    ],
)
def test_production_refuses_unsafe_settings(override, message):
    with pytest.raises(SettingsError) as exc:
        create_app({**GOOD, **override})
    assert message in str(exc.value)


def test_production_keeps_files_in_the_database_or_a_shared_folder(tmp_path):
    assert create_app(GOOD).config["STORAGE_BACKEND"] == "database"
    shared = {"STORAGE_BACKEND": "filesystem", "STORAGE_PATH": str(tmp_path / "shared")}
    assert create_app({**GOOD, **shared}).config["STORAGE_PATH"] == str(tmp_path / "shared")
    assert create_app({"ENV": "testing"}).config["STORAGE_BACKEND"] == "filesystem"


def test_production_without_dmp_homologation_starts_with_the_bridge_disabled():
    unhomologated = {k: v for k, v in GOOD.items() if not k.startswith("DMP_")}
    with pytest.raises(SettingsError, match="PTAP_DMP_ENABLED=false"):
        create_app(unhomologated)
    app = create_app({**unhomologated, "DMP_ENABLED": False})
    assert app.config["DMP_ENABLED"] is False


def test_sqlite_in_production_only_when_allowed():
    app = create_app(
        {
            **GOOD,
            "DATABASE_URL": "sqlite:////tmp/ptap-trial.sqlite3",
            "ALLOW_SQLITE_IN_PRODUCTION": True,
        }
    )
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def test_environment_variables_override_files(monkeypatch):
    monkeypatch.setenv("PTAP_SESSION_IDLE_MINUTES", "10")
    monkeypatch.setenv("PTAP_SECRET_KEY", "from-env-" + "z" * 40)
    app = create_app({"ENV": "testing", "DATABASE_URL": "sqlite:////tmp/env.sqlite3"})
    assert app.config["SESSION_IDLE_MINUTES"] == 10
    assert app.config["SECRET_KEY"].startswith("from-env-")


def test_unknown_environment_is_refused(monkeypatch):
    monkeypatch.setenv("PTAP_ENV", "staging")
    with pytest.raises(SettingsError, match="PTAP_ENV"):
        create_app()


def test_default_database_is_sqlite_under_instance():
    app = create_app({"ENV": "development"})
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("/instance/ptap.sqlite3")


def test_sqlite_connections_use_wal_and_foreign_keys(app, db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_psc_with_strict_samesite_is_refused():
    with pytest.raises(SettingsError, match="SameSite|SAMESITE"):
        create_app(
            {
                **GOOD,
                "PSC_ENABLED": True,
                "PSC_ISSUER": "https://op.example",
                "PSC_CLIENT_ID": "ptap",
                "SESSION_COOKIE_SAMESITE": "Strict",
            }
        )


def test_proxy_fix_gives_the_client_address_to_the_audit_trail(database_url):
    from ptap.audit.context import request_context
    from ptap.core.policy import public

    app = create_app({"ENV": "testing", "DATABASE_URL": database_url, "PROXY_FIX_HOPS": 1})
    seen = {}

    @app.get("/whoami")
    @public
    def whoami():
        seen["ip"] = request_context(user=None).ip_address
        return "ok"

    app.test_client().get(
        "/whoami",
        headers={"X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert seen["ip"] == "203.0.113.7"


def test_config_dir_can_be_replaced(monkeypatch, tmp_path):
    import shutil

    from ptap.resources import resource_dir

    folder = tmp_path / "config"
    shutil.copytree(resource_dir("config"), folder)
    with (folder / "testing.toml").open("a") as toml:
        toml.write("SESSION_IDLE_MINUTES = 7\n")
    monkeypatch.setenv("PTAP_CONFIG_DIR", str(folder))
    app = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    assert app.config["SESSION_IDLE_MINUTES"] == 7


def test_a_disabled_dmp_bridge_sends_nothing(app, db, monkeypatch):
    from ptap.dmp_bridge import tasks

    def never(*args, **kwargs):
        raise AssertionError("the outbox must not be touched when the bridge is disabled")

    monkeypatch.setattr(tasks.outbox, "send_due", never)
    app.config["DMP_ENABLED"] = False
    assert tasks.send_pending_submissions() == {}


def test_production_reads_the_audit_key_file_and_never_generates_one(tmp_path):
    key_file = tmp_path / "audit-chain.key"
    key_file.write_text("f" * 64 + "\n")
    app = create_app({**GOOD, "AUDIT_CHAIN_KEY": "", "AUDIT_CHAIN_KEY_FILE": str(key_file)})
    assert app.config["AUDIT_CHAIN_KEY"] == "f" * 64
    missing = tmp_path / "missing.key"
    with pytest.raises(SettingsError):
        create_app({**GOOD, "AUDIT_CHAIN_KEY": "", "AUDIT_CHAIN_KEY_FILE": str(missing)})
    assert not missing.exists()


def test_development_generates_a_private_audit_key_once(tmp_path):
    key_file = tmp_path / "keys" / "audit-chain.key"
    first = create_app({"ENV": "development", "AUDIT_CHAIN_KEY_FILE": str(key_file)})
    assert len(first.config["AUDIT_CHAIN_KEY"]) == 64
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = create_app({"ENV": "development", "AUDIT_CHAIN_KEY_FILE": str(key_file)})
    assert again.config["AUDIT_CHAIN_KEY"] == first.config["AUDIT_CHAIN_KEY"]


def test_instance_path_setting_moves_uploads_keys_and_database(monkeypatch, tmp_path):
    monkeypatch.setenv("PTAP_INSTANCE_PATH", str(tmp_path / "var"))
    app = create_app({"ENV": "testing", "DATABASE_URL": ""})
    var = (tmp_path / "var").resolve()
    assert app.instance_path == str(var)
    assert app.config["UPLOAD_FOLDER"] == str(var / "uploads")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{var / 'ptap.sqlite3'}"
    with app.app_context():
        from ptap.dmp_bridge.runtime import signer

        signer()
    assert (var / "dmp").is_dir()
