"""A deterministic, in-process INSi simulator for `make run`, the tests and the demo.

It never invents randomness: the "national register" is a function of the traits. For given
traits it answers:

- birth name starting with ``PANNE``: the service is down (`InsiUnavailable`);
- birth name starting with ``INCONNU``: ``01`` (no identity);
- birth name starting with ``HOMONYME`` and no birthplace code: ``02`` (several identities;
  the same traits with a birthplace code answer ``00``);
- otherwise ``00`` with a test INS (OID 1.2.250.1.213.1.4.10, "NIR de test") derived from the
  traits: sex digit, birth year and month, birthplace code, an order number hashed from the
  names, and the control key. The same traits always give the same INS, so `verify` of an INS
  retrieved earlier answers ``00`` and any other INS answers ``01``.

`SimulatedInsi(down=True)` is down for every call (tests of the service-down path).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ptap.care_teams.insi import (
    InsiAnswer,
    InsiCode,
    InsIdentity,
    InsiUnavailable,
    InsTraits,
)
from ptap.core.ins import InsOid, normalise_nir, with_key


def simulated_ins(traits: InsTraits) -> str:
    """Return the test INS matricule the simulator gives these traits."""
    sex = "1" if traits.sex == "M" else "2"
    month = f"{traits.birth_month:02d}" if traits.birth_month else "20"
    place = traits.birthplace_code if len(traits.birthplace_code) == 5 else "99100"
    seed = f"{traits.birth_name}|{traits.first_names.split(' ')[0]}|{traits.birth_year}"
    seed += f"|{traits.birth_month}|{traits.birth_day}|{traits.sex}"
    order = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % 999 + 1
    return with_key(f"{sex}{traits.birth_year % 100:02d}{month}{place}{order:03d}")


class SimulatedInsi:
    """The simulator: `retrieve` and `verify` as the INSi port defines them."""

    def __init__(
        self, timeout: float = 5.0, config: Mapping[str, Any] | None = None, *, down: bool = False
    ) -> None:
        self.timeout = timeout
        self.down = down
        self.calls: list[tuple[str, InsTraits]] = []

    def _answer(self, traits: InsTraits) -> InsiAnswer:
        name = traits.birth_name
        if self.down or name.startswith("PANNE"):
            raise InsiUnavailable("simulateur : service indisponible")
        if name.startswith("INCONNU"):
            return InsiAnswer(InsiCode.NONE)
        if name.startswith("HOMONYME") and not traits.birthplace_code:
            return InsiAnswer(InsiCode.SEVERAL)
        identity = InsIdentity(simulated_ins(traits), InsOid.TEST_NIR, traits)
        return InsiAnswer(InsiCode.FOUND, identity)

    def retrieve(self, traits: InsTraits) -> InsiAnswer:
        """Search the simulated register by traits."""
        self.calls.append(("retrieve", traits))
        return self._answer(traits)

    def verify(self, matricule: str, oid: str, traits: InsTraits) -> InsiAnswer:
        """Answer 00 when the INS is the one these traits give, 01 otherwise."""
        self.calls.append(("verify", traits))
        answer = self._answer(traits)
        if answer.identity is None:
            return InsiAnswer(InsiCode.NONE) if answer.code == InsiCode.SEVERAL else answer
        if normalise_nir(matricule) != answer.identity.matricule or oid != answer.identity.oid:
            return InsiAnswer(InsiCode.NONE)
        return answer
