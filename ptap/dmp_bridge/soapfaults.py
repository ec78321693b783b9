"""What a DMP answer means: receipt, permanent refusal (DmpRejected) or transient (DmpUnavailable).

Classification of XDS RegistryError codes (IHE ITI TF-3 Table 4.2.4.1-2 and the Metadata
Update supplement). *Permanent* means sending the same request again would fail the same way,
so a person must act; *transient* means the same request may succeed later.

=========================================  =========  ========================================
code                                       class      why
=========================================  =========  ========================================
XDSRegistryBusy, XDSRepositoryBusy         transient  load; retry with backoff
XDSRegistryOutOfResources,                 transient  resources low on the DMP side
XDSRepositoryOutOfResources
XDSRegistryNotAvailable,                   transient  repository cannot reach the registry
XDSRepositoryNotAvailable
XDSUnavailableCommunity                    transient  remote community down
XDSMetadataVersionError                    transient  concurrent ITI-57 update: the next
                                                      attempt re-reads the current version
XDSRegistryMetadataError,                  permanent  our metadata is wrong; fix the builder
XDSRepositoryMetadataError                            or the data
XDSPatientIdDoesNotMatch                   permanent  INS differs between entries/submission
XDSUnknownPatientId                        permanent  no DMP for this INS (or closed)
XDSDuplicateUniqueIdInRegistry             permanent  uniqueId already filed: after a lost
                                                      response this means "already there";
                                                      the outbox checks with find_document
XDSRegistryDuplicateUniqueIdInMessage,     permanent  the request itself is inconsistent
XDSRepositoryDuplicateUniqueIdInMessage
XDSNonIdenticalHash, XDSNonIdenticalSize   permanent  hash/size metadata differ from the bytes
XDSMissingDocument,                        permanent  attachment and metadata do not match
XDSMissingDocumentMetadata
XDSUnknownCommunity,                       permanent  configuration (wrong endpoint/ids)
XDSUnknownRepositoryId
XDSRegistryDeprecatedDocumentError         permanent  RPLC of a version already replaced
XDSRegistryError, XDSRepositoryError       permanent  "internal error" that the DMP also uses
                                                      for business refusals; a person checks
XDSMetadataUpdateError,                    permanent  the update itself is refused
XDSMetadataUpdateOperationError,
XDSMetadataAnnotationError
XDSStoredQueryParamNumber,                 permanent  malformed query
XDSStoredQueryMissingParam,
XDSUnknownStoredQuery, XDSTooManyResults,
XDSResultNotSinglePatient
XDSDocumentUniqueIdError, XDSPolicyViolation permanent
any other code                             permanent  unknown refusal: a person looks
=========================================  =========  ========================================

Entries with a Warning severity never decide the class. A ``Failure`` with only transient
errors is DmpUnavailable; with at least one permanent error, DmpRejected. ``PartialSuccess``
is a receipt carrying its errors.

SOAP 1.2 faults: ``env:Receiver`` → transient; ``env:Sender``, ``env:MustUnderstand``,
``env:VersionMismatch``, ``env:DataEncodingUnknown`` → permanent. HTTP without a SOAP answer:
5xx, 429, 408 → transient; 401, 403 → permanent (certificate or authorisation: a person must
act); other 3xx/4xx → permanent. Timeouts and connection errors → transient. An unreadable
2xx answer → transient (the request may have been processed: the outbox checks first).
"""

from __future__ import annotations

import requests
from lxml import etree

from ptap.dmp_bridge.ports import DmpReceipt, DmpRejected, DmpUnavailable, RegistryError
from ptap.dmp_bridge.xdsquery import (
    QUERY,
    RESPONSE_FAILURE,
    RESPONSE_PARTIAL,
    RESPONSE_SUCCESS,
    RIM,
    RS,
    registry_errors,
)

SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
SOAP = "{" + SOAP12_NS + "}"
_WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"
RETRY_LATER = "Nouvel essai automatique plus tard."

TRANSIENT_CODES = frozenset(
    {
        "XDSRegistryBusy",
        "XDSRepositoryBusy",
        "XDSRegistryOutOfResources",
        "XDSRepositoryOutOfResources",
        "XDSRegistryNotAvailable",
        "XDSRepositoryNotAvailable",
        "XDSUnavailableCommunity",
        "XDSMetadataVersionError",
    }
)

