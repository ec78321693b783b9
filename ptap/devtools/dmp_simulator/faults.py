"""Fault injection: which request fails, and how (seeded, so runs are reproducible).

Modes:

* ``http_500``: answer HTTP 500 with a plain-text body, without processing the request;
* ``timeout``: hold the request ``timeout_seconds`` (longer than the client's read timeout),
  then answer 504, without processing it;
* ``soap_fault``: a SOAP 1.2 Fault (``soap_fault_code`` Receiver or Sender);
* ``registry_error``: a Failure RegistryResponse (or AdhocQueryResponse) with
  ``registry_error_code`` (XDSRegistryBusy by default: transient; XDSRegistryMetadataError…
  for a permanent one);
* ``reset``: close the connection without answering;
* ``lost_response``: PROCESS the request (the document is stored), then answer 500 or drop
  the connection (``lost_response_mode``): the client cannot know it succeeded.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

MODES = ("http_500", "timeout", "soap_fault", "registry_error", "reset", "lost_response")
SERVICES = ("repository", "registry")


@dataclass(frozen=True)
class FaultConfig:
    """What to inject. With ``modes`` empty, nothing is."""

    modes: tuple[str, ...] = ()
    #: Probability that a request to one of ``services`` gets a fault (0..1).
    failure_rate: float = 1.0
    #: Added to every request, faulty or not.
    latency_ms: int = 0
    services: tuple[str, ...] = SERVICES
    #: Inject at most this many faults, then stop (None: no limit).
    count: int | None = None
    timeout_seconds: float = 30.0
    soap_fault_code: str = "Receiver"
    soap_fault_reason: str = "Service momentanément indisponible (simulateur DMP)"
    registry_error_code: str = "XDSRegistryBusy"
    lost_response_mode: str = "http_500"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultConfig:
        """Build from the control endpoint's JSON; raise ValueError on a bad field."""
        if not isinstance(data, dict):
            raise ValueError("JSON object expected")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = dict(data)
        for key in ("modes", "services"):
            if key in values:
                raw = values[key]
                values[key] = (raw,) if isinstance(raw, str) else tuple(raw)
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ValueError on an unknown mode, service or an out-of-range number."""
        bad = [m for m in self.modes if m not in MODES]
        if bad:
            raise ValueError(f"unknown mode(s) {bad}; known: {', '.join(MODES)}")
        if [s for s in self.services if s not in SERVICES]:
            raise ValueError(f"services must be among {SERVICES}")
        if not 0.0 <= float(self.failure_rate) <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        if int(self.latency_ms) < 0 or float(self.timeout_seconds) < 0:
            raise ValueError("latency_ms and timeout_seconds must be positive")
        if self.count is not None and int(self.count) < 0:
            raise ValueError("count must be positive")
        if self.soap_fault_code not in {"Receiver", "Sender"}:
            raise ValueError("soap_fault_code is Receiver or Sender")
        if self.lost_response_mode not in {"http_500", "reset"}:
            raise ValueError("lost_response_mode is http_500 or reset")

    def to_json(self) -> dict[str, Any]:
        """The configuration as the control endpoint shows it."""
        data = asdict(self)
        data["modes"], data["services"] = list(self.modes), list(self.services)
        return data


class FaultInjector:
    """Decide, request by request, whether and how to fail; count what was injected."""

    def __init__(self, config: FaultConfig | None = None, *, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._random = random.Random(seed)  # noqa: S311 - test double, not cryptography
        self.config = config or FaultConfig()
        self.config.validate()
        self.injected: Counter[str] = Counter()

    def configure(self, config: FaultConfig) -> None:
        """Replace the fault configuration."""
        with self._lock:
            self.config = config

    def reset(self) -> None:
        """No faults, counters at zero, random generator re-seeded."""
        with self._lock:
            self.config = FaultConfig()
            self.injected.clear()
            self._random = random.Random(self._seed)  # noqa: S311

    def pick(self, service: str) -> str | None:
        """The fault mode for this request, or None."""
        with self._lock:
            config = self.config
            if not config.modes or service not in config.services:
                return None
            if config.count is not None and config.count <= 0:
                return None
            if self._random.random() >= config.failure_rate:
                return None
            mode = self._random.choice(config.modes)
            if config.count is not None:
                self.config = replace(config, count=config.count - 1)
            self.injected[mode] += 1
            return mode
