"""What the dashboard shows: filters, sorting, and each alert as a French sentence with the
link to the page where it is fixed. Shared by the page and the API (plain data, no queries)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app, g, url_for

from ptap.accounts.models import PROFESSION_LABELS
from ptap.care_events.models import CARE_EVENT_KIND_LABELS
from ptap.care_teams.models import (
    IDENTITY_STATUS_LABELS,
    PROBLEM_CATEGORY_LABELS,
    REQUESTER_KIND_LABELS,
    TEAM_ROLE_LABELS,
    born_on_label,
)
from ptap.core import clock
from ptap.core.bounds import MAX_DB_INT
from ptap.core.errors import InvalidInput
from ptap.core.formatting import PARIS, fr_date, label, local_date, local_datetime
from ptap.dashboards.alerts import ALERT_LABELS, Alert, AlertKind
from ptap.dashboards.queries import (
    CaseloadRow,
    PatientRow,
    TeamDashboard,
    WaitingRequest,
    Workload,
)
from ptap.intake.models import REQUEST_CHANNEL_LABELS

SORTS = {
    "priority": "Par urgence",
    "name": "Par nom",
    "enrolment": "Par ancienneté d'inclusion",
    "alerts": "Par nombre d'alertes",
}
#: Short names of the kinds, on the tag beside each alert.
KIND_TAGS: dict[str, str] = {
    AlertKind.URGENT_MESSAGES: "Message urgent",
    AlertKind.WAITING_REQUESTS: "Sollicitation",
    AlertKind.CARE_BREAKS: "Rupture de parcours",
    AlertKind.BREAK_GLASS: "Accès en urgence",
    AlertKind.DMP_FILINGS: "DMP",
    AlertKind.OVERDUE_ACTIONS: "Action en retard",
    AlertKind.LATE_STEPS: "Parcours",
    AlertKind.REVIEW_DUE: "Réévaluation",
    AlertKind.NO_PLAN: "Sans PPCS",
    AlertKind.CONSENT: "Consentement",
    AlertKind.IDENTITY: "Identité",
}
#: Where each kind is fixed: the link's label.
FIX_LABELS: dict[str, str] = {
    AlertKind.URGENT_MESSAGES: "Ouvrir la conversation",
    AlertKind.WAITING_REQUESTS: "Répondre",
    AlertKind.CARE_BREAKS: "Voir les évènements",
    AlertKind.BREAK_GLASS: "Examiner l'accès",
    AlertKind.DMP_FILINGS: "Voir les envois",
    AlertKind.OVERDUE_ACTIONS: "Ouvrir le plan",
    AlertKind.LATE_STEPS: "Voir le parcours",
    AlertKind.REVIEW_DUE: "Ouvrir le plan",
    AlertKind.NO_PLAN: "Ouvrir le plan",
    AlertKind.CONSENT: "Recueillir l'accord",
    AlertKind.IDENTITY: "Qualifier l'identité",
}
NO_SECTOR = "Commune non renseignée"


@dataclass(frozen=True)
class Filters:
    """The dashboard's filters and sort, from the query string."""

    kind: str | None = None
    professional: int | None = None
    sector: str | None = None
    show_all: bool = False
    sort: str = "priority"

    def query(self) -> dict[str, str]:
        """The filters as query-string parameters (links keep them)."""
        args = {"sort": self.sort}
        if self.kind:
            args["alert"] = self.kind
        if self.professional is not None:
            args["professional"] = str(self.professional)
        if self.sector:
            args["sector"] = self.sector
        if self.show_all:
            args["show"] = "all"
        return args


def parse_filters(args: Mapping[str, str], *, strict: bool) -> Filters:
    """Read the filters; an invalid value raises InvalidInput (`strict`, the API) or is
    ignored (the page falls back to its default)."""

    def bad(field: str, message: str) -> None:
        if strict:
            raise InvalidInput(message, field=field)

    kind = args.get("alert") or None
    if kind is not None and kind not in ALERT_LABELS:
        bad("alert", "alert doit valoir l'un de : " + ", ".join(ALERT_LABELS) + ".")
        kind = None
    raw = args.get("professional") or None
    professional = None
    if raw is not None:
        if raw.isascii() and raw.isdecimal() and 1 <= int(raw) <= MAX_DB_INT:
            professional = int(raw)
        else:
            bad("professional", "professional doit être un identifiant numérique.")
    sort = args.get("sort") or "priority"
    if sort not in SORTS:
        bad("sort", "sort doit valoir l'un de : " + ", ".join(SORTS) + ".")
        sort = "priority"
    show = args.get("show") or ""
    if show not in ("", "all", "alerts"):
        bad("show", "show doit valoir all ou alerts.")
    sector = (args.get("sector") or "").strip()[:120] or None
    return Filters(kind, professional, sector, show == "all", sort)


