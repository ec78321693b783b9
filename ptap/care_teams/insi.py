"""The INSi teleservice port: retrieve or verify a patient's INS (national health identity).

INSi's wire specification is distributed only to registered publishers (GIE SESAM-Vitale), so
PTAP speaks to it through this port. `INSI_CONNECTOR` picks the implementation:

- ``"simulator"``: `ptap.devtools.insi_simulator.SimulatedInsi`, deterministic, in-process
  (``make run``, tests, the demo). Refused in production by `ptap check-config`.
- ``"none"``: no connector; every call raises `InsiNotConfigured` (nothing can be qualified).
- a dotted path ``"package.module:Class"`` (or ``package.module.Class``) of a certified
  connector. It is built with ``Class(timeout=INSI_TIMEOUT_SECONDS, config=app.config)``
  and must implement `IdentityService`.

A real connector makes an HTTP (SOAP) call: it must honour the timeout it is given (a few
seconds; the request waits for it) or run in a job. See docs/identity-vigilance.md.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from flask import current_app

from ptap.core.errors import DomainError

SIMULATOR = "ptap.devtools.insi_simulator:SimulatedInsi"


class InsiCode(StrEnum):
    """INSi answer codes, as the public guides describe them."""

    FOUND = "00"  #: one identity: its INS and traits are returned
    NONE = "01"  #: no identity matches the traits (or the INS and traits do not match)
    SEVERAL = "02"  #: several identities: retry with all first names, then the birthplace


@dataclass(frozen=True)
class InsTraits:
    """The strict traits sent to, or returned by, INSi (normalised, first names in order)."""

    birth_name: str
    first_names: str
    birth_year: int
    birth_month: int | None
    birth_day: int | None
    sex: str
    birthplace_code: str = ""


@dataclass(frozen=True)
class InsIdentity:
    """An identity returned with code 00: the INS matricule, its OID and the INS traits."""

    matricule: str
    oid: str
    traits: InsTraits


@dataclass(frozen=True)
class InsiAnswer:
    """One INSi answer: a code and, for 00, the identity."""

    code: InsiCode
    identity: InsIdentity | None = None


class InsiError(DomainError):
    """The INSi call could not be made or did not answer: nothing was recorded."""

    status = 503


class InsiUnavailable(InsiError):
    """The teleservice is down, timed out or answered an error."""

    def __init__(self, detail: str = "") -> None:
        suffix = f" ({detail})" if detail else ""
        super().__init__(
            "Le téléservice INSi ne répond pas" + suffix + " : rien n'a été modifié. "
            "Réessayez plus tard ; l'identité garde son statut actuel."
        )


class InsiNotConfigured(InsiError):
    """No INSi connector is configured (INSI_CONNECTOR = "none")."""

    def __init__(self) -> None:
        super().__init__(
            "Aucun connecteur INSi n'est configuré sur cette installation : l'INS ne peut "
            "être ni récupérée ni vérifiée, et l'identité ne peut pas être qualifiée."
        )


class IdentityService(Protocol):
    """What PTAP needs of INSi: retrieve an INS from traits, verify an INS with traits."""

    def retrieve(self, traits: InsTraits) -> InsiAnswer:
        """Search the national register by traits (raise InsiUnavailable when down)."""

    def verify(self, matricule: str, oid: str, traits: InsTraits) -> InsiAnswer:
        """Check that an INS and these traits belong together (raise InsiUnavailable)."""


def load_class(path: str) -> type[Any]:
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def is_simulator(connector: object) -> bool:
    """Say whether a loaded connector class is the simulator (or derives from it), however
    the setting spelled its path; False when the development tools are not installed."""
    try:
        simulator = load_class(SIMULATOR)
    except ImportError:  # ptap.devtools is not shipped: nothing loaded can be the simulator
        return False
    return isinstance(connector, type) and issubclass(connector, simulator)


def connector_path(setting: str) -> str | None:
    """Return the class path a connector setting names, or None for "none"."""
    if setting == "none":
        return None
    return SIMULATOR if setting == "simulator" else setting


def identity_service() -> IdentityService:
    """Build the configured connector (raise InsiNotConfigured when there is none)."""
    cfg = current_app.config
    path = connector_path(str(cfg["INSI_CONNECTOR"]))
    if path is None:
        raise InsiNotConfigured
    cls = load_class(path)
    if cfg["ENV"] == "production" and is_simulator(cls):
        raise InsiNotConfigured  # never qualify against invented identities
    connector: IdentityService = cls(timeout=float(cfg["INSI_TIMEOUT_SECONDS"]), config=cfg)
    return connector
