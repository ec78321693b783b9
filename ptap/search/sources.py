"""The search sources of the coordination file, one per domain; each applies its rules.

Every source here runs a fixed number of queries whatever the number of hits (the search's
query-count test), and returns only what the user may read: the engine shows every document
it is given. The caller has already checked that the user may read the patient; each source
checks its own rule on top (conversation, meeting, letters, filings).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_events.models import CARE_EVENT_KIND_LABELS, CareEvent, CareEventKind, is_break
from ptap.care_plans.content import ACTION_STATUS_LABELS, PlanContent, load_content
from ptap.care_plans.models import CarePlan, CarePlanVersion
from ptap.care_teams import access
from ptap.care_teams.models import Patient
from ptap.care_teams.timeline import patient_timeline
from ptap.core.clock import PARIS
from ptap.core.formatting import label
from ptap.core.policy import can, is_clinician
from ptap.dmp_bridge import DmpSubmission, Operation
from ptap.extensions import db
from ptap.filings.labels import KIND_LABELS, status_label
from ptap.filings.queries import filed_document_search_rows
from ptap.letters.models import LETTER_KIND_LABELS, LETTER_STATUS_LABELS, Letter
from ptap.meetings import queries as meeting_queries
from ptap.meetings.decisions import describe
from ptap.meetings.models import MeetingDecision
from ptap.messaging.models import Conversation, ConversationKind, Message
from ptap.messaging.permissions import can_read_conversation
from ptap.search.registry import SearchDocument, search_source

#: Messages read per query: the whole conversation is searched, a batch at a time (memory
#: stays bounded however long the conversation; the cost is one query per batch).
MESSAGE_BATCH = 1000
#: Timeline kinds another source already covers with more text (not searched twice).
_COVERED_TIMELINE_KINDS = frozenset(
    {"care_event", "care_event_break", "dmp_filing", "dmp_filing_failed", "messages"}
)


def _noon(day: object) -> datetime:
    """A day as an instant: noon in Paris (the day shows right in every timezone)."""
    return datetime.combine(day, time(12), tzinfo=PARIS)  # type: ignore[arg-type]


def plan_text(content: PlanContent) -> str:
    """Return the searchable text of a plan version: problems, expectations, objectives,
    actions (what, who outside PTAP, status, why not achieved), unmet objectives."""
    lines = [p.description for p in content.problems]
    lines += [content.expectations, content.preferences]
    for objective in content.objectives:
        lines.append(objective.title)
        for action in objective.actions:
            status = label(ACTION_STATUS_LABELS, action.status)
            lines.append(f"{action.what} ({status})")
            lines += [action.assignee_label, action.not_achieved_reason]
    for unmet in content.unmet_objectives:
        lines += [unmet.objective, unmet.reason]
    return "\n".join(line for line in lines if line)


@search_source("care_plan", "Plans de coordination")
def care_plan_versions(user: User, patient: Patient) -> list[SearchDocument]:
    """The published versions of the patient's plans the user may read; a version whose
    content a later version repeats word for word is folded into that later one (the
    coordinator sees the plan once, with "same content as version 1")."""
    plans = db.session.scalars(sa.select(CarePlan).where(CarePlan.patient_id == patient.id))
    readable = [plan.id for plan in plans if can(user, "care_plan.read", plan)]
    if not readable:
        return []
    versions = db.session.scalars(
        sa.select(CarePlanVersion)
        .where(CarePlanVersion.plan_id.in_(readable))
        .order_by(CarePlanVersion.plan_id, CarePlanVersion.number.desc())
    )
    documents: list[SearchDocument] = []
    newest: dict[tuple[int, str], int] = {}  # (plan, text) -> index of its newest version
    same: dict[int, list[int]] = {}
    for v in versions:
        text = plan_text(load_content(v.content))
        known = newest.get((v.plan_id, text))
        if known is not None:
            same.setdefault(known, []).append(v.number)
            continue
        newest[(v.plan_id, text)] = len(documents)
        documents.append(
            SearchDocument(
                kind="care_plan",
                source_id=str(v.id),
                title=f"Plan de coordination, version {v.number}",
                body=text,
                occurred_at=v.created_at,
                endpoint="care_plans.show_version",
                params={"patient_id": patient.id, "number": v.number},
                context=f"Version {v.number} publiée"
                + (f" : {v.change_summary}" if v.change_summary else ""),
            )
        )
    for index, numbers in same.items():
        listed = ", ".join(str(n) for n in sorted(numbers))
        plural = "s" if len(numbers) > 1 else ""
        doc = documents[index]
        documents[index] = replace(
            doc, context=f"{doc.context} · même contenu que la version{plural} {listed}"
        )
    return documents


@search_source("meeting", "Concertations")
def meeting_decisions(user: User, patient: Patient) -> list[SearchDocument]:
    """The patient's agenda items (summary and decisions) of the meetings the user may see."""
    rows = meeting_queries.meetings_for_patient(patient.id, user)
    if not rows:
        return []
    decisions: dict[int, list[str]] = {}
    for decision in db.session.scalars(
        sa.select(MeetingDecision)
        .where(MeetingDecision.item_id.in_([item.id for _, item in rows]))
        .order_by(MeetingDecision.item_id, MeetingDecision.position)
    ):
        decisions.setdefault(decision.item_id, []).append(describe(decision.kind, decision.payload))
    return [
        SearchDocument(
            kind="meeting",
            source_id=str(item.id),
            title=f"Concertation : {meeting.title}",
            body="\n".join([item.summary, *decisions.get(item.id, [])]),
            occurred_at=item.decided_at or meeting.starts_at,
            endpoint="meetings.show_meeting",
            params={"meeting_id": meeting.id},
            context=(
                f"{len(decisions[item.id])} décision{'s' if len(decisions[item.id]) > 1 else ''}"
                if item.id in decisions
                else "Aucune décision enregistrée"
            ),
        )
        for meeting, item in rows
    ]


