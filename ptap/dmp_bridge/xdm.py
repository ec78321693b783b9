"""IHE XDM media for MSSanté: the ``IHE_XDM.ZIP`` a secure health message carries.

The ANS asks MSSanté clients to send, beside the human-readable PDF, the CDA R2 document with
its XDS metadata as an IHE XDM package (IHE ITI TF-1 §16, TF-3 §4.2.1.1.4 URI; Référentiel socle
MSSanté #2; SPEC-NOTES "MSSanté packaging"), so that the receiving software files the document
with its metadata::

    README.TXT                       who produced the media (application, version, contact)
    INDEX.HTM                        a page linking to every document and metadata file
    IHE_XDM/SUBSET01/METADATA.XML    ebRS 3.0 lcm:SubmitObjectsRequest (XDS.b metadata)
    IHE_XDM/SUBSET01/DOC0001.XML     the CDA R2 N1 document (PDF in a nonXMLBody)

The metadata is the one the DMP filing uses (same builders, same codes); the DocumentEntry's
``URI`` slot names the document file relative to ``SUBSET01``, and no XAdES signature document
is added (the DMP requires one, XDM does not). File names follow the ISO 9660 8.3 upper-case
rule of XDM.
"""

from __future__ import annotations

import html
import io
import zipfile
from dataclasses import replace
from datetime import datetime

from flask import current_app, has_app_context
from lxml import etree

from ptap.core.models import utcnow
from ptap.dmp_bridge import codes
from ptap.dmp_bridge.ebrim import (
    HAS_MEMBER,
    LCM_NS,
    RIM,
    RIM_NS,
    association,
    new_id,
    patient_cx,
    submission_set,
    uuid_oid,
)
from ptap.dmp_bridge.ports import DmpDocument, FilingIds

SUBSET = "IHE_XDM/SUBSET01"
METADATA = f"{SUBSET}/METADATA.XML"
DOCUMENT_FILE = "DOC0001.XML"
APPLICATION = "PTAP - plateforme territoriale d'appui"


def _metadata(
    doc: DmpDocument, ids: FilingIds, cda: bytes, source_oid: str, now: datetime
) -> bytes:
    from ptap.dmp_bridge.xds import cda_entry, document_entry

    entry = replace(cda_entry(doc, ids, cda), uri=DOCUMENT_FILE)
    set_id = new_id()
    request = etree.Element(
        etree.QName(LCM_NS, "SubmitObjectsRequest"), nsmap={"lcm": LCM_NS, "rim": RIM_NS}
    )
    objects = etree.SubElement(request, RIM + "RegistryObjectList")
    document_entry(objects, entry, doc)
    submission_set(
        objects,
        set_id,
        now=now,
        title=doc.title,
        person=doc.author,
        organisation=doc.organisation,
        author_codes=codes.author_codes(doc.author),
        content_type=codes.CONTENT_TYPE,
        unique_id=uuid_oid(),
        source_oid=source_oid,
        patient_id=patient_cx(doc.patient),
    )
    association(objects, HAS_MEMBER, set_id, entry.entry_id, ("SubmissionSetStatus", "Original"))
    return etree.tostring(request, xml_declaration=True, encoding="UTF-8")


def _readme(doc: DmpDocument) -> str:
    org = doc.organisation
    return (
        "IHE XDM - support d'echange de documents de sante\r\n"
        f"Application : {APPLICATION}\r\n"
        f"Structure emettrice : {org.name} ({org.id_nat})\r\n"
        f"Contact : {org.telecom or 'voir la structure emettrice'}\r\n"
        "Contenu : IHE_XDM/SUBSET01/METADATA.XML (metadonnees XDS), "
        f"IHE_XDM/SUBSET01/{DOCUMENT_FILE} (document CDA R2 niveau 1), INDEX.HTM\r\n"
    )


def _index(doc: DmpDocument) -> str:
    title = html.escape(doc.title)
    return (
        '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body>\n"
        f"<h1>{title}</h1>\n<ul>\n"
        f'<li><a href="{SUBSET}/{DOCUMENT_FILE}">{title}</a> (document CDA R2)</li>\n'
        f'<li><a href="{METADATA}">Métadonnées XDS</a></li>\n'
        '<li><a href="README.TXT">README.TXT</a></li>\n'
        f"</ul>\n<p>Émis par {html.escape(doc.organisation.name)} avec {APPLICATION}.</p>\n"
        "</body></html>\n"
    )


def build_xdm_zip(
    document: DmpDocument,
    *,
    document_oid: str | None = None,
    set_oid: str | None = None,
    version_number: int = 1,
    replaces_document_oid: str | None = None,
    source_oid: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """Return the ``IHE_XDM.ZIP`` of a document: its CDA R2 N1 and XDS metadata (IHE XDM).

    :param document_oid: the CDA id / XDS uniqueId; pass the DMP filing's to send the same
        document both ways (a new ``2.25.`` OID otherwise); ``set_oid`` and
        ``version_number`` likewise (setId, versionNumber), ``replaces_document_oid`` for a
        corrected version (CDA relatedDocument RPLC).
    :param source_oid: the XDS sourceId (default: DMP_OID_ROOT).
    :raises ValueError: for a patient without a valid INS (the CI-SIS header requires it).
    :raises DmpRejected: when DMP_VALIDATE_BEFORE_SEND is on and the CDA fails the CI-SIS
        validators (a defect of ours, as for a filing).
    """
    from ptap.dmp_bridge.builder import check_cda
    from ptap.dmp_bridge.cda import build_cda

    now = now or utcnow()
    ids = FilingIds(
        document_oid=document_oid or uuid_oid(),
        set_oid=set_oid or uuid_oid(),
        version_number=version_number,
        replaces_document_oid=replaces_document_oid,
    )
    cda = build_cda(document, ids)
    config = current_app.config if has_app_context() else {}
    if config.get("DMP_VALIDATE_BEFORE_SEND"):
        check_cda(cda)
    source = source_oid or str(config.get("DMP_OID_ROOT") or "")
    if not source:
        raise ValueError("build_xdm_zip needs source_oid outside an application context")
    metadata = _metadata(document, ids, cda, source, now)
    stamp = now.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in (
            ("README.TXT", _readme(document).encode("utf-8")),
            ("INDEX.HTM", _index(document).encode("utf-8")),
            (METADATA, metadata),
            (f"{SUBSET}/{DOCUMENT_FILE}", cda),
        ):
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), content, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
