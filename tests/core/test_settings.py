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
    ],
)
def test_production_refuses_unsafe_settings(override, message):
    with pytest.raises(SettingsError) as exc:
        create_app({**GOOD, **override})
    assert message in str(exc.value)


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
