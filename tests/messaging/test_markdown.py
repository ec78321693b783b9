"""The safe Markdown subset: the supported markup renders, classic XSS payloads stay inert."""

import re

import pytest

from ptap.messaging.markdown import plain_text, render_markdown

ALLOWED_TAGS = {"p", "br", "ul", "li", "strong", "em", "code", "a", "span"}


def _tags(html: str) -> set[str]:
    return {m.lower() for m in re.findall(r"<\s*/?\s*([a-zA-Z][a-zA-Z0-9]*)", html)}


def test_supported_markup_renders():
    html = render_markdown("**gras** et *italique* et `code`\nligne 2\n\n- un\n- deux")
    assert html == (
        "<p><strong>gras</strong> et <em>italique</em> et <code>code</code><br>ligne 2</p>"
        "<ul><li>un</li><li>deux</li></ul>"
    )


def test_http_links_are_autolinked_with_safe_rel():
    html = render_markdown("Voir https://has-sante.fr/page?a=1&b=2.")
    assert html == (
        '<p>Voir <a href="https://has-sante.fr/page?a=1&amp;b=2" '
        'rel="noopener noreferrer nofollow">https://has-sante.fr/page?a=1&amp;b=2</a>.</p>'
    )


def test_mentions_show_the_member_name_escaped():
    html = render_markdown("Merci @[7] et @[8]", {7: "Jeanne <b>Martin</b>"})
    assert '<span class="mention">@Jeanne &lt;b&gt;Martin&lt;/b&gt;</span>' in html
    assert '<span class="mention">@membre</span>' in html


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "<svg/onload=alert(1)>",
        "[clic](javascript:alert(1))",
        "javascript:alert(1)",
        '<a href="javascript:alert(1)">x</a>',
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&#60;script&#62;alert(1)&#60;/script&#62;",
        '**<iframe src="https://evil.example">**',
        "`<script>alert(1)</script>`",
        'https://ok.example/"onmouseover="alert(1)',
        "https://ok.example/<script>alert(1)</script>",
        "<scr<script>ipt>alert(1)</script>",
        "\x00<script>alert(1)</script>",
        "- <b onclick=alert(1)>x</b>",
    ],
)
def test_xss_payloads_are_rendered_inert(payload):
    html = render_markdown(payload)
    assert _tags(html) <= ALLOWED_TAGS
    assert "<script" not in html.lower()
    assert "javascript:" not in re.sub(r"(?s)>[^<]*<", "><", html).lower()
    for href in re.findall(r'href="([^"]*)"', html):
        assert href.startswith(("http://", "https://"))
        assert "<" not in href and '"' not in href
    # Attributes only ever come from us: href and rel on links, class on mentions.
    attributes = set(re.findall(r"\s([a-zA-Z-]+)=", "".join(re.findall(r"<[^>]+>", html))))
    assert attributes <= {"href", "rel", "class"}


def test_entities_are_escaped_again_not_decoded():
    assert render_markdown("&lt;b&gt;") == "<p>&amp;lt;b&amp;gt;</p>"


def test_plain_text_strips_markers():
    assert plain_text("**Rappeler** le `médecin` @[3]") == "Rappeler le médecin @membre"
