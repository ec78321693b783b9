"""The French analyser of the search: accent folding, Snowball stemming, highlighting.

The same pure-Python analyser runs whatever the database (SQLite or PostgreSQL): "escalier"
finds "escaliers", "decision" finds "décision", and the results do not depend on the engine.
User input never reaches a query language: a query is reduced to plain words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer
from markupsafe import Markup, escape

from ptap.care_teams.identity import LIGATURES

#: Longest query considered (characters); the rest is ignored, and the page says so.
MAX_QUERY_CHARS = 200
#: Most words of a query considered.
MAX_TERMS = 12
#: A query word this long or longer also finds words starting with it ("cardio" finds
#: "cardiologue"); shorter ones would match too much.
PREFIX_MIN_CHARS = 4
#: Characters of context around the first match in a snippet.
SNIPPET_CHARS = 220

_WORD = re.compile(r"\w+", re.UNICODE)
#: Operator words of FTS5/tsquery syntax, typed in capitals: dropped, never interpreted.
_OPERATORS = frozenset({"AND", "OR", "NOT", "NEAR", "ET", "OU", "SAUF"})
#: French words too common to mean anything alone (searched only if nothing else is typed).
_STOPWORDS = frozenset(
    [
        "a",
        "au",
        "aux",
        "avec",
        "ce",
        "ces",
        "d",
        "dans",
        "de",
        "des",
        "du",
        "elle",
        "en",
        "et",
        "il",
        "ils",
        "j",
        "je",
        "l",
        "la",
        "le",
        "les",
        "leur",
        "lui",
        "m",
        "ma",
        "mais",
        "me",
        "meme",
        "mes",
        "mon",
        "n",
        "ne",
        "nous",
        "on",
        "ou",
        "par",
        "pas",
        "pour",
        "qu",
        "que",
        "qui",
        "s",
        "sa",
        "se",
        "ses",
        "son",
        "sur",
        "t",
        "ta",
        "te",
        "tes",
        "ton",
        "tu",
        "un",
        "une",
        "vos",
        "votre",
        "vous",
        "y",
        "est",
        "sont",
        "ete",
    ]
)
_STEMMER = snowballstemmer.stemmer("french")


def fold(text: str) -> str:
    """Return `text` in lower case without accents or ligatures ("Décès" -> "deces")."""
    decomposed = unicodedata.normalize("NFKD", text.translate(LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@lru_cache(maxsize=20_000)
def stem(word: str) -> str:
    """Return the Snowball French stem of a word, accents folded first."""
    return str(_STEMMER.stemWord(fold(word)))


@dataclass(frozen=True)
class Term:
    """One word of the query: as typed, folded, and stemmed."""

    typed: str
    folded: str
    stemmed: str

    def matches(self, word: str) -> bool:
        """Tell whether a word of a text matches this term (same stem, or starts with it)."""
        folded = fold(word)
        if len(self.folded) >= PREFIX_MIN_CHARS and folded.startswith(self.folded):
            return True
        return stem(word) == self.stemmed


@dataclass(frozen=True)
class ParsedQuery:
    """What was searched: the plain terms kept, and whether the input was cut."""

    terms: tuple[Term, ...]
    truncated: bool = False

    @property
    def label(self) -> str:
        """The words searched, as typed."""
        return " ".join(t.typed for t in self.terms)


def parse_query(raw: str) -> ParsedQuery:
    """Reduce user input to plain terms: quotes, parentheses, `*`, `:`, `^`, operators and
    any other syntax are dropped (they would be FTS5 or tsquery syntax errors)."""
    text = (raw or "").strip()
    truncated = len(text) > MAX_QUERY_CHARS
    if truncated:  # cut at a word boundary: never search half a word
        text = text[: MAX_QUERY_CHARS + 1].rsplit(None, 1)[0][:MAX_QUERY_CHARS]
    words = [w for w in _WORD.findall(text) if w not in _OPERATORS and not w.startswith("_")]
    words = [w.replace("_", "") for w in words]
    meaningful = [w for w in words if fold(w) not in _STOPWORDS] or words
    terms: list[Term] = []
    seen: set[str] = set()
    for word in meaningful:
        term = Term(word, fold(word), stem(word))
        if term.stemmed and term.stemmed not in seen:
            seen.add(term.stemmed)
            terms.append(term)
    truncated = truncated or len(terms) > MAX_TERMS
    return ParsedQuery(tuple(terms[:MAX_TERMS]), truncated)


def match_spans(text: str, terms: tuple[Term, ...]) -> list[tuple[int, int, int]]:
    """Return (start, end, term index) of every word of `text` matching a term."""
    spans = []
    for m in _WORD.finditer(text):
        for i, term in enumerate(terms):
            if term.matches(m.group()):
                spans.append((m.start(), m.end(), i))
                break
    return spans


def highlight(text: str, spans: list[tuple[int, int, int]]) -> Markup:
    """Return `text` HTML-escaped, its matched words wrapped in <mark> (the only markup)."""
    out = Markup("")
    last = 0
    for start, end, _ in spans:
        out += escape(text[last:start]) + Markup("<mark>") + escape(text[start:end])
        out += Markup("</mark>")
        last = end
    return out + escape(text[last:])


def snippet(text: str, terms: tuple[Term, ...]) -> tuple[str, list[tuple[int, int, int]]]:
    """Return a window of `text` (whitespace collapsed) around its first match, and the
    matches' spans in that window."""
    flat = " ".join(text.split())
    spans = match_spans(flat, terms)
    if len(flat) <= SNIPPET_CHARS:
        return flat, spans
    first = spans[0][0] if spans else 0
    begin = max(0, first - SNIPPET_CHARS // 3)
    if begin:
        space = flat.find(" ", begin)
        begin = space + 1 if 0 <= space < first else begin
    end = min(len(flat), begin + SNIPPET_CHARS)
    if end < len(flat):
        space = flat.rfind(" ", begin, end)
        end = space if space > first else end
    prefix = "… " if begin else ""
    suffix = " …" if end < len(flat) else ""
    shift = len(prefix) - begin
    kept = [(s + shift, e + shift, i) for s, e, i in spans if s >= begin and e <= end]
    return f"{prefix}{flat[begin:end]}{suffix}", kept
