"""The search's input (query-string parameters, shared by the page and the API) and its JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pydantic import BaseModel
from werkzeug.datastructures import MultiDict

from ptap.core.bounds import MAX_DB_INT
from ptap.search.queries import SearchFilters, SearchHit, SearchResults
from ptap.search.registry import source_labels

#: Longest value of `q` accepted as is (longer input is cut by the analyser, never refused).
MAX_INPUT_CHARS = 2000


@dataclass
class SearchParams:
    """The parsed parameters, and a French message per invalid field (empty: all valid)."""

    q: str = ""
    filters: SearchFilters = field(default_factory=SearchFilters)
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)


def _day(raw: str, name: str, errors: dict[str, str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = f"Date invalide : « {raw[:20]} » (attendu : AAAA-MM-JJ)."
        return None


def parse_params(args: MultiDict[str, str]) -> SearchParams:
    """Parse `q`, `types` (repeated or comma-separated), `from`, `to` and `page`."""
    errors: dict[str, str] = {}
    q = (args.get("q") or "")[:MAX_INPUT_CHARS]
    kinds = {k.strip() for raw in args.getlist("types") for k in raw.split(",") if k.strip()}
    unknown = sorted(kinds - set(source_labels()))
    if unknown:
        errors["types"] = f"Type inconnu : {', '.join(u[:40] for u in unknown[:3])}."
    since = _day((args.get("from") or "").strip(), "from", errors)
    until = _day((args.get("to") or "").strip(), "to", errors)
    if since and until and since > until:
        errors["to"] = "La date de fin précède la date de début."
    raw_page = (args.get("page") or "1").strip()
    page = int(raw_page) if raw_page.isdecimal() and 0 < int(raw_page) <= MAX_DB_INT else 1
    return SearchParams(q, SearchFilters(frozenset(kinds), since, until), page, errors)


class SearchHitOut(BaseModel):
    """One result. `title_html` and `snippet_html` are escaped HTML where the only markup is
    <mark> around the matched words; `snippet_marks` gives the same as offsets in `snippet`."""

    type: str
    type_label: str
    id: str
    title: str
    title_html: str
    snippet: str
    snippet_html: str
    snippet_marks: list[tuple[int, int]]
    context: str
    occurred_at: datetime
    url: str
    score: int

    @classmethod
    def of(cls, hit: SearchHit) -> SearchHitOut:
        d = hit.document
        return cls(
            type=d.kind,
            type_label=hit.kind_label,
            id=d.source_id,
            title=d.title,
            title_html=str(hit.title_html),
            snippet=hit.snippet,
            snippet_html=str(hit.snippet_html),
            snippet_marks=hit.snippet_marks,
            context=d.context,
            occurred_at=d.occurred_at,
            url=hit.url,
            score=hit.score,
        )


class SearchOut(BaseModel):
    """A page of results: the words searched, the total, and the results of this page."""

    terms: list[str]
    truncated: bool
    total: int
    page: int
    pages: int
    per_page: int
    counts_by_type: dict[str, int]
    items: list[SearchHitOut]

    @classmethod
    def of(cls, results: SearchResults) -> SearchOut:
        return cls(
            terms=[t.typed for t in results.query.terms],
            truncated=results.query.truncated,
            total=results.total,
            page=results.page,
            pages=results.pages,
            per_page=results.per_page,
            counts_by_type=results.by_kind,
            items=[SearchHitOut.of(hit) for hit in results.hits],
        )
