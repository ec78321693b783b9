"""Care plans for `ptap demo`: PPCS in every lifecycle state, with their DMP filings.

Plans go through the real services (create, save the draft, publish, GP validation, patient
agreement, activation, revision, closure), each step run with the clock set to its moment in
the patient's follow-up, so versions and approvals carry believable dates (versions are
append-only: they cannot be backdated afterwards). A GP validation queues the DMP filing as in
production; a few outbox rows are then marked filed, failed or blocked so the filing panels
have something to show. Drawn from a seeded generator (deterministic).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext
from ptap.care_plans import services
from ptap.care_plans.content import (
    OPEN_STATUSES,
    Action,
    ActionStatus,
    ActionType,
    Dimension,
    Objective,
    PlanContent,
    Priority,
    Problem,
)
from ptap.care_plans.models import ApprovalKind, CarePlan, PlanStatus
from ptap.care_teams.models import Enrolment, Patient, TeamMembership, TeamRole
from ptap.core import clock
from ptap.dmp_bridge import DmpSubmission, SubmissionStatus
from ptap.extensions import db

AUDIT_LABEL = "ptap demo"
#: Target state of each plan, with weights (every lifecycle state is present).
STATES = {
    PlanStatus.DRAFT: 14,
    PlanStatus.VALIDATED: 10,
    PlanStatus.ACTIVE: 46,
    PlanStatus.UNDER_REVISION: 15,
    PlanStatus.CLOSED: 15,
}
SHARE_WITH_PLAN = 0.4
#: Share of the plans in force whose follow-up (an action done) made a second version.
FOLLOWED_UP = 0.5
PROBLEMS = (
    (Dimension.MEDICAL, "Polypathologie (insuffisance cardiaque, diabète), traitements nombreux."),
    (Dimension.MEDICAL, "Chutes répétées à domicile."),
    (Dimension.PSYCHOLOGICAL, "Isolement et humeur triste depuis le décès du conjoint."),
    (Dimension.SOCIAL, "Droits non ouverts (APA), ressources faibles."),
    (Dimension.ENVIRONMENTAL, "Logement inadapté : baignoire, escaliers sans rampe."),
)
OBJECTIVES = (
    ("Rester à domicile en sécurité", "Installer la téléassistance", ActionType.EQUIPMENT),
    ("Stabiliser les traitements", "Bilan de médication partagé", ActionType.ASSESSMENT),
    ("Soulager l'aidant", "Demande d'accueil de jour", ActionType.SOCIAL_SUPPORT),
    ("Ouvrir les droits", "Constituer le dossier APA", ActionType.SOCIAL_SUPPORT),
    ("Prévenir les chutes", "Séances de kinésithérapie à domicile", ActionType.CARE),
)


@dataclass
class CarePlansDemoSummary:
    """What the care-plans demo created, by plan status."""

    plans: dict[str, int] = field(default_factory=dict)
    filings: int = 0


def _ctx(user: User) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=AUDIT_LABEL)


def load_care_plans_demo(
    rng: random.Random, team_ids: Sequence[int]
) -> CarePlansDemoSummary | None:
    """Create plans for the demo teams' followed patients unless some exist (flushes)."""
    exists = db.session.scalar(
        sa.select(CarePlan.id)
        .join(Enrolment, Enrolment.id == CarePlan.enrolment_id)
        .where(Enrolment.team_id.in_(team_ids))
        .limit(1)
    )
    if exists is not None or not team_ids:
        return None
    summary = CarePlansDemoSummary()
    now = clock.now()
    staff = _staff(team_ids)
    enrolments = db.session.scalars(
        sa.select(Enrolment)
        .join(Patient, Patient.id == Enrolment.patient_id)
        .where(
            Enrolment.team_id.in_(team_ids),
            Enrolment.ended_at.is_(None),
            Patient.sharing_consent.is_(True),
            Patient.merged_into_id.is_(None),
        )
        .order_by(Enrolment.id)
    ).all()
    for enrolment in enrolments:
        coordinators, physicians, others = staff[enrolment.team_id]
        if rng.random() >= SHARE_WITH_PLAN or not coordinators or not physicians:
            continue
        state = rng.choices(list(STATES), list(STATES.values()))[0]
        team = _Team(rng.choice(coordinators), rng.choice(physicians), others)
        _plan(rng, enrolment, team, state, now)
        summary.plans[state] = summary.plans.get(state, 0) + 1
    db.session.flush()
    summary.filings = _file_some(rng, team_ids, now)
    return summary


