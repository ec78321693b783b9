"""Generate one XSLT 3.0 stylesheet from an expanded Schematron schema.

Shape of the generated stylesheet (ISO skeleton semantics, single document walk):

* every pattern gets its own mode; each rule is a template of that mode whose match pattern is
  the rule context and whose priority decreases with document order, so only the first
  matching rule of a pattern fires for a node; unmatched nodes are deep-skipped;
* one ``scx:walk`` traversal visits the document node and every element (plus attributes or
  text nodes when some rule context needs them) once and applies every pattern mode to it;
* ``let`` becomes ``xsl:variable`` (schema- and pattern-level lets are global, as in the ISO
  skeleton); ``assert``/``report`` become ``xsl:if`` wrapped in ``xsl:try`` so a dynamic error
  in one test is reported instead of aborting the run;
* each failure is written as one text line ``index TAB location TAB message``; the index points
  into the static :class:`AssertSpec` table returned alongside the stylesheet;
* ``doc()``/``document()`` calls go through ``scx:doc``, which serves documents preloaded once by
  the runner (value sets) and falls back to ``doc()`` relative to the schematron's location.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from .patterns import (
    HL7_NS,
    rewrite_not_union,
    split_wildcard_predicates,
    strip_predicates,
    template_guard,
)
from .schematron import _S, SchematronError, abstract_rules, active_patterns

XSL_NS = "http://www.w3.org/1999/XSL/Transform"
SCX_NS = "urn:ptap:conformance:schematron"
_X = "{" + XSL_NS + "}"
_BUILTIN_NS = {
    "xsl": XSL_NS,
    "xs": "http://www.w3.org/2001/XMLSchema",
    "map": "http://www.w3.org/2005/xpath-functions/map",
    "scx": SCX_NS,
    "err": "http://www.w3.org/2005/xqt-errors",
}
_DOC_CALL = re.compile(r"(?<![\w:.\-])(?:fn:)?(?:doc|document)\s*\(")
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_VARIABLE_REF = re.compile(r"\$([\w.\-]+(?::[\w.\-]+)?)")
#: ``for $x in``, ``some $x in``, ``let $x :=``: variables bound inside the expression itself.
_BOUND_VARIABLE = re.compile(r"\$([\w.\-]+(?::[\w.\-]+)?)\s*(?:in\b|:=)")
_MAX_EXTENDS_DEPTH = 25

_PATH_FUNCTION = """
<xsl:function xmlns:xsl="http://www.w3.org/1999/XSL/Transform" name="scx:path" as="xs:string"
    xmlns:scx="urn:ptap:conformance:schematron" xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xsl:param name="node" as="node()"/>
  <xsl:sequence select="if ($node instance of document-node()) then '/' else
    '/' || string-join(
      for $n in $node/ancestor-or-self::node()[not(self::document-node())]
      return if ($n instance of attribute()) then '@' || name($n)
        else if ($n instance of element())
          then name($n) || '['
            || (count($n/preceding-sibling::*[node-name() eq node-name($n)]) + 1) || ']'
        else if ($n instance of text())
          then 'text()[' || (count($n/preceding-sibling::text()) + 1) || ']'
        else name($n), '/')"/>
