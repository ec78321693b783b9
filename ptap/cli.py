"""The `ptap` command: a Flask CLI group over create_app, plus PTAP's own commands."""

from __future__ import annotations

import gc
import os
import secrets
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, routes_command, shell_command, with_appcontext

from ptap import create_app
from ptap.dmp_cli import dmp_group, mail_sink_command, simulator_command


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=False)
def main() -> None:
    """PTAP: plateforme territoriale d'appui."""


main.add_command(shell_command)
main.add_command(routes_command)
main.add_command(simulator_command)
main.add_command(dmp_group)
main.add_command(mail_sink_command)


@main.command("check-config", with_appcontext=False)
def check_config_command() -> None:
    """List every missing or invalid setting for this environment (PTAP_ENV); exit 1 if any."""
    from flask import Flask

    from ptap.resources import instance_path
    from ptap.settings import GROUPS, SettingsError, check, load_settings

    app = Flask("ptap", instance_path=str(instance_path()))
    try:
        load_settings(app, strict=False)
    except (SettingsError, OSError, ValueError) as exc:
        click.echo(f"PTAP configuration unreadable: {exc}", err=True)
        sys.exit(1)
    problems = check(app.config)
    click.echo(f"PTAP configuration check (PTAP_ENV={app.config['ENV']})")
    for group, title in GROUPS.items():
        messages = [p.message for p in problems if p.group == group]
        click.echo(f"{title}: {'missing or invalid' if messages else 'OK'}")
        for message in messages:
            click.echo(f"  - {message}")
    if problems:
        click.echo(f"{len(problems)} problem(s): PTAP will refuse to start.")
        sys.exit(1)
    click.echo("Configuration OK.")


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug/--no-debug", default=False)
@with_appcontext
def run_command(host: str, port: int, debug: bool) -> None:
    """Serve PTAP with Socket.IO (development server; the scheduler runs in-process)."""
    from ptap.extensions import socketio
    from ptap.scheduler import start_in_process

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["ENV"] == "production":
        raise click.ClickException(
            "`ptap run` is the development server; in production use gunicorn (see README)."
        )
    if app.config["SCHEDULER_IN_PROCESS"]:
        start_in_process(app)
    click.echo(f"PTAP sur http://{host}:{port}")
    # Everything loaded so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise stop every socket thread for 100+ ms (bench/messaging.py).
    gc.collect()
    gc.freeze()
    # Flask's CLI marks itself so app.run() becomes a no-op; socketio.run() calls app.run().
    os.environ.pop("FLASK_RUN_FROM_CLI", None)
    socketio.run(
        app, host=host, port=port, debug=debug, use_reloader=False, allow_unsafe_werkzeug=True
    )


