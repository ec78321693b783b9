"""Referent coordinators and cover during an absence: rules, and where notices go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.accounts.notifications import Notification
from ptap.audit.models import AuditEvent
from ptap.audit.services import AuditContext
from ptap.care_teams import circle, referents
from ptap.care_teams.models import CareTeam, CoverPeriod, Enrolment, Patient
from ptap.care_teams.referents import CoverRequest
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from tests.factories import add_member, make_patient, make_team, make_user

#: Wednesday 10 June 2026, 10:00 in Paris.
NOW = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
TODAY = date(2026, 6, 10)


def ctx(user: User) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=user.email)


@dataclass
class World:
    team: CareTeam
    other_team: CareTeam
    away: User
    stand_in: User
    member: User
    outsider_coord: User
    patient: Patient

    @property
    def enrolment(self) -> Enrolment:
        from ptap.extensions import db

        return db.session.scalars(
            sa.select(Enrolment).where(Enrolment.patient_id == self.patient.id)
        ).one()


@pytest.fixture
def world(db) -> World:
    team, other_team = make_team("Équipe Nord"), make_team("Équipe Sud")
    away = make_user(role="coordinator", profession="nurse")
    stand_in = make_user(role="coordinator", profession="nurse")
    member = make_user()
    outsider_coord = make_user(role="coordinator", profession="nurse")
    add_member(team, away, "coordinator")
    add_member(team, stand_in, "coordinator")
    add_member(team, member)
    add_member(other_team, outsider_coord, "coordinator")
    patient = make_patient(team, away)
    return World(team, other_team, away, stand_in, member, outsider_coord, patient)


def cover(world: World, starts: date, ends: date, **over) -> CoverPeriod:
    req = CoverRequest(
        stand_in_id=over.pop("stand_in_id", world.stand_in.id),
        team_id=over.pop("team_id", world.team.id),
        starts_on=starts,
        ends_on=ends,
    )
    return referents.declare_cover(over.pop("user", world.away), req, ctx(world.away))


def test_declare_cover_is_stored_and_audited(db, world):
    with clock.frozen(NOW):
        made = cover(world, date(2026, 6, 15), date(2026, 6, 19))
    assert (made.coordinator_id, made.stand_in_id) == (world.away.id, world.stand_in.id)
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert "cover.declare" in actions


def test_overlapping_cover_is_refused_but_adjacent_one_accepted(db, world):
    with clock.frozen(NOW):
        cover(world, date(2026, 6, 15), date(2026, 6, 19))
        with pytest.raises(Conflict):
            cover(world, date(2026, 6, 19), date(2026, 6, 25))
        with pytest.raises(Conflict):
            cover(world, date(2026, 6, 1 + 10), date(2026, 6, 16), team_id=None)
        cover(world, date(2026, 6, 20), date(2026, 6, 25))  # the day after: fine


def test_cancelled_cover_frees_its_days(db, world):
    with clock.frozen(NOW):
        first = cover(world, date(2026, 6, 15), date(2026, 6, 19))
        referents.cancel_cover(world.away, first, ctx(world.away))
        cover(world, date(2026, 6, 16), date(2026, 6, 18))
    assert first.cancelled_at is not None


def test_stand_in_who_is_not_a_coordinator_is_refused(db, world):
    with clock.frozen(NOW), pytest.raises(InvalidInput) as exc:
        cover(world, date(2026, 6, 15), date(2026, 6, 19), stand_in_id=world.member.id)
    assert exc.value.field == "stand_in_id"


def test_stand_in_of_another_team_is_refused(db, world):
    with clock.frozen(NOW), pytest.raises(InvalidInput):
        cover(world, date(2026, 6, 15), date(2026, 6, 19), stand_in_id=world.outsider_coord.id)


def test_cover_of_a_team_one_does_not_coordinate_is_refused(db, world):
    with clock.frozen(NOW), pytest.raises(InvalidInput) as exc:
        cover(world, date(2026, 6, 15), date(2026, 6, 19), team_id=world.other_team.id)
    assert exc.value.field == "team_id"


def test_all_teams_cover_needs_a_stand_in_coordinating_each_team(db, world):
    add_member(world.other_team, world.away, "coordinator")
    with clock.frozen(NOW), pytest.raises(InvalidInput):
        cover(world, date(2026, 6, 15), date(2026, 6, 19), team_id=None)
    add_member(world.other_team, world.stand_in, "coordinator")
    with clock.frozen(NOW):
        assert cover(world, date(2026, 6, 15), date(2026, 6, 19), team_id=None).team_id is None


@pytest.mark.parametrize(
    ("starts", "ends", "field"),
    [
        (date(2026, 6, 19), date(2026, 6, 15), "ends_on"),  # reversed
        (date(2026, 6, 1), date(2026, 6, 9), "ends_on"),  # already over
        (date(2026, 6, 15), date(2027, 6, 16), "ends_on"),  # over a year
    ],
)
def test_malformed_periods_are_refused(db, world, starts, ends, field):
    with clock.frozen(NOW), pytest.raises(InvalidInput) as exc:
        cover(world, starts, ends)
    assert exc.value.field == field


def test_database_refuses_a_reversed_period(db, world):
    db.session.add(
        CoverPeriod(
            coordinator_id=world.away.id,
            stand_in_id=world.stand_in.id,
            starts_on=date(2026, 6, 19),
            ends_on=date(2026, 6, 15),
            created_by_id=world.away.id,
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_a_member_may_not_declare_a_cover(db, world):
    with clock.frozen(NOW), pytest.raises(PermissionDenied):
        cover(world, date(2026, 6, 15), date(2026, 6, 19), user=world.member)


def test_only_the_absent_coordinator_may_cancel(db, world):
    with clock.frozen(NOW):
        made = cover(world, date(2026, 6, 15), date(2026, 6, 19))
        with pytest.raises(PermissionDenied):
            referents.cancel_cover(world.stand_in, made, ctx(world.stand_in))


def test_stand_ins_follow_the_cover_window_inclusive(db, world):
    with clock.frozen(NOW):
        cover(world, date(2026, 6, 15), date(2026, 6, 19))
    ids, teams = [world.away.id], [world.team.id]
    assert referents.stand_ins(ids, team_ids=teams, on=date(2026, 6, 14)) == {}
    assert referents.stand_ins(ids, team_ids=teams, on=date(2026, 6, 15)) == {
        world.away.id: world.stand_in.id
    }
    assert referents.stand_ins(ids, team_ids=teams, on=date(2026, 6, 19)) == {
        world.away.id: world.stand_in.id
    }
    assert referents.stand_ins(ids, team_ids=teams, on=date(2026, 6, 20)) == {}
    # A one-team cover does not apply to notices about another team, nor to team-less ones.
    assert referents.stand_ins(ids, team_ids=[world.other_team.id], on=date(2026, 6, 16)) == {}
    assert referents.stand_ins(ids, on=date(2026, 6, 16)) == {}
    # Default day: the one clock (Paris day). 19 June 23:30 in Paris is still covered.
    with clock.frozen(datetime(2026, 6, 19, 21, 30, tzinfo=UTC)):
        assert referents.stand_ins(ids, team_ids=teams) == {world.away.id: world.stand_in.id}
    with clock.frozen(datetime(2026, 6, 19, 22, 30, tzinfo=UTC)):
        assert referents.stand_ins(ids, team_ids=teams) == {}


def _break_glass_notes(db) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for user_id, title in db.session.execute(
        sa.select(Notification.user_id, Notification.title).where(
            Notification.kind == "break_glass"
        )
    ):
        found.setdefault(user_id, []).append(title)
    return found


def test_break_glass_alert_to_all_coordinators_tells_the_stand_in_once(db, world):
    with clock.frozen(NOW):
        cover(world, date(2026, 6, 15), date(2026, 6, 19))
    doctor = make_user()
    with clock.frozen(datetime(2026, 6, 16, 8, 0, tzinfo=UTC)):
        circle.open_break_glass(doctor, world.patient, "Urgence vitale, SAMU", ctx(doctor))
    during = _break_glass_notes(db)
    assert set(during) == {world.away.id, world.stand_in.id}
    # The stand-in coordinates the team too: told once, as a coordinator (no copy).
    assert len(during[world.stand_in.id]) == 1


def test_notice_to_the_absent_alone_is_copied_to_the_stand_in_then_not(db, world):
    from ptap.accounts.notifications import NotificationDraft

    draft = NotificationDraft(world.away.id, "review_due", "Réévaluation du plan.", "/x")
    with clock.frozen(NOW):
        cover(world, date(2026, 6, 15), date(2026, 6, 19))
    during = referents.with_cover([draft], team_ids=[world.team.id], on=date(2026, 6, 17))
    assert [d.user_id for d in during] == [world.away.id, world.stand_in.id]
    assert during[1].title.startswith(f"Remplacement de {world.away.full_name} : ")
    after = referents.with_cover([draft], team_ids=[world.team.id], on=date(2026, 6, 20))
    assert [d.user_id for d in after] == [world.away.id]


def test_review_reminder_goes_to_referent_then_stand_in_during_cover(app, db, world):
    from ptap.care_plans import services as plans
    from ptap.care_plans.content import PlanContent
    from ptap.care_plans.tasks import send_care_plan_reminders

    plan = plans.create_plan(world.away, world.enrolment, ctx(world.away))
    plans.save_draft(
        world.away,
        plan,
        PlanContent(next_review_on=date(2026, 6, 18)),
        plan.draft_revision,
        ctx(world.away),
    )
    # No lead named: the reminder goes to the patient's referent.
    plan.draft = {**plan.draft, "lead_user_id": None}
    plan.next_review_on = date(2026, 6, 18)
    db.session.flush()
    with clock.frozen(NOW):
        cover(world, date(2026, 6, 15), date(2026, 6, 19))
    with clock.frozen(datetime(2026, 6, 16, 8, 0, tzinfo=UTC)):
        assert send_care_plan_reminders() == 1
    told = db.session.scalars(
        sa.select(Notification.user_id).where(Notification.kind == "review_due")
    ).all()
    assert sorted(told) == sorted([world.away.id, world.stand_in.id])


def test_review_reminder_after_the_cover_reaches_the_referent_alone(app, db, world):
    from ptap.care_plans import services as plans
    from ptap.care_plans.content import PlanContent
    from ptap.care_plans.tasks import send_care_plan_reminders

    plan = plans.create_plan(world.away, world.enrolment, ctx(world.away))
    plans.save_draft(
        world.away,
        plan,
        PlanContent(next_review_on=date(2026, 6, 25)),
        plan.draft_revision,
        ctx(world.away),
    )
    plan.next_review_on = date(2026, 6, 25)
    db.session.flush()
    with clock.frozen(NOW):
        cover(world, date(2026, 6, 15), date(2026, 6, 19))
    with clock.frozen(datetime(2026, 6, 22, 8, 0, tzinfo=UTC)):
        assert send_care_plan_reminders() == 1
    told = db.session.scalars(
        sa.select(Notification.user_id).where(Notification.kind == "review_due")
    ).all()
    assert told == [world.away.id]


def test_set_referent_to_another_coordinator_is_audited(db, world):
    with clock.frozen(NOW):
        referents.set_referent(world.away, world.enrolment, world.stand_in, ctx(world.away))
    assert world.enrolment.referent_id == world.stand_in.id
    assert referents.referent_ids(world.patient.id) == [world.stand_in.id]
    assert "enrolment.referent" in db.session.scalars(sa.select(AuditEvent.action)).all()


def test_referent_must_coordinate_the_team(db, world):
    with clock.frozen(NOW):
        for who in (world.member, world.outsider_coord):
            with pytest.raises(InvalidInput):
                referents.set_referent(world.away, world.enrolment, who, ctx(world.away))


def test_member_may_not_change_the_referent(db, world):
    with clock.frozen(NOW), pytest.raises(PermissionDenied):
        referents.set_referent(world.member, world.enrolment, world.stand_in, ctx(world.member))


# --- pages -----------------------------------------------------------------------------------


def test_coordinator_changes_the_referent_from_the_record(db, client, auth, world):
    auth.login(world.away)
    page = client.get(f"/patients/{world.patient.id}").get_data(as_text=True)
    assert "Changer de référent·e" in page and world.away.full_name in page
    enrolment_id = world.enrolment.id
    resp = auth.post(
        f"/enrolments/{enrolment_id}/referent",
        {f"ref{enrolment_id}-referent_id": str(world.stand_in.id)},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Enrolment, enrolment_id).referent_id == world.stand_in.id


def test_member_cannot_change_the_referent(db, client, auth, world):
    auth.login(world.member)
    page = client.get(f"/patients/{world.patient.id}").get_data(as_text=True)
    assert "Changer de référent·e" not in page
    enrolment_id = world.enrolment.id
    resp = auth.post(
        f"/enrolments/{enrolment_id}/referent",
        {f"ref{enrolment_id}-referent_id": str(world.member.id)},
    )
    assert resp.status_code == 404
    db.session.expire_all()
    assert db.session.get(Enrolment, enrolment_id).referent_id == world.away.id


def test_referent_outside_the_team_is_refused_by_the_form(db, client, auth, world):
    auth.login(world.away)
    enrolment_id = world.enrolment.id
    auth.post(
        f"/enrolments/{enrolment_id}/referent",
        {f"ref{enrolment_id}-referent_id": str(world.outsider_coord.id)},
    )
    db.session.expire_all()
    assert db.session.get(Enrolment, enrolment_id).referent_id == world.away.id


def test_absence_page_reached_from_account_declares_and_cancels(db, client, auth, world):
    auth.login(world.away)
    assert "/absences" in client.get("/account").get_data(as_text=True)
    today = clock.paris_today()
    resp = auth.post(
        "/absences",
        {
            "starts_on": today.isoformat(),
            "ends_on": today.isoformat(),
            "team_id": str(world.team.id),
            "stand_in_id": str(world.stand_in.id),
        },
    )
    assert resp.status_code == 302
    made = db.session.scalars(sa.select(CoverPeriod)).one()
    assert "Vous êtes absent·e" in client.get("/absences").get_data(as_text=True)
    assert auth.post(f"/absences/{made.id}/cancel").status_code == 302
    db.session.expire_all()
    assert db.session.get(CoverPeriod, made.id).cancelled_at is not None


def test_absence_form_shows_the_overlap_error(db, client, auth, world):
    auth.login(world.away)
    today = clock.paris_today().isoformat()
    data = {
        "starts_on": today,
        "ends_on": today,
        "team_id": "",
        "stand_in_id": str(world.stand_in.id),
    }
    assert auth.post("/absences", data).status_code == 302
    resp = auth.post("/absences", data)
    assert resp.status_code == 422
    assert "déjà déclarée" in resp.get_data(as_text=True)


def test_absence_page_refused_to_a_member_and_cancel_to_the_stand_in(db, client, auth, world):
    with clock.frozen(NOW):
        made = cover(world, date(2026, 6, 15), date(2026, 6, 19))
    auth.login(world.member)
    assert client.get("/absences").status_code == 403
    assert "/absences" not in client.get("/account").get_data(as_text=True)
    auth.post("/logout")
    auth.login(world.stand_in)
    assert auth.post(f"/absences/{made.id}/cancel").status_code == 404


def test_patient_list_filters_by_referent_and_shows_it(db, client, auth, world):
    other = make_patient(world.team, world.stand_in)
    auth.login(world.away)
    mine = client.get("/patients?referent=me").get_data(as_text=True)
    assert world.patient.birth_name in mine and other.birth_name not in mine
    assert f"Référent·e : {world.away.full_name}" in mine
    theirs = client.get(f"/patients?referent={world.stand_in.id}").get_data(as_text=True)
    assert other.birth_name in theirs and world.patient.birth_name not in theirs
    # A coordinator of another team is not a choice.
    bad = client.get(f"/patients?referent={world.outsider_coord.id}")
    assert bad.status_code == 422


def test_task_reminder_copy_skips_a_stand_in_outside_the_patients_circle(app, db, world):
    """An all-teams cover copies notices to the stand-in, but a task reminder about a patient
    of a team the stand-in is not part of (the absent coordinator is a plain member there)
    must not reach them: its title carries the action (health data)."""
    from ptap.care_plans import services as plans
    from ptap.care_plans.models import CarePlanTask
    from ptap.care_plans.tasks import send_care_plan_reminders

    add_member(world.other_team, world.away)  # a plain member of the other team
    elsewhere = make_patient(world.other_team, world.outsider_coord)
    enrolment = db.session.scalars(
        sa.select(Enrolment).where(Enrolment.patient_id == elsewhere.id)
    ).one()
    plan = plans.create_plan(world.outsider_coord, enrolment, ctx(world.outsider_coord))
    db.session.add(
        CarePlanTask(
            plan_id=plan.id,
            patient_id=elsewhere.id,
            action_key="a1",
            objective="Cicatrisation",
            what="Pansement d'ulcère",
            assignee_id=world.away.id,
            due_on=date(2026, 6, 17),
            status="planned",
        )
    )
    db.session.flush()
    with clock.frozen(NOW):
        cover(world, date(2026, 6, 15), date(2026, 6, 19), team_id=None)
    with clock.frozen(datetime(2026, 6, 16, 8, 0, tzinfo=UTC)):
        send_care_plan_reminders()
    told = db.session.scalars(
        sa.select(Notification.user_id).where(Notification.kind.like("task_%"))
    ).all()
    assert told == [world.away.id]


def test_a_stand_in_who_left_the_team_gets_no_copy(db, world):
    """The stand-in's membership ends during the cover: break-the-glass alerts about the
    team's patients no longer reach them (nor any other copy for that team)."""
    from ptap.care_teams.models import TeamMembership

    with clock.frozen(NOW):
        cover(world, date(2026, 6, 15), date(2026, 6, 19))
    membership = db.session.scalars(
        sa.select(TeamMembership).where(
            TeamMembership.user_id == world.stand_in.id,
            TeamMembership.team_id == world.team.id,
        )
    ).one()
    membership.ends_on = date(2026, 6, 15)
    db.session.flush()
    doctor = make_user()
    with clock.frozen(datetime(2026, 6, 16, 8, 0, tzinfo=UTC)):
        circle.open_break_glass(doctor, world.patient, "Urgence vitale, SAMU", ctx(doctor))
        assert referents.stand_ins([world.away.id], team_ids=[world.team.id]) == {}
    assert set(_break_glass_notes(db)) == {world.away.id}


