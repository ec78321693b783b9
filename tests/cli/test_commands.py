import base64
import hashlib

import pyotp
import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from ptap.accounts.models import ApiToken, User
from ptap.cli import main


@pytest.fixture
def run(app):
    def invoke(*args, input=None):  # noqa: A002
        return CliRunner().invoke(
            main, list(args), input=input, obj=ScriptInfo(create_app=lambda: app)
        )

    return invoke


def test_users_create_reads_the_password_from_stdin(run, db):
    result = run(
        "users",
        "create",
        "--email",
        "Nouveau@Example.test",
        "--first-name",
        "Léa",
        "--last-name",
        "Essai",
        "--role",
        "coordinator",
        "--profession",
        "nurse",
        input="un-mot-de-passe-solide\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.query(User).filter_by(email="nouveau@example.test").one()
    assert user.role == "coordinator"
    assert "un-mot-de-passe-solide" not in result.output


def test_users_create_refuses_a_weak_password_and_bad_rpps(run, db):
    weak = run(
        "users",
        "create",
        "--email",
        "a@example.test",
        "--first-name",
        "A",
        "--last-name",
        "B",
        input="court\n",
    )
    assert weak.exit_code == 1
    assert "12 caractères" in weak.output
    bad = run(
        "users",
        "create",
        "--email",
        "a@example.test",
        "--first-name",
        "A",
        "--last-name",
        "B",
        "--rpps",
        "10000000026",
        input="un-mot-de-passe-solide\n",
    )
    assert bad.exit_code == 1
    assert "rpps" in bad.output
    assert db.session.query(User).count() == 0


def test_tokens_create_prints_a_working_token(run, client, db):
    run(
        "users",
        "create",
        "--email",
        "t@example.test",
        "--first-name",
        "T",
        "--last-name",
        "U",
        input="un-mot-de-passe-solide\n",
    )
    result = run("tokens", "create", "--user", "t@example.test", "--scope", "api:read")
    assert result.exit_code == 0, result.output
    plaintext = result.output.strip()
    assert db.session.query(ApiToken).one().prefix == plaintext[:12]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"})
    assert me.json["email"] == "t@example.test"
    unknown = run("tokens", "create", "--user", "nobody@example.test")
    assert unknown.exit_code == 1


@pytest.fixture
def accounts_only(monkeypatch):
    """Skip the demo territory (300+ patients, tested in tests/test_demo.py): accounts only."""
    monkeypatch.setattr("ptap.demo.load_territory", lambda users: None)


def _printed_credentials(output: str, local: str) -> tuple[str, str, str]:
    line = next(x for x in output.splitlines() if f"{local}@" in x)
    email, password, secret = line.split()[1:4]
    return email, password, secret


def test_demo_prints_random_credentials_once_in_development(run, app, db, accounts_only):
    app.config["DEMO_PRINT_CREDENTIALS"] = True
    first = run("demo")
    assert first.exit_code == 0, first.output
    count = db.session.query(User).count()
    email, password, secret = _printed_credentials(first.output, "coordination")
    user = db.session.query(User).filter_by(email=email).one()
    assert user.totp_secret == secret
    assert pyotp.TOTP(secret).now().isdigit()
    from ptap.accounts.passwords import verify_password

    assert verify_password(user.password_hash, password)
    # Nothing is derivable from the source: no fixed password, no secret computed from the e-mail.
    assert password != "demo-ptap-2026"
    old_derivation = hashlib.sha256(f"ptap-demo:{email}".encode()).digest()[:20]
    assert secret != base64.b32encode(old_derivation).decode()
    admin = db.session.query(User).filter_by(email=_printed_credentials(first.output, "admin")[0])
    assert admin.one().totp_secret != secret
    roles = {u.role for u in db.session.query(User)}
    assert roles == {"admin", "coordinator", "professional", "ars_analyst"}

    second = run("demo")
    assert second.exit_code == 0
    assert db.session.query(User).count() == count >= 8
    assert password not in second.output and secret not in second.output
    assert "existaient déjà" in second.output


def test_demo_secrets_differ_between_installations(app, db, accounts_only, tmp_path):
    from ptap import create_app
    from ptap.extensions import db as _db

    other = create_app(
        {
            "ENV": "testing",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'other.sqlite3'}",
            "SECRET_KEY": "o" * 40,
            "DEMO_PRINT_CREDENTIALS": True,
        }
    )
    app.config["DEMO_PRINT_CREDENTIALS"] = True
    outputs = []
    for target in (app, other):
        with target.app_context():
            if target is other:
                _db.create_all()
            result = CliRunner().invoke(
                main, ["demo"], obj=ScriptInfo(create_app=lambda t=target: t)
            )
            assert result.exit_code == 0, result.output
            outputs.append(_printed_credentials(result.output, "admin"))
            if target is other:
                _db.session.remove()
                _db.engine.dispose()
    assert outputs[0][0] == outputs[1][0]
    assert outputs[0][1] != outputs[1][1]
    assert outputs[0][2] != outputs[1][2]


def test_demo_seed_derives_the_same_secrets(run, app, db, accounts_only):
    from ptap.demo import demo_password, demo_totp_secret

    app.config.update(DEMO_PRINT_CREDENTIALS=True, DEMO_SEED="graine-de-test")
    result = run("demo")
    assert result.exit_code == 0, result.output
    email, password, secret = _printed_credentials(result.output, "medecin")
    assert password == demo_password("graine-de-test")
    assert secret == demo_totp_secret(email, "graine-de-test")
    assert "PTAP_DEMO_SEED" in result.output


def test_demo_hides_credentials_outside_development(run, app, db, accounts_only):
    app.config["DEMO_PRINT_CREDENTIALS"] = False
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "demo-" not in result.output
    assert "8 demo accounts created" in result.output


def test_demo_is_refused_in_production_whatever_the_database(run, app, db, accounts_only):
    app.config["ENV"] = "production"
    result = run("demo")
    assert result.exit_code == 1
    assert "refusé en production" in result.output
    assert db.session.query(User).count() == 0


def test_messaging_encrypt_attachments_encrypts_old_files_once(run, app, tmp_path):
    from pathlib import Path

    from ptap.messaging.attachments import MAGIC, read_attachment

    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    app.config["MESSAGING_ATTACHMENT_KEY_FILE"] = str(tmp_path / "attachments.key")
    folder = Path(app.config["UPLOAD_FOLDER"]) / "messages"
    folder.mkdir(parents=True)
    old = folder / "0123abcd"
    old.write_bytes(b"%PDF-1.7 compte rendu")  # written before encryption, readable as is
    assert read_attachment("messages/0123abcd") == b"%PDF-1.7 compte rendu"
    result = run("messaging", "encrypt-attachments")
    assert result.exit_code == 0, result.output
    assert "1 attachment files encrypted" in result.output
    assert old.read_bytes().startswith(MAGIC)
    assert old.stat().st_mode & 0o777 == 0o600
    assert read_attachment("messages/0123abcd") == b"%PDF-1.7 compte rendu"
    assert "0 attachment files encrypted" in run("messaging", "encrypt-attachments").output
