"""Run schematrons compiled to XSLT 3.0 with Saxon-HE (saxonche).

One :class:`PySaxonProcessor` per process; each schematron is expanded, turned into XSLT and
compiled once, then cached at module level. ``PyXsltExecutable`` objects are not thread-safe,
so every thread gets its own clone of the compiled executable.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saxonche import PySaxonApiError, PySaxonProcessor

from .findings import Finding, normalise_role
from .schematron import SchematronError, load_schematron
from .xslt import AssertSpec, RuleSpec, generate_xslt

_lock = threading.RLock()
_processor: PySaxonProcessor | None = None
_compiled: dict[tuple[Path, str | None], CompiledSchematron] = {}


def processor() -> PySaxonProcessor:
    """Return the process-wide Saxon processor (created on first use)."""
    global _processor
    with _lock:
        if _processor is None:
            _processor = PySaxonProcessor(license=False)
        return _processor


@dataclass
class CompiledSchematron:
    """A schematron compiled to an executable stylesheet, ready to validate documents."""

    name: str
    rules: tuple[RuleSpec, ...]
    asserts: tuple[AssertSpec, ...]
    #: Pristine executable, only ever cloned (cloning one with parameters set crashes Saxon).
    executable: Any
    #: Preloaded value-set documents by stylesheet parameter name; also keeps the Python
    #: wrappers alive, as saxonche does not hold references to parameter values.
    parameters: tuple[tuple[str, Any], ...]
    _local: threading.local

    def _executable(self) -> Any:
        clone = getattr(self._local, "executable", None)
        if clone is None:
            with _lock:
                clone = self.executable.clone()
                for name, value in self.parameters:
                    clone.set_parameter(name, value)
            self._local.executable = clone
        return clone

    def run(self, document: Any) -> list[Finding]:
        """Validate a Saxon document node and return the failed asserts / fired reports."""
        try:
            output = self._executable().transform_to_string(xdm_node=document)
        except PySaxonApiError as exc:
            raise SchematronError(f"{self.name}: {exc}") from exc
        return [self._finding(line) for line in (output or "").splitlines() if line]

    def _finding(self, line: str) -> Finding:
        assert_index, rule_index, location, message = line.split("\t", 3)
        spec = self.asserts[int(assert_index)]
        rule = self.rules[int(rule_index)]
        return Finding(
            schematron=self.name,
            pattern_id=rule.pattern_id,
            rule_context=rule.context,
            assert_id=spec.assert_id,
            role=normalise_role(spec.role),
            flag=spec.flag,
            message=message,
            location=location,
        )


def _compile(path: Path, phase: str | None) -> CompiledSchematron:
    generated = generate_xslt(load_schematron(path), path, phase)
    saxon = processor()
    compiler = saxon.new_xslt30_processor()
    try:
        executable = compiler.compile_stylesheet(stylesheet_text=generated.xslt, encoding="UTF-8")
    except PySaxonApiError as exc:
        raise SchematronError(f"{path.name}: generated XSLT does not compile: {exc}") from exc
    parameters = []
    for number, href in enumerate(generated.documents, start=1):
        target = (path.parent / href).resolve()
        if target.is_file():
            # Value sets are parsed once here instead of once per validated document.
            document = saxon.parse_xml(xml_file_name=str(target))
            parameters.append((f"ptap-conformance-doc-{number}", document))
    return CompiledSchematron(
        name=path.name,
        rules=generated.rules,
        asserts=generated.asserts,
        executable=executable,
        parameters=tuple(parameters),
        _local=threading.local(),
    )


def compiled_schematron(path: Path, phase: str | None = None) -> CompiledSchematron:
    """Return the cached compiled form of the schematron at ``path``, compiling it once."""
    key = (path.resolve(), phase)
    with _lock:
        if key not in _compiled:
            _compiled[key] = _compile(key[0], phase)
        return _compiled[key]


def parse_document(xml_text: str) -> Any:
    """Parse XML text (no XML declaration) into a Saxon document node."""
    try:
        return processor().parse_xml(xml_text=xml_text, encoding="UTF-8")
    except PySaxonApiError as exc:
        raise SchematronError(f"cannot parse document: {exc}") from exc
