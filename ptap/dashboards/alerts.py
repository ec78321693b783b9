"""The kinds of alert a team's dashboard shows, their order of urgency and their facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class AlertKind(StrEnum):
    """What needs a coordinator's attention about one patient."""

    URGENT_MESSAGES = "urgent_messages"
    WAITING_REQUESTS = "waiting_requests"
    CARE_BREAKS = "care_breaks"
    BREAK_GLASS = "break_glass"
    DMP_FILINGS = "dmp_filings"
    OVERDUE_ACTIONS = "overdue_actions"
    LATE_STEPS = "late_steps"
    REVIEW_DUE = "review_due"
    NO_PLAN = "no_plan"
    CONSENT = "consent"
    IDENTITY = "identity"


#: Short French names (filters, counters, API documentation), in order of urgency.
ALERT_LABELS: dict[str, str] = {
    AlertKind.URGENT_MESSAGES: "Messages urgents sans accusé de réception",
    AlertKind.WAITING_REQUESTS: "Sollicitations sans première réponse",
    AlertKind.CARE_BREAKS: "Ruptures de parcours récentes",
    AlertKind.BREAK_GLASS: "Accès en urgence à examiner",
    AlertKind.DMP_FILINGS: "Envois au DMP en échec ou bloqués",
    AlertKind.OVERDUE_ACTIONS: "Actions en retard",
    AlertKind.LATE_STEPS: "Étapes de parcours en retard",
    AlertKind.REVIEW_DUE: "Réévaluations à prévoir",
    AlertKind.NO_PLAN: "Sans PPCS 30 jours après l'inclusion",
    AlertKind.CONSENT: "Accord au partage manquant ou retiré",
    AlertKind.IDENTITY: "Identité non qualifiée",
}

#: Rank of each kind: a patient's row sorts by its most urgent alert.
SEVERITY: dict[str, int] = {kind: rank for rank, kind in enumerate(ALERT_LABELS)}

#: A re-evaluation due within this many days is announced.
REVIEW_NOTICE_DAYS = 14
#: A care-pathway break that occurred within this many days is recent.
RECENT_BREAK_DAYS = 14
#: A patient enrolled this many days ago without a published plan is an alert.
NO_PLAN_AFTER_DAYS = 30


@dataclass(frozen=True)
class Alert:
    """One alert of one patient: the facts the page and the API turn into text and a link.

    :param count: how many items (actions, messages, filings, accesses); 1 for a state.
    :param since: when it started (oldest due date, message time, enrolment...), if known.
    :param target_id: the object to open to fix it (conversation, access), if any.
    :param detail: a code refining the kind (``overdue``/``soon``, ``withdrawn``/``missing``,
        ``failed``/``blocked``, an identity status, ``draft``/``none``) or a person's name.
    """

    kind: str
    patient_id: int
    count: int = 1
    since: date | datetime | None = None
    target_id: int | None = None
    detail: str = ""
    #: Second count when a kind has two (blocked filings beside failed ones).
    other_count: int = 0

    @property
    def severity(self) -> int:
        return SEVERITY[self.kind]