</xsl:function>
"""


@dataclass(frozen=True)
class RuleSpec:
    """Static facts about one concrete rule."""

    pattern_id: str
    context: str


@dataclass(frozen=True)
class AssertSpec:
    """Static facts about one assert/report (possibly inside an abstract rule)."""

    assert_id: str | None
    role: str | None
    flag: str | None
    is_report: bool
    test: str


@dataclass(frozen=True)
class GeneratedStylesheet:
    """The XSLT text plus what the runner needs to interpret and feed it.

    Each output line is ``assert-index TAB rule-index TAB location TAB message``.
    """

    xslt: str
    rules: tuple[RuleSpec, ...]
    asserts: tuple[AssertSpec, ...]
    #: Relative document URIs (as written in the schematron) the runner should preload.
    documents: tuple[str, ...]


class _Builder:
    def __init__(self, schema: etree._Element, source: Path) -> None:
        self.schema = schema
        self.rules: list[RuleSpec] = []
        self.asserts: list[AssertSpec] = []
        self.documents: dict[str, None] = {}
        self.abstract = abstract_rules(schema)
        self.abstract_templates: dict[str, str] = {}
        self.globals: set[str] = set()
        nsmap = dict(_BUILTIN_NS)
        for ns in schema.iter(_S + "ns"):
            prefix, uri = ns.get("prefix", ""), ns.get("uri", "")
            if prefix in nsmap and nsmap[prefix] != uri:
                raise SchematronError(f"namespace prefix {prefix!r} clashes with a built-in one")
            nsmap[prefix] = uri
        self.root = etree.Element(_X + "stylesheet", nsmap=nsmap)
        self.root.set("version", "3.0")
        self.root.set("{http://www.w3.org/XML/1998/namespace}base", source.resolve().as_uri())
        self.nsmap = nsmap
        self.needs_attributes = False
        self.needs_text = False

    def xpath(self, expr: str) -> str:
        for literal in _STRING_LITERAL.findall(expr):
            value = literal[1:-1].replace(literal[0] * 2, literal[0])
            if value.endswith(".xml"):
                self.documents.setdefault(value, None)
        return _DOC_CALL.sub("scx:doc(", expr)

    def sub(self, parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
        element = etree.SubElement(parent, _X + tag)
        for key, value in attrs.items():
            element.set(key.rstrip("_").replace("_", "-"), value)
        return element

    def let(self, parent: etree._Element, let: etree._Element) -> None:
        variable = self.sub(parent, "variable", name=let.get("name", ""))
        if let.get("value") is not None:
            variable.set("select", self.xpath(let.get("value", "")))
        else:
            for child in let:
                variable.append(copy.deepcopy(child))

    def message(self, parent: etree._Element, node: etree._Element) -> None:
        if node.text:
            self.sub(parent, "text").text = node.text
        for child in node:
            if child.tag == _S + "value-of":
                self.sub(parent, "value-of", select=self.xpath(child.get("select", "")))
            elif child.tag == _S + "name":
                self.sub(parent, "value-of", select=f"name({child.get('path', '.')})")
            elif isinstance(child.tag, str):
                self.message(parent, child)
            if child.tail:
                self.sub(parent, "text").text = child.tail

    def check(self, parent: etree._Element, check: etree._Element, rule_ref: str) -> None:
        index = len(self.asserts)
        spec = AssertSpec(
            assert_id=check.get("id"),
            role=check.get("role"),
            flag=check.get("flag"),
            is_report=check.tag == _S + "report",
            test=check.get("test", ""),
        )
        self.asserts.append(spec)
        prefix = f"'{index}\t' || {rule_ref} || '\t' || scx:path(.) || '\t'"
        test = self.xpath(spec.test)
        # Nothing is written before the whole line is built, so no output needs rolling back.
        attempt = self.sub(parent, "try", rollback_output="no")
        fired = self.sub(attempt, "if", test=test if spec.is_report else f"not({test})")
        text = self.sub(fired, "variable", name="scx:message")
        self.message(text, check)
        self.sub(
            fired,
            "value-of",
            select=f"{prefix} || normalize-space($scx:message)",
        )
        self.sub(fired, "text").text = "\n"
        caught = self.sub(attempt, "catch")
        self.sub(
            caught,
            "value-of",
            select=f"{prefix} || '[evaluation error] ' || $err:code || ': ' || $err:description",
        )
        self.sub(caught, "text").text = "\n"

    def body(self, parent: etree._Element, rule: etree._Element, rule_ref: str, depth: int) -> None:
        if depth > _MAX_EXTENDS_DEPTH:
            raise SchematronError(f"rule {rule.get('context') or rule.get('id')!r}: cyclic extends")
        for child in rule:
            if child.tag == _S + "let":
                self.let(parent, child)
            elif child.tag in (_S + "assert", _S + "report"):
                self.check(parent, child, rule_ref)
            elif child.tag == _S + "extends":
                self.extends(parent, child.get("rule", ""), rule_ref, depth + 1)

    def extends(self, parent: etree._Element, name: str, rule_ref: str, depth: int) -> None:
        if name not in self.abstract:
            raise SchematronError(f"extends of unknown abstract rule {name!r}")
        if not self.callable(name, 0):
            # Macro semantics: the abstract rule reads variables of the extending rule.
            self.body(parent, self.abstract[name], rule_ref, depth)
            return
        if name not in self.abstract_templates:
            template_name = f"scx:abstract{len(self.abstract_templates) + 1}"
            self.abstract_templates[name] = template_name
            template = self.sub(self.root, "template", name=template_name)
            self.sub(template, "param", name="scx:rule", as_="xs:integer")
            self.body(template, self.abstract[name], "$scx:rule", depth)
        call = self.sub(parent, "call-template", name=self.abstract_templates[name])
        self.sub(call, "with-param", name="scx:rule", select=rule_ref)

    def callable(self, name: str, depth: int) -> bool:
        """Tell whether an abstract rule only uses its own or global variables."""
        rule = self.abstract[name]
        if depth > _MAX_EXTENDS_DEPTH:
            raise SchematronError(f"abstract rule {name!r}: cyclic extends")
        own = {let.get("name") for let in rule.iter(_S + "let")}
        for node in rule.iter():
            if node.tag == _S + "extends":
                target = node.get("rule", "")
                if target not in self.abstract or not self.callable(target, depth + 1):
                    return False
                continue
            for value in node.attrib.values():
                known = own | self.globals | set(_BOUND_VARIABLE.findall(value))
                if any(ref not in known for ref in _VARIABLE_REF.findall(value)):
                    return False
        return True

    def rule(self, mode: str, pattern_id: str, rule: etree._Element, priority: int) -> None:
        context = rule.get("context", "")
        bare = strip_predicates(context)
        self.needs_attributes |= "@" in bare or "attribute::" in bare
        self.needs_text |= "text()" in bare
        rule_index = len(self.rules)
        self.rules.append(RuleSpec(pattern_id=pattern_id, context=context))
        split = split_wildcard_predicates(context)
        template = self.sub(
            self.root,
            "template",
            match=self.xpath(rewrite_not_union(context if split is None else split[0])),
            mode=mode,
            priority=str(priority),
        )
        if split is not None:
            conditions = [rewrite_not_union(f"[{p}]")[1:-1] for p in split[1]]
            choose = self.sub(template, "choose")
            test = " and ".join(f"({self.xpath(c)})" for c in conditions)
            template = self.sub(choose, "when", test=test)
            # Not this rule after all: let the next rule of the pattern have the node.
            self.sub(self.sub(choose, "otherwise"), "next-match")
        self.body(template, rule, str(rule_index), 0)

    def build(self, phase: str | None) -> GeneratedStylesheet:
        self.sub(self.root, "output", method="text", encoding="UTF-8")
        self.root.append(etree.fromstring(_PATH_FUNCTION))
        patterns = active_patterns(self.schema, phase)
        # Schema- and pattern-level lets are global variables, as in the ISO skeleton (the ANS
        # "variablesSM" pattern only declares value-set paths used by other patterns).
        lets = [*self.schema.findall(_S + "let")]
        lets += [let for pattern in patterns for let in pattern.findall(_S + "let")]
        for let in lets:
            name = let.get("name", "")
            if name not in self.globals:  # XSLT forbids duplicates: the first one wins
                self.globals.add(name)
                self.let(self.root, let)
        modes: list[tuple[str, str | None]] = []
        for number, pattern in enumerate(patterns, start=1):
            rules = [
                r
                for r in pattern.iter(_S + "rule")
                if r.get("context") and r.get("abstract") != "true"
            ]
            if not rules:
                continue
            mode = f"scx:p{number}"
            modes.append((mode, self.guard(number, rules)))
            self.sub(self.root, "mode", name=mode, on_no_match="deep-skip")
            # deep-skip still descends from a document node (XSLT 3.0 built-in rules): stop it, or
            # rules on the root element would fire twice (once more from the walk).
            self.sub(self.root, "template", match="document-node()", mode=mode, priority="-1")
            pattern_id = pattern.get("id") or f"pattern-{number}"
            for position, rule in enumerate(rules):
                self.rule(mode, pattern_id, rule, len(rules) - position)
        self.walk(modes)
        self.document_loader()
        xslt = etree.tostring(self.root, encoding="unicode")
        return GeneratedStylesheet(
            xslt, tuple(self.rules), tuple(self.asserts), tuple(self.documents)
        )

    def guard(self, number: int, rules: list[etree._Element]) -> str | None:
        """Declare a global boolean telling whether the pattern can fire at all, if derivable.

        ANS patterns almost all match ``*[cda:templateId/@root = 'X']``: skipping the patterns
        whose templateIds are absent from the document makes IHE.sch and the CI-SIS profiles
        several times faster (a few hundred patterns, a handful present in a given document).
        """
        roots: set[str] = set()
        for rule in rules:
            guard = template_guard(rule.get("context", ""), self.nsmap)
            if guard is None:
                return None
            roots |= guard
        if not self.root.xpath("xsl:variable[@name='scx:templateIds']", namespaces=_BUILTIN_NS):
            self.sub(
                self.root,
                "variable",
                name="scx:templateIds",
                select=f"distinct-values(//Q{{{HL7_NS}}}templateId/@root)",
            )
        literals = ", ".join("'" + r.replace("'", "''") + "'" for r in sorted(roots))
        name = f"scx:g{number}"
        self.sub(self.root, "variable", name=name, select=f"$scx:templateIds = ({literals})")
        return "$" + name

    def walk(self, modes: list[tuple[str, str | None]]) -> None:
        self.sub(self.root, "mode", name="scx:walk", on_no_match="deep-skip")
        kinds = ["document-node()", "*"]
        children = ["*"]
        if self.needs_attributes:
            kinds.append("@*")
        if self.needs_text:
            kinds.append("text()")
            children.append("text()")
        walk = self.sub(self.root, "template", match=" | ".join(kinds), mode="scx:walk")
        for mode, guard in modes:
            parent = walk if guard is None else self.sub(walk, "if", test=guard)
            self.sub(parent, "apply-templates", select=".", mode=mode)
        if self.needs_attributes:
            self.sub(walk, "apply-templates", select="@*", mode="scx:walk")
        self.sub(walk, "apply-templates", select=" | ".join(children), mode="scx:walk")
        entry = self.sub(self.root, "template", match="/")
        self.sub(entry, "apply-templates", select=".", mode="scx:walk")

    def document_loader(self) -> None:
        entries = []
        for number, href in enumerate(self.documents, start=1):
            # No-namespace name: saxonche's set_parameter() only takes local names.
            name = f"ptap-conformance-doc-{number}"
            literal = "'" + href.replace("'", "''") + "'"
            # Default value: load on first use; the runner normally supplies a preloaded tree.
            self.sub(self.root, "param", name=name, as_="document-node()?", select="()")
            entries.append(f"{literal}: ${name}")
        self.sub(self.root, "variable", name="scx:docs", select="map{" + ", ".join(entries) + "}")
        function = self.sub(self.root, "function", name="scx:doc", as_="document-node()*")
        self.sub(function, "param", name="href", as_="item()*")
        self.sub(
            function,
            "sequence",
            select="for $h in $href ! string(.) return "
            "(if (exists($scx:docs($h))) then $scx:docs($h) "
            "else doc(resolve-uri($h, static-base-uri())))",
        )


def generate_xslt(
    schema: etree._Element, source: Path, phase: str | None = None
) -> GeneratedStylesheet:
    """Compile an expanded schematron (see :func:`load_schematron`) to XSLT 3.0 text."""
    return _Builder(schema, source).build(phase)
