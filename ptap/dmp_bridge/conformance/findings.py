"""Result types of the conformance validators."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DocumentKind(StrEnum):
    """What kind of XML document was validated."""

    CDA = "cda"
    ITI41 = "iti41"
    SUBMIT_OBJECTS = "submit-objects"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Finding:
    """One failed assert, fired report, XSD error or structural defect."""

    #: Schematron file name, ``"XSD <schema>"`` or ``"XDS metadata"``.
    schematron: str
    #: Pattern id (schematron), ``"xsd"`` or the checked XDS object kind.
    pattern_id: str
    #: Assert/report ``@id`` (or a stable check id for structural checks); may be ``None``.
    assert_id: str | None
    #: ``"error"``, ``"warning"`` or ``"info"``.
    role: str
    message: str
    #: XPath-like location of the offending node (``/ClinicalDocument[1]/id[1]``) or line.
    location: str
    rule_context: str | None = None
    flag: str | None = None

    @property
    def is_error(self) -> bool:
        """Tell whether this finding makes the document non-conformant."""
        return self.role == "error"


@dataclass(frozen=True)
class ConformanceReport:
    """Outcome of validating one document."""

    kind: DocumentKind
    errors: tuple[Finding, ...] = ()
    #: Findings with role ``warning`` or ``info``: reported, but the document still conforms.
    warnings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        """Tell whether the document conforms (no error finding)."""
        return not self.errors

    @classmethod
    def from_findings(cls, kind: DocumentKind, findings: list[Finding]) -> ConformanceReport:
        """Split findings into errors and warnings."""
        return cls(
            kind=kind,
            errors=tuple(f for f in findings if f.is_error),
            warnings=tuple(f for f in findings if not f.is_error),
        )


def normalise_role(role: str | None) -> str:
    """Map a Schematron ``@role`` to error / warning / info (no role, fatal… mean error)."""
    value = (role or "").strip().casefold()
    if value in ("warning", "warn"):
        return "warning"
    if value in ("info", "information", "informational", "hint"):
        return "info"
    return "error"


def format_report(report: ConformanceReport) -> str:
    """Render a report as plain text for the ``ptap dmp validate`` command."""
    status = "CONFORMANT" if report.ok else "NOT CONFORMANT"
    lines = [
        f"{report.kind.value}: {status} ({len(report.errors)} error(s), "
        f"{len(report.warnings)} warning(s)/info)"
    ]
    for finding in (*report.errors, *report.warnings):
        ident = f" {finding.assert_id}" if finding.assert_id else ""
        lines.append(
            f"[{finding.role.upper()}] {finding.schematron} / {finding.pattern_id}{ident}"
            f" at {finding.location}\n    {finding.message}"
        )
    return "\n".join(lines)