@main.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the background jobs in this process (production: one such process)."""
    from ptap.scheduler import run_blocking

    run_blocking(current_app._get_current_object())  # type: ignore[attr-defined]


@main.group("users")
def users_group() -> None:
    """Manage accounts."""


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--first-name", required=True)
@click.option("--last-name", required=True)
@click.option("--profession", default="physician", show_default=True)
@click.option(
    "--role",
    default="professional",
    show_default=True,
    type=click.Choice(["admin", "coordinator", "professional", "ars_analyst"]),
)
@click.option("--rpps", default=None)
@click.option(
    "--activation-link",
    "link",
    is_flag=True,
    help="Print a one-time activation link instead of reading a password from stdin",
)
@with_appcontext
def users_create(
    email: str,
    first_name: str,
    last_name: str,
    profession: str,
    role: str,
    rpps: str | None,
    link: bool,
) -> None:
    """Create an account; the password is read from standard input (an operator on the host),
    or, with --activation-link, the user chooses it through a printed one-time link."""
    from ptap.accounts.activation import activation_url, issue_activation_link
    from ptap.accounts.services import NewUser, create_user
    from ptap.audit.services import AuditContext
    from ptap.core.errors import DomainError
    from ptap.extensions import db

    password = None if link else sys.stdin.readline().rstrip("\n")
    data = NewUser(
        email=email,
        first_name=first_name,
        last_name=last_name,
        profession=profession,
        role=role,
        password=password,
        rpps=rpps,
    )
    try:
        user = create_user(data, AuditContext(actor_label="cli"))
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc.field or ''}: {exc.message}") from exc
    token = issue_activation_link(user, AuditContext(actor_label="cli")) if link else None
    db.session.commit()
    click.echo(f"created user {user.id} <{user.email}> ({user.role})")
    if token:
        click.echo(activation_url(token))


@users_group.command("activation-link")
@click.argument("email")
@with_appcontext
def users_activation_link(email: str) -> None:
    """Print a fresh one-time activation link for an account (older links stop working).

    For an operator on the host when no e-mail is configured; the account's current password
    is left as it is (use the admin reset to revoke it).
    """
    from ptap.accounts.activation import activation_url, issue_activation_link
    from ptap.accounts.queries import find_user_by_email
    from ptap.audit.services import AuditContext
    from ptap.extensions import db

    user = find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with e-mail {email}")
    token = issue_activation_link(user, AuditContext(actor_label="cli"))
    db.session.commit()
    click.echo(activation_url(token))


@main.group("tokens")
def tokens_group() -> None:
    """Manage personal API tokens."""


@tokens_group.command("create")
@click.option("--user", "email", required=True, help="E-mail of the token's owner")
@click.option("--name", default="cli", show_default=True)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    default=["api:read"],
    show_default=True,
    type=click.Choice(["api:read", "api:write", "socket"]),
)
@click.option("--days", type=int, default=None)
@with_appcontext
def tokens_create(email: str, name: str, scopes: tuple[str, ...], days: int | None) -> None:
    """Create a token for a user and print it (it is shown only this once)."""
    from ptap.accounts.queries import find_user_by_email
    from ptap.accounts.services import create_api_token
    from ptap.audit.services import AuditContext
    from ptap.core.errors import DomainError
    from ptap.extensions import db

    user = find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with e-mail {email}")
    try:
        _, plaintext = create_api_token(
            user, name, list(scopes), days, AuditContext(actor_label="cli")
        )
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(plaintext)


@main.group("audit")
def audit_group() -> None:
    """Audit trail tools."""


@audit_group.command("verify")
@click.option(
    "--anchors/--no-anchors",
    "use_anchors",
    default=False,
    help="Also compare the chain with the anchors kept outside the database.",
)
@with_appcontext
def audit_verify(use_anchors: bool) -> None:
    """Seal pending events, verify the keyed chain; exit 1 naming the first bad row."""
    from ptap.audit.anchors import anchor_path, chain_key, read_anchors
    from ptap.audit.services import seal_pending_events, verify_chain
    from ptap.extensions import db

    seal_pending_events(chain_key())
    db.session.commit()
    try:
        anchors = read_anchors(anchor_path()) if use_anchors else None
    except ValueError as exc:
        click.echo(f"audit anchors unreadable: {exc}", err=True)
        sys.exit(1)
    report = verify_chain(chain_key(), anchors=anchors)
    if report.ok:
        suffix = f", {report.anchors_checked} anchors matched" if use_anchors else ""
        click.echo(f"audit chain OK: {report.checked} rows verified{suffix}")
        return
    click.echo(
        f"audit chain BROKEN at row {report.first_bad_id}: {report.problem} "
        f"({report.checked} rows verified before it)",
        err=True,
    )
    sys.exit(1)


@audit_group.command("anchor")
@with_appcontext
def audit_anchor() -> None:
    """Seal pending events and append the chain head to the anchor file."""
    from ptap.audit.tasks import anchor_audit_chain, seal_audit_chain
    from ptap.extensions import db

    seal_audit_chain()
    db.session.commit()
    anchor_audit_chain()
    click.echo("audit chain anchored")


@audit_group.command("rotate-key")
@click.option("--key-id", default="", help="Id of the new key (default: the next number).")
@with_appcontext
def audit_rotate_key(key_id: str) -> None:
    """Seal and anchor with the current key, then print a new key and the settings to apply.

    Nothing is changed in the settings: the operator puts the printed values in the secret
    store of every process (web, scheduler, hosts running `ptap audit`) and restarts them.
    """
    from ptap.audit.anchors import chain_key
    from ptap.audit.keys import KEY_ID_RE, next_key_id
    from ptap.audit.tasks import anchor_audit_chain, seal_audit_chain
    from ptap.extensions import db

    ring = chain_key()
    new_id = key_id or next_key_id(ring)
    if not KEY_ID_RE.match(new_id) or new_id in ring.keys:
        click.echo(f"key id {new_id!r} is invalid or already used", err=True)
        sys.exit(1)
    seal_audit_chain()
    db.session.commit()
    anchor_audit_chain()  # the last head sealed with the old key is kept outside the database
    new_key = secrets.token_hex(32)
    entries = [f"{kid}:{key.decode()}" for kid, key in ring.keys.items()]
    click.echo(
        f"Chain sealed and anchored with key {ring.current_id!r}. New key {new_id!r} "
        "generated. Set, for every process, then restart them (scheduler first):\n"
        f"PTAP_AUDIT_CHAIN_KEYS={','.join([*entries, f'{new_id}:{new_key}'])}\n"
        f"PTAP_AUDIT_CHAIN_KEY_ID={new_id}\n"
        "and remove PTAP_AUDIT_CHAIN_KEY (the key file is then no longer read). Keep every "
        "retired key in that list: `ptap audit verify` needs it for the seals it made."
    )


@main.group("messaging")
def messaging_group() -> None:
    """Messaging tools."""


@messaging_group.command("encrypt-attachments")
@with_appcontext
def messaging_encrypt_attachments() -> None:
    """Encrypt the attachment files stored before encryption at rest (idempotent)."""
    from ptap.extensions import db
    from ptap.messaging.attachments import encrypt_plaintext_files

    count = encrypt_plaintext_files()
    db.session.commit()  # the database backend replaced the blobs in this transaction
    click.echo(f"{count} attachment files encrypted")


@main.group("storage")
def storage_group() -> None:
    """Blob storage (attachments, consent forms): migrate between backends, sweep orphans."""


@storage_group.command("migrate")
@click.option(
    "--to",
    "target_name",
    type=click.Choice(["database", "filesystem"]),
    required=True,
    help="Backend to copy into (the other one is the source; it is left untouched).",
)
@with_appcontext
def storage_migrate(target_name: str) -> None:
    """Copy every blob of the other backend into TO, verified by checksum (re-runnable)."""
    from ptap.core import blobs
    from ptap.extensions import db

    source_name = "filesystem" if target_name == "database" else "database"
    cfg = current_app.config
    report = blobs.migrate_blobs(
        blobs.make_storage(source_name, cfg),
        blobs.make_storage(target_name, cfg),
        commit=db.session.commit,
        rollback=db.session.rollback,
    )
    click.echo(
        f"{report.copied} blobs copied from {source_name} to {target_name}, "
        f"{report.skipped} already there (checksums equal)"
    )
    if cfg["STORAGE_BACKEND"] != target_name:
        click.echo(f"Set PTAP_STORAGE_BACKEND={target_name} to use them.")


@storage_group.command("sweep")
@click.option("--dry-run", is_flag=True, help="List the orphans without deleting them.")
@with_appcontext
def storage_sweep(dry_run: bool) -> None:
    """Delete blobs no row references (older than STORAGE_SWEEP_GRACE_HOURS)."""
    from datetime import timedelta

    from ptap.core import blobs
    from ptap.extensions import db

    grace = timedelta(hours=float(current_app.config["STORAGE_SWEEP_GRACE_HOURS"]))
    swept = blobs.sweep_orphans(grace, dry_run=dry_run)
    db.session.commit()
    for key in swept:
        click.echo(key)
    click.echo(f"{len(swept)} orphan blobs {'found' if dry_run else 'deleted'}")


@main.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load the demo data (idempotent; refused in production); print new accounts' secrets once."""
    from ptap.demo import DEMO_DOMAIN, DemoRefused, load_demo

    try:
        result = load_demo()
    except DemoRefused as exc:
        raise click.ClickException(
            "`ptap demo` est refusé en production (PTAP_ENV=production) : les comptes de "
            "démonstration, dont un administrateur, y seraient une porte dérobée. "
            "Créez les comptes avec `ptap users create`."
        ) from exc
    if not current_app.config.get("DEMO_PRINT_CREDENTIALS"):
        click.echo(f"demo data loaded ({len(result.accounts)} demo accounts created)")
        return
    if not result.accounts and not result.professionals_created:
        click.echo(
            "Données de démonstration à jour. Les comptes existaient déjà : leurs identifiants "
            "n'ont été affichés qu'à leur création (recréez la base pour en obtenir de nouveaux)."
        )
        return
    click.echo("Comptes de démonstration créés (e-mail / mot de passe / secret TOTP) :")
    for account in result.accounts:
        click.echo(
            f"  {account.role:<13} {account.email:<34} {account.password}  {account.totp_secret}"
        )
    if result.professionals_created:
        click.echo(
            f"  et {result.professionals_created} autres professionnels des équipes "
            f"(prenom.nom@{DEMO_DOMAIN}, mot de passe {result.password} ; second facteur à "
            "configurer à la première connexion)"
        )
    if current_app.config.get("DEMO_SEED"):
        click.echo("Ces secrets sont dérivés de PTAP_DEMO_SEED (tests et captures d'écran).")
    else:
        click.echo("Ces secrets, tirés au hasard, ne seront plus affichés : notez-les.")
