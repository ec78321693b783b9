"""Two years of believable requests for `ptap demo`, with their clocks (some late, some open).

Every enrolment of the demo teams gets the request it came from (triaged as coordination,
answered, evaluated, converted); information and orientation requests that ended without an
enrolment come in between; and each team has a queue of open requests received in the last
working days, a few of them past their first-answer deadline. Rows are inserted directly with
the deadlines the services would compute (ptap.intake.clocks), so the load stays fast; dates
are relative to the clock and drawn from a seeded generator (deterministic).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from ptap.care_teams.models import (
    CareTeam,
    Enrolment,
    ProblemCategory,
    RequesterKind,
    TeamMembership,
    TeamRole,
)
from ptap.core import clock
from ptap.extensions import db
from ptap.intake.clocks import IntakeTargets, add_working_days, deadlines, is_working_day
from ptap.intake.models import (
    MissionType,
    RequestChannel,
    RequestOutcome,
    RequestStatus,
    SupportRequest,
    TeamIntakeTargets,
)

#: What people ask, without names (the record is created at the enrolment, if ever).
SUMMARIES = (
    ("Dame de {age} ans vivant seule, chutes répétées, refuse pour l'instant les aides.", 75, 96),
    ("Monsieur de {age} ans, sortie d'hospitalisation prévue sans aides en place.", 60, 95),
    ("Personne de {age} ans, plusieurs pathologies chroniques, traitements mal suivis.", 55, 92),
    ("Couple âgé ({age} ans), l'épouse aidante s'épuise, demande de relais.", 78, 94),
    ("Jeune adulte de {age} ans, troubles psychiques, rupture de suivi depuis des mois.", 19, 30),
    ("Dame de {age} ans, logement insalubre signalé par le bailleur, isolement.", 50, 90),
    ("Monsieur de {age} ans, perte d'autonomie rapide, demande d'orientation en EHPAD.", 75, 97),
    ("Personne de {age} ans en soins palliatifs à domicile, intervenants à coordonner.", 45, 95),
    ("Demande d'information sur les droits (APA, PCH) pour un parent de {age} ans.", 62, 95),
    ("Médecin traitant demande un appui pour un patient de {age} ans, situation complexe.", 40, 92),
)
ANSWERS = {
    MissionType.INFORMATION: "Information donnée par téléphone sur les aides et les démarches.",
    MissionType.ORIENTATION: "Orientation vers la ressource adaptée, coordonnées transmises.",
    MissionType.COORDINATION: "Visite d'évaluation à domicile proposée et planifiée.",
}
REQUESTER_NAMES = {
    RequesterKind.HOSPITAL: ("Service de gériatrie, Hôpital Fictif de Lyon-Est (démo)",),
    RequesterKind.PRIVATE_PROFESSIONAL: ("Cabinet infirmier de l'Exemple (démo)",),
    RequesterKind.MEDICO_SOCIAL: ("SSIAD Rhône Centre (démo)", "CCAS de Lyon 3e (démo)"),
    RequesterKind.CAREGIVER: ("La fille de la personne", "Le fils de la personne", "Un voisin"),
    RequesterKind.PATIENT: ("La personne elle-même",),
    RequesterKind.GP: ("Dr Odile Lointaine", "Dr Marc Ailleurs", "Dr Anne Horschamp"),
}
CHANNEL_WEIGHTS = {
    RequestChannel.PHONE: 55,
    RequestChannel.EMAIL: 12,
    RequestChannel.MSSANTE: 20,
    RequestChannel.FORM: 8,
    RequestChannel.OTHER: 5,
}
#: Requests ending without enrolment (information, orientation), for each enrolment: most
#: calls to a DAC end with an answer; enough of them for the agency's monthly tables to show
#: most cells (statistical secrecy hides counts from 1 to 10).
OTHER_REQUESTS_PER_ENROLMENT = 3
#: Open requests per team: received in the last working days.
OPEN_PER_TEAM = 14


@dataclass
class IntakeDemoSummary:
    """What the intake demo created."""

    converted: int = 0
    closed: int = 0
    open: int = 0
    late: int = 0


def _moment(day: date, rng: random.Random) -> datetime:
    """A working-hours moment of a Paris day, as UTC."""
    local = datetime.combine(day, time(8 + rng.randrange(10), rng.randrange(60)), clock.PARIS)
    return local.astimezone(UTC)


def _after(start: datetime, working_days: int, rng: random.Random, cap: datetime) -> datetime:
    """A moment `working_days` working days after `start` (same day for 0), before `cap`."""
    day = add_working_days(clock.paris_day(start), working_days)
    moment = _moment(day, rng)
    if moment <= start:
        moment = start + timedelta(minutes=rng.randint(10, 90))
    return min(moment, cap)


def _request(
    rng: random.Random, team_id: int, author_id: int, received_at: datetime, targets: IntakeTargets
) -> SupportRequest:
    kind = rng.choices(list(RequesterKind), (30, 20, 15, 12, 8, 15))[0]
    due = deadlines(received_at, targets)
    categories = rng.sample(list(ProblemCategory), rng.choices((1, 2, 3), (4, 4, 2))[0])
    return SupportRequest(
        team_id=team_id,
        received_at=received_at,
        created_at=received_at + timedelta(minutes=rng.randint(1, 30)),
        requester_kind=kind,
        requester_name=rng.choice(REQUESTER_NAMES[kind]),
        requester_contact=f"04 65 71 {rng.randrange(100):02d} {rng.randrange(100):02d}",
        channel=rng.choices(list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values()))[0],
        person_summary=_summary(rng),
        problem_categories=" ".join(c for c in ProblemCategory if c in categories),
        urgent=rng.random() < 0.12,
        status=RequestStatus.RECEIVED,
        created_by_id=author_id,
        first_answer_target_days=targets.first_answer_working_days,
        evaluation_target_days=targets.evaluation_working_days,
        ppcs_target_days=targets.ppcs_days,
        first_answer_due_at=due.first_answer_due_at,
        evaluation_due_at=due.evaluation_due_at,
        ppcs_due_at=due.ppcs_due_at,
    )


def _summary(rng: random.Random) -> str:
    text, youngest, oldest = rng.choice(SUMMARIES)
    return text.format(age=rng.randint(youngest, oldest))


def _answer_delay(rng: random.Random) -> int:
    """Working days to the first answer: mostly within 2, sometimes late."""
    return rng.choices((0, 1, 2, 3, 5), (35, 30, 20, 10, 5))[0]


def load_intake_demo(rng: random.Random, team_ids: Sequence[int]) -> IntakeDemoSummary | None:
    """Create the demo teams' requests unless they have some already (flushes, no commit)."""
    exists = db.session.scalar(
        sa.select(SupportRequest.id).where(SupportRequest.team_id.in_(team_ids)).limit(1)
    )
    if exists is not None or not team_ids:
        return None
    summary = IntakeDemoSummary()
    now = clock.now()
    targets = _targets(team_ids)
    coordinators = _coordinators(team_ids)
    for team_id in team_ids:
        staff = coordinators[team_id]
        enrolments = db.session.scalars(
            sa.select(Enrolment).where(Enrolment.team_id == team_id).order_by(Enrolment.id)
        ).all()
        for enrolment in enrolments:
            _converted(rng, enrolment, staff, targets[team_id], now)
            summary.converted += 1
        for _ in range(round(len(enrolments) * OTHER_REQUESTS_PER_ENROLMENT)):
            _closed(rng, team_id, staff, targets[team_id], now)
            summary.closed += 1
        for _ in range(OPEN_PER_TEAM):
            late = _open(rng, team_id, staff, targets[team_id], now)
            summary.open += 1
            summary.late += late
    db.session.flush()
    return summary


