"""The French analyser: folding, stemming, query sanitising, escaped highlighting."""

from __future__ import annotations

import pytest

from ptap.search.text import (
    MAX_QUERY_CHARS,
    MAX_TERMS,
    fold,
    highlight,
    match_spans,
    parse_query,
    snippet,
)


def _matches(query: str, text: str) -> bool:
    terms = parse_query(query).terms
    found = {i for _, _, i in match_spans(text, terms)}
    return bool(terms) and found == set(range(len(terms)))


def test_fold_removes_accents_ligatures_and_case():
    assert fold("Décès ŒDÈME à l'hôpital") == "deces oedeme a l'hopital"


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("escalier", "Les escaliers de la maison"),
        ("escaliers", "un escalier raide"),
        ("decision", "La décision de la concertation"),
        ("DÉCISIONS", "une decision"),
        ("kinésithérapeute", "kinesitherapeutes du secteur"),
        ("cardio", "le cardiologue a écrit"),
        ("chutes", "a chuté deux fois"),
    ],
)
def test_french_stemming_and_accents_match(query, text):
    assert _matches(query, text)


def test_all_terms_must_be_found():
    assert not _matches("escalier cardiologue", "Les escaliers de la maison")


def test_operators_quotes_and_syntax_become_plain_words():
    q = parse_query('"escalier AND (rampe OR NEAR(main, 2)) NOT* col:x ^yy -z "')
    assert [t.typed for t in q.terms] == ["escalier", "rampe", "main", "2", "col", "x", "yy", "z"]
    assert parse_query('"((**)) AND OR NEAR "').terms == ()
    assert parse_query("").terms == () and parse_query("   ").terms == ()


def test_stopwords_are_dropped_unless_nothing_else_is_typed():
    assert [t.typed for t in parse_query("la décision de la RCP").terms] == ["décision", "RCP"]
    assert [t.typed for t in parse_query("de la").terms] == ["de", "la"]


def test_very_long_input_is_cut_and_said_so():
    q = parse_query("escalier " * 5000)
    assert q.truncated and len(q.terms) == 1
    many = parse_query(" ".join(f"mot{i}" for i in range(50)))
    assert many.truncated and len(many.terms) == MAX_TERMS
    assert not parse_query("x" * MAX_QUERY_CHARS).truncated


def test_highlight_escapes_everything_but_the_marks():
    text = "<script>alert('escalier')</script> & escaliers"
    html = str(highlight(text, match_spans(text, parse_query("escalier").terms)))
    assert "<script>" not in html
    assert html == (
        "&lt;script&gt;alert(&#39;<mark>escalier</mark>&#39;)&lt;/script&gt; &amp; "
        "<mark>escaliers</mark>"
    )


def test_snippet_is_a_window_around_the_first_match():
    text = (
        ("Lorem ipsum dolor sit amet. " * 40)
        + "Monter les escaliers est difficile. "
        + ("Fin du texte. " * 40)
    )
    shown, spans = snippet(text, parse_query("escalier").terms)
    assert shown.startswith("… ") and shown.endswith(" …")
    assert len(shown) < 260
    ((start, end, _),) = spans
    assert shown[start:end] == "escaliers"
