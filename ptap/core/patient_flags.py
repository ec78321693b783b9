"""Facts about patients that one domain computes and another, on the same layer, reads.

Meetings suggest patients with unacknowledged urgent messages for their agenda, but meetings
and messaging are independent siblings (import-linter): neither imports the other. Messaging
registers a provider here at import; meetings asks for the flag by name and gets nothing when
no provider registered (the suggestion is simply absent).
"""

from __future__ import annotations

from collections.abc import Callable, Collection

#: Patients (among those given) with an urgent message nobody acknowledged yet.
URGENT_UNACKNOWLEDGED = "urgent_unacknowledged"

PatientFlag = Callable[[Collection[int]], set[int]]
_providers: dict[str, PatientFlag] = {}


def register_patient_flag(name: str, provider: PatientFlag) -> None:
    """Register the function telling which of the given patients carry the flag `name`."""
    _providers[name] = provider


def flagged_patients(name: str, patient_ids: Collection[int]) -> set[int]:
    """Return the patients among `patient_ids` carrying the flag (none without a provider)."""
    provider = _providers.get(name)
    if provider is None or not patient_ids:
        return set()
    return provider(patient_ids)
