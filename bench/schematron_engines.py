"""Benchmark of the two Schematron implementations on the four ANS schematrons.

Run: .venv/bin/python bench/schematron_engines.py [--rounds 5]

For each vendored ANS schematron, times (1) compilation, once per process: PTAP's compiler
(ptap/dmp_bridge/conformance/xslt.py) against SchXslt2 (tests/dmp_bridge/schxslt2.py: include
expansion + transpilation + Saxon compilation), and (2) validation of the 448 KB ANS example and
of PTAP's PPCS example, best of ``--rounds``, with both stylesheets run by the same Saxon-HE.
Also checks that both report the same failures on each document (exit 1 otherwise).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ptap.dmp_bridge.conformance import CDA_SCHEMATRONS  # noqa: E402
from ptap.dmp_bridge.conformance.runner import compiled_schematron, parse_document  # noqa: E402
from tests.dmp_bridge import schxslt2  # noqa: E402

FIXTURES = ROOT / "tests" / "dmp_bridge" / "fixtures"
DOCUMENTS = {
    "ANS unstructured, 448 KB": FIXTURES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml",
    "PTAP PPCS, 100 KB PDF": FIXTURES / "PPCS_CDA-R2-N1_example.xml",
}


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

    nodes = {
        name: parse_document(etree.tostring(etree.parse(str(path)), encoding="unicode"))
        for name, path in DOCUMENTS.items()
    }
    disagreements = 0
    print(f"{'schematron':34} {'step':28} {'PTAP (s)':>10} {'SchXslt2 (s)':>13}")
    for path in CDA_SCHEMATRONS:
        started = time.perf_counter()
        ours = compiled_schematron(path)
        ours_compile = time.perf_counter() - started
        started = time.perf_counter()
        theirs = schxslt2.compile_schematron(path)
        theirs_compile = time.perf_counter() - started
        print(
            f"{path.name:34} {'compile (once per process)':28} {ours_compile:10.2f} "
            f"{theirs_compile:13.2f}"
        )
        for name, node in nodes.items():
            ours_failures = {(f.assert_id, f.role, f.location) for f in ours.run(node)}
            if ours_failures != theirs(node):
                disagreements += 1
                print(f"  DISAGREE on {name}: {ours_failures ^ theirs(node)}")
            ours_run = best(args.rounds, lambda node=node, run=ours.run: run(node))
            theirs_run = best(args.rounds, lambda node=node, run=theirs: run(node))
            print(f"{'':34} {'validate ' + name:28} {ours_run:10.4f} {theirs_run:13.4f}")
    print("agree on every document" if not disagreements else f"{disagreements} disagreements")
    return 1 if disagreements else 0


if __name__ == "__main__":
    raise SystemExit(main())