def test_a_referent_who_stopped_coordinating_gets_no_review_reminder(app, db, world):
    """The referent's coordinator membership ended (they stay a plain member, so still in the
    circle): they are no longer the referent the reminder falls back to."""
    from ptap.care_plans import services as plans
    from ptap.care_plans.content import PlanContent
    from ptap.care_plans.tasks import send_care_plan_reminders
    from ptap.care_teams.models import TeamMembership

    plan = plans.create_plan(world.away, world.enrolment, ctx(world.away))
    plans.save_draft(
        world.away,
        plan,
        PlanContent(next_review_on=date(2026, 6, 18)),
        plan.draft_revision,
        ctx(world.away),
    )
    plan.draft = {**plan.draft, "lead_user_id": None}
    plan.next_review_on = date(2026, 6, 18)
    assert world.enrolment.referent_id == world.away.id
    membership = db.session.scalars(
        sa.select(TeamMembership).where(
            TeamMembership.user_id == world.away.id, TeamMembership.team_id == world.team.id
        )
    ).one()
    membership.ends_on = date(2026, 6, 1)
    add_member(world.team, world.away, starts_on=date(2026, 6, 2))
    db.session.flush()
    with clock.frozen(datetime(2026, 6, 16, 8, 0, tzinfo=UTC)):
        assert send_care_plan_reminders() == 0
