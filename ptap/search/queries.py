"""The patient search: collect the readable documents, match, rank, highlight, page.

Built at query time from the sources (no index to keep fresh): a patient's coordination file
is small, every hit is read with the rules in force at that instant, and SQLite and
PostgreSQL give the same results (docs/architecture.md, "Patient search").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from markupsafe import Markup

from ptap.accounts.models import User
from ptap.care_teams.models import Patient
from ptap.core.clock import paris_day
from ptap.search.registry import SOURCES, SearchDocument
from ptap.search.text import ParsedQuery, highlight, match_spans, parse_query, snippet

#: Results per page.
PER_PAGE = 20
#: A term in the title weighs this many body occurrences.
TITLE_WEIGHT = 10
#: Occurrences of one term in the body counted at most (a long text does not win by length).
BODY_CAP = 5


@dataclass(frozen=True)
class SearchFilters:
    """The filters of a search: kinds (empty: all) and an inclusive range of Paris days."""

    kinds: frozenset[str] = frozenset()
    since: date | None = None
    until: date | None = None

    def keeps(self, document: SearchDocument) -> bool:
        """Tell whether the document passes the date filter."""
        if self.since is None and self.until is None:
            return True
        day = paris_day(document.occurred_at)
        return (self.since is None or day >= self.since) and (
            self.until is None or day <= self.until
        )


@dataclass(frozen=True)
class SearchHit:
    """One result: its document, score, and highlighted title and snippet (escaped HTML)."""

    document: SearchDocument
    kind_label: str
    url: str
    score: int
    title_html: Markup
    snippet: str
    snippet_html: Markup
    #: (start, end) of each highlighted word in `snippet`.
    snippet_marks: list[tuple[int, int]]


@dataclass(frozen=True)
class SearchResults:
    """One page of results, the total, and the count per kind before paging."""

    query: ParsedQuery
    hits: list[SearchHit]
    total: int
    page: int
    per_page: int
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, -(-self.total // self.per_page))


def _score(document: SearchDocument, query: ParsedQuery) -> tuple[int, list, list]:
    """Return (score, title spans, body spans); 0 unless every term matches somewhere."""
    title_spans = match_spans(document.title, query.terms)
    body_spans = match_spans(document.body, query.terms)
    in_title = Counter(i for _, _, i in title_spans)
    in_body = Counter(i for _, _, i in body_spans)
    score = 0
    for i in range(len(query.terms)):
        if not in_title[i] and not in_body[i]:
            return 0, [], []
        score += TITLE_WEIGHT * min(in_title[i], 1) + min(in_body[i], BODY_CAP)
    return score, title_spans, body_spans


def _hit(document: SearchDocument, query: ParsedQuery, score: int, title_spans: list) -> SearchHit:
    text, spans = snippet(document.body, query.terms)
    return SearchHit(
        document=document,
        kind_label=SOURCES[document.kind].label,
        url=document.url(),
        score=score,
        title_html=highlight(document.title, title_spans),
        snippet=text,
        snippet_html=highlight(text, spans),
        snippet_marks=[(s, e) for s, e, _ in spans],
    )


def search_patient(
    user: User,
    patient: Patient,
    raw_query: str,
    filters: SearchFilters | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> SearchResults:
    """Search the patient's file for what `user` may read; best matches first (a title match
    before body matches, more matches first), then the most recent."""
    filters = filters or SearchFilters()
    query = parse_query(raw_query)
    if not query.terms:
        return SearchResults(query, [], 0, 1, per_page)
    scored: list[tuple[int, datetime, SearchDocument, list]] = []
    for kind, source in SOURCES.items():
        if filters.kinds and kind not in filters.kinds:
            continue
        for document in source.collect(user, patient):
            if not filters.keeps(document):
                continue
            score, title_spans, _ = _score(document, query)
            if score:
                scored.append((score, document.occurred_at, document, title_spans))
    scored.sort(key=lambda row: (row[0], row[1]), reverse=True)
    page = max(1, min(page, max(1, -(-len(scored) // per_page))))
    window = scored[(page - 1) * per_page : page * per_page]
    return SearchResults(
        query=query,
        hits=[_hit(document, query, score, spans) for score, _, document, spans in window],
        total=len(scored),
        page=page,
        per_page=per_page,
        by_kind=dict(Counter(row[2].kind for row in scored)),
    )
