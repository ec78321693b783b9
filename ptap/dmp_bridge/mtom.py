"""MTOM/XOP packaging: SOAP 1.2 envelopes with binary parts in ``multipart/related`` bodies.

Shared by the SOAP transport (requests out, responses in) and the DMP simulator (the other
way round). Written by hand rather than with ``email``: the parts are binary, and the
``email`` package would re-encode or re-wrap them.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from lxml import etree

XOP_NS = "http://www.w3.org/2004/08/xop/include"
XOP_INCLUDE = "{" + XOP_NS + "}Include"
SOAP12_CONTENT_TYPE = "application/soap+xml"
XOP_CONTENT_TYPE = "application/xop+xml"
_CRLF = b"\r\n"


class MtomError(ValueError):
    """A multipart/related body that cannot be read."""


@dataclass(frozen=True)
class MimePart:
    """One part of a multipart/related body."""

    content_id: str  # without angle brackets
    content_type: str
    content: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MtomMessage:
    """A parsed multipart/related message: the root (SOAP) part and the other parts by id."""

    root: MimePart
    parts: dict[str, MimePart]


def new_content_id(domain: str = "ptap.local") -> str:
    """A fresh, globally unique Content-ID (RFC 2392 addr-spec, no angle brackets)."""
    return f"{uuid.uuid4().hex}@{domain}"


def cid_href(content_id: str) -> str:
    """The ``cid:`` URL of a Content-ID, as written in ``xop:Include/@href``."""
    return "cid:" + quote(content_id, safe="@.-_!~*'()")


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split a MIME header value into its main value and lower-cased parameters."""
    pieces = _split_params(value)
    main = pieces[0].strip().lower() if pieces else ""
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        name, sep, raw = piece.partition("=")
        if not sep:
            continue
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1].replace('\\"', '"')
        params[name.strip().lower()] = raw
    return main, params


def _split_params(value: str) -> list[str]:
    """Split on ';' outside double quotes."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def build_mtom(
    envelope: bytes, attachments: Sequence[MimePart], *, action: str
) -> tuple[bytes, str]:
    """Package a SOAP 1.2 envelope and its binary parts; return (body, Content-Type header)."""
    root_id = new_content_id()
    contents = [envelope, *(part.content for part in attachments)]
    boundary = _boundary(contents)
    delimiter = b"--" + boundary.encode("ascii")
    chunks: list[bytes] = []

    def add_part(headers: Iterable[tuple[str, str]], content: bytes) -> None:
        chunks.append(delimiter + _CRLF)
        for name, val in headers:
            chunks.append(f"{name}: {val}".encode("ascii") + _CRLF)
        chunks.append(_CRLF)
        chunks.append(content)
        chunks.append(_CRLF)

    add_part(
        [
            (
                "Content-Type",
                f'{XOP_CONTENT_TYPE}; charset=UTF-8; type="{SOAP12_CONTENT_TYPE}"',
            ),
            ("Content-Transfer-Encoding", "binary"),
            ("Content-ID", f"<{root_id}>"),
        ],
        envelope,
    )
    for part in attachments:
        add_part(
            [
                ("Content-Type", part.content_type),
                ("Content-Transfer-Encoding", "binary"),
                ("Content-ID", f"<{part.content_id}>"),
            ],
            part.content,
        )
    chunks.append(delimiter + b"--" + _CRLF)
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="{XOP_CONTENT_TYPE}"; '
        f'start="<{root_id}>"; start-info="{SOAP12_CONTENT_TYPE}"; action="{action}"'
    )
    return b"".join(chunks), content_type


def _boundary(contents: Sequence[bytes]) -> str:
    while True:
        boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
        marker = boundary.encode("ascii")
        if not any(marker in content for content in contents):
            return boundary


def _parse_headers(block: bytes) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for raw_line in block.split(_CRLF):
        line = raw_line.decode("latin-1")
        if not line.strip():
            continue
        if line[0] in " \t" and headers:  # folded header
            name, val = headers[-1]
            headers[-1] = (name, f"{val} {line.strip()}")
            continue
        name, sep, val = line.partition(":")
        if not sep:
            raise MtomError(f"En-tête MIME illisible : {line!r}")
        headers.append((name.strip().lower(), val.strip()))
    return headers


def parse_multipart(body: bytes, content_type: str) -> MtomMessage:
    """Read a multipart/related body; the root part is the one named by ``start``."""
    main, params = header_params(content_type)
    if main != "multipart/related" or not params.get("boundary"):
        raise MtomError(f"Pas un corps multipart/related : {content_type!r}")
    delimiter = b"--" + params["boundary"].encode("ascii")
    data = body if body.startswith(_CRLF) else _CRLF + body
    sections = data.split(_CRLF + delimiter)
    parts: list[MimePart] = []
    for section in sections[1:]:
        if section.startswith(b"--"):
            break
        # After the delimiter: optional transport padding, CRLF, headers, CRLF CRLF, content.
        _, _, rest = section.partition(_CRLF)
        head, sep, content = rest.partition(_CRLF + _CRLF)
        if not sep:
            if rest.startswith(_CRLF):  # a part without headers
                head, content = b"", rest[2:]
            else:
                raise MtomError("Partie MIME sans séparation en-têtes/contenu")
        headers = _parse_headers(head)
        values = dict(headers)
        parts.append(
            MimePart(
                content_id=values.get("content-id", "").strip().strip("<>"),
                content_type=values.get("content-type", "application/octet-stream"),
                content=content,
                headers=tuple(headers),
            )
        )
    if not parts:
        raise MtomError("Corps multipart/related vide")
    start = params.get("start", "").strip().strip("<>")
    root = next((part for part in parts if start and part.content_id == start), parts[0])
    others = {part.content_id: part for part in parts if part is not root}
    return MtomMessage(root=root, parts=others)


def read_soap_body(body: bytes, content_type: str) -> tuple[bytes, dict[str, MimePart]]:
    """Return the SOAP envelope bytes and the attachments of an MTOM or plain SOAP body."""
    main, _ = header_params(content_type)
    if main == "multipart/related":
        message = parse_multipart(body, content_type)
        return message.root.content, message.parts
    return body, {}


def include_target(include: etree._Element) -> str:
    """The Content-ID an ``xop:Include`` points to."""
    href = include.get("href", "")
    if not href.startswith("cid:"):
        raise MtomError(f"xop:Include sans href cid: ({href!r})")
    return unquote(href[4:])


def resolve_xop(root: etree._Element, parts: dict[str, MimePart]) -> None:
    """Replace every ``xop:Include`` by the base64 text of its part (XOP reconstitution)."""
    for include in list(root.iter(XOP_INCLUDE)):
        content_id = include_target(include)
        part = parts.get(content_id)
        if part is None:
            raise MtomError(f"Partie MIME absente : {content_id}")
        parent = include.getparent()
        if parent is None:
            raise MtomError("xop:Include sans élément parent")
        parent.remove(include)
        parent.text = base64.b64encode(part.content).decode("ascii")