def sector_of(patient: CaseloadRow) -> str:
    """The patient's commune (postal code and city), the territory filter's value."""
    return f"{patient.postal_code} {patient.city}".strip() or NO_SECTOR


def sectors(dashboard: TeamDashboard) -> list[str]:
    """The communes of the caseload, for the filter."""
    return sorted({sector_of(r.patient) for r in dashboard.rows})


def _oldest(row: PatientRow) -> date:
    dates = [
        a.since.date() if isinstance(a.since, datetime) else a.since
        for a in row.alerts
        if a.since is not None
    ]
    return min(dates, default=date.max)


def select_rows(dashboard: TeamDashboard, filters: Filters) -> list[PatientRow]:
    """Apply the filters and the sort (in memory: the queries do not depend on them)."""
    rows = [
        r
        for r in dashboard.rows
        if (filters.show_all or r.alerts)
        and (filters.kind is None or filters.kind in r.kinds)
        and (filters.professional is None or filters.professional in r.assignee_ids)
        and (filters.sector is None or sector_of(r.patient) == filters.sector)
    ]
    if filters.sort == "name":
        rows.sort(key=lambda r: (r.patient.display_name, r.patient.patient_id))
    elif filters.sort == "enrolment":
        rows.sort(key=lambda r: (r.patient.enrolled_at, r.patient.patient_id))
    elif filters.sort == "alerts":
        rows.sort(key=lambda r: (-len(r.alerts), r.severity, r.patient.display_name))
    else:
        rows.sort(key=lambda r: (r.severity, _oldest(r), r.patient.display_name))
    return rows


# --- alerts as sentences and links ---------------------------------------------------------


def _plural(n: int, one: str, many: str) -> str:
    # French: 0 and 1 take the singular ("0 jour ouvré").
    return f"{n} {one if n <= 1 else many}"


def _days(n: int) -> str:
    return _plural(n, "jour", "jours")


def describe(alert: Alert, today: date) -> tuple[str, bool]:
    """Return the alert as a French sentence, and whether it is late (shown in red)."""
    since = alert.since
    kind = alert.kind
    if kind == AlertKind.OVERDUE_ACTIONS:
        due = since if isinstance(since, date) else today
        late = _days((today - due).days)
        if alert.count == 1:
            return f"1 action en retard, prévue le {fr_date(due)} ({late} de retard)", True
        return (
            f"{alert.count} actions en retard, la plus ancienne prévue le {fr_date(due)} "
            f"({late} de retard)",
            True,
        )
    if kind == AlertKind.REVIEW_DUE:
        due = since if isinstance(since, date) else today
        if alert.detail == "overdue":
            return f"Réévaluation du PPCS en retard : prévue le {fr_date(due)}", True
        left = (due - today).days
        when = "aujourd'hui" if left == 0 else f"dans {_days(left)}"
        return f"Réévaluation du PPCS le {fr_date(due)} ({when})", False
    if kind == AlertKind.URGENT_MESSAGES:
        sent = local_datetime(since) if isinstance(since, datetime) else ""
        what = _plural(alert.count, "message urgent", "messages urgents")
        first = "envoyé" if alert.count == 1 else "le premier envoyé"
        return f"{what} sans accusé de réception, {first} le {sent}", True
    if kind == AlertKind.WAITING_REQUESTS:
        received = local_datetime(since) if isinstance(since, datetime) else ""
        what = _plural(alert.count, "sollicitation", "sollicitations")
        overdue = alert.detail == "late"
        state = "en retard" if overdue else "en attente"
        return f"{what} sans première réponse ({state}), reçue le {received}", overdue
    if kind == AlertKind.CARE_BREAKS:
        occurred = since if isinstance(since, date) else today
        what = label(CARE_EVENT_KIND_LABELS, alert.detail)
        more = f" (et {alert.count - 1} autre(s) rupture(s))" if alert.count > 1 else ""
        return f"{what} le {fr_date(occurred)}{more} : adapter le plan ?", True
    if kind == AlertKind.LATE_STEPS:
        due = since if isinstance(since, date) else today
        what = _plural(alert.count, "étape de parcours en retard", "étapes de parcours en retard")
        return f"{what} : « {alert.detail} » prévue le {fr_date(due)}", True
    if kind == AlertKind.DMP_FILINGS:
        parts = []
        if alert.count:
            parts.append(_plural(alert.count, "envoi au DMP en échec", "envois au DMP en échec"))
        if alert.other_count:
            parts.append(_plural(alert.other_count, "envoi au DMP bloqué", "envois au DMP bloqués"))
        return " ; ".join(parts), True
    if kind == AlertKind.NO_PLAN:
        enrolled = since if isinstance(since, date) else today
        days = _days((today - enrolled).days)
        if alert.detail == "draft":
            return f"PPCS en brouillon, jamais publié : inclusion il y a {days}", True
        return f"Aucun PPCS : inclusion il y a {days} (le {fr_date(enrolled)})", True
    if kind == AlertKind.CONSENT:
        if alert.detail == "withdrawn":
            at = local_date(since) if isinstance(since, datetime) else ""
            return f"Accord au partage retiré le {at}", True
        return "Accord au partage non recueilli", False
    if kind == AlertKind.IDENTITY:
        return f"{label(IDENTITY_STATUS_LABELS, alert.detail)} : à qualifier (INSi)", False
    # Break-the-glass.
    opened = local_datetime(since) if isinstance(since, datetime) else ""
    if alert.count == 1:
        return f"Accès en urgence de {alert.detail} le {opened}, à examiner", True
    return f"{alert.count} accès en urgence à examiner, le premier de {alert.detail}", True