@search_source("letter", "Lettres")
def letters(user: User, patient: Patient) -> list[SearchDocument]:
    """The patient's letters (whoever reads the patient reads the letters about them)."""
    if not can(user, "letters.list", patient):
        return []
    rows = db.session.execute(
        sa.select(Letter, User)
        .join(User, User.id == Letter.author_id)
        .where(Letter.patient_id == patient.id)
    ).all()
    return [
        SearchDocument(
            kind="letter",
            source_id=str(letter.id),
            title=letter.subject,
            body="\n".join(t for t in (letter.addressee, letter.body) if t),
            occurred_at=letter.signed_at or letter.updated_at,
            endpoint="letters.show_letter",
            params={"letter_id": letter.id},
            context=(
                f"{label(LETTER_KIND_LABELS, letter.kind)} · "
                f"{label(LETTER_STATUS_LABELS, letter.status)} · {author.full_name}"
            ),
        )
        for letter, author in rows
    ]


@search_source("message", "Messages")
def messages(user: User, patient: Patient) -> Iterator[SearchDocument]:
    """Every message of the patient's conversation, if the user may read it (not retracted),
    newest first, read in batches of MESSAGE_BATCH (keyset on the id, no silent cap)."""
    conversation = db.session.scalar(
        sa.select(Conversation).where(
            Conversation.kind == ConversationKind.PATIENT,
            Conversation.patient_id == patient.id,
        )
    )
    if conversation is None or not can_read_conversation(user, conversation):
        return
    query = (
        sa.select(Message.id, Message.seq, Message.body, Message.created_at, User)
        .join(User, User.id == Message.author_id)
        .where(Message.conversation_id == conversation.id, Message.retracted_at.is_(None))
        .order_by(Message.id.desc())
    )
    before: int | None = None
    while True:
        batch = query if before is None else query.where(Message.id < before)
        rows = db.session.execute(batch.limit(MESSAGE_BATCH)).all()
        for message_id, seq, body, created_at, author in rows:
            yield SearchDocument(
                kind="message",
                source_id=str(message_id),
                title=f"Message de {author.full_name}",
                body=body,
                occurred_at=created_at,
                endpoint="messaging.show_conversation",
                params={"conversation_id": conversation.id},
                anchor=f"m{seq}",
                context="Conversation du patient",
            )
        if len(rows) < MESSAGE_BATCH:
            return
        before = rows[-1][0]


