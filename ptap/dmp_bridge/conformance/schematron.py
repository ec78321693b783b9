"""Load an ISO Schematron schema into one self-contained, macro-expanded lxml tree.

This is the "include" and "abstract expand" half of the classic ISO pipeline, done in Python:

1. ``<include href>`` elements are replaced by the root element of the referenced file,
   recursively, relative to the including file (the ANS schematrons also nest includes of
   abstract rules inside a ``<pattern>``).
2. Abstract patterns (``pattern[@abstract='true']``) are instantiated for every
   ``pattern[@is-a]``: ``$param`` references are replaced textually in every attribute.
3. Abstract patterns are dropped. Abstract rules and ``<extends rule>`` are kept: the XSLT
   generator turns each abstract rule into one named template (ART-DECOR schemas extend a few
   datatype rules ~550 times, so inlining them would bloat the stylesheet twelvefold).

The XSLT generation lives in :mod:`.xslt`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from urllib.parse import unquote

from lxml import etree

SCH_NS = "http://purl.oclc.org/dsdl/schematron"
_S = "{" + SCH_NS + "}"


class SchematronError(Exception):
    """The schematron cannot be loaded or compiled."""


def _parser() -> etree.XMLParser:
    # Schema files are trusted but still never reach the network or expand external entities.
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)


def _resolve_href(base_file: Path, href: str) -> Path:
    """Resolve an include href, tolerating a wrong letter case in the file name.

    Upstream ``IHE.sch`` includes ``E_directiveAnticipee_int.sch`` whereas the file is named
    ``E_directiveanticipee_int.sch``: the ANS tooling only ever ran on case-insensitive
    file systems, so we do the same lookup rather than rename vendored files.
    """
    target = (base_file.parent / unquote(href)).resolve()
    if target.exists():
        return target
    if target.parent.is_dir():
        wanted = target.name.casefold()
        for candidate in target.parent.iterdir():
            if candidate.name.casefold() == wanted:
                return candidate
    raise SchematronError(f"{base_file}: included file {href!r} not found")


def _resolve_includes(element: etree._Element, source: Path, depth: int = 0) -> None:
    if depth > 50:
        raise SchematronError(f"{source}: include nesting too deep")
    for include in list(element.iter(_S + "include")):
        target = _resolve_href(source, include.get("href", ""))
        included = etree.parse(str(target), _parser()).getroot()
        _resolve_includes(included, target, depth + 1)
        parent = include.getparent()
        if parent is None:
            raise SchematronError(f"{source}: <include> cannot be the root element")
        included.tail = include.tail
        parent.replace(include, included)


def _substitute(text: str, params: dict[str, str]) -> str:
    """Replace ``$name`` by the parameter value, longest names first (``$jdv1`` vs ``$jdv``)."""
    for name in sorted(params, key=len, reverse=True):
        # Escape backslashes: the value is literal XPath text, not a replacement template.
        literal = params[name].replace("\\", "\\\\")
        text = re.sub(r"\$" + re.escape(name) + r"(?![\w.\-])", literal, text)
    return text


def _instantiate(abstract: etree._Element, instance: etree._Element) -> etree._Element:
    params = {p.get("name", ""): p.get("value", "") for p in instance.iter(_S + "param")}
    pattern = etree.Element(_S + "pattern", nsmap=abstract.nsmap)
    if instance.get("id"):
        pattern.set("id", instance.get("id", ""))
    for child in abstract:
        if not isinstance(child.tag, str):
            continue
        clone = copy.deepcopy(child)
        for node in clone.iter():
            if not isinstance(node.tag, str):
                continue
            for key, value in node.attrib.items():
                if "$" in value:
                    node.set(key, _substitute(value, params))
        pattern.append(clone)
    pattern.tail = instance.tail
    return pattern


def _expand_abstract_patterns(root: etree._Element) -> None:
    abstracts = {
        p.get("id", ""): p for p in root.iter(_S + "pattern") if p.get("abstract") == "true"
    }
    for instance in list(root.iter(_S + "pattern")):
        is_a = instance.get("is-a")
        if not is_a:
            continue
        if is_a not in abstracts:
            raise SchematronError(f"pattern {instance.get('id')!r}: unknown abstract {is_a!r}")
        parent = instance.getparent()
        if parent is not None:
            parent.replace(instance, _instantiate(abstracts[is_a], instance))
    for abstract in abstracts.values():
        parent = abstract.getparent()
        if parent is not None:
            parent.remove(abstract)


def abstract_rules(schema: etree._Element) -> dict[str, etree._Element]:
    """Return the abstract rules of an expanded schema by id (targets of ``<extends rule>``)."""
    return {r.get("id", ""): r for r in schema.iter(_S + "rule") if r.get("abstract") == "true"}


def load_schematron(path: Path) -> etree._Element:
    """Return the fully expanded ``<schema>`` element of the schematron at ``path``."""
    try:
        root = etree.parse(str(path), _parser()).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise SchematronError(f"{path}: {exc}") from exc
    if root.tag != _S + "schema":
        raise SchematronError(f"{path}: root element is not an ISO schematron <schema>")
    _resolve_includes(root, path.resolve())
    _expand_abstract_patterns(root)
    return root


def active_patterns(schema: etree._Element, phase: str | None = None) -> list[etree._Element]:
    """Return the patterns to run, honouring ``defaultPhase`` like the ISO skeleton."""
    patterns = list(schema.iter(_S + "pattern"))
    phase = phase or schema.get("defaultPhase") or "#ALL"
    if phase in ("#ALL", "#DEFAULT"):
        return patterns
    phase_el = next((p for p in schema.iter(_S + "phase") if p.get("id") == phase), None)
    if phase_el is None:
        raise SchematronError(f"unknown phase {phase!r}")
    active = {a.get("pattern") for a in phase_el.iter(_S + "active")}
    return [p for p in patterns if p.get("id") in active]
