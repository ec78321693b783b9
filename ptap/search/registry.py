"""The sources of the patient search: each one hands the documents a user may read.

A source is a function `(user, patient) -> Iterable[SearchDocument]` (a list, or a
generator reading a long history in batches) registered under a kind
with `register_search_source`. It applies its own need-to-know rules (a message only from a
conversation the user may read, a meeting decision only from a meeting the user may see),
runs a fixed number of queries whatever the number of hits, and builds each
document's link. The engine (ptap.search.queries) matches, ranks and highlights; adding a
source never changes it: register one more function (see ptap.search.sources).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import url_for

from ptap.accounts.models import User
from ptap.care_teams.models import Patient


@dataclass(frozen=True)
class SearchDocument:
    """One searchable piece of the coordination file, as the user may read it."""

    #: The source's kind (a key of SOURCES).
    kind: str
    #: Unique within the kind (the row's id, or a composite key).
    source_id: str
    title: str
    body: str
    #: When it happened (UTC, timezone-aware): dates the hit and drives the date filter.
    occurred_at: datetime
    #: Where the hit leads (the version, meeting, letter, message in its conversation...):
    #: an endpoint and its arguments, turned into a URL only for the hits shown.
    endpoint: str
    params: Mapping[str, Any] = field(default_factory=dict)
    #: The fragment of the page (a message's "m12"), if any.
    anchor: str = ""
    #: A short line of context shown under the title (author, team, status), not searched.
    context: str = ""

    def url(self) -> str:
        """Return the link to the document's place (needs a request or SERVER_NAME)."""
        base = url_for(self.endpoint, **self.params)
        return f"{base}#{self.anchor}" if self.anchor else base


Collect = Callable[[User, Patient], Iterable[SearchDocument]]


@dataclass(frozen=True)
class SearchSource:
    """A registered source: its kind, its French label (the type filter) and its collector."""

    kind: str
    label: str
    collect: Collect


#: Sources by kind, in registration order (the order of the type filter).
SOURCES: dict[str, SearchSource] = {}


def register_search_source(kind: str, label: str, collect: Collect) -> None:
    """Register `collect` as the source `kind` (idempotent for the same function)."""
    known = SOURCES.get(kind)
    if known is not None and known.collect is not collect:
        raise RuntimeError(f"search source {kind!r} registered twice")
    SOURCES[kind] = SearchSource(kind, label, collect)


def search_source(kind: str, label: str) -> Callable[[Collect], Collect]:
    """Decorator form of `register_search_source`."""

    def register(collect: Collect) -> Collect:
        register_search_source(kind, label, collect)
        return collect

    return register


def source_labels() -> dict[str, str]:
    """Return the French label of every registered kind, in registration order."""
    return {kind: source.label for kind, source in SOURCES.items()}