#: Stands for the id while a URL template is built (the largest INTEGER, never a real id).
_SENTINEL = "2147483647"


def _url(endpoint: str, **value: Any) -> str:
    """`url_for` with one id argument, built once per endpoint and request then formatted:
    a 500-patient page has thousands of links, and url_for costs ~25 µs each."""
    [(name, arg)] = value.items()
    templates: dict[tuple[str, str], str] = g.setdefault("dashboard_url_templates", {})
    template = templates.get((endpoint, name))
    if template is None:
        values: dict[str, Any] = {name: int(_SENTINEL)}
        template = url_for(endpoint, **values).replace(_SENTINEL, "{}")
        templates[(endpoint, name)] = template
    return template.format(arg)


def _url_if(endpoint: str, fallback: str, **values: Any) -> str:
    """The URL of `endpoint` if this build has it, else `fallback` (intake pages)."""
    if endpoint in current_app.view_functions:
        return _url(endpoint, **values)
    return fallback


def request_url(request_id: int | None) -> str:
    """The page of a support request (the request list when there is no such page)."""
    fallback = url_for("dashboards.home")
    return _url_if("intake.show_request", fallback, request_id=request_id)


def fix_url(alert: Alert) -> str:
    """The page where the alert's cause is fixed."""
    pid = alert.patient_id
    kind = alert.kind
    if kind == AlertKind.WAITING_REQUESTS:
        return request_url(alert.target_id)
    if kind == AlertKind.CARE_BREAKS:
        record = _url("care_teams.show_patient", patient_id=pid) + "#historique"
        return _url_if("care_events.patient_events", record, patient_id=pid)
    if kind in (AlertKind.OVERDUE_ACTIONS, AlertKind.REVIEW_DUE, AlertKind.NO_PLAN):
        return _url("care_plans.show_plan", patient_id=pid)
    if kind == AlertKind.URGENT_MESSAGES:
        return _url("messaging.show_conversation", conversation_id=alert.target_id)
    if kind == AlertKind.DMP_FILINGS:
        return _url("filings.patient_filings", patient_id=pid)
    if kind == AlertKind.LATE_STEPS:
        return _url("pathways.patient_pathways", patient_id=pid)
    if kind == AlertKind.CONSENT:
        return _url("care_teams.consents", patient_id=pid)
    if kind == AlertKind.IDENTITY:
        return _url("care_teams.edit_identity", patient_id=pid)
    return url_for("care_teams.break_glass_reviews") + f"#grant-{alert.target_id}-title"


@dataclass(frozen=True)
class AlertView:
    """An alert ready to show: its tag, sentence, link and style."""

    kind: str
    tag: str
    text: str
    url: str
    fix: str
    late: bool
    since: str


@dataclass(frozen=True)
class RowView:
    """A patient's line ready to show."""

    patient_id: int
    name: str
    #: "Née le", "Né le" or "Né(e) le" (Patient.born_on_label's form).
    born_on: str
    birth_date: str
    sector: str
    enrolled_on: str
    record_url: str
    alerts: list[AlertView]
    kinds: str
    sort_key: str


def _since(alert: Alert) -> str:
    if isinstance(alert.since, datetime):
        return alert.since.isoformat()
    return alert.since.isoformat() if alert.since else ""


