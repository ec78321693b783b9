"""An outbox worker process for the fault tests: `python -m tests.dmp_bridge.outbox_worker`.

It runs the same code as the scheduler job (``outbox.send_due`` through the configured
transport) in a loop until no row is pending; settings come from PTAP_* variables.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ptap import create_app
from ptap.dmp_bridge import outbox, queries, runtime
from tests.dmp_bridge import synthetic


def _warm_up_then_wait(ready_file: str, deadline: float) -> None:
    """Compile the validators, say so in ``ready_file``, then wait for rows to send (bench)."""
    from ptap.dmp_bridge.conformance import warm_up

    warm_up()
    Path(ready_file).touch()
    while not queries.has_open_work() and time.monotonic() < deadline:
        time.sleep(0.01)


def main() -> int:
    app = create_app()
    synthetic.register()
    deadline = time.monotonic() + float(sys.argv[1] if len(sys.argv) > 1 else 300)
    with app.app_context():
        transport = runtime.transport()
        if os.environ.get("PTAP_WORKER_READY_FILE"):
            _warm_up_then_wait(os.environ["PTAP_WORKER_READY_FILE"], deadline)
        while time.monotonic() < deadline:
            outbox.send_due(transport)
            if not queries.has_open_work():
                return 0
            time.sleep(0.02)
    return 1


if __name__ == "__main__":
    sys.exit(main())
