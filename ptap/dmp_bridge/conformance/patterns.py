"""Small lexical helpers over XPath rule contexts, used to speed up the generated XSLT.

Both optimisations are semantics-preserving and only apply to forms recognised exactly;
anything else is left as written.
"""

from __future__ import annotations

import re

HL7_NS = "urn:hl7-org:v3"

#: First step ``*[cda:templateId/@root = 'X']`` or ``cda:x[cda:templateId[@root='X']]``,
#: optionally after ``/`` or ``//``.
_TEMPLATE_STEP = re.compile(
    r"""^\s*/{0,2}\s*(?:\*|[\w.\-]+:[\w.\-]+)\s*
        \[\s*(?P<prefix>[\w.\-]+):templateId\s*
        (?:/\s*@root\s*=\s*(?P<q1>['"])(?P<root1>[^'"]*)(?P=q1)
          |\[\s*@root\s*=\s*(?P<q2>['"])(?P<root2>[^'"]*)(?P=q2)\s*\])
        \s*\]""",
    re.VERBOSE,
)


def _scan(expr: str) -> list[tuple[int, str, int]]:
    """Yield ``(index, char, depth)`` for characters outside string literals."""
    out, depth, quote = [], 0, ""
    for index, ch in enumerate(expr):
        if quote:
            quote = "" if ch == quote else quote
            continue
        if ch in "'\"":
            quote = ch
            continue
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        out.append((index, ch, depth))
    return out


def strip_predicates(expr: str) -> str:
    """Return the expression without bracketed predicates and string literals."""
    kept, depth, quote = [], 0, ""
    for ch in expr:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            kept.append(ch)
    return "".join(kept)


def split_union(expr: str) -> list[str]:
    """Split ``a | b`` at top level (outside predicates, parentheses and literals)."""
    cuts = [i for i, ch, depth in _scan(expr) if ch == "|" and depth == 0]
    bounds = [-1, *cuts, len(expr)]
    return [expr[a + 1 : b].strip() for a, b in zip(bounds, bounds[1:], strict=False)]


def template_guard(context: str, nsmap: dict[str, str]) -> set[str] | None:
    """Return the templateId roots one of which must exist for ``context`` to match anything.

    ``None`` means no such guard could be derived. For ``S1/S2...`` (or ``S1[...]``) a match
    requires some node matching the first step ``S1``; when ``S1`` demands a ``templateId``
    child with a literal ``@root``, the document must contain that templateId.
    """
    roots: set[str] = set()
    for branch in split_union(context):
        match = _TEMPLATE_STEP.match(branch)
        if match is None or nsmap.get(match["prefix"]) != HL7_NS:
            return None
        rest = branch[match.end() :].lstrip()
        if rest and rest[0] not in "[/":
            return None
        roots.add(match["root1"] if match["root1"] is not None else match["root2"])
    return roots or None


def rewrite_not_union(context: str) -> str:
    """Turn ``[not(self::a | self::b[p])]`` into ``[not(self::a or self::b[p])]``.

    The effective boolean value of a union of node sequences is true iff one operand is
    non-empty, so the rewrite is exact; it spares Saxon building and sorting the union for
    every candidate node (ART-DECOR "closed template" rules have dozens of operands).
    """
    start = context.find("[not(self::")
    while start != -1:
        open_paren = start + len("[not")
        end = next(
            (
                open_paren + i
                for i, ch, depth in _scan(context[open_paren:])
                if ch == ")" and not depth
            ),
            -1,
        )
        if end == -1:
            return context
        inner = context[open_paren + 1 : end]
        parts = split_union(inner)
        if len(parts) > 1 and all(p.startswith("self::") for p in parts):
            replacement = " or ".join(parts)
            context = context[: open_paren + 1] + replacement + context[end:]
            end = open_paren + 1 + len(replacement)
        start = context.find("[not(self::", end)
    return context


def split_wildcard_predicates(context: str) -> tuple[str, list[str]] | None:
    """Split ``PATH/*[not(a)][not(b)]`` into ``PATH/*`` and its ``not(...)`` predicates.

    Saxon tests the predicates of the last step before walking up the path, so a mode holding
    many ``PATH/*[not(self::x | ...)]`` rules (ART-DECOR "closed" templates) evaluates every
    predicate on every element. Matching ``PATH/*`` and testing the predicates in the template
    (with ``xsl:next-match`` when they fail) gives the same first-matching-rule semantics.
    Only ``not(...)`` predicates qualify: they are boolean, never positional.
    """
    if len(split_union(context)) != 1 or not context.rstrip().endswith("]"):
        return None
    context = context.strip()
    slashes = [i for i, ch, depth in _scan(context) if ch == "/" and depth == 0]
    if not slashes or slashes[-1] == 0:
        return None
    step_start = slashes[-1] + 1
    if not context[step_start:].startswith("*["):
        return None
    offset = step_start + 1
    predicates, open_at, expected = [], -1, offset
    for index, ch, depth in _scan(context[offset:]):
        position = offset + index
        if ch == "[" and depth == 1:
            if position != expected:
                return None  # something other than a predicate follows the step
            open_at = position
        elif ch == "]" and depth == 0:
            predicate = context[open_at + 1 : position].strip()
            if not predicate.startswith("not("):
                return None
            predicates.append(predicate)
            expected = position + 1
    if expected != len(context) or not predicates:
        return None
    return context[:step_start] + "*", predicates
