"""Run a schematron through the ISO Schematron "skeleton", an independent Schematron compiler.

The skeleton is the reference XSLT implementation of ISO Schematron by Rick Jelliffe et al. It
is not vendored: lxml ships it inside its wheel (``lxml/isoschematron/resources/xsl/
iso-schematron-xslt1/``) and we use that copy, run by Saxon-HE (saxonche), with its standard
three-stage pipeline: ``iso_dsdl_include.xsl`` (includes), ``iso_abstract_expand.xsl`` (abstract
patterns) and ``iso_svrl_for_xslt1.xsl`` (the compiler proper, writing SVRL). Nothing of PTAP's
own compiler (:mod:`ptap.dmp_bridge.conformance.schematron` / ``.xslt``) is used.

Two adaptations, both outside the skeleton's stylesheets, let the XSLT 1.0 edition run the ANS
schematrons, which declare ``queryBinding="xslt2"``:

* the expanded schema's ``queryBinding`` is set to ``xslt`` before compilation (the XSLT 1.0
  edition refuses any other value; the skeleton's XSLT 2.0 edition differs from it mainly by the
  query binding it accepts and the ``version`` it writes);
* the generated stylesheet is given ``version="2.0"``, so Saxon evaluates the asserts with
  XPath 2.0 semantics (as the ANS engine does) rather than in XPath 1.0 backwards-compatible
  mode, and ``xml:base`` = the schematron's location, so ``document('../jeuxDeValeurs/…')`` and
  ``doc('include/voc-…')`` resolve against the schematron as they do in the ANS tooling.

:func:`skeleton_available` tells whether lxml's copy of the skeleton is installed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lxml.isoschematron
from lxml import etree
from saxonche import PySaxonProcessor

SKELETON = Path(lxml.isoschematron.__file__).parent / "resources/xsl/iso-schematron-xslt1"
_STAGES = ("iso_dsdl_include.xsl", "iso_abstract_expand.xsl", "iso_svrl_for_xslt1.xsl")
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
_lock = threading.Lock()
_processor: PySaxonProcessor | None = None


def skeleton_available() -> bool:
    return all((SKELETON / stage).is_file() for stage in _STAGES)


def _saxon() -> PySaxonProcessor:
    # Our own processor: nothing is shared with PTAP's runner but the Saxon library.
    global _processor
    with _lock:
        if _processor is None:
            _processor = PySaxonProcessor(license=False)
        return _processor


@dataclass(frozen=True)
class Failure:
    """One ``svrl:failed-assert`` or ``svrl:successful-report``."""

    assert_id: str | None
    role: str | None
    #: The skeleton's location XPath (``/*[local-name()='ClinicalDocument' and …][1]/…``).
    location: str
    message: str


def _transform(stylesheet: Path, document: Any) -> str:
    executable = _saxon().new_xslt30_processor().compile_stylesheet(stylesheet_file=str(stylesheet))
    return str(executable.transform_to_string(xdm_node=document))


def compile_schematron(path: Path) -> str:
    """Return the validation stylesheet (XSLT text) the skeleton compiles from ``path``."""
    saxon = _saxon()
    included = _transform(SKELETON / _STAGES[0], saxon.parse_xml(xml_file_name=str(path)))
    expanded = etree.fromstring(
        _transform(SKELETON / _STAGES[1], saxon.parse_xml(xml_text=included)).encode()
    )
    expanded.set("queryBinding", "xslt")
    text = etree.tostring(expanded, encoding="unicode")
    stylesheet = etree.fromstring(
        _transform(SKELETON / _STAGES[2], saxon.parse_xml(xml_text=text)).encode()
    )
    stylesheet.set("version", "2.0")
    stylesheet.set("{http://www.w3.org/XML/1998/namespace}base", path.resolve().as_uri())
    return etree.tostring(stylesheet, encoding="unicode")


class SkeletonSchematron:
    """A schematron compiled by the skeleton, ready to validate documents."""

    def __init__(self, path: Path) -> None:
        self.path = path
        compiler = _saxon().new_xslt30_processor()
        self._executable = compiler.compile_stylesheet(stylesheet_text=compile_schematron(path))

    def run(self, xml: bytes) -> list[Failure]:
        document = _saxon().parse_xml(xml_text=xml.decode("utf-8"))
        svrl = etree.fromstring(self._executable.transform_to_string(xdm_node=document).encode())
        return [
            Failure(
                assert_id=node.get("id"),
                role=node.get("role"),
                location=node.get("location", ""),
                message=_text(node.find(SVRL + "text")),
            )
            for node in svrl.iter(SVRL + "failed-assert", SVRL + "successful-report")
        ]


def _text(element: etree._Element | None) -> str:
    return "" if element is None else " ".join("".join(element.itertext()).split())


def node_path(node: Any) -> str:
    """Write an lxml node's path the way PTAP's findings do (``/ClinicalDocument[1]/id[1]/@root``).

    Elements are ``name[n]`` (name with the document's prefix, n counted among same-named
    siblings), attributes ``@name``, text nodes ``text()[n]``; the document node is ``/``.
    """
    steps: list[str] = []
    if isinstance(node, str):  # lxml "smart string": an attribute value or a text node
        owner = node.getparent()
        if node.is_attribute:
            qname = etree.QName(str(node.attrname))
            prefixes = [k for k, v in owner.nsmap.items() if k and v == qname.namespace]
            name = f"{prefixes[0]}:{qname.localname}" if prefixes else qname.localname
            steps.append("@" + name)
        else:
            # Smart strings compare by value: equal sibling texts get the first one's index.
            texts = list(owner.xpath("text()"))
            steps.append(f"text()[{texts.index(node) + 1}]")
        node = owner
    while node is not None:
        parent = node.getparent()
        qname = etree.QName(node)
        name = f"{node.prefix}:{qname.localname}" if node.prefix else qname.localname
        siblings = [node] if parent is None else [s for s in parent if s.tag == node.tag]
        steps.append(f"{name}[{siblings.index(node) + 1}]")
        node = parent
    return "/" + "/".join(reversed(steps))


def canonical_location(root: etree._Element, location: str) -> str:
    """Turn a skeleton location XPath into PTAP's path notation, by finding the node it selects."""
    if location in ("", "/"):
        return "/"
    found = root.getroottree().xpath(location)
    if not isinstance(found, list) or len(found) != 1:
        raise AssertionError(f"skeleton location {location!r} selects {found!r}")
    return node_path(found[0])
