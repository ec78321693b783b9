"""Benchmark of PTAP's Schematron compiler against the ISO Schematron skeleton, on the ANS schematrons.

Run: .venv/bin/python bench/schematron_skeleton.py [--rounds 3]

For each of the four ANS schematrons every CDA document goes through, times (1) compilation,
once per process: PTAP's compiler (ptap/dmp_bridge/conformance/xslt.py) against the skeleton
shipped in lxml's wheel (tests/dmp_bridge/iso_skeleton.py: include, abstract expansion, SVRL
compilation), both then compiled by Saxon-HE; (2) validation, best of ``--rounds``, of PTAP's 6 KB
PPCS fixture and the 160 KB ANS cancer example (CANCER-FRCP). Also checks that both report the
same failures (assert id, role, location, message): exit 1 otherwise.
Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
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
from tests.dmp_bridge.iso_skeleton import SkeletonSchematron, canonical_location  # noqa: E402

FIXTURES = ROOT / "tests" / "dmp_bridge" / "fixtures"
DOCUMENTS = {
    "PPCS 6 KB": FIXTURES / "PPCS_CDA-R2-N1_example.xml",
    "CANCER-FRCP 160 KB": FIXTURES / "ExemplesCDA" / "CANCER-FRCP_2022.01_Transversale.xml",
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
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    documents = {name: path.read_bytes() for name, path in DOCUMENTS.items()}
    disagreements = 0
    print(f"{'schematron':32} {'step':28} {'PTAP (s)':>10} {'skeleton (s)':>13}")
    for path in CDA_SCHEMATRONS:
        started = time.perf_counter()
        ours = compiled_schematron(path)
        ours_compile = time.perf_counter() - started
        started = time.perf_counter()
        theirs = SkeletonSchematron(path)
        theirs_compile = time.perf_counter() - started
        step = "compile (once per process)"
        print(f"{path.name:32} {step:28} {ours_compile:10.2f} {theirs_compile:13.2f}")
        for name, xml in documents.items():
            node = parse_document(xml.decode("utf-8"))
            root = etree.fromstring(xml)
            mine = Counter((f.assert_id, f.role, f.location, f.message) for f in ours.run(node))
            skeleton = Counter(
                (
                    f.assert_id,
                    normalise_role(f.role),
                    canonical_location(root, f.location),
                    f.message,
                )
                for f in theirs.run(xml)
            )
            if mine != skeleton:
                disagreements += 1
                print(f"  DISAGREE on {name}: ours {mine - skeleton}, skeleton {skeleton - mine}")
            # Both timings include parsing the document into Saxon (the skeleton's also reading
            # its SVRL report back with lxml).
            text = xml.decode("utf-8")
            ours_run = best(args.rounds, lambda run=ours.run, text=text: run(parse_document(text)))
            theirs_run = best(args.rounds, lambda run=theirs.run, xml=xml: run(xml))
            step = f"validate {name}"
            print(f"{'':32} {step:28} {ours_run:10.4f} {theirs_run:13.4f}")
    print("agree on every document" if not disagreements else f"{disagreements} disagreements")
    return 1 if disagreements else 0


if __name__ == "__main__":
    raise SystemExit(main())
