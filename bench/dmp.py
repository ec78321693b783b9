"""Benchmark of the DMP bridge: build, validate and submit documents to the simulator.

Run: .venv/bin/python bench/dmp.py [--documents 300 --pdf-documents 20 --target 20]

Builds a throwaway SQLite database with a team and 20 qualified, consenting patients, starts
the DMP simulator as its own process (`ptap dmp-simulator`, which checks every request: XSD,
metadata, signed VIHF, hashes), queues `--documents` filings in the outbox and times one
worker (`outbox.send_due`, the scheduler job's code) sending them all end to end: outbox claim,
CDA build, CDA validation (XSD + the four ANS schematrons), XDS metadata + XAdES signature,
SOAP envelope + signed VIHF + MTOM, HTTP round trip, outcome recorded. The PDF is a fixed
100 KB file (rendering excluded). Then `--pdf-documents` filings of a real three-page PPCS
version, whose PDF/A is rendered by WeasyPrint for each document (rendering included).
Per-phase times are measured by wrapping the bridge's functions. Exits 1 when the documents/s
without rendering miss `--target`.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ptap import create_app  # noqa: E402
from ptap.dmp_bridge import cda, outbox, runtime, soap, xds  # noqa: E402
from ptap.dmp_bridge import conformance as conformance_module  # noqa: E402
from ptap.extensions import db  # noqa: E402
from tests.dmp_bridge import synthetic  # noqa: E402
from tests.factories import add_member, make_patient, make_team, make_user  # noqa: E402

PHASES: dict[str, list[float]] = defaultdict(list)


def timed(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``func`` so that each call's wall time is added to PHASES[name]."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            PHASES[name].append(time.perf_counter() - start)

    return wrapper


def instrument() -> None:
    # builder imports these at call time, so replacing the module attributes is enough.
    cda.build_cda = timed("CDA build", cda.build_cda)
    conformance_module.validate_cda = timed("CDA validation", conformance_module.validate_cda)
    xds.build_provide_and_register = timed("XDS + XAdES", xds.build_provide_and_register)
    soap.SoapDmpTransport.prepare_submission = timed(  # type: ignore[method-assign]
        "SOAP + VIHF + MTOM", soap.SoapDmpTransport.prepare_submission
    )
    soap.SoapDmpTransport.send_submission = timed(  # type: ignore[method-assign]
        "HTTP round trip (simulator checks)", soap.SoapDmpTransport.send_submission
    )
    outbox.claim_next = timed("outbox claim", outbox.claim_next)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_simulator(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/ptap"), "dmp-simulator", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/_control/health", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit("the simulator did not start")


def run(docs: int, first: int, patients: list[int], team: int, user: int) -> float:
    """Queue ``docs`` synthetic filings numbered from ``first`` and send them; return docs/s."""
    synthetic.queue(docs, patients, team, user, first=first)
    db.session.commit()
    start = time.perf_counter()
    counts = outbox.send_due(runtime.transport())
    elapsed = time.perf_counter() - start
    if counts != {"filed": docs}:
        raise SystemExit(f"not every document was filed: {counts}")
    return docs / elapsed


def report_phases() -> None:
    print(f"{'phase':<36} {'calls':>6} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for name, values in PHASES.items():
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        print(
            f"{name:<36} {len(values):>6} {statistics.median(values) * 1000:>8.1f} "
            f"{p95 * 1000:>8.1f} {statistics.mean(values) * 1000:>8.1f}"
        )
    PHASES.clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=300)
    parser.add_argument("--pdf-documents", type=int, default=20)
    parser.add_argument("--target", type=float, default=20.0)
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="also time N worker processes (tests/dmp_bridge/outbox_worker.py) sharing the outbox",
    )
    args = parser.parse_args()

    port = free_port()
    simulator = start_simulator(port)
    tmp = tempfile.TemporaryDirectory()
    app = create_app(
        {
            "ENV": "testing",
            "DATABASE_URL": f"sqlite:///{tmp.name}/bench.sqlite3",
            "SECRET_KEY": "bench-" + "x" * 40,
            "DMP_TRANSPORT": "soap",
            "DMP_BASE_URL": f"http://127.0.0.1:{port}/si-dmp-server/v2/services",
            "DMP_VALIDATE_BEFORE_SEND": True,
            "DMP_BATCH_SIZE": 20,
        }
    )
    try:
        with app.app_context():
            db.create_all()
            synthetic.register()
            coordinator = make_user(profession="care_coordinator")
            team = make_team()
            add_member(team, coordinator, "coordinator")
            patients = [make_patient(team, coordinator).id for _ in range(20)]
            db.session.commit()
            start = time.perf_counter()
            run(1, 10_000_000, patients, team.id, coordinator.id)  # warm-up: compiles schematrons
            print(
                f"warm-up (schematron compilation, first document): {time.perf_counter() - start:.2f} s"
            )
            instrument()
            rate = run(args.documents, 1, patients, team.id, coordinator.id)
            print(f"\n{args.documents} documents, PDF rendering excluded: {rate:.1f} documents/s")
            report_phases()
            if args.workers:
                multi = run_workers(
                    args.workers, args.documents, patients, team.id, coordinator.id, port, tmp.name
                )
                print(
                    f"\n{args.documents} documents, {args.workers} worker processes: {multi:.1f} documents/s"
                )
            pdf_rate = run_with_pdf(args.pdf_documents, patients, team.id, coordinator.id)
            print(
                f"\n{args.pdf_documents} PPCS, PDF/A rendered for each: {pdf_rate:.1f} documents/s"
            )
            report_phases()
            stats = requests.get(f"http://127.0.0.1:{port}/_control/stats", timeout=5).json()
            print(
                f"\nsimulator: {stats['submissions_total']} entries submitted (document + signature per request), refusals {stats.get('refusals')}"
            )
    finally:
        simulator.terminate()
        simulator.wait()
        tmp.cleanup()
    return 0 if rate >= args.target else 1


def run_workers(
    workers: int, docs: int, patients: list[int], team: int, user: int, port: int, folder: str
) -> float:
    """Queue ``docs`` filings and time ``workers`` processes sending them; return docs/s."""
    import os

    env = {
        **os.environ,
        "PTAP_ENV": "testing",
        "PTAP_DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
        "PTAP_SECRET_KEY": "bench-" + "x" * 40,
        "PTAP_DMP_TRANSPORT": "soap",
        "PTAP_DMP_BASE_URL": f"http://127.0.0.1:{port}/si-dmp-server/v2/services",
        "PTAP_DMP_BATCH_SIZE": "5",
        "PYTHONPATH": str(ROOT),
    }
    # Each worker compiles the validators, says it is ready, then waits for rows: the clock
    # starts when the rows are committed, all workers warm.
    procs = []
    for i in range(workers):
        ready = Path(folder) / f"ready-{i}"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.dmp_bridge.outbox_worker", "600"],
                cwd=ROOT,
                env={**env, "PTAP_WORKER_READY_FILE": str(ready)},
            )
        )
    while not all((Path(folder) / f"ready-{i}").exists() for i in range(workers)):
        time.sleep(0.05)
    synthetic.queue(docs, patients, team, user, first=30_000_000)
    db.session.commit()
    start = time.perf_counter()
    for proc in procs:
        proc.wait()
    elapsed = time.perf_counter() - start
    from ptap.dmp_bridge import queries

    counts = queries.count_by_status()
    if counts.get("filed", 0) < docs:
        raise SystemExit(f"not every document was filed: {counts}")
    return docs / elapsed


def run_with_pdf(docs: int, patients: list[int], team: int, user: int) -> float:
    """File ``docs`` documents whose PDF is the real PPCS rendering of a published version."""
    from bench.care_plan_pdf import build_world, publish
    from ptap.care_plans.documents import render_version_pdf

    world = build_world()
    version = publish(world, 12, "Version de mesure")
    db.session.commit()
    original = synthetic.synthetic_document

    def with_real_pdf(number: int, render: bool) -> Any:
        doc = original(number, False)
        if not render:
            return doc
        import dataclasses

        start = time.perf_counter()
        pdf = render_version_pdf(version)
        PHASES["PDF/A rendering (WeasyPrint)"].append(time.perf_counter() - start)
        return dataclasses.replace(doc, pdf=pdf)

    from ptap import dmp_bridge

    dmp_bridge.register_document_provider(synthetic.SOURCE_TYPE, with_real_pdf)
    return run(docs, 20_000_000, patients, team, user)


if __name__ == "__main__":
    sys.exit(main())
