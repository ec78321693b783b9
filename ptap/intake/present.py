"""Ready-made French rows of the request pages: clocks, labels, states (no queries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ptap.care_teams.models import PROBLEM_CATEGORY_LABELS, REQUESTER_KIND_LABELS
from ptap.core import clock
from ptap.core.formatting import label, local_datetime
from ptap.intake.clocks import Clock
from ptap.intake.models import (
    MISSION_TYPE_LABELS,
    REQUEST_CHANNEL_LABELS,
    REQUEST_OUTCOME_LABELS,
    REQUEST_STATUS_LABELS,
    SupportRequest,
)
from ptap.intake.requestclocks import RequestClocks

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = (
    *("janvier", "février", "mars", "avril", "mai", "juin", "juillet"),
    *("août", "septembre", "octobre", "novembre", "décembre"),
)
CLOCK_LABELS = {
    "first_answer": "Première réponse",
    "evaluation": "Évaluation de la situation",
    "ppcs": "Premier PPCS validé",
}
NOT_RUNNING = {
    "first_answer": "Sans objet (demande clôturée sans réponse)",
    "evaluation": "Sans objet pour une demande d'information ou d'orientation",
    "ppcs": "Démarre à l'inclusion dans la file active",
}


def long_day(day: date) -> str:
    """Return a day as "mercredi 8 avril 2026"."""
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"


def last_day(due_at: datetime) -> date:
    """Return the last Paris day of a deadline (deadlines fall at the next midnight)."""
    return clock.paris_day(due_at - timedelta(microseconds=1))


def _elapsed(count: int, working: bool) -> str:
    if count == 0:
        return "aucun jour ouvré écoulé" if working else "aucun jour écoulé"
    return f"{_amount(count, working)} écoulé{'s' if count > 1 else ''}"


def _amount(count: int, working: bool) -> str:
    unit = "jour ouvré" if working else "jour"
    plural = "jours ouvrés" if working else "jours"
    return f"{count} {unit if count <= 1 else plural}"


@dataclass(frozen=True)
class ClockView:
    """A clock as the page shows it."""

    name: str
    label: str
    target: str
    #: done, done_late, running, late or idle (a CSS suffix and the state for tests).
    state: str
    text: str


def clock_view(c: Clock) -> ClockView:
    """Describe a clock in French."""
    target = f"Objectif : {_amount(c.target, c.working)}"
    due = long_day(last_day(c.due_at))
    if c.stopped_at is not None:
        when = local_datetime(c.stopped_at)
        took = (
            _amount(c.elapsed, c.working)
            if c.elapsed
            else ("moins d'un jour ouvré" if c.working else "moins d'un jour")
        )
        text = f"Fait le {when}, en {took}"
        if c.late:
            text += " (hors délai)"
        return ClockView(
            c.name, CLOCK_LABELS[c.name], target, "done_late" if c.late else "done", text
        )
    if c.late:
        text = f"Échéance dépassée ({due}) · {_elapsed(c.elapsed, c.working)}"
        return ClockView(c.name, CLOCK_LABELS[c.name], target, "late", text)
    if c.running:
        text = f"À faire au plus tard le {due} · {_elapsed(c.elapsed, c.working)}"
        return ClockView(c.name, CLOCK_LABELS[c.name], target, "running", text)
    return ClockView(c.name, CLOCK_LABELS[c.name], target, "idle", NOT_RUNNING[c.name])


@dataclass(frozen=True)
class RequestRow:
    """One request in the list, or the head of its page."""

    id: int
    received: str
    channel: str
    requester: str
    requester_contact: str
    summary: str
    motives: list[str]
    urgent: bool
    mission: str
    status: str
    status_key: str
    outcome: str
    late: bool
    first_answer: ClockView
    clocks: list[ClockView]


def _short(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def request_row(
    req: SupportRequest, clocks: RequestClocks, late: bool, *, full: bool = False
) -> RequestRow:
    """Build the row of a request (the whole summary text when `full`)."""
    requester = label(REQUESTER_KIND_LABELS, req.requester_kind)
    if req.requester_name:
        requester = f"{requester} : {req.requester_name}"
    views = [clock_view(c) for c in (clocks.first_answer, clocks.evaluation, clocks.ppcs)]
    return RequestRow(
        id=req.id,
        received=local_datetime(req.received_at),
        channel=label(REQUEST_CHANNEL_LABELS, req.channel),
        requester=requester,
        requester_contact=req.requester_contact,
        summary=req.person_summary if full else _short(req.person_summary),
        motives=[label(PROBLEM_CATEGORY_LABELS, c) for c in req.categories],
        urgent=req.urgent,
        mission=label(MISSION_TYPE_LABELS, req.mission_type) if req.mission_type else "",
        status=label(REQUEST_STATUS_LABELS, req.status),
        status_key=req.status,
        outcome=label(REQUEST_OUTCOME_LABELS, req.outcome) if req.outcome else "",
        late=late,
        first_answer=views[0],
        clocks=views,
    )