def _targets(team_ids: Sequence[int]) -> dict[int, IntakeTargets]:
    """The first team keeps the defaults; the others set their own (shown on their pages)."""
    result = {}
    for index, team_id in enumerate(team_ids):
        targets = IntakeTargets() if index == 0 else IntakeTargets(3, 15, 45)
        if index:
            db.session.add(
                TeamIntakeTargets(
                    team_id=team_id,
                    first_answer_working_days=targets.first_answer_working_days,
                    evaluation_working_days=targets.evaluation_working_days,
                    ppcs_days=targets.ppcs_days,
                )
            )
        result[team_id] = targets
    return result


def _coordinators(team_ids: Sequence[int]) -> dict[int, list[int]]:
    rows = db.session.execute(
        sa.select(TeamMembership.team_id, TeamMembership.user_id)
        .where(
            TeamMembership.team_id.in_(team_ids),
            TeamMembership.role == TeamRole.COORDINATOR,
            TeamMembership.ends_on.is_(None),
        )
        .order_by(TeamMembership.id)
    )
    result: dict[int, list[int]] = {team_id: [] for team_id in team_ids}
    for team_id, user_id in rows:
        result[team_id].append(user_id)
    return result


def _converted(
    rng: random.Random,
    enrolment: Enrolment,
    staff: list[int],
    targets: IntakeTargets,
    now: datetime,
) -> None:
    """The request an enrolment came from: received on its request day, enrolled since."""
    author = rng.choice(staff)
    received_at = min(_moment(enrolment.requested_on, rng), enrolment.enrolled_at)
    req = _request(rng, enrolment.team_id, author, received_at, targets)
    req.requester_kind = enrolment.requester_kind
    req.requester_name = enrolment.requester_name or req.requester_name
    req.problem_categories = enrolment.problem_categories or req.problem_categories
    req.patient_id, req.enrolment_id = enrolment.patient_id, enrolment.id
    req.mission_type = MissionType.COORDINATION
    cap = max(enrolment.enrolled_at, received_at + timedelta(minutes=5))
    req.triaged_at = _after(received_at, 0, rng, cap)
    req.triaged_by_id = author
    req.first_answer_at = _after(received_at, _answer_delay(rng), rng, cap)
    req.answer_note = ANSWERS[MissionType.COORDINATION]
    evaluated = _after(received_at, rng.randint(2, 14), rng, now - timedelta(hours=1))
    req.evaluated_at = evaluated if rng.random() < 0.9 else None
    req.status, req.outcome = RequestStatus.CONVERTED, RequestOutcome.ENROLLED
    req.closed_at, req.closed_by_id = cap, author
    req.updated_at = cap
    db.session.add(req)


