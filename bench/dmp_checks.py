"""Micro-benchmarks of the DMP bridge that used to be timing assertions inside unit tests.

Run: .venv/bin/python bench/dmp_checks.py [--rounds 5]

Prints, each as the best of ``--rounds`` rounds (other processes share the CPU):

* CDA validation (XSD + the four ANS schematrons) of the 448 KB ANS example after warm-up
  (was ``test_validate_cda_is_fast_after_warm_up``, bound 0.25 s);
* building one filing (CDA + ITI-41 metadata + XAdES signature) for a 100 KB PDF
  (was ``test_building_is_fast``, bound 25 ms);
* 40 ITI-41 submissions from 4 threads to the in-process DMP simulator
  (was ``test_concurrent_submissions_are_all_stored_at_20_documents_per_second``, bound 20/s).

Exits 1 when a figure misses its former bound, so that a regression is still visible.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ptap.devtools.dmp_simulator import start_in_thread  # noqa: E402
from ptap.dmp_bridge.cda import build_cda  # noqa: E402
from ptap.dmp_bridge.conformance import validate_cda  # noqa: E402
from ptap.dmp_bridge.crypto import generate_identity  # noqa: E402
from ptap.dmp_bridge.ports import ProvideAndRegister  # noqa: E402
from ptap.dmp_bridge.soap import SoapDmpTransport  # noqa: E402
from ptap.dmp_bridge.xds import build_provide_and_register  # noqa: E402
from tests.dmp_bridge.dmp_samples import sample_document, sample_ids, sample_pdf  # noqa: E402
from tests.dmp_bridge.test_soap import builder_payload, request_context  # noqa: E402

FIXTURES = ROOT / "tests" / "dmp_bridge" / "fixtures"


def best(rounds: int, repeat: int, func: Callable[[], object]) -> float:
    """Return the best mean wall time of ``func`` over ``rounds`` rounds of ``repeat`` calls."""
    func()  # warm-up: schematron compilation, key loading, first allocations
    means = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeat):
            func()
        means.append((time.perf_counter() - started) / repeat)
    return min(means)


def validation_seconds(rounds: int) -> float:
    xml = (FIXTURES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml").read_bytes()
    return best(rounds, 1, lambda: validate_cda(xml))


def building_seconds(rounds: int) -> float:
    signer = generate_identity("PTAP DMP seal (bench)", "DAC de test")
    doc, ids = sample_document(pdf=sample_pdf(100_000)), sample_ids()

    def build() -> ProvideAndRegister:
        return build_provide_and_register(
            doc,
            ids,
            build_cda(doc, ids),
            signer,
            source_oid="1.2.250.1.999.1",
            submission_set_oid="1.2.250.1.999.2",
            now=doc.created_at,
        )

    return best(rounds, 5, build)


def submissions_per_second(count: int = 40, workers: int = 4) -> float:
    signer = generate_identity("PTAP DMP seal (bench)", "DAC de test")
    payloads = [builder_payload(signer) for _ in range(count)]
    _, stop = start_in_thread("127.0.0.1", 0, seed=7)

    def submit(payload: ProvideAndRegister) -> str:
        with requests.Session() as session:
            transport = SoapDmpTransport(
                stop.base_url,
                signer,
                lps_name="PTAP",
                lps_version="1",
                lps_homologation_id="H",
                session=session,
            )
            prepared = transport.prepare_submission(payload, request_context())
            return transport.send_submission(prepared).status

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            statuses = list(pool.map(submit, payloads))
        elapsed = time.perf_counter() - started
    finally:
        stop()
    if statuses != ["Success"] * count:
        raise SystemExit(f"submissions failed: {statuses}")
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    figures = [
        ("CDA validation, 448 KB ANS example (s)", validation_seconds(args.rounds), "<", 0.25),
        ("CDA + ITI-41 + XAdES build, 100 KB PDF (s)", building_seconds(args.rounds), "<", 0.025),
        ("simulator submissions, 4 threads (documents/s)", submissions_per_second(), ">", 20.0),
    ]
    missed = 0
    for label, value, sense, bound in figures:
        ok = value < bound if sense == "<" else value > bound
        missed += not ok
        print(f"{label:50} {value:10.4f}   (bound {sense} {bound}) {'ok' if ok else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
