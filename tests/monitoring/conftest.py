"""Random regional activity written straight into the tables the indicators read."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from ptap.care_events.models import CareEvent
from ptap.care_plans.models import CarePlan, CarePlanVersion, PlanApproval
from ptap.care_teams.models import CareTeam, Enrolment, Patient, Structure, Territory
from ptap.core import clock
from ptap.dmp_bridge import DmpDocumentSet, DmpSubmission
from ptap.extensions import db
from ptap.intake.models import SupportRequest
from ptap.messaging.models import Conversation, Message
from tests.factories import add_member, make_user, valid_nir

PROFESSIONS = ("physician", "nurse", "social_worker", "pharmacist")
SEXES = ("F", "M")
REASONS = ("goals_met", "moved", "institution", "deceased", "other")


class World:
    """Two territories, three teams, professionals, and a growing stream of activity."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        north = Territory(name="Nord-Isère", region_code="84", department_code="38")
        south = Territory(name="Rhône Sud", region_code="84", department_code="69")
        self.territories = [north, south]
        self.teams: list[CareTeam] = []
        for name, territory in (
            ("DAC Vienne", north),
            ("DAC Bourgoin", north),
            ("DAC Givors", south),
        ):
            structure = Structure(name=f"Structure {name}", kind="dac", territory=territory)
            team = CareTeam(name=name, territory=territory, structure=structure)
            db.session.add(team)
            self.teams.append(team)
        db.session.flush()
        self.users = [make_user(role="professional", profession=p) for p in PROFESSIONS]
        self.coordinators = []
        for team in self.teams:
            coord = make_user(role="coordinator", profession="nurse")
            add_member(team, coord, "coordinator")
            self.coordinators.append(coord)
        self.patients: list[Patient] = []
        self.open: list[Enrolment] = []
        self.plans: list[CarePlan] = []
        self.conversations: dict[int, Conversation] = {}
        self.submissions: list[DmpSubmission] = []
        self.requests: list[SupportRequest] = []
        self.events: list[CareEvent] = []
        self.n = 0

    # --- one event of each kind -------------------------------------------------------------
    def new_patient(self, at: datetime) -> Patient:
        self.n += 1
        sex = self.rng.choice(SEXES)
        year = self.rng.randint(1925, 1975)
        patient = Patient(
            birth_name=f"MARTINIERE{self.n}",
            first_names=f"Odile{self.n} Marie",
            birth_year=year,
            birth_month=self.rng.randint(1, 12),
            birth_day=self.rng.randint(1, 28),
            sex=sex,
            # The factory's NIR running order wraps after 999: larger worlds go without.
            ins_matricule=valid_nir(sex, year) if self.n < 900 else None,
            ins_oid="1.2.250.1.213.1.4.10",
            search_birth_name=f"MARTINIERE{self.n}",
            identity_status="qualified",
            address=f"{self.n} rue de l'Église",  # an accent and an apostrophe
            city="Vienne",
            created_at=at,
        )
        db.session.add(patient)
        db.session.flush()
        self.patients.append(patient)
        return patient

    def enrol(self, at: datetime) -> None:
        patient = self.new_patient(at)
        team = self.rng.choice(self.teams)
        enrolment = Enrolment(
            patient_id=patient.id,
            team_id=team.id,
            requested_on=at.date(),
            requester_kind="gp",
            requester_name="Dr Requérant Secret",
            enrolled_at=at,
            enrolled_by_id=self.coordinators[self.teams.index(team)].id,
            end_note="Note libre confidentielle",
        )
        db.session.add(enrolment)
        db.session.flush()
        self.open.append(enrolment)
        conversation = Conversation(kind="patient", patient_id=patient.id, created_at=at)
        db.session.add(conversation)
        db.session.flush()
        self.conversations[patient.id] = conversation

    def close(self, at: datetime) -> None:
        if not self.open:
            return
        enrolment = self.open.pop(self.rng.randrange(len(self.open)))
        enrolment.ended_at = at
        enrolment.end_reason = self.rng.choice(REASONS)

    def plan(self, at: datetime) -> None:
        candidates = [e for e in self.open if e.id not in {p.enrolment_id for p in self.plans}]
        if not candidates:
            return
        enrolment = self.rng.choice(candidates)
        plan = CarePlan(
            enrolment_id=enrolment.id,
            patient_id=enrolment.patient_id,
            created_by_id=self.users[0].id,
            created_at=at,
            status="active",
        )
        db.session.add(plan)
        db.session.flush()
        self.plans.append(plan)
        self.version(at, plan)

    def version(self, at: datetime, plan: CarePlan | None = None) -> None:
        plan = plan or (self.rng.choice(self.plans) if self.plans else None)
        if plan is None or plan.closed_at is not None:
            return
        number = 1 + (db.session.query(CarePlanVersion).filter_by(plan_id=plan.id).count())
        version = CarePlanVersion(
            plan_id=plan.id,
            number=number,
            content={"note": "texte libre"},
            content_hash=uuid.uuid4().hex,
            next_review_on=(at + timedelta(days=self.rng.randint(5, 90))).date(),
            created_by_id=self.users[0].id,
            created_at=at,
        )
        db.session.add(version)
        db.session.flush()
        if self.rng.random() < 0.7:
            db.session.add(
                PlanApproval(
                    version_id=version.id,
                    kind="gp_validation",
                    method="phone",
                    recorded_by_id=self.users[0].id,
                    recorded_at=at + timedelta(hours=2),
                )
            )
        self.submit(at, plan.patient_id, version.id, plan)

    def close_plan(self, at: datetime) -> None:
        open_plans = [p for p in self.plans if p.closed_at is None]
        if open_plans:
            plan = self.rng.choice(open_plans)
            plan.closed_at = at
            plan.status = "closed"

    def submit(self, at: datetime, patient_id: int, version_id: int, plan: CarePlan) -> None:
        enrolment = db.session.get(Enrolment, plan.enrolment_id)
        doc_set = DmpDocumentSet(
            set_key=f"care_plan_version:{version_id}",
            set_oid=f"2.25.{uuid.uuid4().int}",
            kind="care_plan",
            patient_id=patient_id,
            created_at=at,
        )
        db.session.add(doc_set)
        db.session.flush()
        row = DmpSubmission(
            set_id=doc_set.id,
            patient_id=patient_id,
            team_id=enrolment.team_id,
            kind="care_plan",
            source_ref=f"care_plan_version:{version_id}",
            document_oid=f"2.25.{uuid.uuid4().int}",
            status="pending",
            requested_at=at,
            updated_at=at,
            next_attempt_at=at,
        )
        db.session.add(row)
        db.session.flush()
        self.submissions.append(row)

    def settle_filing(self, at: datetime) -> None:
        pending = [s for s in self.submissions if s.status in ("pending", "failed")]
        if pending:
            row = self.rng.choice(pending)
            row.status = self.rng.choice(("filed", "failed", "blocked"))
            row.updated_at = at

    def message(self, at: datetime) -> None:
        if not self.open:
            return
        enrolment = self.rng.choice(self.open)
        conversation = self.conversations[enrolment.patient_id]
        conversation.last_seq += 1
        db.session.add(
            Message(
                conversation_id=conversation.id,
                seq=conversation.last_seq,
                client_id=uuid.uuid4().hex,
                author_id=self.rng.choice(self.users).id,
                body="Message libre très confidentiel",
                created_at=at,
            )
        )

    def request(self, at: datetime) -> None:
        team = self.rng.choice(self.teams)
        row = SupportRequest(
            team_id=team.id,
            received_at=at,
            requester_kind=self.rng.choice(("gp", "hospital", "caregiver", "patient")),
            requester_name="Dr Requérant Secret",
            requester_contact="06 12 34 56 78",
            channel=self.rng.choice(("phone", "email", "mssante")),
            patient_id=self.rng.choice(self.patients).id if self.patients else None,
            person_summary="Note libre confidentielle",
            status="received",
            first_answer_due_at=at + timedelta(days=2),
            evaluation_due_at=at + timedelta(days=10),
            ppcs_due_at=at + timedelta(days=60),
            created_by_id=self.coordinators[self.teams.index(team)].id,
            created_at=at,
            updated_at=at,
        )
        db.session.add(row)
        db.session.flush()
        self.requests.append(row)

    def answer(self, at: datetime) -> None:
        waiting = [r for r in self.requests if r.first_answer_at is None and r.received_at <= at]
        if waiting:
            row = self.rng.choice(waiting)
            row.first_answer_at = at
            row.mission_type = self.rng.choice(("information", "orientation", "coordination"))
            row.status = "answered"
            row.answer_note = "Note libre confidentielle"
            row.updated_at = at

    def pathway_break(self, at: datetime) -> None:
        if not self.open:
            return
        enrolment = self.rng.choice(self.open)
        event = CareEvent(
            patient_id=enrolment.patient_id,
            team_id=enrolment.team_id,
            kind=self.rng.choice(
                ("unplanned_hospitalisation", "emergency_visit", "caregiver_loss", "return_home")
            ),
            occurred_on=(at - timedelta(days=self.rng.randint(0, 40))).date(),
            recorded_at=at,
            recorded_by_id=self.coordinators[0].id,
            note="Note libre confidentielle",
        )
        db.session.add(event)
        db.session.flush()
        self.events.append(event)

    def withdraw_break(self, at: datetime) -> None:
        live = [e for e in self.events if e.withdrawn_at is None]
        if live:
            event = self.rng.choice(live)
            event.withdrawn_at = at
            event.withdrawn_by_id = self.coordinators[0].id

    def day(self, at: datetime, events: int = 12) -> None:
        """One day of random activity at instants around `at` (never in the future)."""
        actions = [
            (self.enrol, 4),
            (self.close, 1),
            (self.plan, 2),
            (self.version, 2),
            (self.close_plan, 0.3),
            (self.message, 6),
            (self.settle_filing, 2),
            (self.request, 4),
            (self.answer, 3),
            (self.pathway_break, 1.5),
            (self.withdraw_break, 0.2),
        ]
        funcs, weights = zip(*actions, strict=True)
        offsets = sorted((self.rng.randint(0, 600) for _ in range(events)), reverse=True)
        for minutes in offsets:  # in time order: nothing happens before what it follows
            self.rng.choices(funcs, weights)[0](at - timedelta(minutes=minutes))
        db.session.flush()


START = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)


@pytest.fixture
def world(db):
    return World()


def simulate(world: World, days: int, start: datetime = START, per_day: int = 12, run=None):
    """Advance the frozen clock day by day with activity; call `run()` after some days."""
    at = start
    for i in range(days):
        at = start + timedelta(days=i)
        with clock.frozen(at):
            world.day(at, per_day)
            db.session.commit()
            if run is not None and world.rng.random() < 0.3:
                run()
    return at


__all__ = ["START", "World", "date", "simulate"]