def _closed(
    rng: random.Random, team_id: int, staff: list[int], targets: IntakeTargets, now: datetime
) -> None:
    """An information or orientation request answered and closed over the last two years."""
    author = rng.choice(staff)
    day = clock.paris_day(now) - timedelta(days=rng.randint(20, 720))
    received_at = _moment(day, rng)
    req = _request(rng, team_id, author, received_at, targets)
    mission = rng.choices(list(MissionType), (45, 45, 10))[0]
    req.mission_type = mission
    req.triaged_at, req.triaged_by_id = _after(received_at, 0, rng, now), author
    if rng.random() < 0.93:
        req.first_answer_at = _after(received_at, _answer_delay(rng), rng, now)
        req.answer_note = ANSWERS[mission]
        outcome = {
            MissionType.INFORMATION: RequestOutcome.INFORMATION_GIVEN,
            MissionType.ORIENTATION: RequestOutcome.ORIENTED,
            MissionType.COORDINATION: RequestOutcome.HANDLED_ELSEWHERE,
        }[mission]
    else:
        outcome = rng.choice((RequestOutcome.WITHDRAWN, RequestOutcome.DUPLICATE))
    req.status, req.outcome = RequestStatus.CLOSED, outcome
    req.closed_at = _after(req.first_answer_at or received_at, rng.randint(0, 5), rng, now)
    req.closed_by_id = author
    req.updated_at = req.closed_at
    db.session.add(req)


def _open(
    rng: random.Random, team_id: int, staff: list[int], targets: IntakeTargets, now: datetime
) -> bool:
    """A request still in the queue: received in the last working days. Return if late."""
    author = rng.choice(staff)
    today = clock.paris_day(now)
    back = rng.choices((0, 1, 2, 3, 4, 6, 9), (12, 18, 18, 14, 10, 8, 5))[0]
    day = today
    while back or not is_working_day(day):  # step back over working days only
        day -= timedelta(days=1)
        if is_working_day(day):
            back = max(0, back - 1)
    received_at = min(_moment(day, rng), now - timedelta(minutes=rng.randint(5, 120)))
    req = _request(rng, team_id, author, received_at, targets)
    stage = rng.choices(("received", "triaged", "answered"), (40, 35, 25))[0]
    mission = rng.choices(list(MissionType), (25, 30, 45))[0]
    if stage != "received":
        req.mission_type = mission
        req.triaged_at, req.triaged_by_id = _after(received_at, 0, rng, now), author
        req.status = RequestStatus.TRIAGED
        if rng.random() < 0.5:
            req.assigned_to_id = rng.choice(staff)
    if stage == "answered":
        req.first_answer_at = _after(received_at, rng.randint(0, 1), rng, now)
        req.answer_note = ANSWERS[mission]
        req.status = RequestStatus.ANSWERED
    db.session.add(req)
    return req.first_answer_at is None and now >= req.first_answer_due_at


def demo_team_ids(territory_name: str) -> list[int]:
    """Return the ids of the demo territory's teams, in creation order."""
    from ptap.care_teams.models import Territory

    return list(
        db.session.scalars(
            sa.select(CareTeam.id)
            .join(Territory, Territory.id == CareTeam.territory_id)
            .where(Territory.name == territory_name)
            .order_by(CareTeam.id)
        )
    )
