"""XSD validation with lxml against the vendored CDA and XDS.b / ebRS 3.0 schemas."""

from __future__ import annotations

import threading
from pathlib import Path

from lxml import etree

from .findings import Finding

SPECS = Path(__file__).resolve().parent / "specs"
CDA_XSD = SPECS / "cisis-testcontenucda-3.0" / "infrastructure" / "cda" / "CDA_extended.xsd"
XDS_DIR = SPECS / "xds" / "schema" / "v3"
XDSB_XSD = XDS_DIR / "XDS.b_DocumentRepository.xsd"
LCM_XSD = XDS_DIR / "lcm.xsd"

_lock = threading.Lock()
_schemas: dict[Path, etree.XMLSchema] = {}


def load_xsd(path: Path) -> etree.XMLSchema:
    """Return the parsed XSD at ``path``, loading it once per process."""
    with _lock:
        if path not in _schemas:
            parser = etree.XMLParser(resolve_entities=False, no_network=True)
            _schemas[path] = etree.XMLSchema(etree.parse(str(path), parser))
        return _schemas[path]


def validate_xsd(element: etree._Element, path: Path) -> list[Finding]:
    """Validate an element (or a whole document) against the XSD at ``path``."""
    schema = load_xsd(path)
    # lxml validators keep their error log on the instance: serialise their use.
    with _lock:
        schema.validate(element)
        errors = list(schema.error_log)
    return [
        Finding(
            schematron=f"XSD {path.name}",
            pattern_id="xsd",
            assert_id=error.type_name,
            role="error",
            message=error.message,
            location=error.path or f"line {error.line}",
        )
        for error in errors
    ]
