"""A local SMTP sink for development: every message it receives becomes an ``.eml`` file.

``ptap mail-sink --port 2525 --dir instance/mail`` (started by ``make run``) accepts any sender
and recipient on the loopback interface and writes each message, exactly as received, to
``<dir>/<UTC time>-<n>.eml``: a developer opens it in any mail client to see the letter's PDF
and its ``IHE_XDM.ZIP``. Nothing is relayed further. Built on aiosmtpd (a development
dependency; this package is not in the wheel).
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from ptap.core import clock


class EmlWriter:
    """aiosmtpd handler: store each message of a DATA command as an ``.eml`` file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        """Write the received message and acknowledge it."""
        content = envelope.original_content or b""
        with self._lock:
            stamp = clock.now().strftime("%Y%m%dT%H%M%S%f")
            path = self.directory / f"{stamp}-{next(self._numbers):04d}.eml"
            path.write_bytes(content)
        return "250 Message accepted for delivery"


def start(host: str, port: int, directory: Path, **smtp_options: Any) -> Controller:
    """Start the sink in a background thread and return its controller (``.stop()`` ends it)."""
    controller = Controller(
        EmlWriter(directory),
        hostname=host,
        port=port,
        data_size_limit=50 * 1024 * 1024,
        **smtp_options,
    )
    controller.start()
    return controller


def serve(host: str, port: int, directory: Path) -> None:
    """Run the sink until interrupted."""
    controller = start(host, port, directory)
    print(f"PTAP mail sink on {host}:{port}, messages in {directory}", flush=True)  # noqa: T201
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
