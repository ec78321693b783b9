"""Turn an outbox row's source into the CDA and the ITI-41 payload, validated before sending."""

from __future__ import annotations

from dataclasses import dataclass, replace

from flask import current_app

from ptap.core.models import utcnow
from ptap.dmp_bridge import runtime, sources
from ptap.dmp_bridge.ports import Confidentiality, DmpRejected, FilingIds, ProvideAndRegister


@dataclass(frozen=True)
class BuiltFiling:
    """The CDA and the ITI-41 payload of one attempt."""

    cda: bytes
    payload: ProvideAndRegister


def check_cda(cda: bytes) -> None:
    """Refuse to send a CDA the official validators reject (our defect: a person must act)."""
    from ptap.dmp_bridge.conformance import validate_cda

    report = validate_cda(cda)
    if not report.ok:
        details = "; ".join(f.message for f in report.errors[:5])
        raise DmpRejected(
            f"Le document produit n'est pas conforme au CI-SIS ({len(report.errors)} "
            f"erreur(s)) : {details}",
            code="PTAPNonConformantCDA",
        )


def build_filing(
    source_ref: str,
    ids: FilingIds,
    *,
    cda: bytes | None,
    confidentiality: tuple[Confidentiality, ...],
    submission_set_oid: str,
) -> BuiltFiling:
    """Render (or reuse) the CDA of a source and wrap it in a signed ITI-41 payload."""
    from ptap.dmp_bridge.cda import build_cda
    from ptap.dmp_bridge.xds import build_provide_and_register

    document = sources.document(source_ref, render=cda is None)
    if confidentiality:
        document = replace(document, confidentiality=confidentiality)
    if cda is None:
        cda = build_cda(document, ids)
        if current_app.config["DMP_VALIDATE_BEFORE_SEND"]:
            check_cda(cda)
    payload = build_provide_and_register(
        document,
        ids,
        cda,
        runtime.signer(),
        source_oid=str(current_app.config["DMP_OID_ROOT"]),
        submission_set_oid=submission_set_oid,
        now=utcnow(),
    )
    return BuiltFiling(cda=cda, payload=payload)
