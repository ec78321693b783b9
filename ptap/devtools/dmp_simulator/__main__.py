"""``python -m ptap.devtools.dmp_simulator``: run the DMP simulator (options: package docstring)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ptap.devtools.dmp_simulator.app import DEFAULT_PREFIX
from ptap.devtools.dmp_simulator.faults import MODES
from ptap.devtools.dmp_simulator.server import serve


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description="Simulateur du DMP (SOAP/MTOM, VIHF).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--prefix", default=DEFAULT_PREFIX)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--store-path", help="SQLite file kept across restarts")
    parser.add_argument("--no-mtom-responses", dest="mtom_responses", action="store_false")
    parser.add_argument("--seed-examples", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--fault-modes", default="", help=f"comma-separated: {', '.join(MODES)}")
    parser.add_argument("--failure-rate", type=float, default=1.0)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--fault-services", default="repository,registry")
    parser.add_argument("--fault-count", type=int)
    parser.add_argument("--timeout-seconds", type=float, default=30.0)
    parser.add_argument("--soap-fault-code", choices=["Receiver", "Sender"], default="Receiver")
    parser.add_argument("--registry-error-code", default="XDSRegistryBusy")
    parser.add_argument("--lost-response-mode", choices=["http_500", "reset"], default="http_500")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until Ctrl-C."""
    serve(**vars(parse_args(argv)))


if __name__ == "__main__":
    main()