@search_source("dmp_filing", "Documents déposés au DMP")
def dmp_filings(user: User, patient: Patient) -> list[SearchDocument]:
    """The patient's DMP filings: title, type and outcome (dmp_submission.view's rule: a
    clinician with need-to-know on the patient, checked once for all rows)."""
    if not is_clinician(user) or access.access_basis(user.id, patient) is None:
        return []
    rows = db.session.scalars(
        sa.select(DmpSubmission).where(
            DmpSubmission.patient_id == patient.id, DmpSubmission.operation == Operation.FILE
        )
    )
    return [
        SearchDocument(
            kind="dmp_filing",
            source_id=str(row.id),
            title=row.title or label(KIND_LABELS, row.kind),
            body=label(KIND_LABELS, row.kind),
            occurred_at=row.filed_at or row.updated_at,
            endpoint="filings.patient_filings",
            params={"patient_id": patient.id},
            context=status_label(row.status),
        )
        for row in rows
    ]


@search_source("dmp_filed", "Documents versés depuis le DMP")
def dmp_filed_documents(user: User, patient: Patient) -> list[SearchDocument]:
    """The DMP documents a professional filed into the coordination file: title and, for a
    structured CDA, its narrative (decrypted for this search only; dmp_filed.view's rule)."""
    if not can(user, "dmp_filed.view", patient):
        return []
    return [
        SearchDocument(
            kind="dmp_filed",
            source_id=str(filed_id),
            title=title,
            body=text,
            occurred_at=when if when.tzinfo is not None else when.replace(tzinfo=UTC),
            endpoint="filings.filed_document",
            params={"patient_id": patient.id, "filed_id": filed_id},
            context="Document versé depuis le DMP",
        )
        for filed_id, title, text, when in filed_document_search_rows(patient.id)
    ]


@search_source("care_event", "Événements du parcours")
def care_events(user: User, patient: Patient) -> list[SearchDocument]:
    """The pathway events still standing (whoever reads the patient sees them)."""
    if not can(user, "care_events.list", patient):
        return []
    rows = db.session.scalars(
        sa.select(CareEvent).where(
            CareEvent.patient_id == patient.id, CareEvent.withdrawn_at.is_(None)
        )
    )
    documents = []
    for event in rows:
        kind_label = label(CARE_EVENT_KIND_LABELS, CareEventKind(event.kind))
        documents.append(
            SearchDocument(
                kind="care_event",
                source_id=str(event.id),
                title=f"Rupture de parcours : {kind_label}" if is_break(event.kind) else kind_label,
                body=event.note,
                occurred_at=_noon(event.occurred_on),
                endpoint="care_events.patient_events",
                params={"patient_id": patient.id},
                context="Événement du parcours",
            )
        )
    return documents


@search_source("timeline", "Chronologie")
def timeline(user: User, patient: Patient) -> list[SearchDocument]:
    """The record's timeline (enrolments, consents, plan publications...), without the
    entries another source already searches with their full text."""
    if not can(user, "patient.read", patient):
        return []
    return [
        SearchDocument(
            kind="timeline",
            source_id=f"{entry.kind}:{i}",
            title=entry.title,
            body=entry.detail,
            occurred_at=entry.at,
            endpoint="care_teams.show_patient",
            params={"patient_id": patient.id},
            anchor="historique",
            context=entry.actor,
        )
        for i, entry in enumerate(patient_timeline(patient.id))
        if entry.kind not in _COVERED_TIMELINE_KINDS
    ]
