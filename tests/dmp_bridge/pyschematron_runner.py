"""Validate XML documents against one schematron with pyschematron; print JSON failures.

Run with the Python 3.12 virtualenv ``.venv-schematron`` (``make schematron-venv``), not the
project's: pyschematron 1.x needs Python >= 3.12. Usage::

    .venv-schematron/bin/python tests/dmp_bridge/pyschematron_runner.py SCHEMATRON XML...

Prints ``{"compile_seconds": s, "validate_seconds": s, "documents": [[failure, ...], ...]}``,
one list per XML file in argument order; a failure is ``[id, role, location]`` for every
``svrl:failed-assert`` and ``svrl:successful-report``. The schematron is compiled once for all
documents. This script imports nothing from PTAP (it runs outside the project's virtualenv).

One workaround, which does not change what is checked: pyschematron selects a schematron
element's children with elementpath, and elementpath (5.x) takes a root element that has a
sibling before it (the licence comment every ANS ``.sch`` file starts with) for the document
node, so ``param``, ``rule``, ``pattern``... come back empty: the schematron silently checks
nothing, or an ``is-a`` pattern fails with ``KeyError: ''``. Every schematron, included file and
validated document is therefore loaded without its comments and processing instructions, which
carry no meaning in Schematron (:data:`_PARSER`). Removing them inside schematrons also avoids a
second crash: pyschematron re-parses every child of an assert message as XML, comments included.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from lxml import etree
from pyschematron.direct_mode import api
from pyschematron.direct_mode.schematron.parsers.xml import parser as schematron_parser
from pyschematron.utils import load_xml_document

SVRL = "{http://purl.oclc.org/dsdl/svrl}"
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True
)


class _IncludeParser(schematron_parser.IncludeParser):
    def parse(self, element: etree._Element, context: object = None) -> object:
        context = context or schematron_parser.ParsingContext()
        path = schematron_parser.resolve_href(element.attrib["href"], context.base_path)
        root = load_xml_document(path, _PARSER).getroot()
        return context.parser_factory.get_parser(etree.QName(root).localname).parse(root, context)


schematron_parser.IncludeParser = _IncludeParser  # type: ignore[misc]


def main(argv: list[str]) -> int:
    schematron, *documents = (Path(argument) for argument in argv)
    started = time.perf_counter()
    validator = api.DirectModeSchematronValidatorFactory(
        etree.parse(str(schematron), _PARSER), schematron_base_path=schematron.parent
    ).build()
    compiled = time.perf_counter()
    results = []
    for document in documents:
        report = validator.validate(etree.parse(str(document), _PARSER)).get_svrl()
        results.append(
            [
                [failure.get("id"), failure.get("role"), failure.get("location", "")]
                for failure in report.iter(f"{SVRL}failed-assert", f"{SVRL}successful-report")
            ]
        )
    json.dump(
        {
            "compile_seconds": compiled - started,
            "validate_seconds": time.perf_counter() - compiled,
            "documents": results,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
