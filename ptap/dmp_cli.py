"""`ptap dmp ...` and `ptap dmp-simulator`: the DMP bridge's commands."""

from __future__ import annotations

import sys
import time

import click
from flask.cli import with_appcontext

#: What ``ptap dmp-simulator`` says in a production install (ptap.devtools is not in the wheel).
SIMULATOR_NOT_INSTALLED = (
    "Le simulateur DMP est un outil de développement : il n'est pas livré dans les "
    "installations de production (le paquet ptap.devtools est absent). Lancez-le depuis une "
    "copie des sources installée en mode éditable (make run)."
)


@click.command("dmp-simulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5900, show_default=True, type=int)
@click.option("--store", default=None, help="File keeping the stored documents across restarts")
@click.option(
    "--failure-rate",
    default=1.0,
    show_default=True,
    type=float,
    help="Probability that a request gets one of the --fault modes",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    help="Fault modes drawn at the failure rate (http_500, timeout, soap_fault, "
    "registry_error, reset, lost_response)",
)
@click.option("--latency-ms", default=0, show_default=True, type=int)
@click.option("--seed", default=None, type=int)
@click.option(
    "--seed-examples/--no-seed-examples",
    default=True,
    show_default=True,
    help="Give every patient example documents (discharge letter, lab report, PDF) on the "
    "first consultation of their DMP",
)
def simulator_command(
    host: str,
    port: int,
    store: str | None,
    failure_rate: float,
    faults: tuple[str, ...],
    latency_ms: int,
    seed: int | None,
    seed_examples: bool,
) -> None:
    """Serve a DMP simulator (ITI-41, ITI-18, ITI-43, ITI-57 over SOAP/MTOM) for development.

    The simulator lives in ``ptap.devtools``, which the wheel does not ship.
    """
    try:
        from ptap.devtools.dmp_simulator import serve
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("ptap.devtools"):
            raise
        raise click.ClickException(SIMULATOR_NOT_INSTALLED) from exc

    serve(
        host,
        port,
        store_path=store,
        fault_modes=tuple(faults),
        failure_rate=failure_rate,
        latency_ms=latency_ms,
        seed=seed,
        seed_examples=seed_examples,
    )


@click.group("dmp")
def dmp_group() -> None:
    """DMP bridge: validate documents, send the outbox."""


@dmp_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def validate_command(files: tuple[str, ...]) -> None:
    """Check CDA documents or ITI-41 requests against the CI-SIS schemas and schematrons."""
    from ptap.dmp_bridge.conformance import format_report, validate_file

    failed = 0
    for path in files:
        report = validate_file(path)
        click.echo(f"{path}: {format_report(report)}")
        failed += 0 if report.ok else 1
    sys.exit(1 if failed else 0)


@dmp_group.command("send-pending")
@click.option("--until-idle", is_flag=True, help="Keep going until no row is pending")
@click.option("--max-seconds", default=600.0, show_default=True, type=float)
@with_appcontext
def send_pending_command(until_idle: bool, max_seconds: float) -> None:
    """Send the due outbox rows now (what the scheduler job does), as one worker."""
    from ptap.dmp_bridge import outbox, queries, runtime

    transport = runtime.transport()
    deadline = time.monotonic() + max_seconds
    totals: dict[str, int] = {}
    while True:
        for status, n in outbox.send_due(transport).items():
            totals[status] = totals.get(status, 0) + n
        if not until_idle or not queries.has_open_work() or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    click.echo(" ".join(f"{k}={v}" for k, v in sorted(totals.items())) or "nothing to send")


@dmp_group.command("status")
@with_appcontext
def status_command() -> None:
    """Count the outbox rows by status."""
    from ptap.dmp_bridge import queries

    for status, n in sorted(queries.count_by_status().items()):
        click.echo(f"{status:<12} {n}")


@click.command("mail-sink")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=2525, show_default=True, type=int)
@click.option(
    "--dir", "directory", default="instance/mail", show_default=True, help="Where .eml files go"
)
def mail_sink_command(host: str, port: int, directory: str) -> None:
    """Serve a local SMTP sink storing every received message as an .eml file (development)."""
    from pathlib import Path

    try:
        from ptap.devtools.mail_sink import serve
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            "Le puits SMTP est un outil de développement (ptap.devtools, aiosmtpd) : il n'est "
            "pas livré dans les installations de production."
        ) from exc
    serve(host, port, Path(directory))