def alert_view(alert: Alert, today: date) -> AlertView:
    """Build the shown form of one alert."""
    text, late = describe(alert, today)
    tag = KIND_TAGS[alert.kind]
    return AlertView(
        alert.kind, tag, text, fix_url(alert), FIX_LABELS[alert.kind], late, _since(alert)
    )


def row_view(row: PatientRow, today: date, sort: str = "priority") -> RowView:
    """Build the shown form of one patient's line."""
    p = row.patient
    return RowView(
        patient_id=p.patient_id,
        name=p.display_name,
        born_on=born_on_label(p.sex),
        birth_date=p.birth_date,
        sector=sector_of(p),
        enrolled_on=local_date(p.enrolled_at),
        record_url=_url("care_teams.show_patient", patient_id=p.patient_id),
        alerts=[alert_view(a, today) for a in row.alerts],
        kinds=" ".join(sorted(row.kinds)),
        sort_key=sort_key(row, sort),
    )


@dataclass(frozen=True)
class WorkloadView:
    """A professional's line of the workload table."""

    user_id: int
    name: str
    profession: str
    role: str
    open_actions: int
    overdue: int


def workload_view(w: Workload) -> WorkloadView:
    """Build the shown form of one professional's workload."""
    role = label(TEAM_ROLE_LABELS, w.team_role) if w.team_role else "Hors équipe (invité)"
    return WorkloadView(
        w.user_id,
        w.name,
        label(PROFESSION_LABELS, w.profession),
        role,
        w.open_actions,
        w.overdue,
    )


def sort_key(row: PatientRow, sort: str) -> str:
    """The row's place in the sort as a string, so that the page inserts a row that appears
    live where a reload would put it (compared as plain strings)."""
    p = row.patient
    if sort == "name":
        return f"{p.display_name}|{p.patient_id:010d}"
    if sort == "enrolment":
        return f"{p.enrolled_at.isoformat()}|{p.patient_id:010d}"
    if sort == "alerts":
        return f"{99 - len(row.alerts):02d}|{row.severity:02d}|{p.display_name}"
    return f"{row.severity:02d}|{_oldest(row).isoformat()}|{p.display_name}"


@dataclass(frozen=True)
class RequestView:
    """A waiting support request ready to show, with its first-answer clock."""

    request_id: int
    url: str
    requester: str
    channel: str
    categories: str
    received: str
    clock: str
    late: bool
    urgent: bool
    #: Due today: shown as a warning.
    due_today: bool


def _working_days(n: int) -> str:
    return _plural(n, "jour ouvré", "jours ouvrés")


def _answer_by(due_at: datetime, today: date) -> str:
    """'à répondre aujourd'hui', or 'répondre d'ici le 09/12/2026' for a deadline at local
    midnight (the end of that day), else with the time."""
    local = due_at.astimezone(PARIS)
    last_day = local.date() - timedelta(days=1) if (local.hour, local.minute) == (0, 0) else None
    if last_day == today:
        return "à répondre aujourd'hui"
    if last_day is not None:
        return f"répondre d'ici le {fr_date(last_day)} au soir"
    return f"répondre avant le {local_datetime(due_at)}"


def request_view(r: WaitingRequest, today: date | None = None) -> RequestView:
    """Build the shown form of one waiting request: "1 jour ouvré sur 2" or late."""
    today = today or clock.paris_today()
    kind = label(REQUESTER_KIND_LABELS, r.requester_kind)
    name = (r.requester_name or "").strip()
    # "La personne elle-même (la personne elle-même)" says it twice: the kind alone then.
    requester = f"{name} ({kind.lower()})" if name and name.casefold() != kind.casefold() else kind
    if r.late:
        clock_text = f"En retard : {_working_days(r.elapsed)} écoulés, objectif {r.target}"
    else:
        clock_text = f"{_working_days(r.elapsed)} sur {r.target} ({_answer_by(r.due_at, today)})"
    return RequestView(
        request_id=r.request_id,
        url=request_url(r.request_id),
        requester=requester,
        channel=label(REQUEST_CHANNEL_LABELS, r.channel),
        categories=", ".join(label(PROBLEM_CATEGORY_LABELS, c) for c in r.categories) or "—",
        received=local_datetime(r.received_at),
        clock=clock_text,
        late=r.late,
        urgent=r.urgent,
        due_today=not r.late and _answer_by(r.due_at, today) == "à répondre aujourd'hui",
    )


def requests_url() -> str | None:
    """The request list of the intake pages, when this build has them."""
    if "intake.list_requests" in current_app.view_functions:
        return url_for("intake.list_requests")
    return None