def _staff(team_ids: Sequence[int]) -> dict[int, tuple[list[User], list[User], list[User]]]:
    """Current coordinators, physicians and other professionals of each team."""
    today = clock.paris_today()
    rows = db.session.execute(
        sa.select(TeamMembership, User)
        .join(User, User.id == TeamMembership.user_id)
        .where(
            TeamMembership.team_id.in_(team_ids),
            TeamMembership.starts_on <= today,
            TeamMembership.ends_on.is_(None),
            User.active.is_(True),
        )
        .order_by(TeamMembership.id)
    ).all()
    result: dict[int, tuple[list[User], list[User], list[User]]] = {
        t: ([], [], []) for t in team_ids
    }
    for membership, user in rows:
        if membership.role == TeamRole.COORDINATOR:
            result[membership.team_id][0].append(user)
        elif user.profession == "physician":
            result[membership.team_id][1].append(user)
        else:
            result[membership.team_id][2].append(user)
    return result


@dataclass(frozen=True)
class _Team:
    """Who works on one plan: its coordinator (the lead), the GP, the other professionals."""

    coordinator: User
    physician: User
    others: list[User]

    def doers(self) -> list[User]:
        return [self.physician, self.coordinator, *self.others[:2]]


def _due(rng: random.Random, start: date, today: date, state: str) -> date:
    """An action's due date: around today in a plan still open (some overdue, some due this
    week, most later), within the follow-up in a closed one."""
    if state == PlanStatus.CLOSED:
        return start + timedelta(days=rng.randint(10, 120))
    due = today + timedelta(days=rng.choice((-20, -9, -3, -1, 0, 2, 5, 6, 12, 25, 40, 60)))
    return max(due, start + timedelta(days=7))


def _content(
    rng: random.Random, team: _Team, start: date, n: int, today: date, state: str
) -> PlanContent:
    lead = team.coordinator
    problems = rng.sample(PROBLEMS, rng.randint(1, 3))
    objectives = []
    for i, (title, what, kind) in enumerate(rng.sample(OBJECTIVES, rng.randint(1, 3)), 1):
        due = _due(rng, start, today, state)
        doer = rng.choice(team.doers())
        assignee_id = doer.id if rng.random() < 0.75 else None
        label = "" if rng.random() < 0.6 else "SSIAD Rhône Centre (démo)"
        action = Action(
            key=f"a{n}-{i}",
            what=what,
            action_type=kind,
            assignee_user_id=assignee_id,
            assignee_label=label,
            due_on=due,
            status=ActionStatus.PLANNED,
            # Nobody yet: said explicitly, so it is on the coordinators' "Actions à définir".
            to_define=assignee_id is None and not label,
        )
        objectives.append(
            Objective(key=f"o{n}-{i}", title=title, problem_keys=[f"p{n}-1"], actions=[action])
        )
    return PlanContent(
        lead_user_id=lead.id,
        problems=[
            Problem(key=f"p{n}-{i}", dimension=dim, description=text, priority=Priority.MEDIUM)
            for i, (dim, text) in enumerate(problems, 1)
        ],
        expectations="Rester chez elle le plus longtemps possible.",
        preferences="Pas de visite le mercredi (petits-enfants).",
        objectives=objectives,
        next_review_on=start + timedelta(days=rng.choice((60, 90, 120, 180))),
    )


def _steps(start: datetime, now: datetime, count: int, rng: random.Random) -> list[datetime]:
    """`count` increasing moments between `start` and `now` (a few days apart when possible)."""
    span = max((now - start).total_seconds(), 60.0 * count)
    cuts = sorted(rng.uniform(0.05, 0.95) for _ in range(count))
    moments = [start + timedelta(seconds=span * c) for c in cuts]
    return [min(m, now - timedelta(minutes=count - i)) for i, m in enumerate(moments)]