#: Plain-French explanation of the usual codes, shown to coordinators.
EXPLANATIONS = {
    "XDSRegistryBusy": "le DMP est surchargé",
    "XDSRepositoryBusy": "le DMP est surchargé",
    "XDSRegistryOutOfResources": "le DMP manque de ressources",
    "XDSRepositoryOutOfResources": "le DMP manque de ressources",
    "XDSRegistryNotAvailable": "le registre du DMP est indisponible",
    "XDSRepositoryNotAvailable": "l'entrepôt du DMP est indisponible",
    "XDSUnavailableCommunity": "le service distant est indisponible",
    "XDSMetadataVersionError": "le document a été modifié entre-temps",
    "XDSRegistryMetadataError": "les informations jointes au document sont incorrectes",
    "XDSRepositoryMetadataError": "les informations jointes au document sont incorrectes",
    "XDSPatientIdDoesNotMatch": "l'identifiant INS du patient ne correspond pas",
    "XDSUnknownPatientId": "le patient n'a pas de DMP (ou il est fermé)",
    "XDSDuplicateUniqueIdInRegistry": "ce document (même identifiant) est déjà dans le DMP",
    "XDSRegistryDuplicateUniqueIdInMessage": "l'envoi contient deux fois le même identifiant",
    "XDSRepositoryDuplicateUniqueIdInMessage": "l'envoi contient deux fois le même identifiant",
    "XDSNonIdenticalHash": "l'empreinte du document ne correspond pas à son contenu",
    "XDSNonIdenticalSize": "la taille du document ne correspond pas à son contenu",
    "XDSMissingDocument": "le contenu du document manque dans l'envoi",
    "XDSMissingDocumentMetadata": "un contenu est envoyé sans ses informations",
    "XDSUnknownCommunity": "le service destinataire est inconnu (paramétrage)",
    "XDSUnknownRepositoryId": "l'entrepôt destinataire est inconnu (paramétrage)",
    "XDSRegistryDeprecatedDocumentError": "la version remplacée n'est plus la version en cours",
    "XDSRegistryError": "erreur signalée par le DMP",
    "XDSRepositoryError": "erreur signalée par le DMP",
    "XDSMetadataUpdateError": "la modification du document est refusée",
    "XDSTooManyResults": "la recherche renvoie trop de résultats",
}


class UnreadableResponse(ValueError):
    """The body is not a SOAP 1.2 envelope we can read."""


