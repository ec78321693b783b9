"""The rules that hold a filing back until a person fixes something, in plain French."""

from __future__ import annotations

from ptap.dmp_bridge.ports import DmpPatient, Operation

NOT_QUALIFIED = (
    "L'identité INS du patient n'est pas qualifiée : seule une identité qualifiée (pièce "
    "d'identité vérifiée et INS obtenue par le téléservice INSi) peut être envoyée au DMP. "
    "Qualifiez l'identité puis débloquez l'envoi."
)
NO_INS = (
    "Le patient n'a pas d'INS enregistrée : récupérez-la (téléservice INSi) et qualifiez "
    "l'identité puis débloquez l'envoi."
)
NO_CONSENT = (
    "Le consentement du patient au partage de ses informations n'est pas enregistré : "
    "recueillez-le puis débloquez l'envoi."
)
OPPOSITION = (
    "Le patient s'est opposé à l'alimentation de son DMP : le document ne sera pas envoyé "
    "tant que l'opposition est enregistrée."
)


def blocking_reason(patient: DmpPatient, operation: str) -> str | None:
    """Say why this patient's document may not be sent now, or None when it may.

    Deleting, archiving or hiding a document already filed stays possible after an opposition
    or a consent withdrawal: those operations are what the patient may ask for then.
    """
    if not patient.ins or not patient.ins_oid:
        return NO_INS
    if operation != Operation.FILE:
        return None
    if not patient.qualified:
        return NOT_QUALIFIED
    if patient.dmp_opposition:
        return OPPOSITION
    if not patient.sharing_consent:
        return NO_CONSENT
    return None