def _plan(rng: random.Random, enrolment: Enrolment, team: _Team, state: str, now: datetime) -> None:
    """Take one plan to `state` through the services, each step at its own moment."""
    coordinator, physician = team.coordinator, team.physician
    today = clock.paris_day(now)
    start = enrolment.enrolled_at + timedelta(days=rng.randint(2, 20))
    if start >= now - timedelta(hours=6):
        start = enrolment.enrolled_at + (now - enrolment.enrolled_at) / 3
    moments = iter(_steps(start, now, 7, rng))
    ctx = _ctx(coordinator)
    with clock.frozen(next(moments)):
        plan = services.create_plan(coordinator, enrolment, ctx)
        content = _content(rng, team, clock.paris_today(), enrolment.id, today, state)
        services.save_draft(coordinator, plan, content, plan.draft_revision, ctx)
    if state == PlanStatus.DRAFT:
        if rng.random() < 0.5:
            with clock.frozen(next(moments)):
                services.publish_version(coordinator, plan, "Première version", ctx)
        return
    with clock.frozen(next(moments)):
        services.publish_version(coordinator, plan, "Première version", ctx)
    with clock.frozen(next(moments)):
        services.record_approval(
            physician, plan, ApprovalKind.GP_VALIDATION, "in_person", "", _ctx(physician)
        )
    if state == PlanStatus.VALIDATED:
        return
    with clock.frozen(next(moments)):
        services.record_approval(
            coordinator, plan, ApprovalKind.PATIENT_AGREEMENT, "in_person", "", ctx
        )
        services.activate_plan(coordinator, plan, ctx)
    if state == PlanStatus.ACTIVE:
        if rng.random() < FOLLOWED_UP:
            with clock.frozen(next(moments)):
                _follow_up(plan, coordinator, ctx)
        return
    if state == PlanStatus.CLOSED:
        with clock.frozen(next(moments)):
            services.close_plan(
                coordinator, plan, "Objectifs atteints, relais au médecin traitant.", ctx
            )
        return
    with clock.frozen(next(moments)):  # under revision: a new version awaits its approvals
        services.start_revision(coordinator, plan, ctx)
        revised = PlanContent.model_validate(plan.draft)
        revised.expectations += " Souhaite essayer l'accueil de jour."
        services.save_draft(coordinator, plan, revised, plan.draft_revision, ctx)
        services.publish_version(coordinator, plan, "Révision après hospitalisation", ctx)


def _follow_up(plan: CarePlan, coordinator: User, ctx: AuditContext) -> None:
    """Publish the follow-up of a plan in force: its first open action is done (a version the
    history compares with the previous one, filed to the DMP as in production)."""
    content = PlanContent.model_validate(plan.draft)
    for _, action in content.actions():
        if action.status in OPEN_STATUSES:
            action.status = ActionStatus.DONE
            break
    else:
        return
    services.save_draft(coordinator, plan, content, plan.draft_revision, ctx)
    services.publish_version(coordinator, plan, "Suivi : action réalisée", ctx)


def _file_some(rng: random.Random, team_ids: Sequence[int], now: datetime) -> int:
    """Mark the queued filings as the DMP would have answered: most filed, a few failed or
    blocked, the latest ones still pending. Return how many rows there are."""
    rows = db.session.scalars(
        sa.select(DmpSubmission)
        .where(
            DmpSubmission.team_id.in_(team_ids),
            DmpSubmission.status == SubmissionStatus.PENDING,
        )
        .order_by(DmpSubmission.id)
    ).all()
    for row in rows:
        if now - row.requested_at < timedelta(days=2):
            continue  # the sender has not run yet
        draw = rng.random()
        if draw < 0.86:
            row.status = SubmissionStatus.FILED
            row.filed_at = row.requested_at + timedelta(minutes=rng.randint(1, 30))
            row.attempts = row.budget_used = 1
        elif draw < 0.94:
            row.status = SubmissionStatus.FAILED
            row.status_reason = "Le DMP n'a pas répondu après plusieurs tentatives (démo)."
            row.error_code = "demo-unavailable"
            row.attempts = row.budget_used = 5
        else:
            row.status = SubmissionStatus.BLOCKED
            row.status_reason = (
                "Le DMP a refusé le document : identité du patient à vérifier (démo)."
            )
            row.error_code = "demo-rejected"
            row.attempts = row.budget_used = 1
    db.session.flush()
    return len(rows)