def parse_envelope_body(envelope: bytes) -> etree._Element:
    """Return the first element inside ``env:Body`` of a SOAP 1.2 envelope."""
    try:
        root = etree.fromstring(envelope, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise UnreadableResponse(f"XML illisible : {exc}") from exc
    if root.tag != SOAP + "Envelope":
        raise UnreadableResponse(f"Pas une enveloppe SOAP 1.2 : {root.tag}")
    body = root.find(SOAP + "Body")
    if body is None or len(body) == 0:
        raise UnreadableResponse("Enveloppe SOAP sans corps")
    return body[0]


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _fault_parts(fault: etree._Element) -> tuple[str, str, str]:
    """(code local name, most specific subcode, reason text) of a SOAP 1.2 Fault."""
    code = (fault.findtext(f"{SOAP}Code/{SOAP}Value") or "").strip()
    subcode = ""
    node = fault.find(f"{SOAP}Code/{SOAP}Subcode")
    while node is not None:
        subcode = (node.findtext(SOAP + "Value") or "").strip() or subcode
        node = node.find(SOAP + "Subcode")
    reason = " ".join(
        (text.text or "").strip() for text in fault.findall(f"{SOAP}Reason/{SOAP}Text")
    ).strip()
    return code.rsplit(":", 1)[-1], subcode, reason


def raise_for_fault(fault: etree._Element, raw: bytes, what: str) -> None:
    """Raise the DmpError a SOAP 1.2 Fault stands for."""
    code, subcode, reason = _fault_parts(fault)
    detail = reason or "sans précision"
    error_code = subcode or f"soap:{code or 'Fault'}"
    if code == "Receiver":
        raise DmpUnavailable(
            f"Le DMP a rencontré une erreur interne ({detail}). {RETRY_LATER}",
            code=error_code,
            response=raw,
        )
    raise DmpRejected(f"Le DMP a refusé {what} : {detail}", code=error_code, response=raw)


def _is_error(error: RegistryError) -> bool:
    return error.severity != _WARNING


def _describe(error: RegistryError) -> str:
    explanation = EXPLANATIONS.get(error.code, "refus du DMP")
    text = f"{explanation} [{error.code}]"
    if error.message:
        text += f" (détail : {error.message})"
    return text


def classify_failure(errors: tuple[RegistryError, ...], raw: bytes, what: str) -> None:
    """Raise for a Failure response: DmpRejected if any error is permanent."""
    real = [e for e in errors if _is_error(e)] or list(errors)
    if not real:
        raise DmpRejected(f"Le DMP a refusé {what} sans donner de motif.", response=raw)
    permanent = [e for e in real if e.code not in TRANSIENT_CODES]
    if permanent:
        first = permanent[0]
        raise DmpRejected(
            f"Le DMP a refusé {what} : {_describe(first)}", code=first.code, response=raw
        )
    first = real[0]
    raise DmpUnavailable(
        f"Le DMP ne peut pas traiter {what} pour le moment : {_describe(first)}. {RETRY_LATER}",
        code=first.code,
        response=raw,
    )


def _entry_uuid(response: etree._Element) -> str:
    """entryUUID from a ResponseSlotList slot, when a registry chooses to return one."""
    for slot in response.iterfind(f"{RS}ResponseSlotList/{RIM}Slot"):
        if slot.get("name") in {"entryUUID", "XDSDocumentEntry.entryUUID"}:
            return slot.findtext(f"{RIM}ValueList/{RIM}Value") or ""
    return ""


def interpret_registry_response(element: etree._Element, raw: bytes, what: str) -> DmpReceipt:
    """Turn an ``rs:RegistryResponse`` into a receipt, or raise."""
    if element.tag != RS + "RegistryResponse":
        raise UnreadableResponse(f"Réponse inattendue : {element.tag}")
    status = element.get("status", "")
    errors = registry_errors(element)
    if status == RESPONSE_SUCCESS:
        return DmpReceipt("Success", entry_uuid=_entry_uuid(element), errors=errors, response=raw)
    if status == RESPONSE_PARTIAL:
        return DmpReceipt(
            "PartialSuccess", entry_uuid=_entry_uuid(element), errors=errors, response=raw
        )
    if status == RESPONSE_FAILURE:
        classify_failure(errors, raw, what)
    raise UnreadableResponse(f"Statut de réponse inconnu : {status!r}")


def check_query_response(element: etree._Element, raw: bytes, what: str) -> etree._Element:
    """Return an ``query:AdhocQueryResponse`` that succeeded (fully or partly), or raise."""
    if element.tag != QUERY + "AdhocQueryResponse":
        raise UnreadableResponse(f"Réponse inattendue : {element.tag}")
    if element.get("status") == RESPONSE_FAILURE:
        classify_failure(registry_errors(element), raw, what)
    return element


def network_error(exc: requests.RequestException) -> DmpUnavailable | DmpRejected:
    """Classify an exception raised by requests before any answer was read."""
    text = str(exc)
    if isinstance(exc, requests.Timeout) or "timed out" in text.lower():
        return DmpUnavailable(
            f"Le DMP ne répond pas (délai dépassé). {RETRY_LATER}", code="timeout"
        )
    if isinstance(exc, requests.exceptions.SSLError) and "certificate" in text.lower():
        return DmpRejected(
            "La connexion sécurisée au DMP est refusée : certificat à vérifier "
            f"(paramétrage de la structure). Détail : {text}",
            code="tls",
        )
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return DmpUnavailable(
            f"Le DMP est injoignable (connexion impossible ou interrompue). {RETRY_LATER}",
            code="connection",
        )
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return DmpRejected(f"Adresse du DMP invalide (paramétrage) : {text}", code="config")
    return DmpUnavailable(f"Échange avec le DMP interrompu ({text}). {RETRY_LATER}", code="network")


def http_error(status: int, raw: bytes, what: str) -> DmpUnavailable | DmpRejected:
    """Classify an HTTP answer that carries no SOAP response we can use."""
    code = f"HTTP {status}"
    if status in {401, 403}:
        return DmpRejected(
            f"Le DMP a refusé l'accès (erreur HTTP {status}) : le certificat de la structure "
            "ou ses habilitations sont à vérifier.",
            code=code,
            response=raw,
        )
    if status == 429:
        return DmpUnavailable(
            f"Le DMP est surchargé (trop de demandes). {RETRY_LATER}", code=code, response=raw
        )
    if status >= 500 or status == 408:
        return DmpUnavailable(
            f"Le DMP est momentanément indisponible (erreur HTTP {status}). {RETRY_LATER}",
            code=code,
            response=raw,
        )
    if 200 <= status < 300:
        return DmpUnavailable(
            f"Réponse illisible du DMP. {RETRY_LATER}", code="unreadable", response=raw
        )
    return DmpRejected(f"Le DMP a refusé {what} (erreur HTTP {status}).", code=code, response=raw)
