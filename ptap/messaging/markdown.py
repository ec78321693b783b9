"""A small, safe Markdown subset for messages: escape everything first, then add our own tags.

Supported: **bold**, *italic*, `code`, line breaks, bullet lists ("- " or "* "), http(s) links
written out in full (auto-links), and mentions `@[user_id]` shown with the member's name.
No raw HTML ever survives: the whole text is HTML-escaped before any tag is produced, and the
only tags produced are <p>, <br>, <ul>, <li>, <strong>, <em>, <code>, <a> (http/https only,
rel="noopener noreferrer nofollow") and <span class="mention">.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape

# Applied to already-escaped text: `&`, `<`, `>`, `"` and `'` cannot appear raw.
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
# A URL stops at whitespace and at the escaped forms of < > " '.
_URL = re.compile(r"\bhttps?://[^\s<>]+?(?=[.,;:!?)]*(?:\s|$|&lt;|&gt;|&quot;|&#x27;))")
_MENTION = re.compile(r"@\[(\d{1,10})\]")
_BULLET = re.compile(r"^\s*[-*]\s+(.*)$")
_PLACEHOLDER = "\x00{}\x00"


def _inline(text: str, names: Mapping[int, str]) -> str:
    """Render one escaped line's inline markup; code spans are protected from the rest."""
    protected: list[str] = []

    def keep(html: str) -> str:
        protected.append(html)
        return _PLACEHOLDER.format(len(protected) - 1)

    text = _CODE.sub(lambda m: keep(f"<code>{m.group(1)}</code>"), text)
    text = _URL.sub(
        lambda m: keep(
            f'<a href="{m.group(0)}" rel="noopener noreferrer nofollow">{m.group(0)}</a>'
        ),
        text,
    )
    text = _MENTION.sub(
        lambda m: keep(
            f'<span class="mention">@{escape(names.get(int(m.group(1)), "membre"))}</span>'
        ),
        text,
    )
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    text = _ITALIC.sub(r"<em>\1</em>", text)
    return re.sub("\x00(\\d+)\x00", lambda m: protected[int(m.group(1))], text)


def render_markdown(source: str, names: Mapping[int, str] | None = None) -> str:
    """Return the sanitised HTML of a message's Markdown source.

    :param names: display names of mentioned users by id (unknown ids show as "@membre").
    """
    names = names or {}
    # NUL is our placeholder marker: the source may not smuggle it in.
    lines = escape(source.replace("\x00", ""), quote=True).replace("\r\n", "\n").split("\n")
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []

    def close_paragraph() -> None:
        if paragraph:
            blocks.append("<p>" + "<br>".join(paragraph) + "</p>")
            paragraph.clear()

    def close_list() -> None:
        if items:
            blocks.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
            items.clear()

    for line in lines:
        bullet = _BULLET.match(line)
        if bullet:
            close_paragraph()
            items.append(_inline(bullet.group(1), names))
        elif not line.strip():
            close_paragraph()
            close_list()
        else:
            close_list()
            paragraph.append(_inline(line.strip(), names))
    close_paragraph()
    close_list()
    return "".join(blocks)


def plain_text(source: str) -> str:
    """Return the message text without Markdown markers (for notifications and plan actions)."""
    text = _MENTION.sub("@membre", source)
    return re.sub(r"[*`]", "", text).strip()
