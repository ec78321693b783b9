"""XAdES signature of an XDS submission set (IHE DSG), as the DMP requires for every ITI-41.

Structure after DRIMbox ``XadesSign.java`` (SPEC-NOTES §1.2): an enveloping ``ds:Signature``
whose SignedInfo references a ``ds:Manifest`` (Id ``IHEManifest``) and the XAdES
``SignedProperties``. The manifest lists ``urn:oid:<submission set uniqueId>`` and
``urn:oid:<document uniqueId>`` with the digests of the documents as sent.

DRIMbox signs with SHA-1/rsa-sha1 and inclusive C14N; we use SHA-256/rsa-sha256 and exclusive
C14N. Whether the DMP requires (or still accepts) SHA-1 here is NOT verified (SPEC-NOTES §7):
confirm during the CNDA homologation.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.exceptions import SignXMLException

from ptap.dmp_bridge.cda import utc
from ptap.dmp_bridge.crypto import SigningIdentity

DS = "http://www.w3.org/2000/09/xmldsig#"
#: XAdES 1.1.1, the namespace DRIMbox sends to the DMP (signxml writes 1.3.2).
XADES = "http://uri.etsi.org/01903/v1.1.1#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
MANIFEST_ID = "IHEManifest"
SIGNED_PROPERTIES_ID = "S0-SignedProperties"
#: IHE DSG purpose of signature: ASTM E1762 "Source".
PURPOSE_SOURCE = "1.2.840.10065.1.12.1.14"
_DS = "{" + DS + "}"
_XA = "{" + XADES + "}"


class SignatureInvalid(Exception):
    """The XAdES signature does not verify."""


@lru_cache(maxsize=8)
def _private_key(key_pem: bytes) -> rsa.RSAPrivateKey:
    # Loading checks the RSA key, which costs milliseconds: do it once per identity.
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the seal key must be an RSA key")
    return key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _c14n(node: etree._Element) -> bytes:
    return etree.tostring(node, method="c14n", exclusive=True, with_comments=False)


def _reference(
    parent: etree._Element, uri: str, digest: bytes | None, *, ref_type: str = "", c14n: bool
) -> etree._Element:
    """Add a ds:Reference; return its DigestValue (filled later when ``digest`` is None)."""
    reference = etree.SubElement(parent, _DS + "Reference")
    if ref_type:
        reference.set("Type", ref_type)
    reference.set("URI", uri)
    if c14n:
        transforms = etree.SubElement(reference, _DS + "Transforms")
        etree.SubElement(transforms, _DS + "Transform", Algorithm=EXC_C14N)
    etree.SubElement(reference, _DS + "DigestMethod", Algorithm=SHA256)
    value = etree.SubElement(reference, _DS + "DigestValue")
    if digest is not None:
        value.text = _b64(digest)
    return value


def _signed_properties(
    parent: etree._Element, signer: SigningIdentity, signature_id: str, now: datetime
) -> etree._Element:
    cert = signer.certificate
    qualifying = etree.SubElement(parent, _XA + "QualifyingProperties", Target="#" + signature_id)
    signed = etree.SubElement(qualifying, _XA + "SignedProperties", Id=SIGNED_PROPERTIES_ID)
    props = etree.SubElement(signed, _XA + "SignedSignatureProperties")
    time = etree.SubElement(props, _XA + "SigningTime")
    time.text = utc(now).strftime("%Y-%m-%dT%H:%M:%SZ")
    cert_node = etree.SubElement(etree.SubElement(props, _XA + "SigningCertificate"), _XA + "Cert")
    cert_digest = etree.SubElement(cert_node, _XA + "CertDigest")
    etree.SubElement(cert_digest, _XA + "DigestMethod", Algorithm=SHA256)
    etree.SubElement(cert_digest, _XA + "DigestValue").text = _b64(
        hashlib.sha256(signer.cert_der).digest()
    )
    issuer_serial = etree.SubElement(cert_node, _XA + "IssuerSerial")
    etree.SubElement(issuer_serial, _DS + "X509IssuerName").text = cert.issuer.rfc4514_string()
    etree.SubElement(issuer_serial, _DS + "X509SerialNumber").text = str(cert.serial_number)
    policy = etree.SubElement(props, _XA + "SignaturePolicyIdentifier")
    etree.SubElement(policy, _XA + "SignaturePolicyImplied")
    return signed


def signature_element_id(signature_oid: str) -> str:
    """Return the ds:Signature Id, made from the signature's uniqueId.

    DRIMbox puts the bare OID, which is not an XML name (xsd:ID); a prefix makes it one.
    """
    return "S-" + signature_oid


def sign_submission_set(
    signer: SigningIdentity,
    *,
    submission_set_oid: str,
    document_digests: Mapping[str, bytes],
    signature_oid: str,
    now: datetime,
) -> bytes:
    """Return the enveloping XAdES signature (UTF-8 XML) of a submission set.

    :param document_digests: SHA-256 digest of each document as sent, by document uniqueId.
    :param signature_oid: uniqueId of the signature's own DocumentEntry.
    """
    signature_id = signature_element_id(signature_oid)
    root = etree.Element(_DS + "Signature", nsmap={"ds": DS, "xades": XADES}, Id=signature_id)
    signed_info = etree.SubElement(root, _DS + "SignedInfo")
    etree.SubElement(signed_info, _DS + "CanonicalizationMethod", Algorithm=EXC_C14N)
    etree.SubElement(signed_info, _DS + "SignatureMethod", Algorithm=RSA_SHA256)
    manifest_digest = _reference(
        signed_info, "#" + MANIFEST_ID, None, ref_type=DS + "Manifest", c14n=True
    )
    properties_digest = _reference(
        signed_info,
        "#" + SIGNED_PROPERTIES_ID,
        None,
        ref_type=XADES + "SignedProperties",
        c14n=True,
    )
    signature_value = etree.SubElement(root, _DS + "SignatureValue")
    x509_data = etree.SubElement(etree.SubElement(root, _DS + "KeyInfo"), _DS + "X509Data")
    etree.SubElement(x509_data, _DS + "X509Certificate").text = _b64(signer.cert_der)

    purpose_props = etree.SubElement(
        etree.SubElement(root, _DS + "Object"), _DS + "SignatureProperties"
    )
    purpose = etree.SubElement(
        purpose_props, _DS + "SignatureProperty", Id="purposeOfSignature", Target="#" + signature_id
    )
    purpose.text = PURPOSE_SOURCE
    manifest = etree.SubElement(
        etree.SubElement(root, _DS + "Object"), _DS + "Manifest", Id=MANIFEST_ID
    )
    # The submission set is metadata, not a byte stream: DRIMbox sends a one-byte dummy digest.
    _reference(manifest, "urn:oid:" + submission_set_oid, b"\x00", c14n=False)
    for unique_id, digest in document_digests.items():
        _reference(manifest, "urn:oid:" + unique_id, digest, c14n=False)
    signed = _signed_properties(etree.SubElement(root, _DS + "Object"), signer, signature_id, now)

    manifest_digest.text = _b64(hashlib.sha256(_c14n(manifest)).digest())
    properties_digest.text = _b64(hashlib.sha256(_c14n(signed)).digest())
    value = _private_key(signer.key_pem).sign(
        _c14n(signed_info), padding.PKCS1v15(), hashes.SHA256()
    )
    signature_value.text = _b64(value)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def manifest_digests(xml: bytes) -> dict[str, bytes]:
    """Return the digests the manifest lists, by document uniqueId (submission set excluded)."""
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    found = {}
    for ref in root.iterfind(f".//{_DS}Manifest/{_DS}Reference"):
        found[ref.get("URI", "").removeprefix("urn:oid:")] = base64.b64decode(
            ref.findtext(_DS + "DigestValue", "")
        )
    return found


def verify_submission_set_signature(
    xml: bytes, cert_pem: bytes, *, documents: Mapping[str, bytes] | None = None
) -> None:
    """Check the signature, its manifest and the signing certificate; raise if anything is off.

    :param documents: when given, the documents as sent by uniqueId; their SHA-256 digests
        must equal the manifest's.
    :raises SignatureInvalid: on a bad signature value, digest or certificate reference.
    """
    cert = x509.load_pem_x509_certificate(cert_pem)
    config = SignatureConfiguration(location="./", expect_references=2)
    try:
        # No XML-DSig schema check: the purposeOfSignature property carries bare text, as in
        # DRIMbox, which the schema's SignatureProperty (element content only) does not allow.
        XMLVerifier().verify(xml, x509_cert=cert, expect_config=config, validate_schema=False)
    except (SignXMLException, etree.XMLSyntaxError) as exc:
        raise SignatureInvalid(f"XAdES signature does not verify: {exc}") from exc
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    cert_digest = root.findtext(f".//{_XA}CertDigest/{_XA}DigestValue", "")
    expected = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
    if base64.b64decode(cert_digest) != expected:
        raise SignatureInvalid("XAdES SigningCertificate does not match the certificate")
    if documents is not None:
        listed = manifest_digests(xml)
        for unique_id, content in documents.items():
            if listed.get(unique_id) != hashlib.sha256(content).digest():
                raise SignatureInvalid(f"manifest digest of document {unique_id} does not match")
