"""Benchmark of PTAP's Schematron compiler against pyschematron on the ANS schematrons.

Run: .venv/bin/python bench/schematron_engines.py [--rounds 5]   (needs `make schematron-venv`)

For IHE.sch and CI-SIS_Modeles_ANS.sch (the two pyschematron 1.2.5 can run (value-set lookups), see
tests/dmp_bridge/test_schematron_crosscheck.py), times (1) compilation, once per process: PTAP's
compiler (ptap/dmp_bridge/conformance/xslt.py, on Saxon-HE) against pyschematron's schema
parsing (tests/dmp_bridge/pyschematron_runner.py, in .venv-schematron, timed inside the
subprocess), and (2) validation of PTAP's 6 KB PPCS example: best of ``--rounds`` for ours, one
run for pyschematron (it takes tens of seconds). Also checks that both report the same
(assert id, role) failures (exit 1 otherwise).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ptap.dmp_bridge.conformance import CDA_SCHEMATRONS  # noqa: E402
from ptap.dmp_bridge.conformance.findings import normalise_role  # noqa: E402
from ptap.dmp_bridge.conformance.runner import compiled_schematron, parse_document  # noqa: E402

FIXTURES = ROOT / "tests" / "dmp_bridge" / "fixtures"
RUNNER = ROOT / "tests" / "dmp_bridge" / "pyschematron_runner.py"
PYTHON = ROOT / ".venv-schematron" / "bin" / "python"
DOCUMENT = FIXTURES / "PPCS_CDA-R2-N1_example.xml"
SCHEMATRONS = [
    path for path in CDA_SCHEMATRONS if path.name in ("IHE.sch", "CI-SIS_Modeles_ANS.sch")
]


def best(rounds: int, func: object) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        func()  # type: ignore[operator]
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not PYTHON.exists():
        print(f"{PYTHON} is missing: run `make schematron-venv` first")
        return 2

    node = parse_document(etree.tostring(etree.parse(str(DOCUMENT)), encoding="unicode"))
    disagreements = 0
    print(f"{'schematron':24} {'step':28} {'PTAP (s)':>10} {'pyschematron (s)':>17}")
    for path in SCHEMATRONS:
        started = time.perf_counter()
        ours = compiled_schematron(path)
        ours_compile = time.perf_counter() - started
        output = subprocess.run(
            [str(PYTHON), str(RUNNER), str(path), str(DOCUMENT)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        theirs = json.loads(output)
        print(
            f"{path.name:24} {'compile (once per process)':28} {ours_compile:10.2f} "
            f"{theirs['compile_seconds']:17.2f}"
        )
        ours_failures = Counter((f.assert_id, f.role) for f in ours.run(node))
        theirs_failures = Counter(
            (assert_id, normalise_role(role)) for assert_id, role, _ in theirs["documents"][0]
        )
        if ours_failures != theirs_failures:
            disagreements += 1
            print(f"  DISAGREE: ours {ours_failures}, pyschematron {theirs_failures}")
        ours_run = best(args.rounds, lambda run=ours.run: run(node))
        print(
            f"{'':24} {'validate PPCS 6 KB':28} {ours_run:10.4f} {theirs['validate_seconds']:17.2f}"
        )
    print("agree on every document" if not disagreements else f"{disagreements} disagreements")
    return 1 if disagreements else 0


if __name__ == "__main__":
    raise SystemExit(main())
