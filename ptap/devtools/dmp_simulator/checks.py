"""What the simulator checks on every request: SOAP 1.2 + WS-Addressing, the VIHF, the schema.

Refusals of the envelope or of the VIHF are SOAP Sender faults (:class:`SoapRefusal`); refusals
of the XDS content are RegistryErrors (:class:`Refusal`), as the DMP does.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lxml import etree

from ptap.dmp_bridge.conformance import validate_iti41
from ptap.dmp_bridge.conformance.xsd import XDSB_XSD
from ptap.dmp_bridge.mtom import XOP_INCLUDE, MimePart, MtomError, read_soap_body
from ptap.dmp_bridge.soap import WSA, WSSE
from ptap.dmp_bridge.soapfaults import SOAP
from ptap.dmp_bridge.vihf import SAML_NS, VihfError, embedded_certificate, verify_vihf_assertion

log = logging.getLogger(__name__)
SAML = "{" + SAML_NS + "}"
#: lxml validators keep per-object state (error_log): one validation at a time.
_validation_lock = threading.Lock()

#: VIHF attributes the DMP requires (SPEC-NOTES §1.3).
REQUIRED_ATTRIBUTES = (
    "VIHF_Version",
    "Authentification_Mode",
    "Identifiant_Structure",
    "Secteur_Activite",
    "urn:oasis:names:tc:xspa:1.0:subject:subject-id",
    "urn:oasis:names:tc:xacml:2.0:subject:role",
    "urn:oasis:names:tc:xacml:2.0:resource:resource-id",
    "Ressource_URN",
    "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
    "LPS_Nom",
    "LPS_Version",
    "LPS_ID_HOMOLOGATION_DMP",
)
_CLOCK_SKEW = timedelta(minutes=2)


class SoapRefusal(Exception):
    """Answered with a SOAP 1.2 Sender fault."""

    def __init__(self, subcode: str, reason: str) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason


class Refusal(Exception):
    """Answered with a Failure RegistryResponse carrying one RegistryError."""

    def __init__(self, code: str, message: str, location: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.location = location


@dataclass(frozen=True)
class SoapRequest:
    """A parsed request: its header values, the Body's element and the MTOM parts."""

    action: str
    message_id: str
    body: etree._Element
    parts: dict[str, MimePart]
    vihf: dict[str, list[str]]
    mtom: bool


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def parse_request(data: bytes, content_type: str) -> tuple[etree._Element, dict[str, MimePart]]:
    """Read the envelope of an MTOM or plain SOAP 1.2 request."""
    try:
        envelope, parts = read_soap_body(data, content_type)
        root = etree.fromstring(envelope, parser=_parser())
    except (MtomError, etree.XMLSyntaxError) as exc:
        raise SoapRefusal("MalformedRequest", f"Requête illisible : {exc}") from exc
    if root.tag != SOAP + "Envelope":
        raise SoapRefusal("VersionMismatch", "Enveloppe SOAP 1.2 attendue")
    return root, parts


def read_request(
    data: bytes, content_type: str, *, actions: set[str], now: datetime
) -> SoapRequest:
    """Parse and check the envelope, WS-Addressing and the VIHF of a request."""
    root, parts = parse_request(data, content_type)
    header = root.find(SOAP + "Header")
    body = root.find(SOAP + "Body")
    if header is None or body is None or len(body) != 1:
        raise SoapRefusal("MalformedRequest", "En-tête ou corps SOAP absent")
    action = (header.findtext(WSA + "Action") or "").strip()
    if action not in actions:
        raise SoapRefusal("wsa:ActionNotSupported", f"Action WS-Addressing inconnue : {action!r}")
    message_id = (header.findtext(WSA + "MessageID") or "").strip()
    if not message_id.startswith("urn:uuid:"):
        raise SoapRefusal("wsa:InvalidAddressingHeader", "MessageID urn:uuid: absent")
    assertion = header.find(f"{WSSE}Security/{SAML}Assertion")
    vihf = check_vihf(assertion, now)
    return SoapRequest(
        action=action,
        message_id=message_id,
        body=body[0],
        parts=parts,
        vihf=vihf,
        mtom=bool(parts) or content_type.lower().startswith("multipart/"),
    )


def check_vihf(assertion: etree._Element | None, now: datetime) -> dict[str, list[str]]:
    """Verify the VIHF (signature with its embedded certificate, validity, attributes)."""
    if assertion is None:
        raise SoapRefusal("wsse:InvalidSecurity", "Jeton VIHF absent de wsse:Security")
    try:
        verify_vihf_assertion(assertion, embedded_certificate(assertion))
    except VihfError as exc:
        raise SoapRefusal("wsse:FailedCheck", f"VIHF refusé : {exc}") from exc
    conditions = assertion.find(SAML + "Conditions")
    if conditions is not None:
        not_before = _instant(conditions.get("NotBefore"))
        not_after = _instant(conditions.get("NotOnOrAfter"))
        if (not_before and now + _CLOCK_SKEW < not_before) or (
            not_after and now - _CLOCK_SKEW >= not_after
        ):
            raise SoapRefusal("wsse:MessageExpired", "VIHF hors de sa période de validité")
    attributes: dict[str, list[str]] = {}
    for attribute in assertion.iterfind(f"{SAML}AttributeStatement/{SAML}Attribute"):
        values = attributes.setdefault(attribute.get("Name", ""), [])
        for value in attribute.iterfind(SAML + "AttributeValue"):
            values.append(
                (value.text or "").strip() or (value[0].get("code", "") if len(value) else "")
            )
    missing = [name for name in REQUIRED_ATTRIBUTES if not any(attributes.get(name, []))]
    if missing:
        raise SoapRefusal("wsse:InvalidSecurityToken", f"VIHF incomplet : {', '.join(missing)}")
    if attributes["Ressource_URN"] != ["urn:dmp"]:
        raise SoapRefusal("wsse:InvalidSecurityToken", "VIHF : Ressource_URN doit valoir urn:dmp")
    subject = (assertion.findtext(f"{SAML}Subject/{SAML}NameID") or "").strip()
    if not subject:
        raise SoapRefusal("wsse:InvalidSecurityToken", "VIHF : Subject/NameID absent")
    attributes["NameID"] = [subject]
    return attributes


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SoapRefusal("wsse:InvalidSecurityToken", f"Date VIHF illisible : {value}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- schema ---------------------------------------------------------------------------------


@functools.cache
def _xds_schema() -> etree.XMLSchema:
    """The vendored XDS.b schema (which imports lcm, query, rs and rim), compiled once."""
    return etree.XMLSchema(etree.parse(str(XDSB_XSD), parser=_parser()))


def schema_errors(element: etree._Element, *, iti41: bool = False) -> list[str]:
    """Schema (and, for ITI-41, conformance) errors of a request body.

    ``xop:Include`` elements stand for base64 content after XOP decoding: they are validated
    as empty ``xs:base64Binary`` (decoding megabytes only to check their base64 is useless).
    """
    if iti41:
        with _validation_lock:
            report = validate_iti41(etree.tostring(element))
        return [finding.message for finding in report.errors]
    schema = _xds_schema()
    if any(True for _ in element.iter(XOP_INCLUDE)):
        element = copy.deepcopy(element)
        for include in list(element.iter(XOP_INCLUDE)):
            parent = include.getparent()
            if parent is not None:
                parent.remove(include)
    with _validation_lock:
        if schema.validate(element):
            return []
        return [f"ligne {e.line} : {e.message}" for e in schema.error_log][:5]
